//! Converse ↔ a container's payload. Text conversations only: images, documents, tools and
//! reasoning blocks have no common encoding across containers, so they are refused with a 400
//! naming the field instead of being dropped silently.

use super::PayloadDialect;
use crate::api::converse::{
    ContentBlock, ConverseRequest, ConverseResponse, InferenceConfig, Message, Metrics, Role,
    ToolResultContent, Usage,
};
use crate::error::GatewayError;
use serde_json::{Map, Value, json};

/// Token estimate where a container reports no usage (TGI's plain `generate` answer): one
/// token per four characters, at least one, as the gateway's admission estimate counts.
pub fn estimate_tokens(text: &str) -> u32 {
    u32::try_from(text.chars().count().div_ceil(4))
        .unwrap_or(u32::MAX)
        .max(1)
}

fn message_text(i: usize, message: &Message) -> Result<String, GatewayError> {
    let mut parts = Vec::with_capacity(message.content.len());
    for (j, block) in message.content.iter().enumerate() {
        match block {
            ContentBlock::Text(text) => parts.push(text.clone()),
            ContentBlock::ToolResult(result) => {
                for item in &result.content {
                    match item {
                        ToolResultContent::Text(text) => parts.push(text.clone()),
                        ToolResultContent::Json(value) => parts.push(value.to_string()),
                        _ => {
                            return Err(unsupported(format!("messages[{i}].content[{j}]")));
                        }
                    }
                }
            }
            ContentBlock::CachePoint(_) => {}
            _ => return Err(unsupported(format!("messages[{i}].content[{j}]"))),
        }
    }
    Ok(parts.join("\n"))
}

fn unsupported(field: String) -> GatewayError {
    let message = format!("{field}: SageMaker endpoints take text content only");
    GatewayError::invalid(field, message)
}

/// The body to send for `request` (`stream` asks the container to stream).
pub fn request_body(
    dialect: PayloadDialect,
    request: &ConverseRequest,
    stream: bool,
) -> Result<Vec<u8>, GatewayError> {
    if request.tool_config.is_some() {
        return Err(GatewayError::invalid(
            "toolConfig",
            "toolConfig: SageMaker endpoints are called without tools",
        ));
    }
    let config = request.inference_config.clone().unwrap_or_default();
    let system = request.system_texts().collect::<Vec<_>>().join("\n");
    let body = match dialect {
        PayloadDialect::Chat => {
            let mut messages = Vec::with_capacity(request.messages.len() + 1);
            if !system.is_empty() {
                messages.push(json!({"role": "system", "content": system}));
            }
            for (i, message) in request.messages.iter().enumerate() {
                let role = match message.role {
                    Role::User => "user",
                    Role::Assistant => "assistant",
                };
                messages.push(json!({"role": role, "content": message_text(i, message)?}));
            }
            let mut body = Map::new();
            body.insert("messages".into(), Value::Array(messages));
            insert_sampling(&mut body, &config, "max_tokens");
            if stream {
                body.insert("stream".into(), json!(true));
                body.insert("stream_options".into(), json!({"include_usage": true}));
            }
            Value::Object(body)
        }
        PayloadDialect::Prompt => {
            let mut prompt = String::new();
            if !system.is_empty() {
                prompt.push_str(&system);
                prompt.push_str("\n\n");
            }
            for (i, message) in request.messages.iter().enumerate() {
                let speaker = match message.role {
                    Role::User => "User",
                    Role::Assistant => "Assistant",
                };
                prompt.push_str(speaker);
                prompt.push_str(": ");
                prompt.push_str(&message_text(i, message)?);
                prompt.push('\n');
            }
            prompt.push_str("Assistant:");
            let mut parameters = Map::new();
            insert_sampling(&mut parameters, &config, "max_new_tokens");
            let mut body = json!({"inputs": prompt, "parameters": parameters});
            if stream {
                body["stream"] = json!(true);
            }
            body
        }
    };
    serde_json::to_vec(&body).map_err(|e| GatewayError::Internal(format!("encode body: {e}")))
}

/// The sampling settings both dialects share, the output limit under `max_key` (the name
/// each dialect gives it).
fn insert_sampling(into: &mut Map<String, Value>, config: &InferenceConfig, max_key: &str) {
    if let Some(max) = config.max_tokens {
        into.insert(max_key.into(), json!(max));
    }
    if let Some(t) = config.temperature {
        into.insert("temperature".into(), json!(t));
    }
    if let Some(p) = config.top_p {
        into.insert("top_p".into(), json!(p));
    }
    if !config.stop_sequences.is_empty() {
        into.insert("stop".into(), json!(config.stop_sequences));
    }
}

/// The container's "why it stopped" as Converse's `stopReason`.
pub fn stop_reason(finish: Option<&str>) -> &'static str {
    match finish {
        Some("length") => "max_tokens",
        Some("stop_sequence") => "stop_sequence",
        _ => "end_turn",
    }
}

fn bad_answer(what: &str) -> GatewayError {
    GatewayError::Upstream {
        kind: crate::error::UpstreamKind::ModelError,
        message: format!("the SageMaker endpoint answered {what}"),
        retry_after: None,
    }
}

/// A Converse response from the container's answer. `input` is what was sent (for a usage
/// estimate when the container reports none).
pub fn response(
    dialect: PayloadDialect,
    body: &[u8],
    input: &[u8],
    latency_ms: u64,
) -> Result<ConverseResponse, GatewayError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|_| bad_answer("a body that is not JSON"))?;
    let (text, finish, usage) = match dialect {
        PayloadDialect::Chat => {
            let choice = value
                .pointer("/choices/0")
                .ok_or_else(|| bad_answer("without choices"))?;
            let text = choice
                .pointer("/message/content")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let finish = choice
                .get("finish_reason")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let tokens = |name: &str| {
                value
                    .pointer(&format!("/usage/{name}"))
                    .and_then(Value::as_u64)
                    .and_then(|n| u32::try_from(n).ok())
            };
            let usage = tokens("prompt_tokens").zip(tokens("completion_tokens"));
            (text, finish, usage)
        }
        PayloadDialect::Prompt => {
            // TGI answers `[{"generated_text": ...}]` (some containers drop the array).
            let first = value.get(0).unwrap_or(&value);
            let text = first
                .get("generated_text")
                .and_then(Value::as_str)
                .ok_or_else(|| bad_answer("without generated_text"))?
                .to_owned();
            let finish = first
                .pointer("/details/finish_reason")
                .and_then(Value::as_str)
                .map(str::to_owned);
            (text, finish, None)
        }
    };
    let (input_tokens, output_tokens) = usage.unwrap_or_else(|| {
        (
            estimate_tokens(&String::from_utf8_lossy(input)),
            estimate_tokens(&text),
        )
    });
    Ok(ConverseResponse {
        stop_reason: stop_reason(finish.as_deref()).to_owned(),
        usage: Usage::uncached(input_tokens, output_tokens),
        metrics: Metrics { latency_ms },
        ..ConverseResponse::assistant_text(text)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: Value) -> ConverseRequest {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn chat_body_carries_system_messages_and_limits() {
        let r = request(json!({
            "system": [{"text": "be brief"}],
            "messages": [{"role": "user", "content": [{"text": "hi"}]}],
            "inferenceConfig": {"maxTokens": 20, "stopSequences": ["END"]}
        }));
        let body: Value =
            serde_json::from_slice(&request_body(PayloadDialect::Chat, &r, true).unwrap()).unwrap();
        assert_eq!(
            body["messages"][0],
            json!({"role": "system", "content": "be brief"})
        );
        assert_eq!(
            body["messages"][1],
            json!({"role": "user", "content": "hi"})
        );
        assert_eq!(body["max_tokens"], 20);
        assert_eq!(body["stop"], json!(["END"]));
        assert_eq!(body["stream"], true);
    }

    #[test]
    fn prompt_body_renders_the_dialogue() {
        let r = request(json!({"messages": [
            {"role": "user", "content": [{"text": "a"}]},
            {"role": "assistant", "content": [{"text": "b"}]},
            {"role": "user", "content": [{"text": "c"}]}
        ], "inferenceConfig": {"maxTokens": 5}}));
        let body: Value =
            serde_json::from_slice(&request_body(PayloadDialect::Prompt, &r, false).unwrap())
                .unwrap();
        assert_eq!(body["inputs"], "User: a\nAssistant: b\nUser: c\nAssistant:");
        assert_eq!(body["parameters"]["max_new_tokens"], 5);
        assert!(body.get("stream").is_none());
    }

    #[test]
    fn images_and_tools_are_refused_naming_the_field() {
        let r = request(json!({"messages": [{"role": "user", "content": [
            {"text": "x"}, {"image": {"format": "png", "source": {"bytes": "AA=="}}}
        ]}]}));
        let err = request_body(PayloadDialect::Chat, &r, false).unwrap_err();
        assert_eq!(err.field(), Some("messages[0].content[1]"));
        let r = request(
            json!({"messages": [{"role": "user", "content": [{"text": "x"}]}],
            "toolConfig": {"tools": [{"toolSpec": {"name": "t", "inputSchema": {"json": {}}}}]}}),
        );
        let err = request_body(PayloadDialect::Prompt, &r, false).unwrap_err();
        assert_eq!(err.field(), Some("toolConfig"));
    }

    #[test]
    fn answers_become_converse_responses() {
        let chat = json!({"choices": [{"message": {"content": "hello"}, "finish_reason": "length"}],
                          "usage": {"prompt_tokens": 7, "completion_tokens": 1}});
        let r = response(PayloadDialect::Chat, chat.to_string().as_bytes(), b"", 3).unwrap();
        assert_eq!(
            (r.text().as_str(), r.stop_reason.as_str()),
            ("hello", "max_tokens")
        );
        assert_eq!(r.usage.total_tokens, 8);
        let tgi = json!([{"generated_text": "twelve chars"}]);
        let r = response(
            PayloadDialect::Prompt,
            tgi.to_string().as_bytes(),
            b"12345678",
            3,
        )
        .unwrap();
        assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (2, 3));
        let err = response(PayloadDialect::Chat, b"<html>", b"", 0).unwrap_err();
        assert!(matches!(err, GatewayError::Upstream { .. }));
    }
}
