//! The report as JUnit XML, the format CodeBuild test reports (`reports:` with
//! `file-format: JUNITXML`) and most CI systems read: one `<testsuite>` per suite file, one
//! `<testcase>` per case, a `<failure>` carrying the reasons.

use crate::report::{CaseResult, Report};
use std::fmt::Write;

pub fn render(report: &Report) -> String {
    let mut suites: Vec<&str> = Vec::new();
    for case in &report.cases {
        if !suites.contains(&case.suite.as_str()) {
            suites.push(&case.suite);
        }
    }
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites name=\"gateway-eval\" tests=\"{}\" failures=\"{}\" errors=\"0\" time=\"{}\">",
        report.cases.len(),
        report.failed(),
        seconds(report.cases.iter().map(|c| c.latency_ms).sum())
    );
    for suite in suites {
        let cases: Vec<&CaseResult> = report.cases.iter().filter(|c| c.suite == suite).collect();
        let failures = cases.iter().filter(|c| !c.passed).count();
        let _ = writeln!(
            xml,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" time=\"{}\">",
            escape(suite),
            cases.len(),
            seconds(cases.iter().map(|c| c.latency_ms).sum())
        );
        for case in cases {
            testcase(&mut xml, case);
        }
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    xml
}

fn testcase(xml: &mut String, case: &CaseResult) {
    let _ = write!(
        xml,
        "    <testcase classname=\"{}\" name=\"{}\" time=\"{}\"",
        escape(&case.suite),
        escape(&case.id),
        seconds(case.latency_ms)
    );
    if case.passed {
        xml.push_str(">\n");
    } else {
        let first = case.reasons.first().map(String::as_str).unwrap_or("failed");
        let _ = writeln!(
            xml,
            ">\n      <failure message=\"{}\" type=\"AssertionFailed\">{}</failure>",
            escape(first),
            escape(&case.reasons.join("\n"))
        );
    }
    let _ = writeln!(
        xml,
        "      <system-out>route={} status={} cost_usd={} model={}</system-out>\n    </testcase>",
        escape(&case.route),
        case.status.map_or("-".to_owned(), |s| s.to_string()),
        case.cost_usd.map_or("-".to_owned(), |c| format!("{c:.6}")),
        escape(case.model.as_deref().unwrap_or("-"))
    );
}

fn seconds(ms: u64) -> String {
    format!("{:.3}", ms as f64 / 1000.0)
}

/// XML text and attribute escaping; characters XML 1.0 cannot carry become U+FFFD.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(id: &str, passed: bool, reasons: &[&str]) -> CaseResult {
        CaseResult {
            suite: "s<1>".into(),
            id: id.into(),
            route: "/v1/converse".into(),
            passed,
            reasons: reasons.iter().map(|r| (*r).to_owned()).collect(),
            status: Some(200),
            latency_ms: 1500,
            cost_usd: Some(0.0001),
            output_tokens: Some(3),
            model: Some("m".into()),
            judge_score: None,
            judge_cost_usd: None,
        }
    }

    #[test]
    fn failures_carry_their_reasons_escaped() {
        let report = Report {
            cases: vec![
                case("ok", true, &[]),
                case("bad", false, &["answer lacks \"<x>\" & more\u{1}"]),
            ],
        };
        let xml = render(&report);
        assert!(
            xml.contains("<testsuites name=\"gateway-eval\" tests=\"2\" failures=\"1\""),
            "{xml}"
        );
        assert!(
            xml.contains("<testsuite name=\"s&lt;1&gt;\" tests=\"2\" failures=\"1\""),
            "{xml}"
        );
        assert!(
            xml.contains("<testcase classname=\"s&lt;1&gt;\" name=\"ok\" time=\"1.500\">"),
            "{xml}"
        );
        assert!(
            xml.contains("message=\"answer lacks &quot;&lt;x&gt;&quot; &amp; more\u{FFFD}\""),
            "{xml}"
        );
        assert_eq!(xml.matches("<failure").count(), 1);
        assert_eq!(
            xml.matches("<testcase").count(),
            xml.matches("</testcase>").count()
        );
    }
}
