//! What a model's answer must look like before it may be written as a document's result.
//! An answer that does not fit is an [`InvalidOutput`]: the attempt failed, and the answer is
//! never stored as if it were valid.

use super::document::Task;
use super::schema;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidOutput(pub String);

/// Longest excerpt of a bad answer quoted in the error stored on the item.
const EXCERPT_CHARS: usize = 120;

fn excerpt(text: &str) -> String {
    let mut out: String = text.chars().take(EXCERPT_CHARS).collect();
    if text.chars().count() > EXCERPT_CHARS {
        out.push('…');
    }
    out
}

/// The result to store for `task`, from the model's text: the label for `classify`, the JSON
/// object for `extract`, the text otherwise.
pub fn result_for(task: &Task, text: &str) -> Result<Value, InvalidOutput> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(InvalidOutput(
            "the model returned an empty answer".to_owned(),
        ));
    }
    match task {
        Task::Summarize | Task::Template { .. } => Ok(Value::String(trimmed.to_owned())),
        Task::Classify { labels } => label(labels, trimmed).map(|l| Value::String(l.to_owned())),
        Task::Extract { schema } => {
            let value = json_object(trimmed)?;
            let errors = schema::validate(schema, &value);
            if errors.is_empty() {
                Ok(value)
            } else {
                Err(InvalidOutput(format!(
                    "the answer does not satisfy the schema: {}",
                    errors.join("; ")
                )))
            }
        }
    }
}

/// The offered label the answer names: exact after trimming quotes, a final full stop, and
/// case; or `{"label": "..."}`. Anything else — another word, two labels, a sentence — is invalid.
fn label<'a>(labels: &'a [String], answer: &str) -> Result<&'a str, InvalidOutput> {
    let from_json = serde_json::from_str::<Value>(answer)
        .ok()
        .and_then(|v| v.get("label").and_then(Value::as_str).map(str::to_owned));
    let candidate = from_json.unwrap_or_else(|| answer.to_owned());
    let candidate = candidate
        .trim()
        .trim_end_matches('.')
        .trim_matches(|c| matches!(c, '"' | '\'' | '`'))
        .trim();
    labels
        .iter()
        .find(|l| l.eq_ignore_ascii_case(candidate))
        .map(String::as_str)
        .ok_or_else(|| {
            InvalidOutput(format!(
                "the answer '{}' is not one of the labels {}",
                excerpt(answer),
                labels.join(", ")
            ))
        })
}

/// The JSON object in an answer: the whole answer, inside a code fence, or (for a model that
/// adds a sentence around it) from its first `{` to its last `}`.
fn json_object(answer: &str) -> Result<Value, InvalidOutput> {
    let unfenced = answer
        .strip_prefix("```json")
        .or_else(|| answer.strip_prefix("```"))
        .and_then(|rest| rest.trim_end().strip_suffix("```"))
        .unwrap_or(answer)
        .trim();
    let candidate = match (unfenced.find('{'), unfenced.rfind('}')) {
        (Some(start), Some(end)) if start < end => &unfenced[start..=end],
        _ => unfenced,
    };
    match serde_json::from_str::<Value>(candidate) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err(InvalidOutput(format!(
            "the answer is JSON but not an object: {}",
            excerpt(answer)
        ))),
        Err(e) => Err(InvalidOutput(format!(
            "the answer is not JSON ({e}): {}",
            excerpt(answer)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn classify() -> Task {
        Task::Classify {
            labels: vec!["billing".into(), "bug report".into()],
        }
    }

    #[test]
    fn classify_accepts_only_an_offered_label() {
        for answer in [
            "billing",
            " Billing. ",
            "\"bug report\"",
            r#"{"label": "BUG REPORT"}"#,
        ] {
            assert!(result_for(&classify(), answer).is_ok(), "{answer}");
        }
        assert_eq!(
            result_for(&classify(), "Billing.").unwrap(),
            json!("billing")
        );
        for answer in [
            "refund",
            "billing, bug report",
            "It is billing.",
            "",
            r#"{"label": "x"}"#,
        ] {
            assert!(result_for(&classify(), answer).is_err(), "{answer}");
        }
    }

    #[test]
    fn extract_accepts_only_a_conforming_object() {
        let task = Task::Extract {
            schema: json!({"type": "object", "required": ["total"], "properties": {"total": {"type": "number"}}}),
        };
        assert_eq!(
            result_for(&task, r#"{"total": 12.5}"#).unwrap(),
            json!({"total": 12.5})
        );
        assert_eq!(
            result_for(&task, "```json\n{\"total\": 1}\n```").unwrap(),
            json!({"total": 1})
        );
        assert_eq!(
            result_for(&task, "Here it is: {\"total\": 2} hope it helps").unwrap(),
            json!({"total": 2})
        );
        let err = result_for(&task, r#"{"total": "12"}"#).unwrap_err().0;
        assert!(
            err.contains("$.total: expected number, got string"),
            "{err}"
        );
        assert!(
            result_for(&task, r#"{"sum": 1}"#)
                .unwrap_err()
                .0
                .contains("missing required property 'total'")
        );
        assert!(
            result_for(&task, "[1, 2]")
                .unwrap_err()
                .0
                .contains("not an object")
        );
        assert!(
            result_for(&task, "{oops}")
                .unwrap_err()
                .0
                .contains("not JSON")
        );
        assert!(
            result_for(&task, "\"just text\"")
                .unwrap_err()
                .0
                .contains("not an object")
        );
        assert!(result_for(&task, "no json here").is_err());
    }

    #[test]
    fn free_text_tasks_need_a_non_empty_answer() {
        assert_eq!(
            result_for(&Task::Summarize, "  Short.  ").unwrap(),
            json!("Short.")
        );
        assert!(result_for(&Task::Summarize, " \n ").is_err());
    }
}
