//! The Responses API's `response` object, built from a Converse answer (or, for streams, from
//! the items the stream mapper collected). Text blocks become one `message` item, tool calls
//! `function_call` items; the structured-output tool's call becomes the message's text.

use super::converse::{ContentBlock, ConverseResponse, Usage};
use super::responses::{FunctionTool, ResponsesRequest, TextConfig, TextFormat};
use serde::Serialize;
use serde_json::{Value, json};

#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResponseObject {
    pub id: String,
    pub object: &'static str,
    pub created_at: u64,
    /// `completed`, `incomplete` (stopped by the output limit or a content filter), or
    /// `in_progress` in a stream's first events.
    pub status: &'static str,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub error: Option<Value>,
    pub incomplete_details: Option<IncompleteDetails>,
    pub instructions: Option<String>,
    pub max_output_tokens: Option<u32>,
    /// The model that answered (its Bedrock id).
    pub model: String,
    pub output: Vec<OutputItem>,
    pub parallel_tool_calls: bool,
    pub previous_response_id: Option<String>,
    pub store: bool,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub tool_choice: Value,
    pub tools: Vec<FunctionTool>,
    pub text: TextConfig,
    pub truncation: &'static str,
    pub usage: Option<ResponseUsage>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub metadata: Value,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IncompleteDetails {
    pub reason: &'static str,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputItem {
    Message {
        id: String,
        status: &'static str,
        role: &'static str,
        content: Vec<OutputText>,
    },
    FunctionCall {
        id: String,
        call_id: String,
        name: String,
        /// JSON text.
        arguments: String,
        status: &'static str,
    },
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutputText {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub text: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub annotations: Vec<Value>,
}

impl OutputText {
    pub fn new(text: String) -> Self {
        Self {
            kind: "output_text",
            text,
            annotations: Vec::new(),
        }
    }
}

/// OpenAI's usage: `input_tokens` includes the cached ones (Bedrock counts them apart).
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResponseUsage {
    pub input_tokens: u32,
    pub input_tokens_details: InputTokensDetails,
    pub output_tokens: u32,
    pub output_tokens_details: OutputTokensDetails,
    pub total_tokens: u32,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InputTokensDetails {
    pub cached_tokens: u32,
    pub cache_write_tokens: u32,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutputTokensDetails {
    pub reasoning_tokens: u32,
}

impl From<Usage> for ResponseUsage {
    fn from(u: Usage) -> Self {
        let cached = u.cache_read_input_tokens.unwrap_or(0);
        let written = u.cache_write_input_tokens.unwrap_or(0);
        let input = u
            .input_tokens
            .saturating_add(cached)
            .saturating_add(written);
        Self {
            input_tokens: input,
            input_tokens_details: InputTokensDetails {
                cached_tokens: cached,
                cache_write_tokens: written,
            },
            output_tokens: u.output_tokens,
            output_tokens_details: OutputTokensDetails::default(),
            total_tokens: input.saturating_add(u.output_tokens),
        }
    }
}

/// The `status` and `incomplete_details` for a Bedrock stop reason.
pub fn status_for(stop_reason: &str) -> (&'static str, Option<IncompleteDetails>) {
    let reason = match stop_reason {
        "max_tokens" | "model_context_window_exceeded" => "max_output_tokens",
        "guardrail_intervened" | "content_filtered" => "content_filter",
        _ => return ("completed", None),
    };
    ("incomplete", Some(IncompleteDetails { reason }))
}

/// Ids of a response and its items, derived from one request id.
#[derive(Debug, Clone)]
pub struct ResponseIds {
    pub response: String,
    suffix: String,
}

impl ResponseIds {
    pub fn new(request_id: &str) -> Self {
        let suffix: String = request_id
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        Self {
            response: format!("resp_{suffix}"),
            suffix,
        }
    }

    pub fn message(&self, output_index: usize) -> String {
        format!("msg_{}_{output_index}", self.suffix)
    }

    pub fn function_call(tool_use_id: &str) -> String {
        format!("fc_{tool_use_id}")
    }
}

impl ResponseObject {
    /// The response's fields echoed from the request, with no output yet.
    pub fn skeleton(
        request: &ResponsesRequest,
        ids: &ResponseIds,
        created_at: u64,
        model: String,
    ) -> Self {
        let tool_choice = match &request.tool_choice {
            None => json!("auto"),
            Some(choice) => serde_json::to_value(choice).unwrap_or_else(|_| json!("auto")),
        };
        Self {
            id: ids.response.clone(),
            object: "response",
            created_at,
            status: "in_progress",
            error: None,
            incomplete_details: None,
            instructions: request.instructions.clone(),
            max_output_tokens: request.max_output_tokens,
            model,
            output: Vec::new(),
            parallel_tool_calls: true,
            previous_response_id: None,
            store: false,
            temperature: request.temperature,
            top_p: request.top_p,
            tool_choice,
            tools: request.tools.clone(),
            text: TextConfig {
                format: Some(
                    request
                        .text
                        .as_ref()
                        .and_then(|t| t.format.clone())
                        .unwrap_or(TextFormat::Text),
                ),
            },
            truncation: "disabled",
            usage: None,
            metadata: request.metadata.clone().unwrap_or_else(|| json!({})),
        }
    }

    /// The finished response: status from the stop reason, the output, the usage.
    pub fn finish(&mut self, stop_reason: &str, output: Vec<OutputItem>, usage: Usage) {
        let (status, details) = status_for(stop_reason);
        self.status = status;
        self.incomplete_details = details;
        self.output = output;
        self.usage = Some(usage.into());
    }

    /// A whole Converse answer as a response.
    pub fn from_converse(
        request: &ResponsesRequest,
        ids: &ResponseIds,
        created_at: u64,
        model: String,
        answer: &ConverseResponse,
    ) -> Self {
        let schema_tool = request.schema_tool();
        let mut text = String::new();
        let mut calls = Vec::new();
        for block in &answer.message().content {
            match block {
                ContentBlock::Text(t) => text.push_str(t),
                ContentBlock::ToolUse(tool) if Some(tool.name.as_str()) == schema_tool => {
                    text.push_str(&tool.input.to_string());
                }
                ContentBlock::ToolUse(tool) => calls.push(OutputItem::FunctionCall {
                    id: ResponseIds::function_call(&tool.tool_use_id),
                    call_id: tool.tool_use_id.clone(),
                    name: tool.name.clone(),
                    arguments: tool.input.to_string(),
                    status: "completed",
                }),
                _ => {}
            }
        }
        let mut output = Vec::with_capacity(calls.len() + 1);
        if !text.is_empty() || calls.is_empty() {
            output.push(OutputItem::Message {
                id: ids.message(0),
                status: "completed",
                role: "assistant",
                content: vec![OutputText::new(text)],
            });
        }
        output.extend(calls);
        let mut response = Self::skeleton(request, ids, created_at, model);
        response.finish(&answer.stop_reason, output, answer.usage);
        response
    }
}
