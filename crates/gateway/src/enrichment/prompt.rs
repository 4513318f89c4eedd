//! The Converse request for a document's task, and the configuration it draws on (the model
//! to use and the named prompt templates).
//!
//! The task's instructions go in the system prompt and the document (or the rendered template)
//! is the user message, so the model sees the document as data to work on, not as instructions
//! from the operator.
//!
//! `ENRICHMENT_CONFIG` (JSON, every key optional):
//! ```json
//! { "model": "small", "max_tokens": 1024,
//!   "templates": { "tone": { "system": "You are an editor.", "model": "large",
//!                            "prompt": "Rewrite for {{audience}}:\n\n{{content}}" } } }
//! ```

use super::document::{Document, Task};
use crate::api::converse::{
    ContentBlock, ConverseRequest, InferenceConfig, Message, Role, SystemBlock,
};
use crate::config::{ConfigError, Invalid};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrichmentConfig {
    /// The model (id, alias or group of the gateway's configuration) tasks run on.
    #[serde(default = "default_model")]
    pub model: String,
    /// Answer length bound for every task, unless a template sets its own.
    #[serde(default = "default_max_tokens")]
    pub max_tokens: u32,
    /// Named prompt templates for `template` tasks.
    #[serde(default)]
    pub templates: BTreeMap<String, PromptTemplate>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptTemplate {
    /// The user message; `{{content}}` is the document, `{{name}}` a variable of the task.
    pub prompt: String,
    #[serde(default)]
    pub system: Option<String>,
    /// Overrides the configuration's `model` for this template.
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
}

fn default_model() -> String {
    "small".to_owned()
}

fn default_max_tokens() -> u32 {
    1024
}

impl Default for EnrichmentConfig {
    fn default() -> Self {
        Self {
            model: default_model(),
            max_tokens: default_max_tokens(),
            templates: BTreeMap::new(),
        }
    }
}

/// The variable every template must use: the document's content.
pub const CONTENT_PLACEHOLDER: &str = "content";

impl EnrichmentConfig {
    /// Parses and validates the JSON document in `var`; the error names the path.
    /// `known_model` says whether the gateway's configuration offers a model name.
    pub fn parse(
        var: &'static str,
        json: &str,
        known_model: impl Fn(&str) -> bool,
    ) -> Result<Self, ConfigError> {
        let config: Self = Invalid(var).read(json)?;
        config.validate(var, known_model)?;
        Ok(config)
    }

    pub fn validate(
        &self,
        var: &'static str,
        known_model: impl Fn(&str) -> bool,
    ) -> Result<(), ConfigError> {
        let invalid = Invalid(var);
        if !known_model(&self.model) {
            return Err(invalid.at(
                "model",
                format!(
                    "'{}' is not a model of the gateway's configuration",
                    self.model
                ),
            ));
        }
        if self.max_tokens == 0 {
            return Err(invalid.at("max_tokens", "must be at least 1"));
        }
        for (name, template) in &self.templates {
            let path = |key: &str| format!("templates.{name}.{key}");
            let names =
                placeholders(&template.prompt).map_err(|e| invalid.at(path("prompt"), e))?;
            if !names.iter().any(|n| n == CONTENT_PLACEHOLDER) {
                return Err(invalid.at(
                    path("prompt"),
                    "must contain {{content}}, where the document goes",
                ));
            }
            if let Some(model) = &template.model
                && !known_model(model)
            {
                return Err(invalid.at(
                    path("model"),
                    format!("'{model}' is not a model of the gateway's configuration"),
                ));
            }
            if template.max_tokens == Some(0) {
                return Err(invalid.at(path("max_tokens"), "must be at least 1"));
            }
        }
        Ok(())
    }

    /// The model name and Converse request for a document's task.
    pub fn request_for(
        &self,
        document: &Document,
    ) -> Result<(String, ConverseRequest), PromptError> {
        let deterministic = Some(0.0);
        let (system, user, model, max_tokens, temperature) = match &document.task {
            Task::Summarize => (
                Some(
                    "Summarize the document the user sends. Reply with the summary only: \
                     no preamble, no headings, no quotes around it."
                        .to_owned(),
                ),
                document.content.clone(),
                &self.model,
                self.max_tokens,
                None,
            ),
            Task::Classify { labels } => {
                let offered = labels
                    .iter()
                    .map(|l| format!("\"{l}\""))
                    .collect::<Vec<_>>()
                    .join(", ");
                (
                    Some(format!(
                        "Classify the document the user sends into exactly one of these labels: \
                         {offered}. Reply with the label only, exactly as written here, and \
                         nothing else."
                    )),
                    document.content.clone(),
                    &self.model,
                    self.max_tokens,
                    deterministic,
                )
            }
            Task::Extract { schema } => (
                Some(format!(
                    "Extract information from the document the user sends. Reply with one JSON \
                     object that satisfies this JSON Schema, and nothing else (no prose, no code \
                     fences):\n{schema}"
                )),
                document.content.clone(),
                &self.model,
                self.max_tokens,
                deterministic,
            ),
            Task::Template { name, variables } => {
                let template = self
                    .templates
                    .get(name)
                    .ok_or_else(|| PromptError::UnknownTemplate(name.clone()))?;
                let user = render(&template.prompt, &document.content, variables)?;
                (
                    template.system.clone(),
                    user,
                    template.model.as_ref().unwrap_or(&self.model),
                    template.max_tokens.unwrap_or(self.max_tokens),
                    None,
                )
            }
        };
        let request = ConverseRequest {
            messages: vec![Message {
                role: Role::User,
                content: vec![ContentBlock::Text(user)],
            }],
            system: system.map(SystemBlock::Text).into_iter().collect(),
            inference_config: Some(InferenceConfig {
                max_tokens: Some(max_tokens),
                temperature,
                ..InferenceConfig::default()
            }),
            ..ConverseRequest::default()
        };
        Ok((model.clone(), request))
    }
}

/// Why a document's task cannot become a request. Permanent: the document is marked `FAILED`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PromptError {
    #[error("no prompt template named '{0}' is configured")]
    UnknownTemplate(String),
    #[error("the template needs the variable '{0}', which the task does not give")]
    MissingVariable(String),
}

impl PromptError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownTemplate(_) => "unknown_template",
            Self::MissingVariable(_) => "missing_template_variable",
        }
    }
}

/// The `{{name}}` placeholders of a template, in order; an error for an unclosed or empty one.
pub fn placeholders(template: &str) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| "a '{{' is never closed by '}}'".to_owned())?;
        let name = after[..end].trim();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!(
                "'{{{{{name}}}}}' is not a placeholder: use letters, digits, '_' or '-'"
            ));
        }
        names.push(name.to_owned());
        rest = &after[end + 2..];
    }
    Ok(names)
}

/// Fills a template in one pass, so a value containing `{{…}}` is never expanded again.
fn render(
    template: &str,
    content: &str,
    variables: &BTreeMap<String, String>,
) -> Result<String, PromptError> {
    let mut out = String::with_capacity(template.len() + content.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        // Templates are validated at start-up, so every `{{` is closed.
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let name = after[..end].trim();
        if name == CONTENT_PLACEHOLDER {
            out.push_str(content);
        } else {
            let value = variables
                .get(name)
                .ok_or_else(|| PromptError::MissingVariable(name.to_owned()))?;
            out.push_str(value);
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrichment::document::Status;
    use serde_json::json;

    fn doc(task: Task) -> Document {
        Document {
            key: "k".into(),
            content: "The invoice is overdue.".into(),
            task,
            status: Status::Pending,
            version: 1,
        }
    }

    fn config() -> EnrichmentConfig {
        let json = r#"{"templates": {"tone": {"system": "You edit.", "model": "large",
            "prompt": "For {{ audience }}: {{content}}"}}}"#;
        EnrichmentConfig::parse("ENRICHMENT_CONFIG", json, |m| {
            ["small", "large"].contains(&m)
        })
        .unwrap()
    }

    fn system_text(request: &ConverseRequest) -> String {
        match request.system.first() {
            Some(SystemBlock::Text(t)) => t.clone(),
            _ => String::new(),
        }
    }

    fn user_text(request: &ConverseRequest) -> &str {
        match &request.messages[0].content[0] {
            ContentBlock::Text(t) => t,
            _ => "",
        }
    }

    #[test]
    fn each_task_puts_its_instructions_in_the_system_prompt() {
        let config = config();
        let (model, request) = config.request_for(&doc(Task::Summarize)).unwrap();
        assert_eq!(
            (model.as_str(), user_text(&request)),
            ("small", "The invoice is overdue.")
        );
        assert!(system_text(&request).starts_with("Summarize"));

        let (_, request) = config
            .request_for(&doc(Task::Classify {
                labels: vec!["billing".into(), "bug".into()],
            }))
            .unwrap();
        assert!(
            system_text(&request).contains("\"billing\", \"bug\""),
            "{}",
            system_text(&request)
        );
        assert_eq!(
            request.inference_config.as_ref().unwrap().temperature,
            Some(0.0)
        );

        let schema = json!({"type": "object", "required": ["due"]});
        let (_, request) = config
            .request_for(&doc(Task::Extract {
                schema: schema.clone(),
            }))
            .unwrap();
        assert!(system_text(&request).ends_with(&schema.to_string()));
    }

    #[test]
    fn templates_render_variables_and_content_once() {
        let config = config();
        let variables = BTreeMap::from([("audience".to_owned(), "{{content}} readers".to_owned())]);
        let (model, request) = config
            .request_for(&doc(Task::Template {
                name: "tone".into(),
                variables,
            }))
            .unwrap();
        assert_eq!(model, "large");
        assert_eq!(
            user_text(&request),
            "For {{content}} readers: The invoice is overdue."
        );
        assert_eq!(system_text(&request), "You edit.");

        let missing = Task::Template {
            name: "tone".into(),
            variables: BTreeMap::new(),
        };
        assert_eq!(
            config.request_for(&doc(missing)),
            Err(PromptError::MissingVariable("audience".into()))
        );
        let unknown = Task::Template {
            name: "nope".into(),
            variables: BTreeMap::new(),
        };
        assert_eq!(
            config.request_for(&doc(unknown)).unwrap_err().code(),
            "unknown_template"
        );
    }

    #[test]
    fn configuration_errors_name_the_path() {
        let known = |m: &str| m == "small";
        let err = |json: &str| {
            EnrichmentConfig::parse("ENRICHMENT_CONFIG", json, known)
                .unwrap_err()
                .to_string()
        };
        assert!(err(r#"{"model": "huge"}"#).contains("ENRICHMENT_CONFIG: model:"));
        assert!(err(r#"{"max_tokens": "many"}"#).contains("max_tokens"));
        assert!(
            err(r#"{"templates": {"t": {"prompt": "no content"}}}"#).contains("templates.t.prompt")
        );
        assert!(
            err(r#"{"templates": {"t": {"prompt": "{{content}} {{oops"}}}"#)
                .contains("templates.t.prompt")
        );
        assert!(
            err(r#"{"templates": {"t": {"prompt": "{{content}}", "model": "x"}}}"#)
                .contains("templates.t.model")
        );
        assert!(
            err(r#"{"templates": {"t": {"prompt": "{{content}}", "colour": 1}}}"#)
                .contains("templates.t")
        );
        assert!(EnrichmentConfig::default().validate("X", known).is_ok());
    }
}
