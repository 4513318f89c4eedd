//! OpenAI's Responses API (`POST /v1/responses`), stateless, mapped onto Converse through the
//! chat-completions translation: input items become chat messages (function calls and their
//! outputs included), function tools become chat tools, and that request's `to_converse` does
//! the rest. `text.format` json_schema is answered through a forced tool
//! ([`super::structured_output`]). Anything that needs stored state (`previous_response_id`,
//! `conversation`, `background`) is refused naming the field; fields without a Bedrock meaning
//! (`store`, `user`, `metadata`, `include`, `reasoning`, …) are accepted and ignored.

use super::converse::{ConverseRequest, SystemBlock};
use super::openai::{
    ChatContent, ChatMessage, ChatRequest, ChatTool, ChatToolChoice, ContentPart, FunctionCall,
    FunctionDef, ImageUrl, NamedFunction, ToolCall,
};
use super::structured_output::add_schema_tool;
use crate::error::GatewayError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The request body. Unknown fields are ignored, as OpenAI-compatible servers do.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResponsesRequest {
    pub model: String,
    #[serde(default)]
    pub input: Option<ResponsesInput>,
    #[serde(default)]
    pub instructions: Option<String>,
    #[serde(default)]
    pub tools: Vec<FunctionTool>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub tool_choice: Option<ResponsesToolChoice>,
    #[serde(default)]
    pub max_output_tokens: Option<u32>,
    #[serde(default)]
    pub temperature: Option<f32>,
    #[serde(default)]
    pub top_p: Option<f32>,
    #[serde(default)]
    pub text: Option<TextConfig>,
    #[serde(default)]
    pub stream: bool,
    /// Refused: the gateway stores no responses.
    #[serde(default)]
    pub previous_response_id: Option<String>,
    /// Refused: the gateway stores no conversations.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub conversation: Option<Value>,
    /// Refused when true: no background runs.
    #[serde(default)]
    pub background: Option<bool>,
    /// Echoed in the response.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub metadata: Option<Value>,
}

/// A string (one user message) or a list of items. Deserialised by hand so that an error names
/// the item (`input[3]`): an untagged enum would name only `input`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum ResponsesInput {
    Text(String),
    Items(Vec<InputItem>),
}

impl<'de> Deserialize<'de> for ResponsesInput {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct InputVisitor;
        impl<'de> serde::de::Visitor<'de> for InputVisitor {
            type Value = ResponsesInput;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or a list of input items")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
                Ok(ResponsesInput::Text(text.to_owned()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<InputItem>()? {
                    items.push(item);
                }
                Ok(ResponsesInput::Items(items))
            }
        }
        deserializer.deserialize_any(InputVisitor)
    }
}

/// One input item: a typed item, or a bare `{role, content}` message.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum InputItem {
    Typed(TypedItem),
    Message(MessageItem),
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TypedItem {
    Message(MessageItem),
    FunctionCall(FunctionCallItem),
    FunctionCallOutput(FunctionCallOutputItem),
    /// A reasoning item from an earlier response: Bedrock cannot take it back; skipped.
    Reasoning {},
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageItem {
    pub role: ItemRole,
    pub content: ItemContent,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ItemRole {
    User,
    Assistant,
    System,
    Developer,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum ItemContent {
    Text(String),
    Parts(Vec<ContentItem>),
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentItem {
    InputText {
        text: String,
    },
    OutputText {
        text: String,
    },
    Refusal {
        refusal: String,
    },
    /// Only `data:` URLs: the gateway fetches nothing.
    InputImage {
        #[serde(default)]
        image_url: Option<String>,
    },
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FunctionCallItem {
    pub call_id: String,
    pub name: String,
    /// JSON text.
    pub arguments: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FunctionCallOutputItem {
    pub call_id: String,
    pub output: ItemContent,
}

/// A tool: only `function` tools have a Bedrock meaning.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FunctionTool {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub parameters: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// `"auto"`, `"required"`, `"none"` or `{"type": "function", "name": …}`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum ResponsesToolChoice {
    Mode(String),
    Function {
        #[serde(rename = "type")]
        kind: String,
        name: String,
    },
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TextConfig {
    #[serde(default)]
    pub format: Option<TextFormat>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TextFormat {
    Text,
    JsonObject,
    JsonSchema {
        name: String,
        #[cfg_attr(feature = "openapi", schema(value_type = Object))]
        schema: Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        strict: Option<bool>,
    },
}

/// The tool name a `json_object` format is answered through.
const JSON_OBJECT_TOOL: &str = "json_object";

impl ResponsesRequest {
    /// Refuses what a stateless gateway cannot do, naming the field.
    fn check_stateless(&self) -> Result<(), GatewayError> {
        if self.previous_response_id.is_some() {
            return Err(GatewayError::invalid(
                "previous_response_id",
                "this gateway stores no responses: send the whole conversation in `input` instead of previous_response_id",
            ));
        }
        if self.conversation.is_some() {
            return Err(GatewayError::invalid(
                "conversation",
                "this gateway stores no conversations: send the whole conversation in `input`",
            ));
        }
        let max = crate::controls::output_cap::MAX_OUTPUT_TOKENS;
        if self.max_output_tokens.is_some_and(|n| u64::from(n) > max) {
            return Err(GatewayError::invalid(
                "max_output_tokens",
                format!("max_output_tokens must be at most {max}"),
            ));
        }
        if self.background == Some(true) {
            return Err(GatewayError::invalid(
                "background",
                "background responses are not supported (use POST /v1/jobs for async work)",
            ));
        }
        Ok(())
    }

    /// The tool name the structured answer comes back through, if `text.format` asks for one.
    pub fn schema_tool(&self) -> Option<&str> {
        match self.text.as_ref()?.format.as_ref()? {
            TextFormat::Text => None,
            TextFormat::JsonObject => Some(JSON_OBJECT_TOOL),
            TextFormat::JsonSchema { name, .. } => Some(name),
        }
    }

    /// The Converse request that asks Bedrock the same question (`model_id` left unset: the
    /// caller routes by `model`).
    pub fn to_converse(&self) -> Result<ConverseRequest, GatewayError> {
        self.check_stateless()?;
        let (messages, index) = self.chat_messages()?;
        let chat = ChatRequest {
            model: self.model.clone(),
            messages,
            tools: self.chat_tools()?,
            tool_choice: self.chat_tool_choice()?,
            temperature: self.temperature,
            top_p: self.top_p,
            max_completion_tokens: self.max_output_tokens,
            ..ChatRequest::default()
        };
        let mut request = chat.to_converse().map_err(|e| input_field(e, &index))?;
        request.model_id = None;
        if let Some(instructions) = self.instructions.as_ref().filter(|s| !s.is_empty()) {
            request
                .system
                .insert(0, SystemBlock::Text(instructions.clone()));
        }
        match self.text.as_ref().and_then(|t| t.format.clone()) {
            None | Some(TextFormat::Text) => {}
            Some(TextFormat::JsonObject) => add_schema_tool(
                &mut request,
                "text.format",
                JSON_OBJECT_TOOL,
                Some("Answer with a JSON object.".into()),
                serde_json::json!({"type": "object"}),
            )?,
            Some(TextFormat::JsonSchema {
                name,
                schema,
                description,
                ..
            }) => add_schema_tool(&mut request, "text.format.name", &name, description, schema)?,
        }
        Ok(request)
    }

    /// Chat messages, and for each the index of the input item it came from.
    fn chat_messages(&self) -> Result<(Vec<ChatMessage>, Vec<usize>), GatewayError> {
        let items = match &self.input {
            None => return Err(GatewayError::invalid("input", "input is required")),
            Some(ResponsesInput::Text(text)) => {
                let message = ChatMessage::User {
                    content: ChatContent::Text(text.clone()),
                };
                return Ok((vec![message], vec![0]));
            }
            Some(ResponsesInput::Items(items)) => items,
        };
        let mut messages = Vec::with_capacity(items.len());
        let mut index = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let message = match item {
                InputItem::Message(m) | InputItem::Typed(TypedItem::Message(m)) => message(m, i)?,
                InputItem::Typed(TypedItem::FunctionCall(call)) => ChatMessage::Assistant {
                    content: None,
                    tool_calls: vec![ToolCall {
                        id: call.call_id.clone(),
                        kind: "function".into(),
                        function: FunctionCall {
                            name: call.name.clone(),
                            arguments: call.arguments.clone(),
                        },
                    }],
                },
                InputItem::Typed(TypedItem::FunctionCallOutput(output)) => ChatMessage::Tool {
                    content: chat_content(&output.output, &format!("input[{i}].output"))?,
                    tool_call_id: output.call_id.clone(),
                },
                InputItem::Typed(TypedItem::Reasoning {}) => continue,
            };
            messages.push(message);
            index.push(i);
        }
        Ok((messages, index))
    }

    fn chat_tools(&self) -> Result<Vec<ChatTool>, GatewayError> {
        self.tools
            .iter()
            .enumerate()
            .map(|(i, tool)| {
                if tool.kind != "function" {
                    return Err(GatewayError::invalid(
                        format!("tools[{i}].type"),
                        format!(
                            "only \"function\" tools are supported, got \"{}\"",
                            tool.kind
                        ),
                    ));
                }
                let name = tool.name.clone().filter(|n| !n.is_empty()).ok_or_else(|| {
                    GatewayError::invalid(
                        format!("tools[{i}].name"),
                        "a function tool needs a name",
                    )
                })?;
                Ok(ChatTool {
                    kind: tool.kind.clone(),
                    function: FunctionDef {
                        name,
                        description: tool.description.clone(),
                        parameters: tool.parameters.clone(),
                    },
                })
            })
            .collect()
    }

    fn chat_tool_choice(&self) -> Result<Option<ChatToolChoice>, GatewayError> {
        Ok(match &self.tool_choice {
            None => None,
            Some(ResponsesToolChoice::Mode(mode)) => Some(ChatToolChoice::Mode(mode.clone())),
            Some(ResponsesToolChoice::Function { kind, name }) if kind == "function" => {
                Some(ChatToolChoice::Named {
                    function: NamedFunction { name: name.clone() },
                })
            }
            Some(ResponsesToolChoice::Function { kind, .. }) => {
                return Err(GatewayError::invalid(
                    "tool_choice.type",
                    format!("only function tools can be chosen, got \"{kind}\""),
                ));
            }
        })
    }
}

fn message(item: &MessageItem, i: usize) -> Result<ChatMessage, GatewayError> {
    let content = chat_content(&item.content, &format!("input[{i}].content"))?;
    Ok(match item.role {
        ItemRole::User => ChatMessage::User { content },
        ItemRole::System => ChatMessage::System { content },
        ItemRole::Developer => ChatMessage::Developer { content },
        ItemRole::Assistant => ChatMessage::Assistant {
            content: Some(content),
            tool_calls: Vec::new(),
        },
    })
}

fn chat_content(content: &ItemContent, field: &str) -> Result<ChatContent, GatewayError> {
    let parts = match content {
        ItemContent::Text(text) => return Ok(ChatContent::Text(text.clone())),
        ItemContent::Parts(parts) => parts,
    };
    parts
        .iter()
        .enumerate()
        .map(|(j, part)| match part {
            ContentItem::InputText { text }
            | ContentItem::OutputText { text }
            | ContentItem::Refusal { refusal: text } => {
                Ok(ContentPart::Text { text: text.clone() })
            }
            ContentItem::InputImage {
                image_url: Some(url),
            } => Ok(ContentPart::ImageUrl {
                image_url: ImageUrl { url: url.clone() },
            }),
            ContentItem::InputImage { image_url: None } => Err(GatewayError::invalid(
                format!("{field}[{j}].image_url"),
                "an image needs a data: URL (file ids are not supported)",
            )),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(ChatContent::Parts)
}

/// A chat translation error names `messages[n]…`: name the input item it came from instead.
fn input_field(error: GatewayError, index: &[usize]) -> GatewayError {
    let GatewayError::InvalidRequest {
        field: Some(field),
        message,
    } = &error
    else {
        return error;
    };
    if field == "messages" {
        return GatewayError::invalid("input", message.replace("user message", "input item"));
    }
    let Some(rest) = field.strip_prefix("messages[") else {
        return error;
    };
    let Some((n, tail)) = rest.split_once(']') else {
        return error;
    };
    let Some(i) = n.parse::<usize>().ok().and_then(|n| index.get(n)) else {
        return error;
    };
    let renamed = format!("input[{i}]{tail}");
    GatewayError::invalid(renamed, message.replace(&format!("messages[{n}]"), "input"))
}

#[cfg(test)]
#[path = "responses_tests.rs"]
mod tests;
