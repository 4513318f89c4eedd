//! The documents table's items as the processor sees them.
//!
//! Written by applications: `pk` (S), `content` (S), `task` (M, or S for `summarize`),
//! `status` (S, `PENDING`), `version` (N, bumped with every content change).
//! Written by the processor: `attempts`, `attempted_version`, `last_error` while retrying;
//! `result`, `model`, `usage`, `processed_at`, `enriched_version` with `ENRICHED`;
//! `error`, `failed_at` with `FAILED`.
//!
//! Task shapes (as DynamoDB maps, shown as JSON):
//! - `{"type": "summarize"}` (or the string `"summarize"`)
//! - `{"type": "classify", "labels": ["billing", "bug", "other"]}` (a list or a string set)
//! - `{"type": "extract", "schema": {"type": "object", "required": ["name"], "properties": {...}}}`
//!   (the schema as a map, or as a JSON string)
//! - `{"type": "template", "name": "tone", "variables": {"audience": "executives"}}`

use super::schema;
use serde_json::{Map, Number, Value};
use std::collections::BTreeMap;

/// Attribute names of a document item, in one place.
pub mod attr {
    pub const KEY: &str = "pk";
    pub const CONTENT: &str = "content";
    pub const TASK: &str = "task";
    pub const STATUS: &str = "status";
    pub const VERSION: &str = "version";
    /// Failed attempts at `attempted_version` (a new version starts again from zero).
    pub const ATTEMPTS: &str = "attempts";
    pub const ATTEMPTED_VERSION: &str = "attempted_version";
    /// `{code, message}` of the latest failed attempt.
    pub const LAST_ERROR: &str = "last_error";
    pub const RESULT: &str = "result";
    pub const MODEL: &str = "model";
    pub const USAGE: &str = "usage";
    pub const PROCESSED_AT: &str = "processed_at";
    pub const ENRICHED_VERSION: &str = "enriched_version";
    /// `{code, message}` of the failure that made the document `FAILED`.
    pub const ERROR: &str = "error";
    pub const FAILED_AT: &str = "failed_at";

    /// What the processor writes while a document stays `PENDING`. A MODIFY record that changes
    /// nothing else is the processor's own bookkeeping and never work (the loop guard).
    pub const BOOKKEEPING: [&str; 3] = [ATTEMPTS, ATTEMPTED_VERSION, LAST_ERROR];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    Enriched,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Enriched => "ENRICHED",
            Self::Failed => "FAILED",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "PENDING" => Some(Self::Pending),
            "ENRICHED" => Some(Self::Enriched),
            "FAILED" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// What the application asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Task {
    Summarize,
    /// The answer must be exactly one of `labels`.
    Classify {
        labels: Vec<String>,
    },
    /// The answer must be a JSON object satisfying `schema` (see [`schema`] for the subset).
    Extract {
        schema: Value,
    },
    /// A prompt template from configuration, with `{{name}}` placeholders filled from
    /// `variables` (and `{{content}}` from the document).
    Template {
        name: String,
        variables: BTreeMap<String, String>,
    },
}

impl Task {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Summarize => "summarize",
            Self::Classify { .. } => "classify",
            Self::Extract { .. } => "extract",
            Self::Template { .. } => "template",
        }
    }
}

/// A document that needs work: a stream record's new image, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub key: String,
    pub content: String,
    pub task: Task,
    pub status: Status,
    pub version: u64,
}

/// Why an image is not a usable document; names the attribute.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct DocumentError {
    pub field: String,
    pub message: String,
}

fn bad(field: impl Into<String>, message: impl Into<String>) -> DocumentError {
    DocumentError {
        field: field.into(),
        message: message.into(),
    }
}

/// Largest number of labels a classify task may offer (they all go into the prompt).
pub const MAX_LABELS: usize = 100;

impl Document {
    /// Parses a DynamoDB-JSON image (`{"pk": {"S": "a"}, "version": {"N": "1"}, ...}`).
    pub fn from_image(image: &Map<String, Value>) -> Result<Self, DocumentError> {
        let item = unmarshal_image(image)?;
        Self::from_item(&item)
    }

    /// Parses an item already in plain JSON (`{"pk": "a", "version": 1, ...}`).
    pub fn from_item(item: &Map<String, Value>) -> Result<Self, DocumentError> {
        let key = string(item, attr::KEY)?;
        let version = item.get(attr::VERSION).and_then(Value::as_u64);
        let version = version.ok_or_else(|| {
            bad(
                attr::VERSION,
                "must be a whole number (bump it with every change)",
            )
        })?;
        let status = item
            .get(attr::STATUS)
            .and_then(Value::as_str)
            .and_then(Status::parse)
            .ok_or_else(|| bad(attr::STATUS, "must be PENDING, ENRICHED or FAILED"))?;
        let content = string(item, attr::CONTENT)?;
        if content.trim().is_empty() {
            return Err(bad(attr::CONTENT, "must not be empty"));
        }
        let task = parse_task(
            item.get(attr::TASK)
                .ok_or_else(|| bad(attr::TASK, "is required"))?,
        )?;
        Ok(Self {
            key,
            content,
            task,
            status,
            version,
        })
    }
}

fn string(item: &Map<String, Value>, field: &str) -> Result<String, DocumentError> {
    match item.get(field) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(bad(field, "must be a string")),
        None => Err(bad(field, "is required")),
    }
}

fn parse_task(value: &Value) -> Result<Task, DocumentError> {
    let (kind, fields) = match value {
        Value::String(kind) => (kind.as_str(), None),
        Value::Object(fields) => (
            fields
                .get("type")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("task.type", "is required"))?,
            Some(fields),
        ),
        _ => return Err(bad(attr::TASK, "must be a map with a `type`, or a string")),
    };
    let field = |name: &str| fields.and_then(|f| f.get(name));
    match kind {
        "summarize" => Ok(Task::Summarize),
        "classify" => {
            let labels = field("labels")
                .and_then(Value::as_array)
                .ok_or_else(|| bad("task.labels", "must be a list of strings"))?;
            let mut out: Vec<String> = Vec::with_capacity(labels.len());
            for label in labels {
                let label = label
                    .as_str()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .ok_or_else(|| bad("task.labels", "every label must be a non-empty string"))?;
                if !out.iter().any(|l| l.eq_ignore_ascii_case(label)) {
                    out.push(label.to_owned());
                }
            }
            if out.len() < 2 || out.len() > MAX_LABELS {
                return Err(bad(
                    "task.labels",
                    format!("must offer 2 to {MAX_LABELS} distinct labels"),
                ));
            }
            Ok(Task::Classify { labels: out })
        }
        "extract" => {
            let schema = match field("schema") {
                Some(Value::String(json)) => serde_json::from_str(json)
                    .map_err(|e| bad("task.schema", format!("is not JSON: {e}")))?,
                Some(schema @ Value::Object(_)) => schema.clone(),
                _ => {
                    return Err(bad(
                        "task.schema",
                        "must be a JSON Schema (a map or a JSON string)",
                    ));
                }
            };
            schema::check_extract_schema(&schema).map_err(|e| bad("task.schema", e))?;
            Ok(Task::Extract { schema })
        }
        "template" => {
            let name = field("name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .ok_or_else(|| bad("task.name", "must name a configured template"))?;
            let variables = match field("variables") {
                None | Some(Value::Null) => BTreeMap::new(),
                Some(Value::Object(vars)) => vars
                    .iter()
                    .map(|(k, v)| match v {
                        Value::String(s) => Ok((k.clone(), s.clone())),
                        Value::Number(n) => Ok((k.clone(), n.to_string())),
                        Value::Bool(b) => Ok((k.clone(), b.to_string())),
                        _ => Err(bad(format!("task.variables.{k}"), "must be a string")),
                    })
                    .collect::<Result<_, _>>()?,
                Some(_) => return Err(bad("task.variables", "must be a map of strings")),
            };
            Ok(Task::Template {
                name: name.to_owned(),
                variables,
            })
        }
        other => Err(bad(
            "task.type",
            format!("unknown task '{other}': expected summarize, classify, extract or template"),
        )),
    }
}

/// A DynamoDB-JSON image → a plain JSON object. Binary values become their base64 text (as
/// they travel in the Lambda event); sets become lists.
pub fn unmarshal_image(image: &Map<String, Value>) -> Result<Map<String, Value>, DocumentError> {
    image
        .iter()
        .map(|(name, value)| {
            unmarshal(value)
                .map(|v| (name.clone(), v))
                .map_err(|e| bad(name.clone(), e))
        })
        .collect()
}

/// One DynamoDB-JSON attribute value (`{"S": "x"}`, `{"N": "1"}`, `{"M": {...}}`, …) → JSON.
pub fn unmarshal(value: &Value) -> Result<Value, String> {
    let Some((tag, inner)) = value
        .as_object()
        .filter(|o| o.len() == 1)
        .and_then(|o| o.iter().next())
    else {
        return Err("not a DynamoDB attribute value".to_owned());
    };
    let number = |n: &Value| -> Result<Value, String> {
        let text = n.as_str().ok_or("N must be a string")?;
        text.trim()
            .parse::<Number>()
            .map(Value::Number)
            .map_err(|_| format!("'{text}' is not a number"))
    };
    match tag.as_str() {
        "S" | "B" => Ok(Value::String(
            inner.as_str().ok_or("S must be a string")?.to_owned(),
        )),
        "N" => number(inner),
        "BOOL" => inner
            .as_bool()
            .map(Value::Bool)
            .ok_or_else(|| "BOOL must be true or false".to_owned()),
        "NULL" => Ok(Value::Null),
        "M" => {
            let map = inner.as_object().ok_or("M must be a map")?;
            map.iter()
                .map(|(k, v)| unmarshal(v).map(|v| (k.clone(), v)))
                .collect::<Result<Map<_, _>, _>>()
                .map(Value::Object)
        }
        "L" => list(inner, tag)?
            .iter()
            .map(unmarshal)
            .collect::<Result<_, _>>()
            .map(Value::Array),
        "SS" | "BS" => Ok(Value::Array(
            list(inner, tag)?
                .iter()
                .map(|s| s.as_str().map(|s| Value::String(s.to_owned())))
                .collect::<Option<_>>()
                .ok_or_else(|| format!("{tag} must hold strings"))?,
        )),
        "NS" => list(inner, tag)?
            .iter()
            .map(number)
            .collect::<Result<_, _>>()
            .map(Value::Array),
        other => Err(format!("unknown attribute type '{other}'")),
    }
}

fn list<'v>(value: &'v Value, tag: &str) -> Result<&'v Vec<Value>, String> {
    value
        .as_array()
        .ok_or_else(|| format!("{tag} must be a list"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn image(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn parses_each_task_shape() {
        let base = |task: Value| {
            image(
                json!({"pk": {"S": "doc-1"}, "version": {"N": "3"}, "status": {"S": "PENDING"},
                         "content": {"S": "Hello"}, "task": task}),
            )
        };
        let doc = Document::from_image(&base(json!({"S": "summarize"}))).unwrap();
        assert_eq!(
            (doc.key.as_str(), doc.version, doc.task),
            ("doc-1", 3, Task::Summarize)
        );

        let doc = Document::from_image(&base(json!({"M": {"type": {"S": "classify"},
            "labels": {"SS": ["bug", "billing", "Bug"]}}})))
        .unwrap();
        assert_eq!(
            doc.task,
            Task::Classify {
                labels: vec!["bug".into(), "billing".into()]
            }
        );

        let schema = json!({"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}});
        let as_string = Document::from_image(&base(json!({"M": {"type": {"S": "extract"},
            "schema": {"S": schema.to_string()}}})))
        .unwrap();
        assert_eq!(
            as_string.task,
            Task::Extract {
                schema: schema.clone()
            }
        );
        let as_map = Document::from_image(&base(
            json!({"M": {"type": {"S": "extract"}, "schema": {"M": {
            "type": {"S": "object"}, "required": {"L": [{"S": "name"}]},
            "properties": {"M": {"name": {"M": {"type": {"S": "string"}}}}}}}}}),
        ))
        .unwrap();
        assert_eq!(as_map.task, Task::Extract { schema });

        let doc = Document::from_image(&base(
            json!({"M": {"type": {"S": "template"}, "name": {"S": "tone"},
            "variables": {"M": {"audience": {"S": "execs"}, "limit": {"N": "3"}}}}}),
        ))
        .unwrap();
        let Task::Template { name, variables } = doc.task else {
            panic!("not a template")
        };
        assert_eq!(name, "tone");
        assert_eq!(variables.get("limit").map(String::as_str), Some("3"));
    }

    #[test]
    fn errors_name_the_attribute() {
        let err = |value: Value| Document::from_image(&image(value)).unwrap_err().field;
        let ok = json!({"pk": {"S": "a"}, "version": {"N": "1"}, "status": {"S": "PENDING"},
                        "content": {"S": "x"}, "task": {"S": "summarize"}});
        let with = |k: &str, v: Value| {
            let mut o = ok.clone();
            o[k] = v;
            o
        };
        assert_eq!(err(with("version", json!({"S": "1"}))), "version");
        assert_eq!(err(with("version", json!({"N": "1.5"}))), "version");
        assert_eq!(err(with("status", json!({"S": "DONE"}))), "status");
        assert_eq!(err(with("content", json!({"S": "  "}))), "content");
        assert_eq!(err(with("task", json!({"S": "translate"}))), "task.type");
        assert_eq!(
            err(with(
                "task",
                json!({"M": {"type": {"S": "classify"}, "labels": {"L": [{"S": "one"}]}}})
            )),
            "task.labels"
        );
        assert_eq!(
            err(with(
                "task",
                json!({"M": {"type": {"S": "extract"}, "schema": {"S": "{"}}})
            )),
            "task.schema"
        );
        assert_eq!(
            err(with(
                "task",
                json!({"M": {"type": {"S": "extract"}, "schema": {"M": {"type": {"S": "string"}}}}})
            )),
            "task.schema"
        );
        assert_eq!(
            err(with("task", json!({"M": {"type": {"S": "template"}}}))),
            "task.name"
        );
        assert_eq!(err(with("content", json!({"X": "?"}))), "content");
    }

    #[test]
    fn unmarshals_every_attribute_type() {
        let value = json!({"M": {
            "s": {"S": "x"}, "n": {"N": "-1.5"}, "b": {"B": "AAE="}, "t": {"BOOL": true}, "z": {"NULL": true},
            "l": {"L": [{"N": "1"}, {"S": "y"}]}, "ss": {"SS": ["a"]}, "ns": {"NS": ["2"]}, "bs": {"BS": ["AA=="]}}});
        assert_eq!(
            unmarshal(&value).unwrap(),
            json!({"s": "x", "n": -1.5, "b": "AAE=", "t": true, "z": null, "l": [1, "y"], "ss": ["a"], "ns": [2], "bs": ["AA=="]})
        );
        assert!(unmarshal(&json!({"N": "abc"})).is_err());
        assert!(unmarshal(&json!({"S": "a", "N": "1"})).is_err());
    }
}
