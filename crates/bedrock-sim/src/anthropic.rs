//! InvokeModel with the Anthropic Messages body (`anthropic_version: bedrock-2023-05-31` or a
//! newer dated `bedrock-YYYY-MM-DD`): text, tools, `tool_choice`, extended thinking,
//! `cache_control` (5-minute and 1-hour) and stop sequences, with Anthropic's usage fields
//! (`cache_creation_input_tokens`, `cache_read_input_tokens`, `cache_creation`).

use std::time::Duration;

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::body::{malformed, parse_json, schema_error};
use crate::catalog::ResolvedModel;
use crate::converse::{StreamShape, json_fragments, json_into, millis};
use crate::error::ApiError;
use crate::eventstream::write_event;
use crate::reply::{Content, GenRequest, Reply, ToolChoice, ToolDef, split_chunks};
use crate::stream::Segments;

mod prompt;
use prompt::walk_prompt;

/// The first Messages API version on Bedrock; newer dated versions are accepted too.
pub const ANTHROPIC_VERSION: &str = "bedrock-2023-05-31";

/// Bedrock accepts `bedrock-2023-05-31` and later dated versions (`bedrock-YYYY-MM-DD`), and
/// the Anthropic SDK's `AnthropicBedrock` (2.10) sends its own API version (`2026-10-21`, any
/// date from Anthropic's first, `2023-06-01`); anything else is rejected like an unknown enum
/// value.
pub fn is_accepted_version(version: &str) -> bool {
    let (date, first) = match version.strip_prefix("bedrock-") {
        Some(date) => (date, &ANTHROPIC_VERSION["bedrock-".len()..]),
        None => (version, "2023-06-01"),
    };
    let parts: Vec<&str> = date.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return false;
    };
    let num = |s: &str, len: usize| {
        (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u32>().ok())
            .flatten()
    };
    match (num(y, 4), num(m, 2), num(d, 2)) {
        (Some(_), Some(1..=12), Some(1..=31)) => date >= first,
        _ => false,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnthropicRequest {
    anthropic_version: Option<String>,
    max_tokens: Option<i64>,
    messages: Option<Vec<Message>>,
    /// Only checked for shape here; [`walk_prompt`] reads it.
    #[allow(dead_code)]
    system: Option<TextOrBlocks>,
    stop_sequences: Option<Vec<String>>,
    tools: Option<Vec<Tool>>,
    tool_choice: Option<ToolChoiceJson>,
    // Accepted and ignored: sampling and the like.
    #[allow(dead_code)]
    temperature: Option<Value>,
    #[allow(dead_code)]
    top_p: Option<Value>,
    #[allow(dead_code)]
    top_k: Option<Value>,
    #[allow(dead_code)]
    metadata: Option<Value>,
    /// Beta flags (`["computer-use-2025-01-24", ...]`): checked to be strings, then ignored.
    #[allow(dead_code)]
    anthropic_beta: Option<Vec<String>>,
    /// `{"type": "enabled", "budget_tokens": N}` or `{"type": "disabled"}` (see `thinking`).
    thinking: Option<Value>,
}

#[derive(Deserialize)]
struct Message {
    role: String,
    content: TextOrBlocks,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum TextOrBlocks {
    Text(String),
    Blocks(Vec<Block>),
}

#[derive(Deserialize)]
struct Block {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
    /// `tool_result` content: a string or text blocks.
    content: Option<TextOrBlocks>,
}

#[derive(Deserialize)]
struct Tool {
    name: String,
    #[serde(default)]
    input_schema: Value,
}

#[derive(Deserialize)]
struct ToolChoiceJson {
    #[serde(rename = "type")]
    kind: String,
    name: Option<String>,
}

/// The text of a message (text blocks and tool-result text, one per line).
fn text_of(content: &TextOrBlocks, out: &mut String, tool_result: &mut bool) {
    match content {
        TextOrBlocks::Text(text) => push_line(out, text),
        TextOrBlocks::Blocks(blocks) => {
            for block in blocks {
                if let Some(text) = &block.text {
                    push_line(out, text);
                }
                if block.kind == "tool_result" {
                    *tool_result = true;
                    if let Some(inner) = &block.content {
                        text_of(inner, out, &mut false);
                    }
                }
            }
        }
    }
}

fn push_line(out: &mut String, text: &str) {
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(text);
}

/// Parses and validates an Anthropic Messages body.
pub fn parse(body: &[u8]) -> Result<GenRequest, ApiError> {
    let req: AnthropicRequest = parse_json(body, schema_error)?;

    let version = req
        .anthropic_version
        .ok_or_else(|| malformed("#: required key [anthropic_version] not found"))?;
    if !is_accepted_version(&version) {
        return Err(malformed(format!(
            "#/anthropic_version: {version} is not a valid enum value"
        )));
    }
    let max_tokens = req
        .max_tokens
        .ok_or_else(|| malformed("#: required key [max_tokens] not found"))?;
    if max_tokens < 1 {
        return Err(malformed(format!(
            "#/max_tokens: {max_tokens} is not greater or equal to 1"
        )));
    }
    let messages = req
        .messages
        .ok_or_else(|| malformed("#: required key [messages] not found"))?;
    if messages.is_empty() {
        return Err(malformed(
            "#/messages: expected minimum item count: 1, found: 0",
        ));
    }
    if let Some((i, m)) = messages
        .iter()
        .enumerate()
        .find(|(_, m)| m.role != "user" && m.role != "assistant")
    {
        return Err(malformed(format!(
            "#/messages/{i}/role: {} is not a valid enum value",
            m.role
        )));
    }
    if messages.first().is_some_and(|m| m.role != "user") {
        return Err(ApiError::validation(
            "messages: first message must use the \"user\" role",
        ));
    }

    let thinking_budget = crate::thinking::budget(req.thinking.as_ref(), Some(max_tokens))?;

    // The typed parse succeeded, so the body is valid JSON: walk it again in prompt order for
    // the input count and the cache points.
    let raw: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let walk = walk_prompt(&raw)?;
    let mut gen_req = GenRequest {
        max_tokens: Some(u32::try_from(max_tokens).unwrap_or(u32::MAX)),
        stop_sequences: req.stop_sequences.unwrap_or_default(),
        input_chars: walk.chars(),
        cache_checkpoints: walk.finish(),
        thinking_budget,
        ..GenRequest::default()
    };
    if let Some(last_user) = messages.iter().rfind(|m| m.role == "user") {
        let mut prompt = String::new();
        text_of(
            &last_user.content,
            &mut prompt,
            &mut gen_req.has_tool_result,
        );
        gen_req.prompt = prompt;
    }

    gen_req.tools = req
        .tools
        .unwrap_or_default()
        .into_iter()
        .map(|t| ToolDef {
            name: t.name,
            schema: t.input_schema,
        })
        .collect();
    gen_req.tool_choice = match req.tool_choice {
        None => ToolChoice::Auto,
        Some(choice) => match (choice.kind.as_str(), choice.name) {
            ("auto", _) => ToolChoice::Auto,
            ("any", _) => ToolChoice::Any,
            ("none", _) => ToolChoice::None,
            ("tool", Some(name)) => ToolChoice::Tool(name),
            ("tool", None) => {
                return Err(malformed("#/tool_choice: required key [name] not found"));
            }
            (other, _) => {
                return Err(malformed(format!(
                    "#/tool_choice/type: {other} is not a valid enum value"
                )));
            }
        },
    };
    Ok(gen_req)
}

#[derive(Serialize)]
struct MessageResponse<'a> {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: Vec<Value>,
    stop_reason: Option<&'static str>,
    stop_sequence: Option<&'a str>,
    usage: Value,
}

/// Anthropic's usage object: uncached input, cache writes (split by TTL in `cache_creation`)
/// and reads, and `output_tokens` (thinking included).
fn usage(reply: &Reply, output_tokens: u32) -> Value {
    json!({
        "input_tokens": reply.input_tokens,
        "cache_creation_input_tokens": reply.cache.write(),
        "cache_read_input_tokens": reply.cache.read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": reply.cache.write_5m,
            "ephemeral_1h_input_tokens": reply.cache.write_1h,
        },
        "output_tokens": output_tokens,
    })
}

/// Bedrock's `amazon-bedrock-invocationMetrics`, with the cache counts when cache points were sent.
pub(crate) fn invocation_metrics(reply: &Reply, latency: Duration, first_byte: Duration) -> Value {
    let mut metrics = json!({
        "inputTokenCount": reply.input_tokens,
        "outputTokenCount": reply.output_tokens,
        "invocationLatency": millis(latency),
        "firstByteLatency": millis(first_byte),
    });
    if reply.cache.requested {
        metrics["cacheReadInputTokenCount"] = json!(reply.cache.read);
        metrics["cacheWriteInputTokenCount"] = json!(reply.cache.write());
    }
    metrics
}

fn content_blocks(reply: &Reply) -> Vec<Value> {
    let mut blocks = Vec::with_capacity(2);
    if let (Some(thinking), Some(signature)) = (&reply.thinking, reply.thinking_signature()) {
        blocks.push(json!({"type": "thinking", "thinking": thinking, "signature": signature}));
    }
    blocks.push(match &reply.content {
        Content::Text { text, .. } => json!({"type": "text", "text": text}),
        Content::ToolUse {
            id, name, input, ..
        } => {
            json!({"type": "tool_use", "id": format!("toolu_bdrk_{id}"), "name": name, "input": input})
        }
    });
    blocks
}

fn message_id(reply: &Reply) -> String {
    let seed = match &reply.content {
        Content::Text { text, .. } => text.as_str(),
        Content::ToolUse { input_json, .. } => input_json.as_str(),
    };
    format!("msg_bdrk_{}", crate::reply::id_suffix(seed))
}

fn stop_sequence(reply: &Reply) -> Option<&str> {
    match &reply.content {
        Content::Text { stop_sequence, .. } => stop_sequence.as_deref(),
        Content::ToolUse { .. } => None,
    }
}

/// The Anthropic Messages response body.
pub fn response_body(model: &ResolvedModel, reply: &Reply) -> Vec<u8> {
    let response = MessageResponse {
        id: message_id(reply),
        kind: "message",
        role: "assistant",
        model: model.anthropic_model_name(),
        content: content_blocks(reply),
        stop_reason: Some(reply.stop_reason.as_str()),
        stop_sequence: stop_sequence(reply),
        usage: usage(reply, reply.output_tokens),
    };
    serde_json::to_vec(&response).unwrap_or_else(|_| b"{}".to_vec())
}

/// Appends one `chunk` event carrying `event` (base64 of its JSON) to `seg`.
pub(crate) fn write_chunk(seg: &mut Segments, scratch: &mut Vec<u8>, event: &Value) {
    json_into(scratch, event);
    let encoded = base64::engine::general_purpose::STANDARD.encode(&scratch[..]);
    json_into(scratch, &json!({ "bytes": encoded }));
    write_event(seg.buf(), "chunk", scratch);
}

/// The InvokeModelWithResponseStream events for an Anthropic reply.
pub fn stream_segments(
    model: &ResolvedModel,
    reply: &Reply,
    shape: StreamShape,
    first_byte: Duration,
) -> Segments {
    let mut seg = Segments::new();
    let mut scratch = Vec::with_capacity(256);
    write_chunk(
        &mut seg,
        &mut scratch,
        &json!({
            "type": "message_start",
            "message": {
                "id": message_id(reply),
                "type": "message",
                "role": "assistant",
                "model": model.anthropic_model_name(),
                "content": [],
                "stop_reason": null,
                "stop_sequence": null,
                "usage": usage(reply, 1),
            }
        }),
    );
    // Extended thinking streams first, as block 0, closed by its signature.
    let mut index = 0;
    if let (Some(thinking), Some(signature)) = (&reply.thinking, reply.thinking_signature()) {
        write_chunk(
            &mut seg,
            &mut scratch,
            &json!({"type": "content_block_start", "index": 0,
                    "content_block": {"type": "thinking", "thinking": ""}}),
        );
        for delta in split_chunks(thinking, shape.words_per_chunk) {
            write_chunk(
                &mut seg,
                &mut scratch,
                &json!({"type": "content_block_delta", "index": 0,
                        "delta": {"type": "thinking_delta", "thinking": delta}}),
            );
        }
        write_chunk(
            &mut seg,
            &mut scratch,
            &json!({"type": "content_block_delta", "index": 0,
                    "delta": {"type": "signature_delta", "signature": signature}}),
        );
        write_chunk(
            &mut seg,
            &mut scratch,
            &json!({"type": "content_block_stop", "index": 0}),
        );
        index = 1;
    }
    let (start_block, deltas, is_tool) = match &reply.content {
        Content::Text { text, .. } => (
            json!({"type": "text", "text": ""}),
            split_chunks(text, shape.words_per_chunk),
            false,
        ),
        Content::ToolUse {
            id,
            name,
            input_json,
            ..
        } => (
            json!({"type": "tool_use", "id": format!("toolu_bdrk_{id}"), "name": name, "input": {}}),
            json_fragments(input_json),
            true,
        ),
    };
    write_chunk(
        &mut seg,
        &mut scratch,
        &json!({"type": "content_block_start", "index": index, "content_block": start_block}),
    );
    let completed = shape.write_deltas(&mut seg, &deltas, |seg, _, delta| {
        let delta = if is_tool {
            json!({"type": "input_json_delta", "partial_json": delta})
        } else {
            json!({"type": "text_delta", "text": delta})
        };
        write_chunk(
            seg,
            &mut scratch,
            &json!({"type": "content_block_delta", "index": index, "delta": delta}),
        );
    });
    if !completed {
        return seg;
    }
    write_chunk(
        &mut seg,
        &mut scratch,
        &json!({"type": "content_block_stop", "index": index}),
    );
    write_chunk(
        &mut seg,
        &mut scratch,
        &json!({
            "type": "message_delta",
            "delta": {"stop_reason": reply.stop_reason.as_str(), "stop_sequence": stop_sequence(reply)},
            "usage": {"output_tokens": reply.output_tokens},
        }),
    );
    write_chunk(
        &mut seg,
        &mut scratch,
        &json!({
            "type": "message_stop",
            "amazon-bedrock-invocationMetrics": invocation_metrics(reply, shape.latency, first_byte),
        }),
    );
    seg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::{StopReason, expected_reply, generate};

    fn body(v: Value) -> Vec<u8> {
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn parses_string_and_block_content() {
        let req = parse(&body(json!({
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 50,
            "system": "sys",
            "messages": [
                {"role": "user", "content": "first"},
                {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
                {"role": "user", "content": [{"type": "text", "text": "second"}]}
            ],
            "stop_sequences": ["END"],
            "temperature": 0.2
        })))
        .unwrap();
        assert_eq!(req.prompt, "second");
        assert_eq!(req.input_chars, 3 + 5 + 2 + 6);
        assert_eq!(req.max_tokens, Some(50));
        assert_eq!(req.stop_sequences, vec!["END"]);
    }

    #[test]
    fn errors_read_like_the_service() {
        let err = parse(&body(json!({"max_tokens": 5, "messages": []}))).unwrap_err();
        assert!(
            err.message.contains("required key [anthropic_version]"),
            "{err}"
        );
        let err = parse(&body(
            json!({"anthropic_version": "bedrock-2023-05-31", "messages": []}),
        ))
        .unwrap_err();
        assert!(err.message.contains("required key [max_tokens]"), "{err}");
        let err = parse(&body(
            json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 5,
            "messages": [{"role": "user", "content": "x"}], "stream": true}),
        ))
        .unwrap_err();
        assert!(err.message.contains("extraneous key [stream]"), "{err}");
        let err = parse(b"[").unwrap_err();
        assert!(err.message.starts_with("Malformed input request"), "{err}");
    }

    #[test]
    fn tool_result_turns_into_text() {
        let req = parse(&body(json!({
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 500,
            "tools": [{"name": "calc", "input_schema": {"type": "object", "required": ["x"],
                       "properties": {"x": {"type": "number"}}}}],
            "tool_choice": {"type": "any"},
            "messages": [
                {"role": "user", "content": "use calc"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "calc", "input": {"x": 1}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "2"}]}
            ]
        })))
        .unwrap();
        assert!(req.has_tool_result);
        assert_eq!(req.prompt, "2");
        let reply = generate(&req);
        assert_eq!(reply.stop_reason, StopReason::EndTurn);
        assert_eq!(
            reply.content,
            Content::Text {
                text: expected_reply("2"),
                stop_sequence: None
            }
        );
    }
}
