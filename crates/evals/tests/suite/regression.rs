//! A deliberate regression: the gateway's routing table sends the classify task to the large
//! model instead of the small one (a one-line config change a release could carry). The
//! `gateway-eval` binary, given the good release's report as its baseline, must fail the gate
//! (exit 1), naming the case and why; against the good release it passes (exit 0).

use crate::common::{Started, default_stack, out_dir, start, starter_suite};
use std::process::Output;

/// The built-in defaults, but for `routes.classify`: `large` where it was `small`.
fn regressed_config() -> String {
    serde_json::json!({
        "models": [
            {"id": gateway::config::HAIKU, "aliases": ["haiku", "small"]},
            {"id": gateway::config::NOVA_LITE, "aliases": ["nova-lite", "medium"]},
            {"id": gateway::config::SONNET, "aliases": ["sonnet", "large"]}
        ],
        "routes": {"classify": "large", "generate": "large", "analyze": "medium"}
    })
    .to_string()
}

async fn gateway_eval(stack: &Started, out: &str, baseline: Option<&str>) -> Output {
    let mut args = vec![
        "--url".to_owned(),
        stack.api_url.clone(),
        "--suite".to_owned(),
        starter_suite().display().to_string(),
        "--out".to_owned(),
        out_dir(out).display().to_string(),
    ];
    if let Some(baseline) = baseline {
        args.extend(["--baseline".to_owned(), baseline.to_owned()]);
    }
    let key = stack.key.clone();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_gateway-eval"))
            .args(&args)
            .env("GATEWAY_EVAL_KEY", key)
            .output()
            .expect("gateway-eval runs")
    })
    .await
    .expect("the runner's thread")
}

#[tokio::test]
async fn a_changed_task_route_fails_the_gate_against_the_baseline() {
    // The good release: the gate passes, and its report becomes the baseline.
    let good = gateway_eval(default_stack(), "regression-baseline", None).await;
    let good_out = String::from_utf8_lossy(&good.stdout);
    assert_eq!(
        good.status.code(),
        Some(0),
        "{good_out}\n{}",
        String::from_utf8_lossy(&good.stderr)
    );
    let baseline = out_dir("regression-baseline").join("report.json");

    // The bad release: same suite, same baseline, one changed route.
    let regressed = start(vec![("GatewayConfigJson".to_owned(), regressed_config())]);
    let bad = gateway_eval(
        &regressed,
        "regression",
        Some(&baseline.display().to_string()),
    )
    .await;
    let bad_out = String::from_utf8_lossy(&bad.stdout);
    assert_eq!(bad.status.code(), Some(1), "the gate must fail:\n{bad_out}");
    assert!(
        bad_out.contains("regressed (passed in the baseline, fail now): task-classify"),
        "{bad_out}"
    );
    assert!(bad_out.contains("gate: FAIL"), "{bad_out}");

    let report = evals::report::Report::read(&out_dir("regression").join("report.json"))
        .expect("the bad release's report");
    let classify = report.case("task-classify").expect("task-classify ran");
    assert!(!classify.passed);
    assert!(
        classify
            .reasons
            .iter()
            .any(|r| r.contains("served by anthropic.claude-sonnet-4-5")),
        "{:?}",
        classify.reasons
    );
    assert!(
        classify.reasons.iter().any(|r| r.starts_with("cost $")),
        "the large model costs more: {:?}",
        classify.reasons
    );
    // Only the changed route regressed: every other case still passes.
    let others: Vec<&str> = report
        .cases
        .iter()
        .filter(|c| !c.passed && c.id != "task-classify")
        .map(|c| c.id.as_str())
        .collect();
    assert!(others.is_empty(), "{others:?}");
    let xml = std::fs::read_to_string(out_dir("regression").join("junit.xml")).expect("junit");
    assert!(xml.contains("failures=\"1\""), "{xml}");
}

#[tokio::test]
async fn a_run_that_cannot_be_made_exits_2_before_any_call() {
    let nowhere = Started {
        api_url: "http://127.0.0.1:9".to_owned(),
        key: "gwk_unused".to_owned(),
    };
    let out = gateway_eval(&nowhere, "unusable", Some("/nonexistent/report.json")).await;
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("/nonexistent/report.json"));
}
