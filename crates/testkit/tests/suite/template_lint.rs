//! The SAM template passes `cfn-lint` and `sam validate --lint` (offline, tools from the
//! project's .venv): `scripts/lint-template.sh`, run here so the test command covers it.

use std::path::Path;
use std::process::Command;

#[test]
fn template_passes_cfn_lint_and_sam_validate() {
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
}
