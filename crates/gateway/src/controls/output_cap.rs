//! The output limit every model call carries. A request that sets none would get the model's
//! maximum from Bedrock, far above what its reservation assumed, so a budget could be overspent
//! by simply leaving `maxTokens` out. The call path therefore writes the reserved limit into
//! every outgoing request (Converse `inferenceConfig.maxTokens`, or the provider's own field of
//! an InvokeModel body), and the estimate reserves exactly that number.

use crate::api::converse::{ConverseRequest, InferenceConfig};
use crate::error::GatewayError;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// The largest output limit a request may ask for. Far above any model's real maximum, and
/// far below where token or money arithmetic could overflow (`u64::MAX` tokens once wrapped
/// the tokens-per-minute check round to a tiny number).
pub const MAX_OUTPUT_TOKENS: u64 = 1_000_000;

/// Where a provider's InvokeModel body sets its output limit: a top-level field, or a field
/// of a nested object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Top(&'static str),
    Nested(&'static str, &'static str),
}

const FIELDS: [Field; 7] = [
    Field::Top("max_tokens"),
    Field::Top("max_new_tokens"),
    Field::Top("max_gen_len"),
    Field::Top("max_tokens_to_sample"),
    Field::Nested("textGenerationConfig", "maxTokenCount"),
    Field::Nested("inferenceConfig", "max_new_tokens"),
    Field::Nested("inferenceConfig", "maxTokens"),
];

impl Field {
    fn name(self) -> String {
        match self {
            Self::Top(name) => name.to_owned(),
            Self::Nested(outer, inner) => format!("{outer}.{inner}"),
        }
    }

    fn get(self, body: &Map<String, Value>) -> Option<&Value> {
        match self {
            Self::Top(name) => body.get(name),
            Self::Nested(outer, inner) => body.get(outer)?.as_object()?.get(inner),
        }
    }

    fn set(self, body: &mut Map<String, Value>, tokens: u64) {
        match self {
            Self::Top(name) => {
                body.insert(name.to_owned(), Value::from(tokens));
            }
            Self::Nested(outer, inner) => {
                let slot = body
                    .entry(outer.to_owned())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !slot.is_object() {
                    *slot = Value::Object(Map::new());
                }
                if let Some(object) = slot.as_object_mut() {
                    object.insert(inner.to_owned(), Value::from(tokens));
                }
            }
        }
    }
}

/// A Converse request's output limit, checked: 400 naming the field above the maximum.
pub fn converse_limit(request: &ConverseRequest) -> Result<Option<u64>, GatewayError> {
    let limit = request
        .inference_config
        .as_ref()
        .and_then(|c| c.max_tokens)
        .map(u64::from);
    check("inferenceConfig.maxTokens", limit)
}

/// The request as sent: its own limit, or `default` written in.
pub fn cap_converse(request: &ConverseRequest, default: u64) -> Cow<'_, ConverseRequest> {
    let has_limit = request
        .inference_config
        .as_ref()
        .is_some_and(|c| c.max_tokens.is_some());
    if has_limit {
        return Cow::Borrowed(request);
    }
    let mut capped = request.clone();
    let config = capped
        .inference_config
        .get_or_insert_with(InferenceConfig::default);
    config.max_tokens = Some(u32::try_from(default).unwrap_or(u32::MAX));
    Cow::Owned(capped)
}

/// An InvokeModel body's output limit (the first provider field that is set), checked: 400
/// naming the field when it is not a whole number or above the maximum. `None` for bodies
/// that are not JSON objects (Bedrock refuses them; nothing is spent) or set no limit.
pub fn invoke_limit(body: &[u8]) -> Result<Option<u64>, GatewayError> {
    let Ok(Value::Object(json)) = serde_json::from_slice::<Value>(body) else {
        return Ok(None);
    };
    limit_of(&json)
}

fn limit_of(json: &Map<String, Value>) -> Result<Option<u64>, GatewayError> {
    for field in FIELDS {
        if let Some(value) = field.get(json) {
            let Some(n) = value.as_u64() else {
                let name = field.name();
                let message = format!("{name} must be a whole number of tokens");
                return Err(GatewayError::invalid(name, message));
            };
            return check(&field.name(), Some(n));
        }
    }
    Ok(None)
}

fn check(field: &str, limit: Option<u64>) -> Result<Option<u64>, GatewayError> {
    match limit {
        Some(n) if n > MAX_OUTPUT_TOKENS => Err(GatewayError::invalid(
            field,
            format!("{field} must be at most {MAX_OUTPUT_TOKENS}"),
        )),
        _ => Ok(limit),
    }
}

/// The body as sent: its own limit, or `default` written into the field the model's provider
/// reads. Embedding models produce no output tokens and are left alone, as are bodies that
/// are not JSON objects (Bedrock refuses those before any output).
pub fn cap_invoke<'b>(
    model_id: &str,
    body: &'b [u8],
    default: u64,
) -> Result<Cow<'b, [u8]>, GatewayError> {
    let Ok(Value::Object(mut json)) = serde_json::from_slice::<Value>(body) else {
        return Ok(Cow::Borrowed(body));
    };
    if limit_of(&json)?.is_some() {
        return Ok(Cow::Borrowed(body));
    }
    let Some(field) = provider_field(model_id, &json) else {
        return Ok(Cow::Borrowed(body));
    };
    field.set(&mut json, default);
    serde_json::to_vec(&json)
        .map(Cow::Owned)
        .map_err(|e| GatewayError::Internal(format!("re-encoding an InvokeModel body: {e}")))
}

/// The field a model's provider reads its output limit from, by model id (profile ids and
/// ARNs contain the base id) and, for bodies of unknown models, by shape.
fn provider_field(model_id: &str, body: &Map<String, Value>) -> Option<Field> {
    let id = model_id.to_ascii_lowercase();
    if id.contains("embed") {
        return None;
    }
    if id.contains("amazon.titan-text") || body.contains_key("textGenerationConfig") {
        return Some(Field::Nested("textGenerationConfig", "maxTokenCount"));
    }
    if id.contains("amazon.nova") || body.contains_key("schemaVersion") {
        return Some(Field::Nested("inferenceConfig", "max_new_tokens"));
    }
    if id.contains("meta.llama") {
        return Some(Field::Top("max_gen_len"));
    }
    // Anthropic, Mistral, Cohere Command, AI21, DeepSeek, OpenAI's open-weight models.
    Some(Field::Top("max_tokens"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(body: &[u8]) -> Value {
        serde_json::from_slice(body).unwrap()
    }

    #[test]
    fn converse_gets_the_default_only_when_it_has_no_limit() {
        let bare = ConverseRequest::default();
        let capped = cap_converse(&bare, 4096);
        assert_eq!(
            capped.inference_config.as_ref().unwrap().max_tokens,
            Some(4096)
        );
        let own = cap_converse(&capped, 10);
        assert!(matches!(own, Cow::Borrowed(_)));
        assert_eq!(
            own.inference_config.as_ref().unwrap().max_tokens,
            Some(4096)
        );
    }

    #[test]
    fn each_provider_gets_its_own_field() {
        let claude = cap_invoke(
            "us.anthropic.claude-sonnet-4-20250514-v1:0",
            br#"{"anthropic_version":"bedrock-2023-05-31","messages":[]}"#,
            512,
        )
        .unwrap();
        assert_eq!(parsed(&claude)["max_tokens"], 512);
        let titan =
            cap_invoke("amazon.titan-text-express-v1", br#"{"inputText":"hi"}"#, 7).unwrap();
        assert_eq!(parsed(&titan)["textGenerationConfig"]["maxTokenCount"], 7);
        let nova = cap_invoke(
            "amazon.nova-lite-v1:0",
            br#"{"messages":[],"inferenceConfig":{"temperature":0}}"#,
            9,
        )
        .unwrap();
        assert_eq!(parsed(&nova)["inferenceConfig"]["max_new_tokens"], 9);
        assert_eq!(parsed(&nova)["inferenceConfig"]["temperature"], 0);
        let llama = cap_invoke("meta.llama3-8b-instruct-v1:0", br#"{"prompt":"x"}"#, 3).unwrap();
        assert_eq!(parsed(&llama)["max_gen_len"], 3);
        let embed = cap_invoke("amazon.titan-embed-text-v2:0", br#"{"inputText":"x"}"#, 3).unwrap();
        assert!(matches!(embed, Cow::Borrowed(_)));
        let own = cap_invoke("anthropic.claude", br#"{"max_tokens":5}"#, 3).unwrap();
        assert!(matches!(own, Cow::Borrowed(_)));
    }

    #[test]
    fn absurd_limits_are_refused_naming_the_field() {
        let huge = br#"{"max_tokens":18446744073709551615}"#;
        let err = invoke_limit(huge).unwrap_err();
        assert_eq!(err.status_code(), 400);
        assert!(err.to_string().contains("max_tokens"), "{err}");
        assert!(cap_invoke("anthropic.x", huge, 1).is_err());
        let negative = br#"{"textGenerationConfig":{"maxTokenCount":-1}}"#;
        assert!(
            invoke_limit(negative)
                .unwrap_err()
                .to_string()
                .contains("textGenerationConfig.maxTokenCount")
        );
        assert_eq!(invoke_limit(b"not json").unwrap(), None);
        assert_eq!(
            invoke_limit(br#"{"max_tokens":1000000}"#).unwrap(),
            Some(1_000_000)
        );
    }
}
