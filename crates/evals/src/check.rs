//! The assertions: each failing one gives a reason a person can act on, quoting (a bounded
//! part of) what came back.

use crate::answer::{Answer, includes, includes_map};
use crate::case::Expect;
use serde_json::Value;

/// What a call produced, as the assertions see it.
#[derive(Debug, Clone)]
pub struct Observed {
    pub status: u16,
    pub answer: Answer,
    pub latency_ms: u64,
    /// `x-gateway-cost`, when the gateway sent it.
    pub cost_usd: Option<f64>,
    /// `x-gateway-model`, when the gateway sent it.
    pub model: Option<String>,
}

/// Longest quote of the answer in a reason.
const QUOTE_CHARS: usize = 160;

pub fn quote(text: &str) -> String {
    let mut quoted: String = text.chars().take(QUOTE_CHARS).collect();
    if text.chars().count() > QUOTE_CHARS {
        quoted.push('…');
    }
    format!("{quoted:?}")
}

/// Every assertion of `expect` that `observed` breaks; empty when the case passes.
pub fn failures(expect: &Expect, observed: &Observed) -> Vec<String> {
    let mut out = Vec::new();
    let text = observed.answer.text.as_str();
    if observed.status != expect.status {
        out.push(format!(
            "status {} (expected {}): {}",
            observed.status,
            expect.status,
            quote(&body_or_text(observed))
        ));
        // The other assertions are about an answer that did not come.
        return out;
    }
    for needle in &expect.contains {
        if !text.contains(needle.as_str()) {
            out.push(format!("answer lacks {needle:?}: {}", quote(text)));
        }
    }
    for needle in &expect.not_contains {
        if text.contains(needle.as_str()) {
            out.push(format!("answer contains {needle:?}: {}", quote(text)));
        }
    }
    if let Some(pattern) = &expect.regex {
        match regex_lite::Regex::new(pattern) {
            Ok(re) if re.is_match(text) => {}
            Ok(_) => out.push(format!(
                "answer does not match /{pattern}/: {}",
                quote(text)
            )),
            Err(e) => out.push(format!("regex /{pattern}/: {e}")),
        }
    }
    if let Some(schema) = &expect.json_schema {
        match serde_json::from_str::<Value>(unfenced(text)) {
            Ok(value) => {
                let errors = gateway::enrichment::schema::validate(schema, &value);
                if !errors.is_empty() {
                    out.push(format!("answer breaks the schema: {}", errors.join("; ")));
                }
            }
            Err(e) => out.push(format!("answer is not JSON ({e}): {}", quote(text))),
        }
    }
    if !expect.one_of.is_empty() {
        let label = text
            .trim()
            .trim_matches(|c: char| !c.is_alphanumeric())
            .to_lowercase();
        if !expect.one_of.iter().any(|l| l.to_lowercase() == label) {
            out.push(format!(
                "answer {} is none of {:?}",
                quote(text),
                expect.one_of
            ));
        }
    }
    if let Some(max) = expect.max_tokens {
        match observed.answer.output_tokens {
            Some(tokens) if tokens <= max => {}
            Some(tokens) => out.push(format!("{tokens} output tokens (at most {max})")),
            None => out.push("the response reports no output tokens".to_owned()),
        }
    }
    if let Some(max) = expect.max_cost_usd {
        match observed.cost_usd {
            Some(cost) if cost <= max => {}
            Some(cost) => out.push(format!("cost ${cost:.6} (at most ${max:.6})")),
            None => out.push("no x-gateway-cost header to check the cost against".to_owned()),
        }
    }
    if let Some(max) = expect.max_latency_ms
        && observed.latency_ms > max
    {
        out.push(format!("{} ms (at most {max} ms)", observed.latency_ms));
    }
    if let Some(want) = &expect.tool_call {
        let matched = observed.answer.tool_calls.iter().any(|call| {
            call.name == want.name
                && call
                    .arguments
                    .as_object()
                    .is_some_and(|args| includes_map(args, &want.arguments))
        });
        if !matched {
            let seen: Vec<String> = observed
                .answer
                .tool_calls
                .iter()
                .map(|c| format!("{}({})", c.name, c.arguments))
                .collect();
            out.push(format!(
                "no call of {} with {}; calls: [{}]",
                want.name,
                Value::Object(want.arguments.clone()),
                quote(&seen.join(", "))
            ));
        }
    }
    if let Some(want) = &expect.model
        && !observed
            .model
            .as_deref()
            .is_some_and(|m| m.contains(want.as_str()))
    {
        out.push(format!(
            "served by {} (expected a model containing {want:?})",
            observed.model.as_deref().unwrap_or("an unnamed model")
        ));
    }
    for (pointer, want) in &expect.fields {
        match observed.answer.body.pointer(pointer) {
            Some(got) if includes(got, want) => {}
            Some(got) => out.push(format!(
                "{pointer} is {} (expected {want})",
                quote(&got.to_string())
            )),
            None => out.push(format!("{pointer} is absent (expected {want})")),
        }
    }
    out
}

/// The answer without a Markdown code fence around it (models often fence JSON).
fn unfenced(text: &str) -> &str {
    let text = text.trim();
    let Some(inner) = text.strip_prefix("```").and_then(|t| t.strip_suffix("```")) else {
        return text;
    };
    // The fence's language tag (`json`) runs to the first line break.
    inner
        .split_once('\n')
        .map_or(inner, |(_, body)| body)
        .trim()
}

fn body_or_text(observed: &Observed) -> String {
    match &observed.answer.body {
        Value::Null => observed.answer.text.clone(),
        body => body.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::ToolCall;
    use crate::case::ToolCallExpect;
    use serde_json::json;

    fn observed(text: &str) -> Observed {
        Observed {
            status: 200,
            answer: Answer {
                text: text.to_owned(),
                tool_calls: vec![ToolCall {
                    name: "get_weather".into(),
                    arguments: json!({"city": "Paris", "unit": "c"}),
                }],
                output_tokens: Some(5),
                body: json!({"label": "positive", "model": "m"}),
            },
            latency_ms: 40,
            cost_usd: Some(0.002),
            model: Some("anthropic.claude-haiku-4-5".into()),
        }
    }

    #[test]
    fn a_response_meeting_every_assertion_passes() {
        let expect = Expect {
            contains: vec!["Paris".into()],
            not_contains: vec!["London".into()],
            regex: Some("^P[a-z]+$".into()),
            one_of: vec!["paris".into(), "rome".into()],
            max_tokens: Some(5),
            max_cost_usd: Some(0.002),
            max_latency_ms: Some(40),
            tool_call: Some(ToolCallExpect {
                name: "get_weather".into(),
                arguments: json!({"city": "Paris"}).as_object().cloned().unwrap(),
            }),
            model: Some("haiku".into()),
            fields: [("/label".to_owned(), json!("positive"))].into(),
            ..Expect::default()
        };
        assert_eq!(failures(&expect, &observed("Paris")), Vec::<String>::new());
    }

    #[test]
    fn each_broken_assertion_gives_its_own_reason() {
        let expect = Expect {
            contains: vec!["Rome".into()],
            not_contains: vec!["Paris".into()],
            regex: Some("^\\d+$".into()),
            one_of: vec!["a".into(), "b".into()],
            max_tokens: Some(4),
            max_cost_usd: Some(0.001),
            max_latency_ms: Some(39),
            tool_call: Some(ToolCallExpect {
                name: "get_weather".into(),
                arguments: json!({"city": "Rome"}).as_object().cloned().unwrap(),
            }),
            model: Some("sonnet".into()),
            fields: [
                ("/label".to_owned(), json!("negative")),
                ("/nope".to_owned(), json!(1)),
            ]
            .into(),
            ..Expect::default()
        };
        let reasons = failures(&expect, &observed("Paris"));
        assert_eq!(reasons.len(), 11, "{reasons:#?}");
        for fragment in [
            "lacks \"Rome\"",
            "contains \"Paris\"",
            "does not match",
            "none of",
            "5 output tokens",
            "cost $0.002000",
            "40 ms",
            "no call of get_weather",
            "served by anthropic.claude-haiku-4-5",
            "/label is",
            "/nope is absent",
        ] {
            assert!(
                reasons.iter().any(|r| r.contains(fragment)),
                "{fragment}: {reasons:#?}"
            );
        }
    }

    #[test]
    fn json_schema_checks_the_answer_as_json() {
        let expect = Expect {
            json_schema: Some(json!({"type":"object","required":["name"],
                "properties":{"name":{"type":"string"}}})),
            ..Expect::default()
        };
        assert!(failures(&expect, &observed(r#"{"name":"x"}"#)).is_empty());
        let fenced = "```json\n{\"name\":\"x\"}\n```";
        assert!(
            failures(&expect, &observed(fenced)).is_empty(),
            "a fenced answer is read"
        );
        let wrong = failures(&expect, &observed(r#"{"name":1}"#));
        assert!(wrong[0].contains("breaks the schema"), "{wrong:?}");
        let not_json = failures(&expect, &observed("name: x"));
        assert!(not_json[0].contains("not JSON"), "{not_json:?}");
    }

    #[test]
    fn a_wrong_status_is_the_only_reason_and_quotes_the_body() {
        let mut seen = observed("");
        seen.status = 400;
        let expect = Expect {
            contains: vec!["x".into()],
            ..Expect::default()
        };
        let reasons = failures(&expect, &seen);
        assert_eq!(reasons.len(), 1);
        assert!(
            reasons[0].starts_with("status 400 (expected 200)"),
            "{reasons:?}"
        );
    }

    #[test]
    fn missing_cost_and_tokens_fail_rather_than_pass() {
        let mut seen = observed("x");
        seen.cost_usd = None;
        seen.answer.output_tokens = None;
        let expect = Expect {
            max_tokens: Some(100),
            max_cost_usd: Some(1.0),
            ..Expect::default()
        };
        assert_eq!(failures(&expect, &seen).len(), 2);
    }
}
