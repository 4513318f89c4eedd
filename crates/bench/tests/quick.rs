//! The harness's quick mode as a smoke check in the test command: it must run end to end and
//! report every section. It never judges a timing; it fails when the harness breaks, when the
//! system under test stops answering, or when the Lambda binary makes a network call during init.
//!
//! Needs the debug `bedrock-sim`, `api-local` and `api` binaries next to `gateway-bench`;
//! `cargo test --workspace` builds them (their packages have integration tests). Alone:
//! `cargo build -p api -p bedrock-sim --bins && cargo test -p bench`.

use std::process::Command;

#[test]
fn quick_mode_runs_every_part_and_reports_it() {
    let output = Command::new(env!("CARGO_BIN_EXE_gateway-bench"))
        .arg("--quick")
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "gateway-bench --quick failed ({}):\n{stderr}\n{report}",
        output.status
    );
    for expected in [
        "#### converse (non-streaming",
        "#### converse-stream: time to first byte",
        "| 64 | **added** |",
        "### Cold start",
        "No network during init: **PASS**",
        "### Package size",
        "| api |",
        "### Worker throughput",
        "### Goals",
    ] {
        assert!(
            report.contains(expected),
            "no `{expected}` in the report:\n{report}"
        );
    }
    // A worker figure must never be invented while the worker part is not written.
    assert!(
        report.contains(
            "| worker ≥ 0.8 × emulator ceiling | – | not measured yet (see Worker throughput) |"
        ),
        "{report}"
    );
}
