//! A container's streamed answer (the bytes of `PayloadPart` events, split anywhere) as
//! ConverseStream events. Both dialects stream lines — SSE `data:` lines, or bare JSON lines
//! from containers that skip the SSE framing — so one line decoder serves both.

use super::PayloadDialect;
use super::dialect::{estimate_tokens, stop_reason};
use crate::api::converse::{Metrics, Role, Usage};
use crate::api::stream::{
    BlockDelta, ContentBlockDelta, ContentBlockStop, MessageStart, MessageStop, StreamEvent,
    StreamMetadata,
};
use crate::error::{GatewayError, UpstreamKind};
use serde_json::Value;

/// The longest line accepted: a container that never ends a line is broken, not slow.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

/// Turns payload bytes into events; `finish` closes the message.
#[derive(Debug)]
pub struct StreamDecoder {
    dialect: PayloadDialect,
    pending: Vec<u8>,
    started: bool,
    text: String,
    finish: Option<String>,
    usage: Option<(u32, u32)>,
    input_estimate: u32,
}

fn broken(what: &str) -> GatewayError {
    GatewayError::Upstream {
        kind: UpstreamKind::StreamError,
        message: format!("the SageMaker endpoint streamed {what}"),
        retry_after: None,
    }
}

impl StreamDecoder {
    /// `input` is the body that was sent, for a usage estimate when the container sends none.
    pub fn new(dialect: PayloadDialect, input: &[u8]) -> Self {
        Self {
            dialect,
            pending: Vec::new(),
            started: false,
            text: String::new(),
            finish: None,
            usage: None,
            input_estimate: estimate_tokens(&String::from_utf8_lossy(input)),
        }
    }

    /// The events the bytes of one `PayloadPart` complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<StreamEvent>, GatewayError> {
        let mut events = Vec::new();
        if !self.started {
            self.started = true;
            events.push(StreamEvent::MessageStart(MessageStart {
                role: Role::Assistant,
            }));
        }
        self.pending.extend_from_slice(bytes);
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            if let Some(delta) = self.line(&line)? {
                events.push(delta);
            }
        }
        if self.pending.len() > MAX_LINE_BYTES {
            return Err(broken(&format!("a line over {MAX_LINE_BYTES} bytes")));
        }
        Ok(events)
    }

    fn line(&mut self, raw: &[u8]) -> Result<Option<StreamEvent>, GatewayError> {
        let line = std::str::from_utf8(raw)
            .map_err(|_| broken("bytes that are not UTF-8"))?
            .trim();
        let data = match line.strip_prefix("data:") {
            Some(data) => data.trim(),
            // SSE comments, `event:`/`id:` fields and blank separators carry no content.
            None if line.is_empty() || !line.starts_with('{') => return Ok(None),
            None => line,
        };
        if data == "[DONE]" || data.is_empty() {
            return Ok(None);
        }
        let value: Value =
            serde_json::from_str(data).map_err(|_| broken("a line that is not JSON"))?;
        let tokens = |v: Option<&Value>| {
            v.and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
        };
        let delta = match self.dialect {
            PayloadDialect::Chat => {
                let choice = value.pointer("/choices/0");
                if let Some(finish) = choice
                    .and_then(|c| c.get("finish_reason"))
                    .and_then(Value::as_str)
                {
                    self.finish = Some(finish.to_owned());
                }
                if let Some(usage) = value.get("usage") {
                    self.usage = tokens(usage.get("prompt_tokens"))
                        .zip(tokens(usage.get("completion_tokens")));
                }
                choice
                    .and_then(|c| c.pointer("/delta/content"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            }
            PayloadDialect::Prompt => {
                if let Some(details) = value.get("details").filter(|d| d.is_object()) {
                    self.finish = details
                        .get("finish_reason")
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    self.usage = tokens(details.get("input_tokens"))
                        .zip(tokens(details.get("generated_tokens")));
                }
                let token = value.get("token");
                let special = token
                    .and_then(|t| t.get("special"))
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                token
                    .filter(|_| !special)
                    .and_then(|t| t.get("text"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            }
        };
        Ok(delta.filter(|d| !d.is_empty()).map(|text| {
            self.text.push_str(&text);
            StreamEvent::ContentBlockDelta(ContentBlockDelta {
                content_block_index: 0,
                delta: BlockDelta::Text(text),
            })
        }))
    }

    /// The closing events, once the container's stream ended.
    pub fn finish(mut self, latency_ms: u64) -> Result<Vec<StreamEvent>, GatewayError> {
        let mut events = if self.pending.iter().any(|b| !b.is_ascii_whitespace()) {
            let rest = std::mem::take(&mut self.pending);
            self.line(&rest)?.into_iter().collect()
        } else {
            Vec::new()
        };
        if !self.started {
            events.insert(
                0,
                StreamEvent::MessageStart(MessageStart {
                    role: Role::Assistant,
                }),
            );
        }
        let (input_tokens, output_tokens) = self
            .usage
            .unwrap_or_else(|| (self.input_estimate, estimate_tokens(&self.text)));
        events.extend([
            StreamEvent::ContentBlockStop(ContentBlockStop {
                content_block_index: 0,
            }),
            StreamEvent::MessageStop(MessageStop {
                stop_reason: stop_reason(self.finish.as_deref()).to_owned(),
                additional_model_response_fields: None,
            }),
            StreamEvent::Metadata(StreamMetadata {
                usage: Usage::uncached(input_tokens, output_tokens),
                metrics: Metrics { latency_ms },
            }),
        ]);
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(events: &[StreamEvent]) -> String {
        events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::ContentBlockDelta(ContentBlockDelta {
                    delta: BlockDelta::Text(t),
                    ..
                }) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn chat_chunks_split_anywhere_decode_to_deltas_and_usage() {
        let stream = concat!(
            "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"Hel\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"},\"finish_reason\":null}]}\n\n",
            "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"length\"}],",
            "\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n"
        );
        let mut decoder = StreamDecoder::new(PayloadDialect::Chat, b"");
        let mut events = Vec::new();
        for piece in stream.as_bytes().chunks(7) {
            events.extend(decoder.feed(piece).unwrap());
        }
        events.extend(decoder.finish(5).unwrap());
        assert!(matches!(events[0], StreamEvent::MessageStart(_)));
        assert_eq!(texts(&events), "Hello");
        let Some(StreamEvent::Metadata(meta)) = events.last() else {
            panic!("{events:?}")
        };
        assert_eq!((meta.usage.input_tokens, meta.usage.output_tokens), (9, 2));
        assert!(events.iter().any(|e| matches!(e,
            StreamEvent::MessageStop(s) if s.stop_reason == "max_tokens")));
    }

    #[test]
    fn tgi_tokens_skip_special_ones_and_bare_lines_work() {
        let stream = concat!(
            "{\"token\":{\"text\":\"a \",\"special\":false}}\n",
            "data:{\"token\":{\"text\":\"</s>\",\"special\":true},\"details\":",
            "{\"finish_reason\":\"eos_token\",\"generated_tokens\":2,\"input_tokens\":4}}\n"
        );
        let mut decoder = StreamDecoder::new(PayloadDialect::Prompt, b"");
        let mut events = decoder.feed(stream.as_bytes()).unwrap();
        events.extend(decoder.finish(1).unwrap());
        assert_eq!(texts(&events), "a ");
        assert!(events.iter().any(|e| matches!(e,
            StreamEvent::MessageStop(s) if s.stop_reason == "end_turn")));
    }

    #[test]
    fn garbage_and_endless_lines_break_the_stream() {
        let mut decoder = StreamDecoder::new(PayloadDialect::Chat, b"");
        assert!(decoder.feed(b"data: {nope\n").is_err());
        let mut decoder = StreamDecoder::new(PayloadDialect::Chat, b"");
        assert!(decoder.feed(&vec![b'x'; MAX_LINE_BYTES + 1]).is_err());
    }
}
