//! The report as a Markdown summary: totals, then one row per case with its latency, cost,
//! tokens and, for a failure, why.

use crate::gate::Verdict;
use crate::report::Report;
use std::fmt::Write;

pub fn render(report: &Report, verdict: &Verdict, gateway: &str) -> String {
    let mut md = String::from("# Eval summary\n\n");
    let _ = writeln!(
        md,
        "Gateway `{}`: **{} of {} passed** ({:.1}%), total cost ${:.6}, total latency {} ms.\n",
        cell(gateway),
        report.passed(),
        report.cases.len(),
        report.pass_rate() * 100.0,
        report.total_cost_usd(),
        report.cases.iter().map(|c| c.latency_ms).sum::<u64>()
    );
    md.push_str("| Case | Route | Result | Latency (ms) | Cost (USD) | Output tokens | Model | Judge | Reason |\n");
    md.push_str("|---|---|---|---:|---:|---:|---|---:|---|\n");
    for case in &report.cases {
        let _ = writeln!(
            md,
            "| {} | `{}` | {} | {} | {} | {} | {} | {} | {} |",
            cell(&case.id),
            cell(&case.route),
            if case.passed { "pass" } else { "**FAIL**" },
            case.latency_ms,
            case.cost_usd.map_or("-".to_owned(), |c| format!("{c:.6}")),
            case.output_tokens.map_or("-".to_owned(), |t| t.to_string()),
            cell(case.model.as_deref().unwrap_or("-")),
            case.judge_score
                .map_or("-".to_owned(), |s| format!("{s:.2}")),
            cell(&case.reasons.join("; "))
        );
    }
    md.push('\n');
    for line in verdict.describe() {
        let _ = writeln!(md, "- {}", cell(&line));
    }
    md
}

/// Text safe inside a table cell: no pipes or line breaks.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}
