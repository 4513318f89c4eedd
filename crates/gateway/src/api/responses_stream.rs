//! ConverseStream events → the Responses API's streaming events: `response.created`,
//! `response.in_progress`, per item `response.output_item.added` → (`response.content_part.added`
//! → `response.output_text.delta`… → `response.output_text.done` → `response.content_part.done`
//! | `response.function_call_arguments.delta`… → `…arguments.done`) → `response.output_item.done`,
//! then `response.completed` (or `response.incomplete`) with the whole response and its usage.
//! Stateful: Bedrock numbers content blocks, the Responses API numbers output items.

use super::converse::Usage;
use super::responses::ResponsesRequest;
use super::responses_output::{OutputItem, OutputText, ResponseIds, ResponseObject};
use super::stream::{BlockDelta, BlockStart, StreamEvent};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// One server-sent event: its `event:` name and its `data:` JSON (which repeats the name as
/// `type`, with the `sequence_number`).
#[derive(Debug, Clone, PartialEq)]
pub struct ResponsesEvent {
    pub name: &'static str,
    pub data: Value,
}

/// An output item still receiving deltas.
#[derive(Debug)]
struct Open {
    output_index: usize,
    item_id: String,
    kind: OpenKind,
}

#[derive(Debug)]
enum OpenKind {
    Text(String),
    Call {
        call_id: String,
        name: String,
        arguments: String,
    },
}

pub struct ResponsesStreamMapper {
    response: ResponseObject,
    ids: ResponseIds,
    schema_tool: Option<String>,
    sequence: u64,
    started: bool,
    finished: bool,
    open: BTreeMap<u32, Open>,
    /// Finished items, by output index.
    items: BTreeMap<usize, OutputItem>,
    next_index: usize,
    stop_reason: String,
}

impl ResponsesStreamMapper {
    pub fn new(
        request: &ResponsesRequest,
        ids: ResponseIds,
        created_at: u64,
        model: String,
    ) -> Self {
        Self {
            response: ResponseObject::skeleton(request, &ids, created_at, model),
            schema_tool: request.schema_tool().map(str::to_owned),
            ids,
            sequence: 0,
            started: false,
            finished: false,
            open: BTreeMap::new(),
            items: BTreeMap::new(),
            next_index: 0,
            stop_reason: "end_turn".to_owned(),
        }
    }

    fn push(&mut self, out: &mut Vec<ResponsesEvent>, name: &'static str, mut data: Value) {
        if let Some(object) = data.as_object_mut() {
            object.insert("type".into(), Value::from(name));
            object.insert("sequence_number".into(), Value::from(self.sequence));
        }
        self.sequence += 1;
        out.push(ResponsesEvent { name, data });
    }

    fn start(&mut self, out: &mut Vec<ResponsesEvent>) {
        if self.started {
            return;
        }
        self.started = true;
        let response = serde_json::to_value(&self.response).unwrap_or(Value::Null);
        self.push(out, "response.created", json!({ "response": response }));
        self.push(out, "response.in_progress", json!({ "response": response }));
    }

    fn open_text(&mut self, out: &mut Vec<ResponsesEvent>, block: u32) {
        if self.open.contains_key(&block) {
            return;
        }
        let output_index = self.next_index;
        self.next_index += 1;
        let item_id = self.ids.message(output_index);
        let item = json!({"type": "message", "id": item_id, "status": "in_progress",
                          "role": "assistant", "content": []});
        self.push(
            out,
            "response.output_item.added",
            json!({"output_index": output_index, "item": item}),
        );
        self.push(
            out,
            "response.content_part.added",
            json!({"item_id": item_id, "output_index": output_index, "content_index": 0,
                   "part": OutputText::new(String::new())}),
        );
        self.open.insert(
            block,
            Open {
                output_index,
                item_id,
                kind: OpenKind::Text(String::new()),
            },
        );
    }

    fn open_call(&mut self, out: &mut Vec<ResponsesEvent>, block: u32, call_id: &str, name: &str) {
        let output_index = self.next_index;
        self.next_index += 1;
        let item_id = ResponseIds::function_call(call_id);
        let item = json!({"type": "function_call", "id": item_id, "call_id": call_id,
                          "name": name, "arguments": "", "status": "in_progress"});
        self.push(
            out,
            "response.output_item.added",
            json!({"output_index": output_index, "item": item}),
        );
        self.open.insert(
            block,
            Open {
                output_index,
                item_id,
                kind: OpenKind::Call {
                    call_id: call_id.to_owned(),
                    name: name.to_owned(),
                    arguments: String::new(),
                },
            },
        );
    }

    fn text_delta(&mut self, out: &mut Vec<ResponsesEvent>, block: u32, delta: &str) {
        self.open_text(out, block);
        let Some(open) = self.open.get_mut(&block) else {
            return;
        };
        let (name, data) = match &mut open.kind {
            OpenKind::Text(text) => {
                text.push_str(delta);
                (
                    "response.output_text.delta",
                    json!({"item_id": open.item_id, "output_index": open.output_index,
                           "content_index": 0, "delta": delta, "logprobs": []}),
                )
            }
            OpenKind::Call { arguments, .. } => {
                arguments.push_str(delta);
                (
                    "response.function_call_arguments.delta",
                    json!({"item_id": open.item_id, "output_index": open.output_index,
                           "delta": delta}),
                )
            }
        };
        self.push(out, name, data);
    }

    fn close(&mut self, out: &mut Vec<ResponsesEvent>, block: u32) {
        let Some(open) = self.open.remove(&block) else {
            return;
        };
        let Open {
            output_index,
            item_id,
            kind,
        } = open;
        let item = match kind {
            OpenKind::Text(text) => {
                let base =
                    json!({"item_id": item_id, "output_index": output_index, "content_index": 0});
                let mut done = base.clone();
                done["text"] = Value::from(text.as_str());
                done["logprobs"] = json!([]);
                self.push(out, "response.output_text.done", done);
                let mut part = base;
                part["part"] = json!(OutputText::new(text.clone()));
                self.push(out, "response.content_part.done", part);
                OutputItem::Message {
                    id: item_id,
                    status: "completed",
                    role: "assistant",
                    content: vec![OutputText::new(text)],
                }
            }
            OpenKind::Call {
                call_id,
                name,
                arguments,
            } => {
                // An empty argument stream is a call without arguments: `{}`, as OpenAI sends.
                let arguments = if arguments.trim().is_empty() {
                    "{}".to_owned()
                } else {
                    arguments
                };
                self.push(
                    out,
                    "response.function_call_arguments.done",
                    json!({"item_id": item_id, "output_index": output_index,
                           "name": name, "arguments": arguments}),
                );
                OutputItem::FunctionCall {
                    id: item_id,
                    call_id,
                    name,
                    arguments,
                    status: "completed",
                }
            }
        };
        self.push(
            out,
            "response.output_item.done",
            json!({"output_index": output_index, "item": item}),
        );
        self.items.insert(output_index, item);
    }

    fn close_all(&mut self, out: &mut Vec<ResponsesEvent>) {
        let blocks: Vec<u32> = self.open.keys().copied().collect();
        for block in blocks {
            self.close(out, block);
        }
    }

    fn complete(&mut self, out: &mut Vec<ResponsesEvent>, usage: Usage) {
        if self.finished {
            return;
        }
        self.start(out);
        self.close_all(out);
        self.finished = true;
        let items = std::mem::take(&mut self.items).into_values().collect();
        let stop_reason = self.stop_reason.clone();
        self.response.finish(&stop_reason, items, usage);
        let name = if self.response.status == "completed" {
            "response.completed"
        } else {
            "response.incomplete"
        };
        let response = serde_json::to_value(&self.response).unwrap_or(Value::Null);
        self.push(out, name, json!({ "response": response }));
    }

    /// The events (none, one or several) that carry this Bedrock event to the client.
    pub fn map(&mut self, event: &StreamEvent) -> Vec<ResponsesEvent> {
        let mut out = Vec::new();
        if self.finished {
            return out;
        }
        self.start(&mut out);
        match event {
            StreamEvent::MessageStart(_) => {}
            StreamEvent::ContentBlockStart(start) => {
                let BlockStart::ToolUse(tool) = &start.start;
                let block = start.content_block_index;
                if self.schema_tool.as_deref() == Some(tool.name.as_str()) {
                    self.open_text(&mut out, block);
                } else {
                    self.open_call(&mut out, block, &tool.tool_use_id, &tool.name);
                }
            }
            StreamEvent::ContentBlockDelta(delta) => {
                let block = delta.content_block_index;
                match &delta.delta {
                    BlockDelta::Text(text) => self.text_delta(&mut out, block, text),
                    // A tool's input without its start would have no call id: skipped.
                    BlockDelta::ToolUse(input) if self.open.contains_key(&block) => {
                        self.text_delta(&mut out, block, &input.input);
                    }
                    BlockDelta::ToolUse(_) | BlockDelta::ReasoningContent(_) => {}
                }
            }
            StreamEvent::ContentBlockStop(stop) => self.close(&mut out, stop.content_block_index),
            StreamEvent::MessageStop(stop) => {
                self.stop_reason.clone_from(&stop.stop_reason);
                self.close_all(&mut out);
            }
            StreamEvent::Metadata(metadata) => self.complete(&mut out, metadata.usage),
        }
        out
    }

    /// At the end of the model's stream: the final event, if the stream carried no usage.
    pub fn finish(&mut self) -> Vec<ResponsesEvent> {
        let mut out = Vec::new();
        self.complete(&mut out, Usage::default());
        out
    }

    /// The `error` event for a failure midway.
    pub fn error(&mut self, code: &str, message: &str, param: Option<&str>) -> ResponsesEvent {
        let mut out = Vec::new();
        self.finished = true;
        self.push(
            &mut out,
            "error",
            json!({"code": code, "message": message, "param": param}),
        );
        out.pop().unwrap_or(ResponsesEvent {
            name: "error",
            data: Value::Null,
        })
    }
}
