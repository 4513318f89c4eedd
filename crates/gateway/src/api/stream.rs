//! ConverseStream events, as Bedrock names and shapes them. The same values are re-encoded as
//! server-sent events (`/v1/converse-stream`), as AWS event-stream frames (the Bedrock wire path)
//! or as OpenAI chunks (`/v1/chat/completions` with `stream: true`).

use super::converse::{Metrics, Usage};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum StreamEvent {
    MessageStart(MessageStart),
    ContentBlockStart(ContentBlockStart),
    ContentBlockDelta(ContentBlockDelta),
    ContentBlockStop(ContentBlockStop),
    MessageStop(MessageStop),
    Metadata(StreamMetadata),
}

impl StreamEvent {
    /// The event's name on the wire (`:event-type` header, SSE `event:` field).
    pub fn name(&self) -> &'static str {
        match self {
            Self::MessageStart(_) => "messageStart",
            Self::ContentBlockStart(_) => "contentBlockStart",
            Self::ContentBlockDelta(_) => "contentBlockDelta",
            Self::ContentBlockStop(_) => "contentBlockStop",
            Self::MessageStop(_) => "messageStop",
            Self::Metadata(_) => "metadata",
        }
    }

    /// The event's JSON payload without the outer tag, as Bedrock's event-stream carries it.
    pub fn payload_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        match self {
            Self::MessageStart(e) => serde_json::to_vec(e),
            Self::ContentBlockStart(e) => serde_json::to_vec(e),
            Self::ContentBlockDelta(e) => serde_json::to_vec(e),
            Self::ContentBlockStop(e) => serde_json::to_vec(e),
            Self::MessageStop(e) => serde_json::to_vec(e),
            Self::Metadata(e) => serde_json::to_vec(e),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageStart {
    pub role: super::converse::Role,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockStart {
    pub content_block_index: u32,
    pub start: BlockStart,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BlockStart {
    ToolUse(ToolUseStart),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolUseStart {
    pub tool_use_id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockDelta {
    pub content_block_index: u32,
    pub delta: BlockDelta,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BlockDelta {
    Text(String),
    ToolUse(ToolUseDelta),
    ReasoningContent(ReasoningDelta),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolUseDelta {
    pub input: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ReasoningDelta {
    Text(String),
    Signature(String),
    RedactedContent(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockStop {
    pub content_block_index: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageStop {
    pub stop_reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_model_response_fields: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamMetadata {
    pub usage: Usage,
    pub metrics: Metrics,
}
