//! The output limit every model call carries. A request that sets none would get the model's
//! maximum from Bedrock, far above what its reservation assumed, so a budget could be overspent
//! by simply leaving `maxTokens` out. The call path therefore writes the reserved limit into
//! every outgoing request (Converse `inferenceConfig.maxTokens`, or the provider's own field of
//! an InvokeModel body), and the estimate reserves exactly that number.

use crate::api::converse::{ConverseRequest, InferenceConfig};
use crate::config::GatewayConfig;
use crate::error::GatewayError;
use crate::sagemaker::PayloadDialect;
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

const FIELDS: [Field; 9] = [
    Field::Top("max_tokens"),
    Field::Top("max_completion_tokens"),
    Field::Top("max_new_tokens"),
    Field::Top("max_gen_len"),
    Field::Top("max_tokens_to_sample"),
    Field::Nested("textGenerationConfig", "maxTokenCount"),
    Field::Nested("inferenceConfig", "max_new_tokens"),
    Field::Nested("inferenceConfig", "maxTokens"),
    Field::Nested("parameters", "max_new_tokens"),
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

/// Whose fields an InvokeModel body's output limit is read from: a Bedrock model's
/// provider (by its id), or the payload dialect a SageMaker-served model is configured with —
/// never guessed from the body's shape for those, which a caller controls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyDialect<'a> {
    Bedrock(&'a str),
    SageMaker(PayloadDialect),
}

impl<'a> BodyDialect<'a> {
    /// For `model_id` (a configured id, or any id Bedrock knows).
    pub fn of(config: &GatewayConfig, model_id: &'a str) -> Self {
        match config.model(model_id).and_then(|m| m.sagemaker.as_ref()) {
            Some(endpoint) => Self::SageMaker(endpoint.dialect),
            None => Self::Bedrock(model_id),
        }
    }

    /// For the model a caller named: an alias names no provider, so it is read as its
    /// model's id.
    pub fn of_named(config: &'a GatewayConfig, name: &'a str) -> Self {
        Self::of(config, config.model(name).map_or(name, |m| m.id.as_str()))
    }
}

/// Fields that multiply a request's output (several choices for one prompt): the reservation
/// covers one, so any other value is refused.
const MULTIPLIERS: [Field; 4] = [
    Field::Top("n"),
    Field::Top("best_of"),
    Field::Nested("parameters", "n"),
    Field::Nested("parameters", "best_of"),
];

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

/// An InvokeModel body's output limit for `model_id` (the configured or profile id): the
/// largest of the fields that model's provider reads, `None` when it sets none. Only the
/// provider's own fields count: a limit in a field the model ignores (Titan reading
/// `max_tokens`, say) would reserve one token while the model wrote thousands. Every known
/// limit field, the provider's or not, must be a whole number no larger than the maximum (400
/// naming the field). `None` also for bodies that are not JSON objects (Bedrock refuses them;
/// nothing is spent).
pub fn invoke_limit(dialect: BodyDialect<'_>, body: &[u8]) -> Result<Option<u64>, GatewayError> {
    // Anything but exactly one JSON object is refused: a lenient parser downstream (`{…} x`
    // read as its first object) would honour an output limit the gateway never saw.
    let Ok(Value::Object(json)) = serde_json::from_slice::<Value>(body) else {
        return Err(GatewayError::invalid(
            "body",
            "an InvokeModel body must be exactly one JSON object",
        ));
    };
    provider_limit(dialect, &json)
}

fn provider_limit(
    dialect: BodyDialect<'_>,
    json: &Map<String, Value>,
) -> Result<Option<u64>, GatewayError> {
    for field in MULTIPLIERS {
        if field.get(json).is_some_and(|v| v.as_u64() != Some(1)) {
            let name = field.name();
            return Err(GatewayError::invalid(
                &name,
                format!("{name}: the gateway serves one answer per request (1 or absent)"),
            ));
        }
    }
    let mut limit = None;
    let ours = provider_fields(dialect, json);
    for field in FIELDS {
        let Some(value) = field.get(json) else {
            continue;
        };
        let Some(n) = value.as_u64() else {
            let name = field.name();
            let message = format!("{name} must be a whole number of tokens");
            return Err(GatewayError::invalid(name, message));
        };
        check(&field.name(), Some(n))?;
        if ours.contains(&field) {
            limit = limit.max(Some(n));
        }
    }
    Ok(limit)
}

fn check(field: &str, limit: Option<u64>) -> Result<Option<u64>, GatewayError> {
    match limit {
        Some(n) if n > MAX_OUTPUT_TOKENS => Err(GatewayError::invalid(
            field,
            format!("{field} must be at most {MAX_OUTPUT_TOKENS}"),
        )),
        // Bedrock refuses 0 too, but only after a RAG route retrieved for it.
        Some(0) => Err(GatewayError::invalid(
            field,
            format!("{field} must be at least 1"),
        )),
        _ => Ok(limit),
    }
}

/// The body as sent: the provider's primary limit field set to the body's own limit (the
/// largest of the provider's fields it sets) or, when it sets none, to `default` — so the
/// model stops where the reservation ([`invoke_limit`]) ends. Embedding models produce no
/// output tokens and are left alone, as are bodies that are not JSON objects (Bedrock refuses
/// those before any output).
pub fn cap_invoke<'b>(
    dialect: BodyDialect<'_>,
    body: &'b [u8],
    default: u64,
) -> Result<Cow<'b, [u8]>, GatewayError> {
    let Ok(Value::Object(mut json)) = serde_json::from_slice::<Value>(body) else {
        return Ok(Cow::Borrowed(body));
    };
    let limit = provider_limit(dialect, &json)?;
    let Some(primary) = provider_fields(dialect, &json).first().copied() else {
        return Ok(Cow::Borrowed(body));
    };
    if primary.get(&json).is_some() && limit == primary.get(&json).and_then(Value::as_u64) {
        return Ok(Cow::Borrowed(body));
    }
    primary.set(&mut json, limit.unwrap_or(default));
    serde_json::to_vec(&json)
        .map(Cow::Owned)
        .map_err(|e| GatewayError::Internal(format!("re-encoding an InvokeModel body: {e}")))
}

/// The fields a model's provider reads its output limit from, the one the gateway writes
/// first; by model id (profile ids and ARNs contain the base id) and, for ids of no known
/// provider, by the body's shape. Empty for embedding models.
fn provider_fields(dialect: BodyDialect<'_>, body: &Map<String, Value>) -> &'static [Field] {
    const ANTHROPIC: &[Field] = &[Field::Top("max_tokens"), Field::Top("max_tokens_to_sample")];
    const TITAN: &[Field] = &[Field::Nested("textGenerationConfig", "maxTokenCount")];
    const NOVA: &[Field] = &[
        Field::Nested("inferenceConfig", "max_new_tokens"),
        Field::Nested("inferenceConfig", "maxTokens"),
    ];
    const LLAMA: &[Field] = &[Field::Top("max_gen_len")];
    const OPENAI: &[Field] = &[
        Field::Top("max_completion_tokens"),
        Field::Top("max_tokens"),
    ];
    const OTHERS: &[Field] = &[Field::Top("max_tokens")];
    // A SageMaker container's plain-prompt body (TGI's generate API).
    const TGI: &[Field] = &[Field::Nested("parameters", "max_new_tokens")];
    // A SageMaker container's chat body (vLLM reads `max_completion_tokens` first).
    const CHAT: &[Field] = &[
        Field::Top("max_tokens"),
        Field::Top("max_completion_tokens"),
    ];
    let model_id = match dialect {
        BodyDialect::SageMaker(PayloadDialect::Chat) => return CHAT,
        BodyDialect::SageMaker(PayloadDialect::Prompt) => return TGI,
        BodyDialect::Bedrock(model_id) => model_id,
    };
    let id = model_id.to_ascii_lowercase();
    if id.contains("embed") {
        &[]
    } else if id.contains("anthropic.") {
        ANTHROPIC
    } else if id.contains("amazon.titan-text") {
        TITAN
    } else if id.contains("amazon.nova") {
        NOVA
    } else if id.contains("meta.llama") {
        LLAMA
    } else if id.contains("openai.") {
        OPENAI
    } else if id.contains("mistral.")
        || id.contains("cohere.")
        || id.contains("ai21.")
        || id.contains("deepseek.")
    {
        OTHERS
    } else if body.contains_key("textGenerationConfig") || body.contains_key("inputText") {
        TITAN
    } else if body.contains_key("schemaVersion") {
        NOVA
    } else if body.contains_key("inputs") {
        TGI
    } else {
        OTHERS
    }
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
            BodyDialect::Bedrock("us.anthropic.claude-sonnet-4-20250514-v1:0"),
            br#"{"anthropic_version":"bedrock-2023-05-31","messages":[]}"#,
            512,
        )
        .unwrap();
        assert_eq!(parsed(&claude)["max_tokens"], 512);
        let titan = cap_invoke(
            BodyDialect::Bedrock("amazon.titan-text-express-v1"),
            br#"{"inputText":"hi"}"#,
            7,
        )
        .unwrap();
        assert_eq!(parsed(&titan)["textGenerationConfig"]["maxTokenCount"], 7);
        let nova = cap_invoke(
            BodyDialect::Bedrock("amazon.nova-lite-v1:0"),
            br#"{"messages":[],"inferenceConfig":{"temperature":0}}"#,
            9,
        )
        .unwrap();
        assert_eq!(parsed(&nova)["inferenceConfig"]["max_new_tokens"], 9);
        assert_eq!(parsed(&nova)["inferenceConfig"]["temperature"], 0);
        let llama = cap_invoke(
            BodyDialect::Bedrock("meta.llama3-8b-instruct-v1:0"),
            br#"{"prompt":"x"}"#,
            3,
        )
        .unwrap();
        assert_eq!(parsed(&llama)["max_gen_len"], 3);
        let embed = cap_invoke(
            BodyDialect::Bedrock("amazon.titan-embed-text-v2:0"),
            br#"{"inputText":"x"}"#,
            3,
        )
        .unwrap();
        assert!(matches!(embed, Cow::Borrowed(_)));
        let own = cap_invoke(
            BodyDialect::Bedrock("anthropic.claude"),
            br#"{"max_tokens":5}"#,
            3,
        )
        .unwrap();
        assert!(matches!(own, Cow::Borrowed(_)));
    }

    #[test]
    fn absurd_limits_are_refused_naming_the_field() {
        let huge = br#"{"max_tokens":18446744073709551615}"#;
        let err = invoke_limit(BodyDialect::Bedrock("anthropic.claude"), huge).unwrap_err();
        assert_eq!(err.status_code(), 400);
        assert!(err.to_string().contains("max_tokens"), "{err}");
        assert!(cap_invoke(BodyDialect::Bedrock("anthropic.x"), huge, 1).is_err());
        let negative = br#"{"textGenerationConfig":{"maxTokenCount":-1}}"#;
        assert!(
            invoke_limit(
                BodyDialect::Bedrock("amazon.titan-text-express-v1"),
                negative
            )
            .unwrap_err()
            .to_string()
            .contains("textGenerationConfig.maxTokenCount")
        );
        for not_one_object in [&b"not json"[..], br#"{"max_tokens":5} x"#, b"[1]", b""] {
            let err =
                invoke_limit(BodyDialect::Bedrock("anthropic.claude"), not_one_object).unwrap_err();
            assert!(err.to_string().contains("body"), "{err}");
        }
        assert_eq!(
            invoke_limit(
                BodyDialect::Bedrock("anthropic.claude"),
                br#"{"max_tokens":1000000}"#
            )
            .unwrap(),
            Some(1_000_000)
        );
    }

    /// The red team's overspend: a Titan/Nova body "limited" by `max_tokens`, a field those
    /// models ignore, reserved one token while the model wrote thousands. Only the model's
    /// own fields count, and its own field is written.
    #[test]
    fn a_limit_in_a_field_the_model_ignores_reserves_and_sends_the_default() {
        let titan = br#"{"inputText":"x","max_tokens":1}"#;
        assert_eq!(
            invoke_limit(BodyDialect::Bedrock("amazon.titan-text-express-v1"), titan).unwrap(),
            None
        );
        let sent = cap_invoke(
            BodyDialect::Bedrock("amazon.titan-text-express-v1"),
            titan,
            300,
        )
        .unwrap();
        assert_eq!(parsed(&sent)["textGenerationConfig"]["maxTokenCount"], 300);
        let nova = br#"{"inputText":"x","max_gen_len":1}"#;
        assert_eq!(
            invoke_limit(BodyDialect::Bedrock("us.amazon.nova-lite-v1:0"), nova).unwrap(),
            None
        );
        let sent = cap_invoke(BodyDialect::Bedrock("us.amazon.nova-lite-v1:0"), nova, 300).unwrap();
        assert_eq!(parsed(&sent)["inferenceConfig"]["max_new_tokens"], 300);
        // Nova's other spelling counts, and is mirrored into the field written.
        let nova2 = br#"{"inferenceConfig":{"maxTokens":7}}"#;
        assert_eq!(
            invoke_limit(BodyDialect::Bedrock("amazon.nova-lite-v1:0"), nova2).unwrap(),
            Some(7)
        );
        let sent = cap_invoke(BodyDialect::Bedrock("amazon.nova-lite-v1:0"), nova2, 300).unwrap();
        assert_eq!(parsed(&sent)["inferenceConfig"]["max_new_tokens"], 7);
        // Claude reads max_tokens: its own limit is kept as sent.
        let claude = br#"{"max_tokens":5,"textGenerationConfig":{"maxTokenCount":1}}"#;
        assert_eq!(
            invoke_limit(BodyDialect::Bedrock("anthropic.claude-x"), claude).unwrap(),
            Some(5)
        );
        assert!(matches!(
            cap_invoke(BodyDialect::Bedrock("anthropic.claude-x"), claude, 300).unwrap(),
            Cow::Borrowed(_)
        ));
    }
}

#[cfg(test)]
mod sagemaker_tests {
    use super::*;

    #[test]
    fn a_sagemaker_bodys_limit_is_read_by_its_dialect_not_its_shape() {
        let chat = BodyDialect::SageMaker(PayloadDialect::Chat);
        // A decoy TGI field set to 1 beside the chat container's real limit.
        let decoy = br#"{"messages":[],"max_tokens":100000,"inputs":"x","parameters":{"max_new_tokens":1}}"#;
        assert_eq!(invoke_limit(chat, decoy).unwrap(), Some(100_000));
        let vllm = br#"{"messages":[],"max_tokens":5,"max_completion_tokens":9000}"#;
        assert_eq!(invoke_limit(chat, vllm).unwrap(), Some(9_000));
        let bare = br#"{"messages":[],"textGenerationConfig":{"maxTokenCount":1}}"#;
        assert_eq!(invoke_limit(chat, bare).unwrap(), None);
        let sent = cap_invoke(chat, bare, 300).unwrap();
        assert_eq!(parsed(&sent)["max_tokens"], 300);
        let prompt = BodyDialect::SageMaker(PayloadDialect::Prompt);
        let tgi = br#"{"inputs":"x","max_tokens":1,"parameters":{"max_new_tokens":700}}"#;
        assert_eq!(invoke_limit(prompt, tgi).unwrap(), Some(700));
    }

    #[test]
    fn several_answers_per_request_are_refused() {
        let chat = BodyDialect::SageMaker(PayloadDialect::Chat);
        for body in [
            &br#"{"messages":[],"n":5}"#[..],
            br#"{"messages":[],"best_of":3}"#,
            br#"{"inputs":"x","parameters":{"best_of":2}}"#,
            br#"{"messages":[],"n":"2"}"#,
        ] {
            assert!(invoke_limit(chat, body).is_err());
        }
        assert!(invoke_limit(chat, br#"{"messages":[],"n":1}"#).is_ok());
    }

    fn parsed(body: &[u8]) -> serde_json::Value {
        serde_json::from_slice(body).unwrap()
    }
}
