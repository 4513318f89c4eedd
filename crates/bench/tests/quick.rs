//! The harness's quick mode as a smoke check in the test command: it must run end to end and
//! report every section. It never judges a timing; it fails when the harness breaks, when the
//! system under test stops answering, or when the Lambda binary makes a network call during init.
//!
//! Needs the debug `bedrock-sim`, `api-local`, `api` and `worker` binaries next to
//! `gateway-bench`; `cargo test --workspace` builds them (their packages have integration
//! tests). Alone: `cargo build -p api -p worker -p bedrock-sim --bins && cargo test -p bench`.
//! The worker part needs the moto server (`bash scripts/setup.sh`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

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
        "### Streaming through Lambda's response-streaming protocol",
        "| TTFB through the Lambda streaming protocol ≤ 1 ms added over the local listener",
        "### Controls on: API keys, limits, budgets, response cache (missed)",
        "| gateway CPU per request, controls on (excluding emulator; c = 1, as Lambda serves) ≤ 200 µs |",
        "| AWS calls per job ≤ 4 (worker binary, recording proxy, one pass) |",
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
    // The controls-on phase really had the controls on: a request without a key was refused,
    // the recording proxy saw DynamoDB calls on both sides of the model call, and every gateway
    // request reached the simulator once (the cache was missed, never hit).
    let controls = report
        .split("### Controls on:")
        .nth(1)
        .and_then(|rest| rest.split("\n### ").next())
        .unwrap_or_else(|| panic!("no controls-on section:\n{report}"));
    // Refused: 401 on the gateway's own routes; the Bedrock wire route answers as Bedrock
    // does, 403 AccessDeniedException.
    assert!(
        controls.contains("| request without a key: status | 401 |")
            || controls.contains("| request without a key: status | 403 |"),
        "{controls}"
    );
    let figure = |label: &str| -> f64 {
        let row = controls
            .lines()
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("no `{label}` row:\n{controls}"));
        let value = row.split('|').nth(2).unwrap().trim();
        value.split_whitespace().next().unwrap().parse().unwrap()
    };
    assert!(
        figure("| the controls' DynamoDB calls before the model call") >= 1.0,
        "{controls}"
    );
    assert!(
        figure("| the controls' DynamoDB calls after the model call") >= 1.0,
        "{controls}"
    );
    let gateway_row = controls
        .lines()
        .find(|l| l.starts_with("| 1 | gateway |"))
        .unwrap_or_else(|| panic!("no c=1 gateway row:\n{controls}"));
    assert!(gateway_row.contains("| 0 | 1.00 |"), "{gateway_row}");
    // The worker part ran the worker binary on real jobs: one simulator call per job, and a
    // ratio row in the goals (its value is never judged here).
    let worker_section = report
        .split("### Worker throughput")
        .nth(1)
        .and_then(|rest| rest.split("### Goals").next())
        .unwrap_or_else(|| panic!("no worker section:\n{report}"));
    let worker_row = worker_section
        .lines()
        .find(|l| l.starts_with("| 1 | "))
        .unwrap_or_else(|| panic!("no worker row for 1 instance:\n{worker_section}"));
    assert!(worker_row.contains("| 1.00 |"), "{worker_row}");
    assert!(
        report.contains("| worker ≥ 0.8 × emulator ceiling, 1 instance(s) | "),
        "{report}"
    );
}
