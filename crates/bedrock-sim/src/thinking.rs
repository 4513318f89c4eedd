//! Extended thinking requests (`thinking: {"type": "enabled", "budget_tokens": N}`), shared by
//! Anthropic bodies and Converse's `additionalModelRequestFields`, which Bedrock hands to Claude
//! unchanged — so both get Anthropic's rules and messages.

use serde_json::Value;

use crate::error::ApiError;

/// The smallest budget Anthropic accepts.
pub const MIN_BUDGET: i64 = 1024;

/// The thinking budget of a `thinking` object, `None` when thinking is off. `max_tokens` is
/// the request's limit, when it has one: the budget must stay below it.
pub fn budget(thinking: Option<&Value>, max_tokens: Option<i64>) -> Result<Option<u32>, ApiError> {
    let Some(thinking) = thinking else {
        return Ok(None);
    };
    match thinking.get("type").and_then(Value::as_str) {
        Some("disabled") => Ok(None),
        Some("enabled") => {
            let budget = thinking
                .get("budget_tokens")
                .and_then(Value::as_i64)
                .ok_or_else(|| {
                    ApiError::validation("thinking.enabled.budget_tokens: Field required")
                })?;
            if budget < MIN_BUDGET {
                return Err(ApiError::validation(format!(
                    "thinking.enabled.budget_tokens: Input should be greater than or equal to {MIN_BUDGET}"
                )));
            }
            if max_tokens.is_some_and(|max| budget >= max) {
                return Err(ApiError::validation(
                    "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size",
                ));
            }
            Ok(Some(u32::try_from(budget).unwrap_or(u32::MAX)))
        }
        other => Err(ApiError::validation(format!(
            "thinking.type: Input tag '{}' found using 'type' does not match any of the expected tags: 'disabled', 'enabled'",
            other.unwrap_or("null")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn budgets_follow_anthropics_rules() {
        assert_eq!(budget(None, Some(10)).unwrap(), None);
        let on = json!({"type": "enabled", "budget_tokens": 2000});
        assert_eq!(budget(Some(&on), Some(4000)).unwrap(), Some(2000));
        assert_eq!(budget(Some(&on), None).unwrap(), Some(2000));
        assert!(budget(Some(&on), Some(2000)).is_err());
        let low = json!({"type": "enabled", "budget_tokens": 100});
        assert!(budget(Some(&low), None).is_err());
        assert_eq!(
            budget(Some(&json!({"type": "disabled"})), None).unwrap(),
            None
        );
        assert!(budget(Some(&json!({"type": "maybe"})), None).is_err());
    }
}
