//! The starter suite under `evals/` passes against the offline stack, case by case, and its
//! reports are where `scripts/test.sh` shows them from (`target/evals/starter/`).

use crate::common::{default_stack, out_dir, starter_suite};
use evals::Options;
use std::time::Duration;

#[tokio::test]
async fn the_starter_suite_passes_against_the_offline_stack() {
    let out = out_dir("starter");
    let stack = default_stack();
    let options = Options {
        url: stack.api_url.clone(),
        suite: starter_suite(),
        key: Some(stack.key.clone()),
        out: out.clone(),
        baseline: None,
        min_pass_rate: 1.0,
        concurrency: 4,
        timeout: Duration::from_secs(30),
    };
    let outcome = evals::execute(&options).await.expect("the run is made");
    let failed: Vec<String> = outcome
        .report
        .cases
        .iter()
        .filter(|c| !c.passed)
        .map(|c| format!("{}: {}", c.id, c.reasons.join("; ")))
        .collect();
    assert!(failed.is_empty(), "failed cases:\n{}", failed.join("\n"));
    assert!(outcome.verdict.ok(), "{:?}", outcome.verdict);

    // Every front door and task is covered.
    let routes: Vec<&str> = outcome
        .report
        .cases
        .iter()
        .map(|c| c.route.as_str())
        .collect();
    for route in [
        "/v1/chat/completions",
        "/v1/converse",
        "/api/classify",
        "/api/generate",
        "/api/analyze",
        "/v1/jobs",
    ] {
        assert!(routes.contains(&route), "no case on {route}");
    }
    assert!(
        routes
            .iter()
            .any(|r| r.ends_with("/converse") && r.starts_with("/model/"))
    );
    assert!(routes.iter().any(|r| r.ends_with("/invoke")));

    // The judge ran and its score is in the report.
    let judged = outcome
        .report
        .case("converse-judged")
        .expect("the judged case");
    assert_eq!(judged.judge_score, Some(0.9));

    // Costs come from the gateway's header.
    let exact = outcome
        .report
        .case("converse-exact")
        .expect("converse-exact");
    assert!(exact.cost_usd.is_some_and(|c| c > 0.0), "{exact:?}");

    // The reports: JUnit XML with every case, Markdown with the cost column, JSON for baselines.
    let xml = std::fs::read_to_string(&outcome.junit_xml).expect("junit.xml");
    let cases = outcome.report.cases.len();
    assert!(
        xml.contains(&format!("tests=\"{cases}\" failures=\"0\"")),
        "{xml}"
    );
    assert_eq!(xml.matches("<testcase ").count(), cases);
    let md = std::fs::read_to_string(&outcome.summary_md).expect("summary.md");
    assert!(
        md.contains(&format!("**{cases} of {cases} passed**")),
        "{md}"
    );
    assert!(md.contains("| Cost (USD) |"), "{md}");
    let again = evals::report::Report::read(&outcome.report_json).expect("report.json");
    assert_eq!(again, outcome.report);
}

#[tokio::test]
async fn without_the_key_every_controlled_case_is_refused() {
    let options = Options {
        url: default_stack().api_url.clone(),
        suite: starter_suite(),
        key: None,
        out: out_dir("no-key"),
        baseline: None,
        min_pass_rate: 1.0,
        concurrency: 4,
        timeout: Duration::from_secs(30),
    };
    let outcome = evals::execute(&options).await.expect("the run is made");
    assert!(!outcome.verdict.ok());
    // Every route behind the auth layer; `GET /v1/models` is public.
    for case in outcome
        .report
        .cases
        .iter()
        .filter(|c| c.route != "/v1/models")
    {
        // 401 in the gateway's and OpenAI's dialects, 403 in Bedrock's (as AWS answers).
        assert!(
            matches!(case.status, Some(401 | 403)),
            "{}: {:?}",
            case.id,
            case.reasons
        );
        assert!(!case.passed, "{}", case.id);
    }
}
