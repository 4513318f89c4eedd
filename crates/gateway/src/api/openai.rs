//! The OpenAI chat-completions dialect, mapped onto Converse. Lenient about fields OpenAI clients
//! send that have no Bedrock meaning (`user`, `seed`, …): they are accepted and ignored, as
//! OpenAI-compatible servers do; fields that would change the answer and cannot be honoured
//! (`n > 1`, remote image URLs) are refused with the field named.

use super::converse::{
    BytesSource, ContentBlock, ConverseRequest, ConverseResponse, EmptyObject, ImageBlock,
    InferenceConfig, Message, Role, SpecificTool, SystemBlock, Tool,
    ToolChoice as BedrockToolChoice, ToolConfig, ToolInputSchema, ToolResultBlock,
    ToolResultContent, ToolSpec, ToolUseBlock, Usage,
};
use crate::error::GatewayError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    #[serde(default)]
    pub tools: Vec<ChatTool>,
    #[serde(default)]
    pub tool_choice: Option<ChatToolChoice>,
    #[serde(default)]
    pub temperature: Option<f32>,
    #[serde(default)]
    pub top_p: Option<f32>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub max_completion_tokens: Option<u32>,
    #[serde(default)]
    pub stop: Option<StopSequences>,
    #[serde(default)]
    pub stream: bool,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    #[serde(default)]
    pub n: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum StopSequences {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Clone, Copy, Deserialize, Default)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum ChatMessage {
    System {
        content: ChatContent,
    },
    Developer {
        content: ChatContent,
    },
    User {
        content: ChatContent,
    },
    Assistant {
        #[serde(default)]
        content: Option<ChatContent>,
        #[serde(default)]
        tool_calls: Vec<ToolCall>,
    },
    Tool {
        content: ChatContent,
        tool_call_id: String,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ChatContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    Text { text: String },
    ImageUrl { image_url: ImageUrl },
}

#[derive(Debug, Clone, Deserialize)]
pub struct ImageUrl {
    pub url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ToolCall {
    pub id: String,
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    pub function: FunctionCall,
}

fn function_type() -> String {
    "function".to_owned()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FunctionCall {
    pub name: String,
    /// JSON text, as OpenAI sends it.
    pub arguments: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ChatTool {
    #[serde(rename = "type")]
    pub kind: String,
    pub function: FunctionDef,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FunctionDef {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub parameters: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ChatToolChoice {
    Mode(String),
    Named { function: NamedFunction },
}

#[derive(Debug, Clone, Deserialize)]
pub struct NamedFunction {
    pub name: String,
}

impl ChatRequest {
    /// The Converse request that asks Bedrock the same question.
    pub fn to_converse(&self) -> Result<ConverseRequest, GatewayError> {
        if let Some(n) = self.n.filter(|n| *n != 1) {
            return Err(GatewayError::invalid(
                "n",
                format!("only n = 1 is supported, got {n}"),
            ));
        }
        let mut system = Vec::new();
        let mut messages: Vec<Message> = Vec::new();
        for (i, message) in self.messages.iter().enumerate() {
            let (role, blocks) = match message {
                ChatMessage::System { content } | ChatMessage::Developer { content } => {
                    system.push(SystemBlock::Text(content.plain_text(i)?));
                    continue;
                }
                ChatMessage::User { content } => (Role::User, content.to_blocks(i)?),
                ChatMessage::Assistant {
                    content,
                    tool_calls,
                } => {
                    let blocks = content.as_ref().map(|c| c.to_blocks(i)).transpose()?;
                    let mut blocks = blocks.unwrap_or_default();
                    blocks.retain(|b| !matches!(b, ContentBlock::Text(t) if t.is_empty()));
                    for (j, call) in tool_calls.iter().enumerate() {
                        let input = parse_arguments(&call.function.arguments).map_err(|e| {
                            GatewayError::invalid(
                                format!("messages[{i}].tool_calls[{j}].function.arguments"),
                                format!("must be a JSON object: {e}"),
                            )
                        })?;
                        blocks.push(ContentBlock::ToolUse(ToolUseBlock {
                            tool_use_id: call.id.clone(),
                            name: call.function.name.clone(),
                            input,
                        }));
                    }
                    (Role::Assistant, blocks)
                }
                ChatMessage::Tool {
                    content,
                    tool_call_id,
                } => {
                    let result = ToolResultBlock {
                        tool_use_id: tool_call_id.clone(),
                        content: vec![ToolResultContent::Text(content.plain_text(i)?)],
                        status: None,
                    };
                    (Role::User, vec![ContentBlock::ToolResult(result)])
                }
            };
            // Bedrock wants alternating roles; OpenAI allows runs (e.g. several tool results).
            match messages.last_mut() {
                Some(last) if last.role == role => last.content.extend(blocks),
                _ => messages.push(Message {
                    role,
                    content: blocks,
                }),
            }
        }
        if messages.is_empty() {
            return Err(GatewayError::invalid(
                "messages",
                "at least one user message is required",
            ));
        }

        let stop_sequences = match &self.stop {
            None => Vec::new(),
            Some(StopSequences::One(s)) => vec![s.clone()],
            Some(StopSequences::Many(v)) => v.clone(),
        };
        let inference = InferenceConfig {
            max_tokens: self.max_completion_tokens.or(self.max_tokens),
            temperature: self.temperature,
            top_p: self.top_p,
            stop_sequences,
        };
        Ok(ConverseRequest {
            model_id: Some(self.model.clone()),
            messages,
            system,
            inference_config: (inference != InferenceConfig::default()).then_some(inference),
            tool_config: self.tool_config()?,
            ..ConverseRequest::default()
        })
    }

    fn tool_config(&self) -> Result<Option<ToolConfig>, GatewayError> {
        if self.tools.is_empty() {
            return Ok(None);
        }
        let mut tools = Vec::with_capacity(self.tools.len());
        for (i, tool) in self.tools.iter().enumerate() {
            if tool.kind != "function" {
                return Err(GatewayError::invalid(
                    format!("tools[{i}].type"),
                    "only \"function\" tools are supported",
                ));
            }
            let schema = tool
                .function
                .parameters
                .clone()
                .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}}));
            tools.push(Tool::ToolSpec(ToolSpec {
                name: tool.function.name.clone(),
                description: tool.function.description.clone(),
                input_schema: ToolInputSchema::Json(schema),
            }));
        }
        let tool_choice = match &self.tool_choice {
            None => None,
            Some(ChatToolChoice::Mode(mode)) => match mode.as_str() {
                "auto" => Some(BedrockToolChoice::Auto(EmptyObject {})),
                "required" => Some(BedrockToolChoice::Any(EmptyObject {})),
                // Bedrock has no "none": without a choice the model may still call a tool, so
                // when the history has no tool blocks the tools are simply not offered.
                "none" if !self.history_uses_tools() => return Ok(None),
                "none" => None,
                other => {
                    return Err(GatewayError::invalid(
                        "tool_choice",
                        format!(
                            "expected \"auto\", \"required\", \"none\" or a named function, got \"{other}\""
                        ),
                    ));
                }
            },
            Some(ChatToolChoice::Named { function }) => {
                Some(BedrockToolChoice::Tool(SpecificTool {
                    name: function.name.clone(),
                }))
            }
        };
        Ok(Some(ToolConfig { tools, tool_choice }))
    }

    fn history_uses_tools(&self) -> bool {
        self.messages.iter().any(|m| match m {
            ChatMessage::Assistant { tool_calls, .. } => !tool_calls.is_empty(),
            ChatMessage::Tool { .. } => true,
            _ => false,
        })
    }

    pub fn include_usage(&self) -> bool {
        self.stream_options.is_some_and(|o| o.include_usage)
    }
}

fn parse_arguments(arguments: &str) -> Result<Value, serde_json::Error> {
    if arguments.trim().is_empty() {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    serde_json::from_str(arguments)
}

impl ChatContent {
    fn plain_text(&self, index: usize) -> Result<String, GatewayError> {
        match self {
            Self::Text(text) => Ok(text.clone()),
            Self::Parts(parts) => parts
                .iter()
                .enumerate()
                .map(|(j, part)| match part {
                    ContentPart::Text { text } => Ok(text.as_str()),
                    ContentPart::ImageUrl { .. } => Err(GatewayError::invalid(
                        format!("messages[{index}].content[{j}]"),
                        "images are only accepted in user messages",
                    )),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(|texts| texts.join("")),
        }
    }

    fn to_blocks(&self, index: usize) -> Result<Vec<ContentBlock>, GatewayError> {
        match self {
            Self::Text(text) => Ok(vec![ContentBlock::Text(text.clone())]),
            Self::Parts(parts) => parts
                .iter()
                .enumerate()
                .map(|(j, part)| match part {
                    ContentPart::Text { text } => Ok(ContentBlock::Text(text.clone())),
                    ContentPart::ImageUrl { image_url } => data_url_image(&image_url.url).ok_or_else(|| {
                        GatewayError::invalid(
                            format!("messages[{index}].content[{j}].image_url.url"),
                            "only data: URLs (data:image/png;base64,...) are supported; the gateway does not fetch remote images",
                        )
                    }),
                })
                .collect(),
        }
    }
}

/// `data:image/png;base64,AAAA` → an image block. Remote URLs are never fetched (SSRF).
fn data_url_image(url: &str) -> Option<ContentBlock> {
    let rest = url.strip_prefix("data:image/")?;
    let (format, data) = rest.split_once(";base64,")?;
    let format = if format == "jpg" { "jpeg" } else { format };
    if !matches!(format, "png" | "jpeg" | "gif" | "webp") {
        return None;
    }
    Some(ContentBlock::Image(ImageBlock {
        format: format.to_owned(),
        source: BytesSource {
            bytes: data.to_owned(),
        },
    }))
}

/// OpenAI's `finish_reason` for a Bedrock stop reason.
pub fn finish_reason(stop_reason: &str) -> &'static str {
    match stop_reason {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "guardrail_intervened" | "content_filtered" => "content_filter",
        _ => "stop",
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ChatCompletion {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub model: String,
    pub choices: Vec<Choice>,
    pub usage: ChatUsage,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Choice {
    pub index: u32,
    pub message: AssistantMessage,
    pub finish_reason: String,
    pub logprobs: Option<Value>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AssistantMessage {
    pub role: &'static str,
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub tool_calls: Vec<ToolCall>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default)]
pub struct ChatUsage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub total_tokens: u32,
}

impl From<Usage> for ChatUsage {
    fn from(u: Usage) -> Self {
        Self {
            prompt_tokens: u.input_tokens,
            completion_tokens: u.output_tokens,
            total_tokens: u.total_tokens,
        }
    }
}

impl ChatCompletion {
    pub fn from_converse(
        id: String,
        created: u64,
        model: String,
        response: &ConverseResponse,
    ) -> Self {
        let mut text = String::new();
        let mut tool_calls = Vec::new();
        for block in &response.message().content {
            match block {
                ContentBlock::Text(t) => text.push_str(t),
                ContentBlock::ToolUse(tool) => tool_calls.push(ToolCall {
                    id: tool.tool_use_id.clone(),
                    kind: function_type(),
                    function: FunctionCall {
                        name: tool.name.clone(),
                        arguments: tool.input.to_string(),
                    },
                }),
                _ => {}
            }
        }
        Self {
            id,
            object: "chat.completion",
            created,
            model,
            choices: vec![Choice {
                index: 0,
                message: AssistantMessage {
                    role: "assistant",
                    content: (!text.is_empty() || tool_calls.is_empty()).then_some(text),
                    tool_calls,
                },
                finish_reason: finish_reason(&response.stop_reason).to_owned(),
                logprobs: None,
            }],
            usage: response.usage.into(),
        }
    }
}
