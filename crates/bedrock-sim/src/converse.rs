//! The Converse API: request parsing, the JSON response and the `converse-stream` events.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::body::{parse_json, rest_json_error};
use crate::error::{ApiError, StreamErrorKind};
use crate::eventstream::{write_event, write_exception};
use crate::prompt_cache::CacheTtl;
use crate::reply::{Content, GenRequest, Reply, ToolChoice, ToolDef, split_chunks};
use crate::stream::Segments;

mod prompt;
use prompt::walk_prompt;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConverseRequest {
    #[serde(default)]
    messages: Vec<Message>,
    /// Only checked to be a list here; [`walk_prompt`] reads it.
    #[serde(default)]
    #[allow(dead_code)]
    system: Vec<Value>,
    #[serde(default)]
    inference_config: Option<InferenceConfig>,
    #[serde(default)]
    tool_config: Option<ToolConfig>,
    /// Model-specific fields; Claude's `thinking` is honoured (see `thinking`).
    #[serde(default)]
    additional_model_request_fields: Option<Value>,
}

#[derive(Deserialize)]
struct Message {
    role: String,
    #[serde(default)]
    content: Vec<ContentBlock>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContentBlock {
    text: Option<String>,
    tool_result: Option<ToolResult>,
}

#[derive(Deserialize)]
struct ToolResult {
    #[serde(default)]
    content: Vec<ToolResultContent>,
}

#[derive(Deserialize)]
struct ToolResultContent {
    text: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InferenceConfig {
    max_tokens: Option<i64>,
    #[serde(default)]
    stop_sequences: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ToolConfig {
    #[serde(default)]
    tools: Vec<Tool>,
    tool_choice: Option<ToolChoiceJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Tool {
    tool_spec: Option<ToolSpec>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ToolSpec {
    name: String,
    #[serde(default)]
    input_schema: Option<InputSchema>,
}

#[derive(Deserialize)]
struct InputSchema {
    json: Option<Value>,
}

#[derive(Deserialize)]
struct ToolChoiceJson {
    any: Option<Value>,
    tool: Option<NamedTool>,
}

#[derive(Deserialize)]
struct NamedTool {
    name: String,
}

/// Parses and validates a Converse / ConverseStream body into a generation request.
pub fn parse(body: &[u8]) -> Result<GenRequest, ApiError> {
    let req: ConverseRequest = parse_json(body, rest_json_error)?;

    if req.messages.first().is_none_or(|m| m.role != "user") {
        return Err(ApiError::validation(
            "A conversation must start with a user message. Try again with a conversation that starts with a user message.",
        ));
    }
    for (i, pair) in req.messages.windows(2).enumerate() {
        if pair[0].role == pair[1].role {
            return Err(ApiError::validation(format!(
                "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again. (messages.{} and messages.{} are both `{}`)",
                i,
                i + 1,
                pair[1].role
            )));
        }
    }
    if let Some(m) = req
        .messages
        .iter()
        .find(|m| m.role != "user" && m.role != "assistant")
    {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{}' at 'messages.role' failed to satisfy constraint: Member must satisfy enum value set: [user, assistant]",
            m.role
        )));
    }

    let mut gen_req = GenRequest::default();
    // The typed parse succeeded, so the body is valid JSON: walk it again in prompt order for
    // the input count and the cache points.
    let raw: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let walk = walk_prompt(&raw)?;
    gen_req.input_chars = walk.chars();
    gen_req.cache_checkpoints = walk.finish();

    if let Some(last_user) = req.messages.iter().rev().find(|m| m.role == "user") {
        let mut prompt = String::new();
        for block in &last_user.content {
            if let Some(text) = &block.text {
                push_line(&mut prompt, text);
            }
            if let Some(result) = &block.tool_result {
                gen_req.has_tool_result = true;
                for part in &result.content {
                    if let Some(text) = &part.text {
                        push_line(&mut prompt, text);
                    }
                }
            }
        }
        gen_req.prompt = prompt;
    }

    if let Some(config) = req.inference_config {
        if let Some(max) = config.max_tokens {
            if max < 1 {
                return Err(ApiError::validation(format!(
                    "1 validation error detected: Value '{max}' at 'inferenceConfig.maxTokens' failed to satisfy constraint: Member must have value greater than or equal to 1"
                )));
            }
            gen_req.max_tokens = Some(u32::try_from(max).unwrap_or(u32::MAX));
        }
        gen_req.stop_sequences = config.stop_sequences;
    }
    gen_req.thinking_budget = crate::thinking::budget(
        req.additional_model_request_fields
            .as_ref()
            .and_then(|fields| fields.get("thinking")),
        gen_req.max_tokens.map(i64::from),
    )?;

    if let Some(tool_config) = req.tool_config {
        gen_req.tools = tool_config
            .tools
            .into_iter()
            .filter_map(|t| t.tool_spec)
            .map(|spec| ToolDef {
                name: spec.name,
                schema: spec
                    .input_schema
                    .and_then(|s| s.json)
                    .unwrap_or(Value::Null),
            })
            .collect();
        gen_req.tool_choice = match tool_config.tool_choice {
            Some(ToolChoiceJson {
                tool: Some(named), ..
            }) => ToolChoice::Tool(named.name),
            Some(ToolChoiceJson { any: Some(_), .. }) => ToolChoice::Any,
            _ => ToolChoice::Auto,
        };
        if let ToolChoice::Tool(name) = &gen_req.tool_choice
            && !gen_req.tools.iter().any(|t| &t.name == name)
        {
            return Err(ApiError::validation(format!(
                "The tool choice names the tool `{name}`, which is not in toolConfig.tools."
            )));
        }
    }
    Ok(gen_req)
}

fn push_line(out: &mut String, text: &str) {
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(text);
}

pub(crate) fn json_chars(value: &Value) -> usize {
    serde_json::to_string(value).map_or(0, |s| s.chars().count())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Usage {
    input_tokens: u32,
    output_tokens: u32,
    total_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_read_input_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_write_input_tokens: Option<u32>,
    /// Writes by TTL, 1h before 5m, only when something was written (as the service does).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    cache_details: Vec<CacheDetail>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CacheDetail {
    ttl: &'static str,
    input_tokens: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Metrics {
    latency_ms: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConverseResponse<'a> {
    output: Output<'a>,
    stop_reason: &'static str,
    usage: Usage,
    metrics: Metrics,
}

#[derive(Serialize)]
struct Output<'a> {
    message: OutMessage<'a>,
}

#[derive(Serialize)]
struct OutMessage<'a> {
    role: &'static str,
    content: Vec<OutBlock<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
enum OutBlock<'a> {
    Text(&'a str),
    ToolUse(OutToolUse<'a>),
    ReasoningContent(Value),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OutToolUse<'a> {
    tool_use_id: String,
    name: &'a str,
    input: &'a Value,
}

fn usage(reply: &Reply) -> Usage {
    let cache = &reply.cache;
    let cache_details = [
        (CacheTtl::OneHour, cache.write_1h),
        (CacheTtl::FiveMinutes, cache.write_5m),
    ]
    .into_iter()
    .filter(|(_, tokens)| *tokens > 0)
    .map(|(ttl, input_tokens)| CacheDetail {
        ttl: ttl.as_str(),
        input_tokens,
    })
    .collect();
    Usage {
        input_tokens: reply.input_tokens,
        output_tokens: reply.output_tokens,
        total_tokens: reply.total_tokens(),
        cache_read_input_tokens: cache.requested.then_some(cache.read),
        cache_write_input_tokens: cache.requested.then_some(cache.write()),
        cache_details,
    }
}

/// The Converse JSON response body.
pub fn response_body(reply: &Reply, latency: Duration) -> Vec<u8> {
    let mut content = Vec::with_capacity(2);
    if let (Some(text), Some(signature)) = (&reply.thinking, reply.thinking_signature()) {
        content.push(OutBlock::ReasoningContent(serde_json::json!({
            "reasoningText": {"text": text, "signature": signature}
        })));
    }
    content.push(match &reply.content {
        Content::Text { text, .. } => OutBlock::Text(text),
        Content::ToolUse {
            id, name, input, ..
        } => OutBlock::ToolUse(OutToolUse {
            tool_use_id: format!("tooluse_{id}"),
            name,
            input,
        }),
    });
    let response = ConverseResponse {
        output: Output {
            message: OutMessage {
                role: "assistant",
                content,
            },
        },
        stop_reason: reply.stop_reason.as_str(),
        usage: usage(reply),
        metrics: Metrics {
            latency_ms: millis(latency),
        },
    };
    serde_json::to_vec(&response).unwrap_or_else(|_| b"{}".to_vec())
}

pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// How a stream is delivered.
#[derive(Debug, Clone, Copy)]
pub struct StreamShape {
    pub words_per_chunk: usize,
    pub chunk_delay: Duration,
    /// Fail after this many content chunks with this exception.
    pub failure: Option<(StreamErrorKind, u32)>,
    /// Latency reported in the trailing metrics (planned delays + processing so far).
    pub latency: Duration,
}

impl StreamShape {
    /// Writes `deltas` through `write` (given each delta's index), `chunk_delay` apart, failing
    /// with the planned exception after `after` deltas, or after the last one when `after` is
    /// larger. One loop for every stream dialect, so a fault lands alike in each. False when the
    /// stream ended in the exception (the caller writes no closing events).
    pub(crate) fn write_deltas<T>(
        &self,
        seg: &mut Segments,
        deltas: &[T],
        mut write: impl FnMut(&mut Segments, usize, &T),
    ) -> bool {
        for (i, delta) in deltas.iter().enumerate() {
            if let Some((kind, after)) = self.failure
                && i as u64 >= u64::from(after)
            {
                write_exception(seg.buf(), kind.name(), kind.payload().as_bytes());
                return false;
            }
            if i > 0 {
                seg.pause(self.chunk_delay);
            }
            write(seg, i, delta);
        }
        if let Some((kind, _)) = self.failure {
            write_exception(seg.buf(), kind.name(), kind.payload().as_bytes());
            return false;
        }
        true
    }
}

/// The number of content deltas a reply streams as (for delay accounting).
pub fn delta_count(reply: &Reply, words_per_chunk: usize) -> usize {
    match &reply.content {
        Content::Text { text, .. } => split_chunks(text, words_per_chunk).len(),
        Content::ToolUse { input_json, .. } => json_fragments(input_json).len(),
    }
}

/// Splits serialised tool input into (up to) three fragments at char boundaries.
pub(crate) fn json_fragments(json: &str) -> Vec<&str> {
    let len = json.len();
    if len < 12 {
        return vec![json];
    }
    let mut cuts = vec![0];
    for target in [len / 3, 2 * len / 3] {
        let mut cut = target;
        while !json.is_char_boundary(cut) {
            cut += 1;
        }
        cuts.push(cut);
    }
    cuts.push(len);
    cuts.windows(2)
        .map(|w| &json[w[0]..w[1]])
        .filter(|s| !s.is_empty())
        .collect()
}

/// The ConverseStream event stream for a reply.
pub fn stream_segments(reply: &Reply, shape: StreamShape) -> Segments {
    let mut seg = Segments::new();
    let mut scratch = Vec::with_capacity(256);
    write_event(seg.buf(), "messageStart", br#"{"role":"assistant"}"#);

    // Reasoning streams first, as block 0, closed by its signature.
    let mut index = 0;
    if let (Some(thinking), Some(signature)) = (&reply.thinking, reply.thinking_signature()) {
        for delta in split_chunks(thinking, shape.words_per_chunk) {
            json_into(
                &mut scratch,
                &serde_json::json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": delta}}}),
            );
            write_event(seg.buf(), "contentBlockDelta", &scratch);
        }
        json_into(
            &mut scratch,
            &serde_json::json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": signature}}}),
        );
        write_event(seg.buf(), "contentBlockDelta", &scratch);
        write_event(seg.buf(), "contentBlockStop", br#"{"contentBlockIndex":0}"#);
        index = 1;
    }

    let deltas: Vec<&str> = match &reply.content {
        Content::Text { text, .. } => split_chunks(text, shape.words_per_chunk),
        Content::ToolUse {
            id,
            name,
            input_json,
            ..
        } => {
            json_into(
                &mut scratch,
                &serde_json::json!({
                    "contentBlockIndex": index,
                    "start": {"toolUse": {"toolUseId": format!("tooluse_{id}"), "name": name}}
                }),
            );
            write_event(seg.buf(), "contentBlockStart", &scratch);
            json_fragments(input_json)
        }
    };
    let is_tool = matches!(reply.content, Content::ToolUse { .. });
    let completed = shape.write_deltas(&mut seg, &deltas, |seg, _, delta| {
        let payload = if is_tool {
            serde_json::json!({"contentBlockIndex": index, "delta": {"toolUse": {"input": delta}}})
        } else {
            serde_json::json!({"contentBlockIndex": index, "delta": {"text": delta}})
        };
        json_into(&mut scratch, &payload);
        write_event(seg.buf(), "contentBlockDelta", &scratch);
    });
    if !completed {
        return seg;
    }
    json_into(
        &mut scratch,
        &serde_json::json!({"contentBlockIndex": index}),
    );
    write_event(seg.buf(), "contentBlockStop", &scratch);
    json_into(
        &mut scratch,
        &serde_json::json!({"stopReason": reply.stop_reason.as_str()}),
    );
    write_event(seg.buf(), "messageStop", &scratch);
    json_into(
        &mut scratch,
        &serde_json::json!({
            "usage": usage(reply),
            "metrics": {"latencyMs": millis(shape.latency)},
        }),
    );
    write_event(seg.buf(), "metadata", &scratch);
    seg
}

pub(crate) fn json_into(scratch: &mut Vec<u8>, value: &impl Serialize) {
    scratch.clear();
    if serde_json::to_writer(&mut *scratch, value).is_err() {
        scratch.clear();
        scratch.extend_from_slice(b"{}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eventstream::tests::decode_all;
    use crate::reply::{StopReason, expected_reply, generate};

    fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap()
    }

    #[test]
    fn parses_the_sdk_shape() {
        let req = parse(
            br#"{"messages":[{"role":"user","content":[{"text":"hi"},{"text":"there"}]},
                {"role":"assistant","content":[{"text":"ok"}]},
                {"role":"user","content":[{"toolResult":{"toolUseId":"t","content":[{"text":"42"},{"json":{"a":1}}]}}]}],
              "system":[{"text":"be brief"}],
              "inferenceConfig":{"maxTokens":10,"stopSequences":["x"],"temperature":0.5},
              "toolConfig":{"tools":[{"toolSpec":{"name":"f","inputSchema":{"json":{"type":"object"}}}}],
                            "toolChoice":{"any":{}}}}"#,
        )
        .unwrap();
        assert_eq!(req.prompt, "42");
        assert!(req.has_tool_result);
        assert_eq!(req.input_chars, 8 + 5 + 2 + 2 + 2 + 7);
        assert_eq!(req.max_tokens, Some(10));
        assert_eq!(req.stop_sequences, vec!["x"]);
        assert_eq!(req.tool_choice, ToolChoice::Any);
        assert_eq!(req.tools[0].name, "f");
    }

    #[test]
    fn rejects_bad_bodies_with_a_precise_message() {
        let err = parse(b"{not json").unwrap_err();
        assert!(err.message.contains("Malformed request body"), "{err}");
        let err = parse(br#"{"messages":[{"role":"user","content":"oops"}]}"#).unwrap_err();
        assert!(err.message.contains("messages[0].content"), "{err}");
        let err = parse(br#"{"messages":[]}"#).unwrap_err();
        assert!(err.message.contains("start with a user message"), "{err}");
        let err =
            parse(br#"{"messages":[{"role":"user","content":[]},{"role":"user","content":[]}]}"#)
                .unwrap_err();
        assert!(err.message.contains("alternate"), "{err}");
        let err = parse(
            br#"{"messages":[{"role":"user","content":[]}],"inferenceConfig":{"maxTokens":0}}"#,
        )
        .unwrap_err();
        assert!(err.message.contains("inferenceConfig.maxTokens"), "{err}");
    }

    #[test]
    fn stream_deltas_concatenate_to_the_reply() {
        let req =
            parse(br#"{"messages":[{"role":"user","content":[{"text":"stream me"}]}]}"#).unwrap();
        let reply = generate(&req);
        let shape = StreamShape {
            words_per_chunk: 2,
            chunk_delay: Duration::ZERO,
            failure: None,
            latency: Duration::from_millis(3),
        };
        let bytes = stream_segments(&reply, shape).into_bytes();
        let events = decode_all(&bytes);
        let types: Vec<&str> = events
            .iter()
            .map(|(h, _)| header(h, ":event-type"))
            .collect();
        assert_eq!(types.first(), Some(&"messageStart"));
        assert_eq!(
            &types[types.len() - 3..],
            ["contentBlockStop", "messageStop", "metadata"]
        );
        let mut text = String::new();
        for (h, payload) in &events {
            if header(h, ":event-type") == "contentBlockDelta" {
                let v: Value = serde_json::from_slice(payload).unwrap();
                text.push_str(v["delta"]["text"].as_str().unwrap());
            }
        }
        assert_eq!(text, expected_reply("stream me"));
        assert!(types.iter().filter(|t| **t == "contentBlockDelta").count() > 3);
        let meta: Value = serde_json::from_slice(&events.last().unwrap().1).unwrap();
        assert_eq!(
            meta["usage"]["totalTokens"],
            reply.input_tokens + reply.output_tokens
        );
        assert_eq!(reply.stop_reason, StopReason::EndTurn);
    }

    #[test]
    fn failure_after_n_chunks() {
        let req =
            parse(br#"{"messages":[{"role":"user","content":[{"text":"fail me"}]}]}"#).unwrap();
        let reply = generate(&req);
        let shape = StreamShape {
            words_per_chunk: 1,
            chunk_delay: Duration::ZERO,
            failure: Some((StreamErrorKind::ThrottlingException, 2)),
            latency: Duration::ZERO,
        };
        let bytes = stream_segments(&reply, shape).into_bytes();
        let events = decode_all(&bytes);
        assert_eq!(events.len(), 4);
        let (h, _) = events.last().unwrap();
        assert_eq!(header(h, ":message-type"), "exception");
        assert_eq!(header(h, ":exception-type"), "throttlingException");
    }

    #[test]
    fn json_fragments_rejoin() {
        for s in ["{}", r#"{"city":"example","days":3,"é":"ü"}"#] {
            assert_eq!(json_fragments(s).concat(), s);
        }
    }
}
