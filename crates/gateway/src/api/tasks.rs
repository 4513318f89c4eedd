//! The simple task routes (`/api/classify`, `/api/generate`, `/api/analyze`): a small body a
//! caller can write by hand, turned into a Converse request for the model the route is mapped to.

use super::converse::{
    ContentBlock, ConverseRequest, ConverseResponse, InferenceConfig, Message, Role, SystemBlock,
    Usage,
};
use crate::error::GatewayError;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    Classify,
    Generate,
    Analyze,
}

impl Task {
    pub fn name(self) -> &'static str {
        match self {
            Self::Classify => "classify",
            Self::Generate => "generate",
            Self::Analyze => "analyze",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifyRequest {
    pub text: String,
    pub labels: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateRequest {
    pub prompt: String,
    #[serde(default)]
    pub system: Option<String>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub temperature: Option<f32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalyzeRequest {
    pub text: String,
    #[serde(default)]
    pub instructions: Option<String>,
}

/// The answer of a task route.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TaskResponse {
    pub task: Task,
    pub model: String,
    /// Classify only: the label the model chose, when it is one of the offered labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub text: String,
    pub stop_reason: String,
    pub usage: Usage,
}

fn single_turn(
    system: String,
    user: String,
    max_tokens: Option<u32>,
    temperature: Option<f32>,
) -> ConverseRequest {
    ConverseRequest {
        messages: vec![Message {
            role: Role::User,
            content: vec![ContentBlock::Text(user)],
        }],
        system: vec![SystemBlock::Text(system)],
        inference_config: Some(InferenceConfig {
            max_tokens,
            temperature,
            ..InferenceConfig::default()
        }),
        ..ConverseRequest::default()
    }
}

fn require_text(field: &str, value: &str) -> Result<(), GatewayError> {
    if value.trim().is_empty() {
        return Err(GatewayError::invalid(field, "must not be empty"));
    }
    Ok(())
}

impl ClassifyRequest {
    pub fn to_converse(&self) -> Result<ConverseRequest, GatewayError> {
        require_text("text", &self.text)?;
        if self.labels.len() < 2 {
            return Err(GatewayError::invalid(
                "labels",
                "at least two labels are required",
            ));
        }
        if let Some(i) = self.labels.iter().position(|l| l.trim().is_empty()) {
            return Err(GatewayError::invalid(
                format!("labels[{i}]"),
                "must not be empty",
            ));
        }
        let system = format!(
            "Classify the user's text into exactly one of these labels: {}. Reply with the label only.",
            self.labels.join(", ")
        );
        // Deterministic: classification should not vary between identical calls.
        Ok(single_turn(system, self.text.clone(), Some(20), Some(0.0)))
    }

    /// The offered label the reply names, if any (case and surrounding punctuation ignored).
    pub fn pick_label(&self, reply: &str) -> Option<String> {
        let cleaned = reply
            .trim()
            .trim_matches(|c: char| !c.is_alphanumeric())
            .to_lowercase();
        self.labels
            .iter()
            .find(|l| l.to_lowercase() == cleaned)
            .cloned()
    }
}

impl GenerateRequest {
    pub fn to_converse(&self) -> Result<ConverseRequest, GatewayError> {
        require_text("prompt", &self.prompt)?;
        let system = self
            .system
            .clone()
            .unwrap_or_else(|| "You are a helpful assistant.".to_owned());
        Ok(single_turn(
            system,
            self.prompt.clone(),
            self.max_tokens,
            self.temperature,
        ))
    }
}

impl AnalyzeRequest {
    pub fn to_converse(&self) -> Result<ConverseRequest, GatewayError> {
        require_text("text", &self.text)?;
        let instructions = self
            .instructions
            .clone()
            .unwrap_or_else(|| "Analyze the text: key points, sentiment and risks.".to_owned());
        Ok(single_turn(
            format!("You are an analyst. {instructions}"),
            self.text.clone(),
            None,
            None,
        ))
    }
}

impl TaskResponse {
    pub fn new(
        task: Task,
        model: String,
        response: &ConverseResponse,
        label: Option<String>,
    ) -> Self {
        Self {
            task,
            model,
            label,
            text: response.text(),
            stop_reason: response.stop_reason.clone(),
            usage: response.usage,
        }
    }
}
