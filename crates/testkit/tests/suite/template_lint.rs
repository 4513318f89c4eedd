//! The SAM template passes `cfn-lint`, `sam validate --lint` and the checkov security scan with
//! no unsuppressed finding (offline, tools from the project's .venv): `scripts/lint-template.sh`,
//! run here so the test command covers it. The scan's counts are printed in the test output.

use std::io::Write;
use std::path::Path;
use std::process::Command;

#[test]
fn template_passes_cfn_lint_sam_validate_and_the_security_scan() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let output = Command::new("bash")
        .arg("scripts/lint-template.sh")
        .current_dir(&root)
        .output()
        .expect("bash starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "scripts/lint-template.sh failed ({}); fix template.yaml, or run scripts/setup.sh if the \
         tools are missing.\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        output.status
    );
    assert!(
        stdout.contains("lint-template: PASS"),
        "the lint script exited 0 without its pass line.\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
    );
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("lint-template: checkov Passed checks:"))
        .unwrap_or_else(|| panic!("no checkov summary.\n--- stdout ---\n{stdout}"));
    assert!(summary.contains("Failed checks: 0,"), "{summary}");
    // Straight to the process's stderr (not the captured `eprintln!`), so the test command's
    // output shows the scan's counts on a passing run too.
    let counts = summary.trim_start_matches("lint-template: checkov ");
    let _ = writeln!(
        std::io::stderr(),
        "template security scan (checkov): {counts}"
    );
}
