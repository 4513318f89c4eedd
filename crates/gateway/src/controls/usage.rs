//! Tokens a call used, read from whatever the model returned: a Converse response, the
//! metadata event of a stream, or a provider's native InvokeModel body or stream chunk.
//! And the reverse for streams: the events of a ConverseStream folded back into the
//! Converse response they amount to (for the response cache).

use crate::api::converse::{
    ContentBlock, ConverseOutput, ConverseResponse, Message, Metrics, ReasoningBlock,
    ReasoningText, Role, ToolUseBlock, Usage,
};
use crate::api::stream::{BlockDelta, BlockStart, ReasoningDelta, StreamEvent};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    /// Every token written to the prompt cache, whatever its TTL.
    pub cache_write: u64,
    /// Of `cache_write`, the tokens written with a 1-hour TTL: priced apart (Anthropic bills
    /// them at 2× input, 5-minute writes at 1.25×), so pricing every write alike undercounts.
    #[serde(default)]
    pub cache_write_1h: u64,
}

impl TokenUsage {
    /// Every token the call counts against a tokens-per-minute limit. Counts come from
    /// bodies the gateway parses, so every sum saturates rather than wraps.
    pub fn total(&self) -> u64 {
        self.input
            .saturating_add(self.output)
            .saturating_add(self.cache_read)
            .saturating_add(self.cache_write)
    }

    pub fn add(&mut self, other: &Self) {
        self.input = self.input.saturating_add(other.input);
        self.output = self.output.saturating_add(other.output);
        self.cache_read = self.cache_read.saturating_add(other.cache_read);
        self.cache_write = self.cache_write.saturating_add(other.cache_write);
        self.cache_write_1h = self.cache_write_1h.saturating_add(other.cache_write_1h);
    }

    /// Writes with a 5-minute TTL: every write not known to be a 1-hour one.
    pub fn cache_write_5m(&self) -> u64 {
        self.cache_write.saturating_sub(self.cache_write_1h)
    }
}

impl From<&Usage> for TokenUsage {
    fn from(usage: &Usage) -> Self {
        Self {
            input: u64::from(usage.input_tokens),
            output: u64::from(usage.output_tokens),
            cache_read: u64::from(usage.cache_read_input_tokens.unwrap_or(0)),
            cache_write: u64::from(usage.cache_write_input_tokens.unwrap_or(0)),
            cache_write_1h: u64::from(usage.cache_write_1h_input_tokens.unwrap_or(0)),
        }
    }
}

fn count(value: Option<&Value>) -> Option<u64> {
    value.and_then(Value::as_u64)
}

/// Usage in a native InvokeModel response body: Anthropic (`usage.input_tokens`), Nova
/// (`usage.inputTokens`), Titan (`inputTextTokenCount`, `results[].tokenCount`), Llama
/// (`prompt_token_count`), or Bedrock's own `amazon-bedrock-invocationMetrics`.
pub fn from_invoke_body(body: &[u8]) -> Option<TokenUsage> {
    from_invoke_json(&serde_json::from_slice(body).ok()?)
}

/// Usage in one chunk of InvokeModelWithResponseStream. Bedrock adds
/// `amazon-bedrock-invocationMetrics` to the last chunk with the whole call's counts.
pub fn from_invoke_chunk(chunk: &[u8]) -> Option<TokenUsage> {
    let json: Value = serde_json::from_slice(chunk).ok()?;
    invocation_metrics(json.get("amazon-bedrock-invocationMetrics")?)
}

fn invocation_metrics(metrics: &Value) -> Option<TokenUsage> {
    Some(TokenUsage {
        input: count(metrics.get("inputTokenCount"))?,
        output: count(metrics.get("outputTokenCount")).unwrap_or(0),
        cache_read: count(metrics.get("cacheReadInputTokenCount")).unwrap_or(0),
        cache_write: count(metrics.get("cacheWriteInputTokenCount")).unwrap_or(0),
        cache_write_1h: 0,
    })
}

/// Of an Anthropic usage object's cache writes, the 1-hour ones
/// (`cache_creation.ephemeral_1h_input_tokens`).
fn anthropic_1h_writes(usage: &Value) -> u64 {
    count(
        usage
            .get("cache_creation")
            .and_then(|c| c.get("ephemeral_1h_input_tokens")),
    )
    .unwrap_or(0)
}

fn from_invoke_json(json: &Value) -> Option<TokenUsage> {
    if let Some(metrics) = json.get("amazon-bedrock-invocationMetrics") {
        let mut usage = invocation_metrics(metrics)?;
        // Bedrock's metrics total the writes; the Anthropic body beside them splits them.
        if let Some(body_usage) = json.get("usage") {
            usage.cache_write_1h = anthropic_1h_writes(body_usage).min(usage.cache_write);
        }
        return Some(usage);
    }
    if let Some(usage) = json.get("usage") {
        // Anthropic's snake_case or Nova's camelCase.
        let get = |snake: &str, camel: &str| count(usage.get(snake).or_else(|| usage.get(camel)));
        if let Some(input) = get("input_tokens", "inputTokens") {
            return Some(TokenUsage {
                input,
                output: get("output_tokens", "outputTokens").unwrap_or(0),
                cache_read: get("cache_read_input_tokens", "cacheReadInputTokenCount").unwrap_or(0),
                cache_write: get("cache_creation_input_tokens", "cacheWriteInputTokenCount")
                    .unwrap_or(0),
                cache_write_1h: anthropic_1h_writes(usage),
            });
        }
        // OpenAI's chat shape (SageMaker's TGI / LMI / vLLM containers, Bedrock's OpenAI models).
        if let Some(input) = count(usage.get("prompt_tokens")) {
            return Some(TokenUsage {
                input,
                output: count(usage.get("completion_tokens")).unwrap_or(0),
                ..TokenUsage::default()
            });
        }
    }
    if let Some(input) = count(json.get("inputTextTokenCount")) {
        let output = json
            .get("results")
            .and_then(Value::as_array)
            .map(|results| {
                results
                    .iter()
                    .filter_map(|r| count(r.get("tokenCount")))
                    .sum()
            })
            .unwrap_or(0);
        return Some(TokenUsage {
            input,
            output,
            ..TokenUsage::default()
        });
    }
    if let Some(input) = count(json.get("prompt_token_count")) {
        return Some(TokenUsage {
            input,
            output: count(json.get("generation_token_count")).unwrap_or(0),
            ..TokenUsage::default()
        });
    }
    None
}

/// The usage of a whole InvokeModelWithResponseStream, folded over its chunks: Bedrock's
/// `amazon-bedrock-invocationMetrics` on the last chunk has the totals, but only Anthropic's
/// `message_start` says which cache writes were 1-hour ones. Reading the last chunk alone
/// ([`from_invoke_chunk`]) prices every write as a 5-minute one.
#[derive(Debug, Default, Clone)]
pub struct InvokeStreamUsage {
    totals: Option<TokenUsage>,
    writes_1h: u64,
    /// The unfinished line of a stream that is server-sent events (a SageMaker container's
    /// `data: {…}` lines, split anywhere by its payload parts).
    partial_line: Vec<u8>,
    sse: bool,
}

/// The longest server-sent-events line kept while waiting for its end; a longer one is a
/// content line, never the usage line, and is dropped.
const MAX_SSE_LINE: usize = 64 * 1024;

impl InvokeStreamUsage {
    /// For a SageMaker container's stream: server-sent events in payload parts split
    /// anywhere (a part may happen to parse as JSON: `1`, or `{…}` mid-line).
    pub fn events() -> Self {
        Self {
            sse: true,
            ..Self::default()
        }
    }

    pub fn observe(&mut self, chunk: &[u8]) {
        if self.sse {
            self.observe_sse(chunk);
            return;
        }
        let Ok(json) = serde_json::from_slice::<Value>(chunk) else {
            return;
        };
        if json.get("type").and_then(Value::as_str) == Some("message_start")
            && let Some(usage) = json.get("message").and_then(|m| m.get("usage"))
        {
            self.writes_1h = anthropic_1h_writes(usage);
        }
        if let Some(metrics) = json.get("amazon-bedrock-invocationMetrics") {
            self.totals = invocation_metrics(metrics);
        }
    }

    /// A container's event stream: the usage is the OpenAI `usage` of its last
    /// `chat.completion.chunk` (asked for with `stream_options.include_usage`).
    fn observe_sse(&mut self, chunk: &[u8]) {
        self.partial_line.extend_from_slice(chunk);
        while let Some(end) = self.partial_line.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial_line.drain(..=end).collect();
            let Some(data) = line.trim_ascii().strip_prefix(b"data:") else {
                continue;
            };
            if let Ok(json) = serde_json::from_slice::<Value>(data.trim_ascii())
                && json.get("usage").is_some_and(Value::is_object)
                && let Some(usage) = from_invoke_json(&json)
            {
                self.totals = Some(usage);
            }
        }
        if self.partial_line.len() > MAX_SSE_LINE {
            self.partial_line.clear();
        }
    }

    /// The whole call's usage, once the last chunk's metrics were seen.
    pub fn usage(&self) -> Option<TokenUsage> {
        self.totals.map(|mut usage| {
            usage.cache_write_1h = self.writes_1h.min(usage.cache_write);
            usage
        })
    }
}

/// Folds ConverseStream events back into the Converse response they amount to.
#[derive(Debug, Default)]
pub struct StreamAccumulator {
    blocks: BTreeMap<u32, PartialBlock>,
    stop_reason: Option<String>,
    additional_fields: Option<Value>,
    usage: Option<Usage>,
    metrics: Option<Metrics>,
}

#[derive(Debug)]
enum PartialBlock {
    Text(String),
    Tool {
        id: String,
        name: String,
        input: String,
    },
    Reasoning {
        text: String,
        signature: Option<String>,
        redacted: Option<String>,
    },
}

impl StreamAccumulator {
    pub fn observe(&mut self, event: &StreamEvent) {
        match event {
            StreamEvent::MessageStart(_) | StreamEvent::ContentBlockStop(_) => {}
            StreamEvent::ContentBlockStart(start) => {
                let BlockStart::ToolUse(tool) = &start.start;
                self.blocks.insert(
                    start.content_block_index,
                    PartialBlock::Tool {
                        id: tool.tool_use_id.clone(),
                        name: tool.name.clone(),
                        input: String::new(),
                    },
                );
            }
            StreamEvent::ContentBlockDelta(delta) => {
                let block = self.blocks.entry(delta.content_block_index);
                match &delta.delta {
                    BlockDelta::Text(text) => {
                        if let PartialBlock::Text(so_far) =
                            block.or_insert_with(|| PartialBlock::Text(String::new()))
                        {
                            so_far.push_str(text);
                        }
                    }
                    BlockDelta::ToolUse(tool) => {
                        if let PartialBlock::Tool { input, .. } =
                            block.or_insert_with(|| PartialBlock::Tool {
                                id: String::new(),
                                name: String::new(),
                                input: String::new(),
                            })
                        {
                            input.push_str(&tool.input);
                        }
                    }
                    BlockDelta::ReasoningContent(reasoning) => {
                        if let PartialBlock::Reasoning {
                            text,
                            signature,
                            redacted,
                        } = block.or_insert_with(|| PartialBlock::Reasoning {
                            text: String::new(),
                            signature: None,
                            redacted: None,
                        }) {
                            match reasoning {
                                ReasoningDelta::Text(t) => text.push_str(t),
                                ReasoningDelta::Signature(s) => *signature = Some(s.clone()),
                                ReasoningDelta::RedactedContent(r) => *redacted = Some(r.clone()),
                            }
                        }
                    }
                }
            }
            StreamEvent::MessageStop(stop) => {
                self.stop_reason = Some(stop.stop_reason.clone());
                self.additional_fields = stop.additional_model_response_fields.clone();
            }
            StreamEvent::Metadata(metadata) => {
                self.usage = Some(metadata.usage);
                self.metrics = Some(metadata.metrics);
            }
        }
    }

    /// The usage the stream reported (its metadata event), if it got that far.
    pub fn usage(&self) -> Option<TokenUsage> {
        self.usage.as_ref().map(TokenUsage::from)
    }

    /// Characters of text produced so far: what a broken stream's output is estimated from.
    pub fn output_chars(&self) -> usize {
        self.blocks
            .values()
            .map(|b| match b {
                PartialBlock::Text(t) => t.len(),
                PartialBlock::Tool { input, .. } => input.len(),
                PartialBlock::Reasoning { text, .. } => text.len(),
            })
            .sum()
    }

    /// The whole response, once the stream completed (stop and metadata seen).
    pub fn finish(self) -> Option<ConverseResponse> {
        let stop_reason = self.stop_reason?;
        let usage = self.usage?;
        let mut content = Vec::with_capacity(self.blocks.len());
        for block in self.blocks.into_values() {
            content.push(match block {
                PartialBlock::Text(text) => ContentBlock::Text(text),
                PartialBlock::Tool { id, name, input } => ContentBlock::ToolUse(ToolUseBlock {
                    tool_use_id: id,
                    name,
                    input: if input.trim().is_empty() {
                        Value::Object(serde_json::Map::new())
                    } else {
                        serde_json::from_str(&input).ok()?
                    },
                }),
                PartialBlock::Reasoning {
                    text,
                    signature,
                    redacted,
                } => ContentBlock::ReasoningContent(match redacted {
                    Some(r) => ReasoningBlock::RedactedContent(r),
                    None => ReasoningBlock::ReasoningText(ReasoningText { text, signature }),
                }),
            });
        }
        Some(ConverseResponse {
            output: ConverseOutput::Message(Message {
                role: Role::Assistant,
                content,
            }),
            stop_reason,
            usage,
            metrics: self.metrics.unwrap_or_default(),
            additional_model_response_fields: self.additional_fields,
            performance_config: None,
            service_tier: None,
        })
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_containers_event_stream_is_settled_at_its_own_usage_split_anywhere() {
        let events = b"data: {\"choices\":[{\"delta\":{\"content\":\"usage\"}}]}\n\n\
data: {\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":10}}\n\n\
data: [DONE]\n\n";
        for split in [1, 7, 33, events.len()] {
            let mut usage = InvokeStreamUsage::events();
            for part in events.chunks(split) {
                usage.observe(part);
            }
            let seen = usage.usage().expect("usage");
            assert_eq!(
                (seen.input, seen.output),
                (12, 10),
                "parts of {split} bytes"
            );
        }
        let mut none = InvokeStreamUsage::events();
        none.observe(b"data: {\"choices\":[]}\n\n");
        assert!(none.usage().is_none());
    }

    use super::*;
    use crate::api::stream::{
        ContentBlockDelta, ContentBlockStart, ContentBlockStop, MessageStart, MessageStop,
        StreamMetadata, ToolUseDelta, ToolUseStart,
    };

    #[test]
    fn invoke_bodies_of_each_provider() {
        let anthropic = br#"{"content":[],"usage":{"input_tokens":12,"output_tokens":5,"cache_read_input_tokens":3}}"#;
        assert_eq!(
            from_invoke_body(anthropic),
            Some(TokenUsage {
                input: 12,
                output: 5,
                cache_read: 3,
                cache_write: 0,
                cache_write_1h: 0,
            })
        );
        let nova = br#"{"output":{},"usage":{"inputTokens":7,"outputTokens":2}}"#;
        assert_eq!(from_invoke_body(nova).unwrap().total(), 9);
        let titan = br#"{"inputTextTokenCount":4,"results":[{"tokenCount":6,"outputText":"x"}]}"#;
        assert_eq!(from_invoke_body(titan).unwrap().output, 6);
        let llama = br#"{"generation":"x","prompt_token_count":3,"generation_token_count":8}"#;
        assert_eq!(from_invoke_body(llama).unwrap().output, 8);
        let openai = br#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":4}}"#;
        assert_eq!(from_invoke_body(openai).unwrap().output, 4);
        assert_eq!(from_invoke_body(b"not json"), None);
        let last = br#"{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":10,"outputTokenCount":20}}"#;
        assert_eq!(from_invoke_chunk(last).unwrap().total(), 30);
        assert_eq!(
            from_invoke_chunk(br#"{"type":"content_block_delta"}"#),
            None
        );
    }

    #[test]
    fn one_hour_cache_writes_are_told_apart() {
        let body = br#"{"usage":{"input_tokens":5,"output_tokens":2,"cache_read_input_tokens":0,
            "cache_creation_input_tokens":30,
            "cache_creation":{"ephemeral_5m_input_tokens":10,"ephemeral_1h_input_tokens":20}}}"#;
        let usage = from_invoke_body(body).unwrap();
        assert_eq!((usage.cache_write, usage.cache_write_1h), (30, 20));
        assert_eq!(usage.cache_write_5m(), 10);
        // A stream: the split from message_start, the totals from the last chunk.
        let mut fold = InvokeStreamUsage::default();
        fold.observe(
            br#"{"type":"message_start","message":{"usage":{"input_tokens":5,
            "cache_creation_input_tokens":30,
            "cache_creation":{"ephemeral_5m_input_tokens":10,"ephemeral_1h_input_tokens":20}}}}"#,
        );
        assert_eq!(fold.usage(), None, "no totals before the last chunk");
        fold.observe(br#"{"type":"content_block_delta"}"#);
        fold.observe(b"not json");
        fold.observe(br#"{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":5,"outputTokenCount":7,"cacheReadInputTokenCount":0,"cacheWriteInputTokenCount":30}}"#);
        let streamed = fold.usage().unwrap();
        assert_eq!(
            (
                streamed.output,
                streamed.cache_write,
                streamed.cache_write_1h
            ),
            (7, 30, 20)
        );
        // A split larger than the total (a malformed body) never exceeds it.
        let odd = br#"{"amazon-bedrock-invocationMetrics":{"inputTokenCount":1,"cacheWriteInputTokenCount":4},
            "usage":{"cache_creation":{"ephemeral_1h_input_tokens":9}}}"#;
        assert_eq!(from_invoke_body(odd).unwrap().cache_write_1h, 4);
    }

    #[test]
    fn a_stream_folds_back_into_its_response() {
        let usage = Usage {
            input_tokens: 3,
            output_tokens: 4,
            total_tokens: 7,
            cache_read_input_tokens: None,
            cache_write_input_tokens: None,
            cache_write_1h_input_tokens: None,
        };
        let events = vec![
            StreamEvent::MessageStart(MessageStart {
                role: Role::Assistant,
            }),
            StreamEvent::ContentBlockDelta(ContentBlockDelta {
                content_block_index: 0,
                delta: BlockDelta::Text("hello ".into()),
            }),
            StreamEvent::ContentBlockDelta(ContentBlockDelta {
                content_block_index: 0,
                delta: BlockDelta::Text("world".into()),
            }),
            StreamEvent::ContentBlockStop(ContentBlockStop {
                content_block_index: 0,
            }),
            StreamEvent::ContentBlockStart(ContentBlockStart {
                content_block_index: 1,
                start: BlockStart::ToolUse(ToolUseStart {
                    tool_use_id: "t1".into(),
                    name: "f".into(),
                }),
            }),
            StreamEvent::ContentBlockDelta(ContentBlockDelta {
                content_block_index: 1,
                delta: BlockDelta::ToolUse(ToolUseDelta {
                    input: "{\"a\":".into(),
                }),
            }),
            StreamEvent::ContentBlockDelta(ContentBlockDelta {
                content_block_index: 1,
                delta: BlockDelta::ToolUse(ToolUseDelta { input: "1}".into() }),
            }),
            StreamEvent::MessageStop(MessageStop {
                stop_reason: "tool_use".into(),
                additional_model_response_fields: None,
            }),
            StreamEvent::Metadata(StreamMetadata {
                usage,
                metrics: Metrics { latency_ms: 9 },
            }),
        ];
        let mut acc = StreamAccumulator::default();
        for event in &events {
            acc.observe(event);
        }
        assert_eq!(acc.usage().unwrap().total(), 7);
        let response = acc.finish().unwrap();
        assert_eq!(response.text(), "hello world");
        assert_eq!(response.stop_reason, "tool_use");
        let ContentBlock::ToolUse(tool) = &response.message().content[1] else {
            panic!("expected a tool use block");
        };
        assert_eq!(tool.input, serde_json::json!({"a": 1}));
        assert_eq!(response.usage, usage);
    }

    #[test]
    fn an_unfinished_stream_has_no_response() {
        let mut acc = StreamAccumulator::default();
        acc.observe(&StreamEvent::ContentBlockDelta(ContentBlockDelta {
            content_block_index: 0,
            delta: BlockDelta::Text("partial".into()),
        }));
        assert_eq!(acc.output_chars(), 7);
        assert!(acc.usage().is_none());
        assert!(acc.finish().is_none());
    }
}
