//! ConverseStream events → OpenAI `chat.completion.chunk`s. Stateful: OpenAI numbers tool calls
//! 0, 1, … while Bedrock numbers content blocks, so the mapper remembers which block is which call.

use super::openai::{ChatUsage, finish_reason};
use super::stream::{BlockDelta, BlockStart, StreamEvent};
use serde::Serialize;
use std::collections::HashMap;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ChatChunk {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub model: String,
    pub choices: Vec<ChunkChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<ChatUsage>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ChunkChoice {
    pub index: u32,
    pub delta: ChunkDelta,
    pub finish_reason: Option<&'static str>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct ChunkDelta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCallDelta>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ToolCallDelta {
    pub index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    pub function: FunctionDelta,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct FunctionDelta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
}

pub struct ChatStreamMapper {
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
    tool_index_by_block: HashMap<u32, u32>,
}

impl ChatStreamMapper {
    pub fn new(id: String, created: u64, model: String, include_usage: bool) -> Self {
        Self {
            id,
            created,
            model,
            include_usage,
            tool_index_by_block: HashMap::new(),
        }
    }

    fn chunk(&self, delta: ChunkDelta, finish_reason: Option<&'static str>) -> ChatChunk {
        ChatChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk",
            created: self.created,
            model: self.model.clone(),
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason,
            }],
            usage: None,
        }
    }

    /// The chunk (if any) that carries this event to an OpenAI client.
    pub fn map(&mut self, event: &StreamEvent) -> Option<ChatChunk> {
        match event {
            StreamEvent::MessageStart(_) => Some(self.chunk(
                ChunkDelta {
                    role: Some("assistant"),
                    content: Some(String::new()),
                    ..Default::default()
                },
                None,
            )),
            StreamEvent::ContentBlockStart(start) => {
                let BlockStart::ToolUse(tool) = &start.start;
                let index = self.tool_index_by_block.len() as u32;
                self.tool_index_by_block
                    .insert(start.content_block_index, index);
                Some(self.chunk(
                    ChunkDelta {
                        tool_calls: vec![ToolCallDelta {
                            index,
                            id: Some(tool.tool_use_id.clone()),
                            kind: Some("function"),
                            function: FunctionDelta {
                                name: Some(tool.name.clone()),
                                arguments: Some(String::new()),
                            },
                        }],
                        ..Default::default()
                    },
                    None,
                ))
            }
            StreamEvent::ContentBlockDelta(delta) => match &delta.delta {
                BlockDelta::Text(text) => Some(self.chunk(
                    ChunkDelta {
                        content: Some(text.clone()),
                        ..Default::default()
                    },
                    None,
                )),
                BlockDelta::ToolUse(input) => {
                    let index = *self.tool_index_by_block.get(&delta.content_block_index)?;
                    Some(self.chunk(
                        ChunkDelta {
                            tool_calls: vec![ToolCallDelta {
                                index,
                                id: None,
                                kind: None,
                                function: FunctionDelta {
                                    name: None,
                                    arguments: Some(input.input.clone()),
                                },
                            }],
                            ..Default::default()
                        },
                        None,
                    ))
                }
                BlockDelta::ReasoningContent(_) => None,
            },
            StreamEvent::ContentBlockStop(_) => None,
            StreamEvent::MessageStop(stop) => Some(self.chunk(
                ChunkDelta::default(),
                Some(finish_reason(&stop.stop_reason)),
            )),
            StreamEvent::Metadata(metadata) if self.include_usage => Some(ChatChunk {
                id: self.id.clone(),
                object: "chat.completion.chunk",
                created: self.created,
                model: self.model.clone(),
                choices: Vec::new(),
                usage: Some(metadata.usage.into()),
            }),
            StreamEvent::Metadata(_) => None,
        }
    }
}
