//! An event source mapping's `FilterCriteria`, evaluated as Lambda evaluates it: each pattern
//! is matched against the record's Lambda JSON; a record is delivered when any pattern
//! matches, and dropped (consumed without an invocation) otherwise.
//!
//! The subset of the event-pattern syntax supported: nested objects, lists of literal values
//! (string, number, boolean, null), and the operators `exists`, `prefix` and `anything-but`
//! (a value or a list). Anything else is refused when the pattern is parsed, so a pattern
//! this module cannot honour is never silently treated as "match all".

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct FilterCriteria {
    patterns: Vec<Map<String, Value>>,
}

impl FilterCriteria {
    /// Parses the `Pattern` strings of `FilterCriteria.Filters`, as written in the template.
    pub fn from_patterns<'a>(patterns: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let patterns = patterns
            .into_iter()
            .map(|text| {
                let pattern: Value = serde_json::from_str(text)
                    .map_err(|e| format!("pattern is not JSON ({e}): {text}"))?;
                let Value::Object(pattern) = pattern else {
                    return Err(format!("pattern must be a JSON object: {text}"));
                };
                check(&pattern, "")?;
                Ok(pattern)
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self { patterns })
    }

    /// Whether the record (the Lambda event record as JSON) is delivered to the function.
    pub fn matches(&self, record: &Value) -> bool {
        self.patterns
            .iter()
            .any(|pattern| matches_object(pattern, Some(record)))
    }
}

fn check(pattern: &Map<String, Value>, path: &str) -> Result<(), String> {
    for (key, value) in pattern {
        let here = format!("{path}.{key}");
        match value {
            Value::Object(nested) => check(nested, &here)?,
            Value::Array(options) if !options.is_empty() => {
                for option in options {
                    if let Value::Object(operator) = option {
                        check_operator(operator, &here)?;
                    }
                }
            }
            _ => return Err(format!("{here}: a leaf must be a non-empty list")),
        }
    }
    Ok(())
}

fn check_operator(operator: &Map<String, Value>, path: &str) -> Result<(), String> {
    let valid = match operator.iter().next() {
        Some((name, value)) if operator.len() == 1 => match name.as_str() {
            "exists" => value.is_boolean(),
            "prefix" => value.is_string(),
            "anything-but" => !value.is_object(),
            _ => false,
        },
        _ => false,
    };
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{path}: unsupported operator {}: only exists, prefix and anything-but are",
            Value::Object(operator.clone())
        ))
    }
}

fn matches_object(pattern: &Map<String, Value>, event: Option<&Value>) -> bool {
    pattern.iter().all(|(key, expected)| {
        let field = event.and_then(|e| e.get(key));
        match expected {
            Value::Object(nested) => matches_object(nested, field),
            Value::Array(options) => options.iter().any(|option| matches_leaf(option, field)),
            _ => false,
        }
    })
}

fn matches_leaf(option: &Value, field: Option<&Value>) -> bool {
    if let Value::Object(operator) = option {
        let Some((name, argument)) = operator.iter().next() else {
            return false;
        };
        return match name.as_str() {
            "exists" => argument.as_bool() == Some(field.is_some()),
            "prefix" => scalars(field).any(|v| {
                matches!((v, argument), (Value::String(v), Value::String(p)) if v.starts_with(p.as_str()))
            }),
            "anything-but" => {
                let excluded: Vec<&Value> = match argument {
                    Value::Array(list) => list.iter().collect(),
                    single => vec![single],
                };
                field.is_some() && scalars(field).all(|v| !excluded.contains(&v))
            }
            _ => false,
        };
    }
    scalars(field).any(|v| v == option)
}

/// The field's values: itself, or each element of a list (patterns match any element).
fn scalars(field: Option<&Value>) -> Box<dyn Iterator<Item = &Value> + '_> {
    match field {
        None => Box::new(std::iter::empty()),
        Some(Value::Array(items)) => Box::new(items.iter()),
        Some(value) => Box::new(std::iter::once(value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PENDING: &str = r#"{"eventName": ["INSERT", "MODIFY"], "dynamodb": {"NewImage": {"status": {"S": ["PENDING"]}}}}"#;

    fn record(event_name: &str, status: Option<&str>) -> Value {
        let new_image = status.map_or(json!({}), |s| json!({"status": {"S": s}, "pk": {"S": "a"}}));
        json!({"eventName": event_name, "dynamodb": {"NewImage": new_image, "Keys": {"pk": {"S": "a"}}}})
    }

    #[test]
    fn the_documents_filter_passes_only_pending_inserts_and_modifies() {
        let filter = FilterCriteria::from_patterns([PENDING]).unwrap();
        assert!(filter.matches(&record("INSERT", Some("PENDING"))));
        assert!(filter.matches(&record("MODIFY", Some("PENDING"))));
        assert!(!filter.matches(&record("MODIFY", Some("ENRICHED"))));
        assert!(!filter.matches(&record("MODIFY", Some("FAILED"))));
        assert!(!filter.matches(&record("REMOVE", None)));
        assert!(!filter.matches(&record("INSERT", None)));
    }

    #[test]
    fn operators_and_alternative_patterns() {
        let filter = FilterCriteria::from_patterns([
            r#"{"dynamodb": {"NewImage": {"status": {"S": [{"anything-but": ["ENRICHED", "FAILED"]}]}}}}"#,
            r#"{"eventName": ["REMOVE"], "dynamodb": {"OldImage": {"pk": {"S": [{"prefix": "keep#"}]}}}}"#,
        ])
        .unwrap();
        assert!(filter.matches(&record("INSERT", Some("PENDING"))));
        assert!(!filter.matches(&record("INSERT", Some("FAILED"))));
        assert!(
            !filter.matches(&record("INSERT", None)),
            "anything-but needs the field"
        );
        let removed =
            |pk: &str| json!({"eventName": "REMOVE", "dynamodb": {"OldImage": {"pk": {"S": pk}}}});
        assert!(filter.matches(&removed("keep#1")));
        assert!(!filter.matches(&removed("drop#1")));

        let exists = FilterCriteria::from_patterns([
            r#"{"dynamodb": {"OldImage": {"pk": [{"exists": false}]}}}"#,
        ])
        .unwrap();
        assert!(exists.matches(&record("INSERT", Some("PENDING"))));
        assert!(!exists.matches(&removed("x")));
    }

    #[test]
    fn unsupported_patterns_are_refused() {
        for pattern in [
            r#"[]"#,
            r#"{"eventName": "INSERT"}"#,
            r#"{"eventName": []}"#,
            r#"{"dynamodb": {"NewImage": {"n": {"N": [{"numeric": [">", 1]}]}}}}"#,
            r#"{"eventName": [{"prefix": 1}]}"#,
        ] {
            assert!(
                FilterCriteria::from_patterns([pattern]).is_err(),
                "{pattern}"
            );
        }
    }
}
