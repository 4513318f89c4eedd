//! `template.yaml`, read as the offline stack needs it: the parameters (at their Default unless
//! overridden), the conditions, and the resources the stack creates locally — DynamoDB tables,
//! SQS queues, SNS topics and subscriptions — and the functions with their environment and
//! event sources. Local names are the logical ids, so a resource added to the template exists
//! locally without a second definition.
//!
//! What is honoured locally: table keys, attribute definitions, global secondary indexes,
//! streams and TTL settings; queue timeouts, retention, delays, FIFO and redrive policies;
//! topics (FIFO), inline and standalone subscriptions (raw delivery, filter policies); Secrets
//! Manager secrets (a literal or generated value, referenced by ARN); each
//! function's `Environment.Variables` merged over `Globals`, its `Timeout` and its `SQS` and
//! `DynamoDB` events. Everything else (IAM, encryption, alarms, networking) is deploy-only.

mod events;
pub mod intrinsics;

pub use events::RuleSpec;
pub use intrinsics::{Evaluator, NoResources, ResourceAttributes};

use serde_json::Value as Json;
use serde_yaml::{Mapping, Value as Yaml};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TemplateError {
    #[error("template.yaml is not valid YAML: {0}")]
    Yaml(String),
    #[error("template.yaml: {path}: {message}")]
    At { path: String, message: String },
}

fn at(path: impl Into<String>, message: impl Into<String>) -> TemplateError {
    TemplateError::At {
        path: path.into(),
        message: message.into(),
    }
}

#[derive(Debug, Clone)]
struct Parameter {
    kind: String,
    default: Option<String>,
}

#[derive(Debug, Clone)]
struct Resource {
    logical_id: String,
    kind: String,
    condition: Option<String>,
    properties: Mapping,
    metadata: Mapping,
}

/// The parsed template with its parameter values.
#[derive(Debug, Clone)]
pub struct Template {
    parameters: BTreeMap<String, Parameter>,
    overrides: BTreeMap<String, String>,
    conditions: Mapping,
    globals_function: Mapping,
    resources: Vec<Resource>,
}

/// An `AWS::DynamoDB::Table`, by what matters locally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    pub logical_id: String,
    /// (attribute name, `S` | `N` | `B`)
    pub attributes: Vec<(String, String)>,
    /// (attribute name, `HASH` | `RANGE`)
    pub keys: Vec<(String, String)>,
    pub global_indexes: Vec<IndexSpec>,
    /// `NEW_AND_OLD_IMAGES`, ... when the table has a stream.
    pub stream_view_type: Option<String>,
    /// The TTL attribute when TTL is enabled.
    pub ttl_attribute: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSpec {
    pub name: String,
    pub keys: Vec<(String, String)>,
    pub projection_type: String,
    pub non_key_attributes: Vec<String>,
}

/// An `AWS::SQS::Queue`. The redrive policy refers to another queue, so it is evaluated once
/// every queue exists ([`Template::redrive_policy`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSpec {
    pub logical_id: String,
    pub fifo: bool,
    /// SQS attribute name → value (`VisibilityTimeout`, `MessageRetentionPeriod`, ...).
    pub attributes: Vec<(String, String)>,
    pub has_redrive_policy: bool,
}

/// A local queue's or topic's name: the logical id (`.fifo` appended when FIFO, as SQS and
/// SNS require).
fn local_name(logical_id: &str, fifo: bool) -> String {
    if fifo {
        format!("{logical_id}.fifo")
    } else {
        logical_id.to_owned()
    }
}

impl QueueSpec {
    pub fn name(&self) -> String {
        local_name(&self.logical_id, self.fifo)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    pub logical_id: String,
    pub fifo: bool,
}

impl TopicSpec {
    pub fn name(&self) -> String {
        local_name(&self.logical_id, self.fifo)
    }
}

/// An `AWS::SecretsManager::Secret`: its literal `SecretString`, or a random value of
/// `GenerateSecretString.PasswordLength` characters (what the deployed stack generates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSpec {
    pub logical_id: String,
    pub secret_string: Option<String>,
    pub generated_length: i64,
    pub exclude_punctuation: bool,
}

/// A subscription (`AWS::SNS::Subscription`, or an entry of a topic's `Subscription` list),
/// its references still unevaluated.
#[derive(Debug, Clone)]
pub struct SubscriptionSpec {
    pub logical_id: String,
    topic: Yaml,
    protocol: Yaml,
    endpoint: Yaml,
    raw_message_delivery: Option<Yaml>,
    filter_policy: Option<Yaml>,
    filter_policy_scope: Option<Yaml>,
}

/// A subscription with its references resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub topic_arn: String,
    pub protocol: String,
    pub endpoint: String,
    /// SNS subscription attributes (`RawMessageDelivery`, `FilterPolicy`, `FilterPolicyScope`).
    pub attributes: Vec<(String, String)>,
}

/// An `AWS::Serverless::Function` (the ones whose `Condition` holds).
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    pub logical_id: String,
    /// `Metadata.BuildProperties.Binary` (what cargo-lambda builds), else the logical id.
    pub binary: String,
    /// Seconds (`Timeout`, else `Globals`, else Lambda's 3).
    pub timeout_secs: u64,
    /// `Globals.Function.Environment.Variables` overlaid with the function's own.
    environment: Vec<(String, Yaml)>,
    events: Vec<(String, String, Mapping)>,
}

/// An event source of a function, its properties evaluated.
#[derive(Debug, Clone, PartialEq)]
pub struct EventSpec {
    pub name: String,
    /// `SQS`, `DynamoDB`, `HttpApi`, ...
    pub kind: String,
    pub properties: Json,
}

impl Resource {
    /// Property `name` evaluated to a string; `None` when absent or when it evaluates to none.
    fn string_property(
        &self,
        evaluator: &Evaluator,
        name: &str,
    ) -> Result<Option<String>, TemplateError> {
        match get(&self.properties, name) {
            Some(value) => {
                let path = format!("Resources.{}.Properties.{name}", self.logical_id);
                evaluator.string(value, &path)
            }
            None => Ok(None),
        }
    }
}

fn get<'m>(map: &'m Mapping, key: &str) -> Option<&'m Yaml> {
    map.get(key)
}

fn mapping(value: Option<&Yaml>) -> Mapping {
    match value {
        Some(Yaml::Mapping(m)) => m.clone(),
        _ => Mapping::new(),
    }
}

impl Template {
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let root: Yaml =
            serde_yaml::from_str(text).map_err(|e| TemplateError::Yaml(e.to_string()))?;
        let root = root
            .as_mapping()
            .ok_or_else(|| at("/", "the template is not a mapping"))?;
        let mut parameters = BTreeMap::new();
        for (name, body) in mapping(get(root, "Parameters")) {
            let name = name
                .as_str()
                .ok_or_else(|| at("Parameters", "parameter name is not a string"))?;
            let body = mapping(Some(&body));
            let default = match get(&body, "Default") {
                None => None,
                Some(Yaml::String(s)) => Some(s.clone()),
                Some(Yaml::Number(n)) => Some(n.to_string()),
                Some(Yaml::Bool(b)) => Some(b.to_string()),
                Some(other) => {
                    return Err(at(
                        format!("Parameters.{name}.Default"),
                        format!("unsupported {other:?}"),
                    ));
                }
            };
            let kind = get(&body, "Type")
                .and_then(Yaml::as_str)
                .unwrap_or("String")
                .to_owned();
            parameters.insert(name.to_owned(), Parameter { kind, default });
        }
        let globals = mapping(get(root, "Globals"));
        let mut resources = Vec::new();
        for (id, body) in mapping(get(root, "Resources")) {
            let id = id
                .as_str()
                .ok_or_else(|| at("Resources", "logical id is not a string"))?;
            let body = mapping(Some(&body));
            let kind = get(&body, "Type")
                .and_then(Yaml::as_str)
                .ok_or_else(|| at(format!("Resources.{id}"), "no Type"))?;
            resources.push(Resource {
                logical_id: id.to_owned(),
                kind: kind.to_owned(),
                condition: get(&body, "Condition")
                    .and_then(Yaml::as_str)
                    .map(str::to_owned),
                properties: mapping(get(&body, "Properties")),
                metadata: mapping(get(&body, "Metadata")),
            });
        }
        Ok(Self {
            parameters,
            overrides: BTreeMap::new(),
            conditions: mapping(get(root, "Conditions")),
            globals_function: mapping(get(&globals, "Function")),
            resources,
        })
    }

    pub fn from_file(path: &Path) -> Result<Self, TemplateError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| at(path.display().to_string(), e.to_string()))?;
        Self::parse(&text)
    }

    /// Overrides a parameter's Default, as `sam deploy --parameter-overrides` would.
    pub fn set_parameter(&mut self, name: &str, value: &str) -> Result<(), TemplateError> {
        if !self.parameters.contains_key(name) {
            return Err(at(format!("Parameters.{name}"), "no such parameter"));
        }
        self.overrides.insert(name.to_owned(), value.to_owned());
        Ok(())
    }

    /// A parameter's value: a string, or a list for `CommaDelimitedList` / `List<...>`.
    pub fn parameter(&self, name: &str) -> Result<Json, TemplateError> {
        let parameter = self
            .parameters
            .get(name)
            .ok_or_else(|| at(format!("Parameters.{name}"), "no such parameter"))?;
        let value = self
            .overrides
            .get(name)
            .or(parameter.default.as_ref())
            .ok_or_else(|| {
                at(
                    format!("Parameters.{name}"),
                    format!("has no Default; pass --param {name}=VALUE to the offline stack"),
                )
            })?;
        if parameter.kind == "CommaDelimitedList" || parameter.kind.starts_with("List<") {
            Ok(Json::Array(
                value
                    .split(',')
                    .map(|s| Json::String(s.trim().to_owned()))
                    .collect(),
            ))
        } else {
            Ok(Json::String(value.clone()))
        }
    }

    pub fn evaluator<'a>(&'a self, resources: &'a dyn ResourceAttributes) -> Evaluator<'a> {
        Evaluator::new(self, resources)
    }

    /// The resources of `kind` whose condition (if any) holds with these parameters.
    fn present(&self, kind: &str) -> Result<Vec<&Resource>, TemplateError> {
        let evaluator = self.evaluator(&NoResources);
        let mut out = Vec::new();
        for resource in self.resources.iter().filter(|r| r.kind == kind) {
            let present = match &resource.condition {
                Some(condition) => evaluator.condition(condition)?,
                None => true,
            };
            if present {
                out.push(resource);
            }
        }
        Ok(out)
    }

    pub fn tables(&self) -> Result<Vec<TableSpec>, TemplateError> {
        let evaluator = self.evaluator(&NoResources);
        let mut tables = Vec::new();
        for resource in self.present("AWS::DynamoDB::Table")? {
            let path = format!("Resources.{}.Properties", resource.logical_id);
            let props = evaluator
                .eval(
                    &Yaml::Mapping(only(&resource.properties, TABLE_PROPERTIES)),
                    &path,
                )?
                .unwrap_or(Json::Null);
            let pairs = |list: &Json, a: &str, b: &str| -> Vec<(String, String)> {
                list.as_array()
                    .map(|items| {
                        items
                            .iter()
                            .filter_map(|i| {
                                Some((
                                    i.get(a)?.as_str()?.to_owned(),
                                    i.get(b)?.as_str()?.to_owned(),
                                ))
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let keys = pairs(&props["KeySchema"], "AttributeName", "KeyType");
            if keys.is_empty() {
                return Err(at(format!("{path}.KeySchema"), "a table needs a KeySchema"));
            }
            let global_indexes = props["GlobalSecondaryIndexes"]
                .as_array()
                .map(|indexes| {
                    indexes
                        .iter()
                        .map(|index| IndexSpec {
                            name: index["IndexName"].as_str().unwrap_or_default().to_owned(),
                            keys: pairs(&index["KeySchema"], "AttributeName", "KeyType"),
                            projection_type: index["Projection"]["ProjectionType"]
                                .as_str()
                                .unwrap_or("ALL")
                                .to_owned(),
                            non_key_attributes: index["Projection"]["NonKeyAttributes"]
                                .as_array()
                                .map(|a| {
                                    a.iter()
                                        .filter_map(|v| v.as_str().map(str::to_owned))
                                        .collect()
                                })
                                .unwrap_or_default(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let ttl = &props["TimeToLiveSpecification"];
            let ttl_enabled =
                matches!(&ttl["Enabled"], Json::Bool(true)) || ttl["Enabled"] == "true";
            tables.push(TableSpec {
                logical_id: resource.logical_id.clone(),
                attributes: pairs(
                    &props["AttributeDefinitions"],
                    "AttributeName",
                    "AttributeType",
                ),
                keys,
                global_indexes,
                stream_view_type: props["StreamSpecification"]["StreamViewType"]
                    .as_str()
                    .map(str::to_owned),
                ttl_attribute: ttl_enabled
                    .then(|| ttl["AttributeName"].as_str().map(str::to_owned))
                    .flatten(),
            });
        }
        Ok(tables)
    }

    pub fn queues(&self) -> Result<Vec<QueueSpec>, TemplateError> {
        let evaluator = self.evaluator(&NoResources);
        let mut queues = Vec::new();
        for resource in self.present("AWS::SQS::Queue")? {
            let mut attributes = Vec::new();
            for name in QUEUE_ATTRIBUTES {
                if let Some(value) = resource.string_property(&evaluator, name)? {
                    attributes.push(((*name).to_owned(), value));
                }
            }
            let fifo = resource
                .string_property(&evaluator, "FifoQueue")?
                .as_deref()
                == Some("true");
            if fifo {
                attributes.push(("FifoQueue".to_owned(), "true".to_owned()));
            }
            queues.push(QueueSpec {
                logical_id: resource.logical_id.clone(),
                fifo,
                attributes,
                has_redrive_policy: get(&resource.properties, "RedrivePolicy").is_some(),
            });
        }
        Ok(queues)
    }

    /// The queue's `RedrivePolicy` as the JSON SQS takes, once the dead-letter queue exists.
    pub fn redrive_policy(
        &self,
        queue_logical_id: &str,
        resources: &dyn ResourceAttributes,
    ) -> Result<Option<String>, TemplateError> {
        let Some(resource) = self
            .resources
            .iter()
            .find(|r| r.logical_id == queue_logical_id)
        else {
            return Ok(None);
        };
        let Some(policy) = get(&resource.properties, "RedrivePolicy") else {
            return Ok(None);
        };
        let path = format!("Resources.{queue_logical_id}.Properties.RedrivePolicy");
        let policy = self.evaluator(resources).eval(policy, &path)?;
        Ok(match policy {
            None => None,
            Some(Json::String(s)) => Some(s),
            Some(json) => Some(json.to_string()),
        })
    }

    pub fn topics(&self) -> Result<Vec<TopicSpec>, TemplateError> {
        let evaluator = self.evaluator(&NoResources);
        let mut topics = Vec::new();
        for resource in self.present("AWS::SNS::Topic")? {
            let fifo = resource
                .string_property(&evaluator, "FifoTopic")?
                .as_deref()
                == Some("true");
            topics.push(TopicSpec {
                logical_id: resource.logical_id.clone(),
                fifo,
            });
        }
        Ok(topics)
    }

    pub fn secrets(&self) -> Result<Vec<SecretSpec>, TemplateError> {
        let evaluator = self.evaluator(&NoResources);
        let mut secrets = Vec::new();
        for resource in self.present("AWS::SecretsManager::Secret")? {
            let path = format!("Resources.{}.Properties", resource.logical_id);
            let secret_string = resource.string_property(&evaluator, "SecretString")?;
            let generate = get(&resource.properties, "GenerateSecretString")
                .and_then(Yaml::as_mapping)
                .cloned()
                .unwrap_or_default();
            let field = |name: &str| -> Result<Option<String>, TemplateError> {
                match get(&generate, name) {
                    Some(v) => evaluator.string(v, &format!("{path}.GenerateSecretString.{name}")),
                    None => Ok(None),
                }
            };
            let generated_length = match field("PasswordLength")? {
                Some(n) => n.parse().map_err(|_| {
                    at(
                        format!("{path}.GenerateSecretString.PasswordLength"),
                        "must be a number",
                    )
                })?,
                None => 32, // Secrets Manager's default
            };
            secrets.push(SecretSpec {
                logical_id: resource.logical_id.clone(),
                secret_string,
                generated_length,
                exclude_punctuation: field("ExcludePunctuation")?.as_deref() == Some("true"),
            });
        }
        Ok(secrets)
    }

    /// Standalone subscriptions and every topic's inline `Subscription` entries.
    pub fn subscriptions(&self) -> Result<Vec<SubscriptionSpec>, TemplateError> {
        let mut out = Vec::new();
        for resource in self.present("AWS::SNS::Subscription")? {
            let p = &resource.properties;
            out.push(SubscriptionSpec {
                logical_id: resource.logical_id.clone(),
                topic: get(p, "TopicArn").cloned().unwrap_or(Yaml::Null),
                protocol: get(p, "Protocol").cloned().unwrap_or(Yaml::Null),
                endpoint: get(p, "Endpoint").cloned().unwrap_or(Yaml::Null),
                raw_message_delivery: get(p, "RawMessageDelivery").cloned(),
                filter_policy: get(p, "FilterPolicy").cloned(),
                filter_policy_scope: get(p, "FilterPolicyScope").cloned(),
            });
        }
        for resource in self.present("AWS::SNS::Topic")? {
            if let Some(Yaml::Sequence(inline)) = get(&resource.properties, "Subscription") {
                for (i, entry) in inline.iter().enumerate() {
                    let entry = mapping(Some(entry));
                    let mut topic = Mapping::new();
                    topic.insert(Yaml::from("Ref"), Yaml::from(resource.logical_id.clone()));
                    out.push(SubscriptionSpec {
                        logical_id: format!("{}.Subscription[{i}]", resource.logical_id),
                        topic: Yaml::Mapping(topic),
                        protocol: get(&entry, "Protocol").cloned().unwrap_or(Yaml::Null),
                        endpoint: get(&entry, "Endpoint").cloned().unwrap_or(Yaml::Null),
                        raw_message_delivery: None,
                        filter_policy: None,
                        filter_policy_scope: None,
                    });
                }
            }
        }
        Ok(out)
    }

    /// A subscription's references, resolved against the local resources.
    pub fn resolve_subscription(
        &self,
        spec: &SubscriptionSpec,
        resources: &dyn ResourceAttributes,
    ) -> Result<Subscription, TemplateError> {
        let evaluator = self.evaluator(resources);
        let path = format!("Resources.{}.Properties", spec.logical_id);
        let required = |value: &Yaml, name: &str| -> Result<String, TemplateError> {
            evaluator
                .string(value, &format!("{path}.{name}"))?
                .ok_or_else(|| at(format!("{path}.{name}"), "is required"))
        };
        let mut attributes = Vec::new();
        if let Some(raw) = &spec.raw_message_delivery
            && let Some(raw) = evaluator.string(raw, &format!("{path}.RawMessageDelivery"))?
        {
            attributes.push(("RawMessageDelivery".to_owned(), raw));
        }
        if let Some(policy) = &spec.filter_policy
            && let Some(policy) = evaluator.eval(policy, &format!("{path}.FilterPolicy"))?
        {
            let policy = match policy {
                Json::String(s) => s,
                other => other.to_string(),
            };
            attributes.push(("FilterPolicy".to_owned(), policy));
        }
        if let Some(scope) = &spec.filter_policy_scope
            && let Some(scope) = evaluator.string(scope, &format!("{path}.FilterPolicyScope"))?
        {
            attributes.push(("FilterPolicyScope".to_owned(), scope));
        }
        Ok(Subscription {
            topic_arn: required(&spec.topic, "TopicArn")?,
            protocol: required(&spec.protocol, "Protocol")?,
            endpoint: required(&spec.endpoint, "Endpoint")?,
            attributes,
        })
    }

    pub fn functions(&self) -> Result<Vec<FunctionSpec>, TemplateError> {
        let evaluator = self.evaluator(&NoResources);
        let global_env = mapping(get(
            &mapping(get(&self.globals_function, "Environment")),
            "Variables",
        ));
        let mut functions = Vec::new();
        for resource in self.present("AWS::Serverless::Function")? {
            let path = format!("Resources.{}", resource.logical_id);
            let binary = get(
                &mapping(get(&resource.metadata, "BuildProperties")),
                "Binary",
            )
            .and_then(Yaml::as_str)
            .unwrap_or(&resource.logical_id)
            .to_owned();
            let mut environment: Vec<(String, Yaml)> = Vec::new();
            let own_env = mapping(get(
                &mapping(get(&resource.properties, "Environment")),
                "Variables",
            ));
            for (name, value) in global_env.iter().chain(own_env.iter()) {
                let name = name.as_str().ok_or_else(|| {
                    at(
                        format!("{path}.Environment"),
                        "variable name is not a string",
                    )
                })?;
                environment.retain(|(n, _)| n != name);
                environment.push((name.to_owned(), value.clone()));
            }
            let timeout = get(&resource.properties, "Timeout")
                .or_else(|| get(&self.globals_function, "Timeout"));
            let timeout_secs = match timeout {
                Some(t) => evaluator
                    .string(t, &format!("{path}.Properties.Timeout"))?
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(3),
                None => 3,
            };
            let mut events = Vec::new();
            for (name, event) in mapping(get(&resource.properties, "Events")) {
                let event = mapping(Some(&event));
                let name = name.as_str().unwrap_or_default().to_owned();
                let kind = get(&event, "Type")
                    .and_then(Yaml::as_str)
                    .unwrap_or_default()
                    .to_owned();
                events.push((name, kind, mapping(get(&event, "Properties"))));
            }
            functions.push(FunctionSpec {
                logical_id: resource.logical_id.clone(),
                binary,
                timeout_secs,
                environment,
                events,
            });
        }
        Ok(functions)
    }

    /// The function's environment as deployed: every variable evaluated against the local
    /// resources (a variable that evaluates to `AWS::NoValue` is absent).
    pub fn environment(
        &self,
        function: &FunctionSpec,
        resources: &dyn ResourceAttributes,
    ) -> Result<BTreeMap<String, String>, TemplateError> {
        let evaluator = self.evaluator(resources);
        let mut env = BTreeMap::new();
        for (name, value) in &function.environment {
            let path = format!(
                "Resources.{}.Properties.Environment.Variables.{name}",
                function.logical_id
            );
            if let Some(value) = evaluator.string(value, &path)? {
                env.insert(name.clone(), value);
            }
        }
        Ok(env)
    }

    /// The function's event sources of `kind` (`SQS`, `DynamoDB`, ...), properties evaluated.
    pub fn events(
        &self,
        function: &FunctionSpec,
        kind: &str,
        resources: &dyn ResourceAttributes,
    ) -> Result<Vec<EventSpec>, TemplateError> {
        let evaluator = self.evaluator(resources);
        let mut out = Vec::new();
        for (name, event_kind, properties) in function.events.iter().filter(|(_, k, _)| k == kind) {
            let path = format!(
                "Resources.{}.Properties.Events.{name}.Properties",
                function.logical_id
            );
            let properties = evaluator
                .eval(&Yaml::Mapping(properties.clone()), &path)?
                .unwrap_or(Json::Null);
            out.push(EventSpec {
                name: name.clone(),
                kind: event_kind.clone(),
                properties,
            });
        }
        Ok(out)
    }
}

/// Table properties read locally; the rest (encryption, PITR, protection) is deploy-only and
/// never evaluated.
const TABLE_PROPERTIES: &[&str] = &[
    "AttributeDefinitions",
    "KeySchema",
    "GlobalSecondaryIndexes",
    "StreamSpecification",
    "TimeToLiveSpecification",
];

/// Queue properties that are SQS attributes of the same name.
const QUEUE_ATTRIBUTES: &[&str] = &[
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "DelaySeconds",
    "MaximumMessageSize",
    "ContentBasedDeduplication",
];

fn only(map: &Mapping, keys: &[&str]) -> Mapping {
    map.iter()
        .filter(|(k, _)| k.as_str().is_some_and(|k| keys.contains(&k)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[cfg(test)]
mod rollback_tests;
#[cfg(test)]
mod security_tests;
#[cfg(test)]
mod tests;
