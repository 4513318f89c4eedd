//! What a response said, whatever API shape it came in: the answer text, the tool calls and
//! the output tokens. Recognised by the body's shape, not the route, so a route added later in
//! a known shape needs no change here:
//!
//! - OpenAI chat: `choices[0].message` (`content`, `tool_calls`), `usage.completion_tokens`;
//! - a server-sent event stream (`text/event-stream`): OpenAI chat chunks, or Converse stream
//!   events (`/v1/converse-stream`), their deltas put together;
//! - Converse: `output.message.content[]` (`text`, `toolUse`), `usage.outputTokens`;
//! - Anthropic messages (InvokeModel): `content[]` (`text`, `tool_use`), `usage.output_tokens`;
//! - task routes: `text`, `usage.outputTokens`.
//!
//! Any other body (a job receipt, an error) is its own text, and its fields can be asserted.

use serde_json::{Map, Value};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answer {
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    pub output_tokens: Option<u64>,
    /// The body as JSON (`Null` when it is not JSON).
    pub body: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub name: String,
    pub arguments: Value,
}

impl Answer {
    /// Reads a response body; `event_stream` when its content type is `text/event-stream`.
    pub fn from_body(body: &str, event_stream: bool) -> Self {
        if event_stream {
            return from_sse(body);
        }
        let Ok(json) = serde_json::from_str::<Value>(body) else {
            return Self {
                text: body.to_owned(),
                ..Self::default()
            };
        };
        let mut answer = Self::default();
        if let Some(message) = json.pointer("/choices/0/message") {
            answer.text = message["content"].as_str().unwrap_or_default().to_owned();
            answer.tool_calls = openai_tool_calls(message);
            answer.output_tokens = json
                .pointer("/usage/completion_tokens")
                .and_then(Value::as_u64);
        } else if let Some(blocks) = json
            .pointer("/output/message/content")
            .and_then(Value::as_array)
        {
            for block in blocks {
                if let Some(text) = block["text"].as_str() {
                    answer.text.push_str(text);
                }
                if let Some(tool) = block.get("toolUse") {
                    answer.tool_calls.push(ToolCall {
                        name: tool["name"].as_str().unwrap_or_default().to_owned(),
                        arguments: tool["input"].clone(),
                    });
                }
            }
            answer.output_tokens = json.pointer("/usage/outputTokens").and_then(Value::as_u64);
        } else if let Some(blocks) = json.get("content").and_then(Value::as_array) {
            for block in blocks {
                match block["type"].as_str() {
                    Some("text") => answer
                        .text
                        .push_str(block["text"].as_str().unwrap_or_default()),
                    Some("tool_use") => answer.tool_calls.push(ToolCall {
                        name: block["name"].as_str().unwrap_or_default().to_owned(),
                        arguments: block["input"].clone(),
                    }),
                    _ => {}
                }
            }
            answer.output_tokens = json.pointer("/usage/output_tokens").and_then(Value::as_u64);
        } else if let Some(text) = json.get("text").and_then(Value::as_str) {
            answer.text = text.to_owned();
            answer.output_tokens = json.pointer("/usage/outputTokens").and_then(Value::as_u64);
        } else {
            // No answer shape (an error, a job receipt): text assertions see the body itself.
            answer.text = body.to_owned();
        }
        answer.body = json;
        answer
    }
}

fn openai_tool_calls(message: &Value) -> Vec<ToolCall> {
    let Some(calls) = message["tool_calls"].as_array() else {
        return Vec::new();
    };
    calls
        .iter()
        .map(|call| {
            let function = &call["function"];
            // OpenAI sends the arguments as a JSON string.
            let raw = function["arguments"].as_str().unwrap_or("{}");
            ToolCall {
                name: function["name"].as_str().unwrap_or_default().to_owned(),
                arguments: serde_json::from_str(raw).unwrap_or(Value::String(raw.to_owned())),
            }
        })
        .collect()
}

/// An event stream: OpenAI chat chunks (`data: {chunk}` up to `data: [DONE]`) or Converse
/// events (`event: contentBlockDelta` + `data: {payload}`, Bedrock's payloads).
fn from_sse(body: &str) -> Answer {
    let mut answer = Answer::default();
    // Tool-call fragments by index: the name comes once, the arguments in pieces.
    let mut calls: Vec<(String, String)> = Vec::new();
    let mut chunks = Vec::new();
    for line in body.lines() {
        let Some(data) = line.strip_prefix("data:").map(str::trim) else {
            continue;
        };
        let Ok(chunk) = serde_json::from_str::<Value>(data) else {
            continue;
        };
        let delta = &chunk["choices"][0]["delta"];
        if let Some(text) = delta["content"].as_str() {
            answer.text.push_str(text);
        }
        for call in delta["tool_calls"].as_array().into_iter().flatten() {
            let index = call["index"].as_u64().unwrap_or(0).min(63) as usize;
            if calls.len() <= index {
                calls.resize(index + 1, (String::new(), String::new()));
            }
            if let Some(name) = call["function"]["name"].as_str() {
                calls[index].0.push_str(name);
            }
            if let Some(args) = call["function"]["arguments"].as_str() {
                calls[index].1.push_str(args);
            }
        }
        if let Some(tokens) = chunk
            .pointer("/usage/completion_tokens")
            .and_then(Value::as_u64)
        {
            answer.output_tokens = Some(tokens);
        }
        // Converse events.
        if let Some(text) = chunk.pointer("/delta/text").and_then(Value::as_str) {
            answer.text.push_str(text);
        }
        let block = chunk["contentBlockIndex"].as_u64().unwrap_or(0).min(63) as usize;
        let name = chunk.pointer("/start/toolUse/name").and_then(Value::as_str);
        let input = chunk
            .pointer("/delta/toolUse/input")
            .and_then(Value::as_str);
        if name.is_some() || input.is_some() {
            if calls.len() <= block {
                calls.resize(block + 1, (String::new(), String::new()));
            }
            calls[block].0.push_str(name.unwrap_or_default());
            calls[block].1.push_str(input.unwrap_or_default());
        }
        if let Some(tokens) = chunk.pointer("/usage/outputTokens").and_then(Value::as_u64) {
            answer.output_tokens = Some(tokens);
        }
        chunks.push(chunk);
    }
    answer.tool_calls = calls
        .into_iter()
        .filter(|(name, _)| !name.is_empty())
        .map(|(name, args)| ToolCall {
            name,
            arguments: serde_json::from_str(&args).unwrap_or(Value::String(args)),
        })
        .collect();
    answer.body = Value::Array(chunks);
    answer
}

/// Whether `actual` includes `expected`: objects key by key (recursively), else equality.
pub fn includes(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Object(actual), Value::Object(expected)) => includes_map(actual, expected),
        _ => actual == expected,
    }
}

pub fn includes_map(actual: &Map<String, Value>, expected: &Map<String, Value>) -> bool {
    expected
        .iter()
        .all(|(key, want)| actual.get(key).is_some_and(|got| includes(got, want)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_shape_gives_its_text_tools_and_tokens() {
        let openai = json!({"choices":[{"message":{"content":"hi","tool_calls":[
            {"function":{"name":"f","arguments":"{\"a\":1}"}}]}}],"usage":{"completion_tokens":3}});
        let converse = json!({"output":{"message":{"content":[{"text":"hi"},
            {"toolUse":{"name":"f","input":{"a":1}}}]}},"usage":{"outputTokens":3}});
        let anthropic = json!({"content":[{"type":"text","text":"hi"},
            {"type":"tool_use","name":"f","input":{"a":1}}],"usage":{"output_tokens":3}});
        for body in [openai, converse, anthropic] {
            let answer = Answer::from_body(&body.to_string(), false);
            assert_eq!(answer.text, "hi", "{body}");
            assert_eq!(answer.output_tokens, Some(3), "{body}");
            assert_eq!(
                answer.tool_calls,
                vec![ToolCall {
                    name: "f".into(),
                    arguments: json!({"a":1})
                }],
                "{body}"
            );
        }
        let task = json!({"task":"generate","text":"hi","usage":{"outputTokens":1}});
        let answer = Answer::from_body(&task.to_string(), false);
        assert_eq!(
            (answer.text.as_str(), answer.output_tokens),
            ("hi", Some(1))
        );
    }

    #[test]
    fn a_stream_is_put_together_from_its_deltas() {
        let body = "data: {\"choices\":[{\"delta\":{\"content\":\"a \"}}]}\n\n\
                    data: {\"choices\":[{\"delta\":{\"content\":\"b\"}}]}\n\n\
                    data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"x\\\":\"}}]}}]}\n\n\
                    data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"2}\"}}]}}],\"usage\":{\"completion_tokens\":4}}\n\n\
                    data: [DONE]\n\n";
        let answer = Answer::from_body(body, true);
        assert_eq!(answer.text, "a b");
        assert_eq!(answer.output_tokens, Some(4));
        assert_eq!(answer.tool_calls[0].arguments, json!({"x": 2}));
    }

    #[test]
    fn a_converse_stream_is_put_together_from_its_events() {
        let body = "event: messageStart\ndata: {\"role\":\"assistant\"}\n\n\
                    event: contentBlockDelta\ndata: {\"contentBlockIndex\":0,\"delta\":{\"text\":\"All \"}}\n\n\
                    event: contentBlockDelta\ndata: {\"contentBlockIndex\":0,\"delta\":{\"text\":\"good.\"}}\n\n\
                    event: contentBlockStart\ndata: {\"contentBlockIndex\":1,\"start\":{\"toolUse\":{\"name\":\"f\",\"toolUseId\":\"t\"}}}\n\n\
                    event: contentBlockDelta\ndata: {\"contentBlockIndex\":1,\"delta\":{\"toolUse\":{\"input\":\"{\\\"a\\\":1}\"}}}\n\n\
                    event: metadata\ndata: {\"usage\":{\"inputTokens\":3,\"outputTokens\":2,\"totalTokens\":5}}\n\n";
        let answer = Answer::from_body(body, true);
        assert_eq!(answer.text, "All good.");
        assert_eq!(answer.output_tokens, Some(2));
        assert_eq!(
            answer.tool_calls,
            vec![ToolCall {
                name: "f".into(),
                arguments: json!({"a": 1})
            }]
        );
    }

    #[test]
    fn inclusion_is_by_key_and_recursive() {
        assert!(includes(
            &json!({"a":1,"b":{"c":2,"d":3}}),
            &json!({"b":{"c":2}})
        ));
        assert!(!includes(&json!({"a":1}), &json!({"a":2})));
        assert!(!includes(&json!({"a":1}), &json!({"b":1})));
        assert!(!includes(&json!([1, 2]), &json!([1])));
    }
}
