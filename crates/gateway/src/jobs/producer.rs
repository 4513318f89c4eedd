//! Jobs from other systems' messages: the `gateway.job.v1` schema that any producer sends
//! straight to the jobs queue, or as the detail of a `GenAI Job Requested` EventBridge event
//! routed there by the bus's rule; and the per-producer policy that turns a producer's
//! identity into a tenant, a principal, a model allow-list and limits.
//!
//! IAM on the queue (and the bus's resource policy) is the real gate; this policy names what
//! an admitted producer may do. A message that breaks it is dead-lettered with its reason
//! (see [`Rejection`]), never run and never dropped silently.
//!
//! ```json
//! {"schema": "gateway.job.v1", "producer": "crm", "idempotency_id": "order-1234",
//!  "model": "haiku", "request": {"converse": {"messages": [...]}},
//!  "metadata": {"order": "1234"}, "callback_url": "https://hooks.example.com/genai"}
//! ```

use super::model::SubmitJob;
use crate::api::converse::ConverseRequest;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// The one schema version this worker reads.
pub const SCHEMA_V1: &str = "gateway.job.v1";
/// The EventBridge detail-type that asks for a job.
pub const DETAIL_TYPE_REQUESTED: &str = "GenAI Job Requested";
/// The largest message any producer may send (SQS's own limit).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// A producer's default message limit.
pub const DEFAULT_PRODUCER_MESSAGE_BYTES: usize = 64 * 1024;
/// The longest idempotency id.
pub const MAX_IDEMPOTENCY_ID_CHARS: usize = 128;
/// The origin of a producer's jobs is this prefix and the producer name.
pub const ORIGIN_PRODUCER_PREFIX: &str = "producer:";

/// What one producer may do: configured per deployment (`JOB_PRODUCERS`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProducerPolicy {
    /// The tenant its jobs belong to, are limited and billed as, and readable by.
    pub tenant: String,
    /// A gateway key of that tenant whose limits, budget and allow-list apply too.
    #[serde(default)]
    pub key_id: Option<String>,
    /// The models it may ask for (names, aliases or groups); empty: every configured model.
    #[serde(default)]
    pub models: Vec<String>,
    /// SQS `SenderId`s (IAM user or role ids) it sends as; empty: any sender the queue's IAM
    /// lets in. Checked on direct messages only.
    #[serde(default)]
    pub sender_ids: Vec<String>,
    /// EventBridge `source` values it publishes under; empty: it may not use the bus.
    #[serde(default)]
    pub event_sources: Vec<String>,
    /// Its largest message, in bytes (at most [`MAX_MESSAGE_BYTES`]).
    #[serde(default = "default_message_bytes")]
    pub max_message_bytes: usize,
    /// Hosts its jobs may call back; empty: no callbacks.
    #[serde(default)]
    pub callback_hosts: Vec<String>,
}

fn default_message_bytes() -> usize {
    DEFAULT_PRODUCER_MESSAGE_BYTES
}

/// Every producer by name.
#[derive(Debug, Clone, Default)]
pub struct Producers(pub HashMap<String, ProducerPolicy>);

impl Producers {
    /// Parses `{"<name>": {policy}, ...}` and checks each policy; the error names the field.
    pub fn parse(json: &str) -> Result<Self, String> {
        let mut deserializer = serde_json::Deserializer::from_str(json);
        let producers: HashMap<String, ProducerPolicy> =
            serde_path_to_error::deserialize(&mut deserializer)
                .map_err(|e| format!("JOB_PRODUCERS: {}: {}", e.path(), e.inner()))?;
        for (name, policy) in &producers {
            if !crate::controls::keys::valid_tenant(&policy.tenant) {
                return Err(format!(
                    "JOB_PRODUCERS: {name}.tenant is not a usable tenant"
                ));
            }
            if policy.max_message_bytes == 0 || policy.max_message_bytes > MAX_MESSAGE_BYTES {
                return Err(format!(
                    "JOB_PRODUCERS: {name}.max_message_bytes must be 1 to {MAX_MESSAGE_BYTES}"
                ));
            }
        }
        Ok(Self(producers))
    }
}

/// The request of a producer message: a Converse body or an OpenAI chat body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProducerRequest {
    #[serde(default)]
    pub converse: Option<ConverseRequest>,
    #[serde(default)]
    pub chat: Option<Value>,
}

/// `gateway.job.v1`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProducerMessage {
    pub schema: String,
    pub producer: String,
    /// Same producer and id twice: one job. Default: the SQS message id or EventBridge event id.
    #[serde(default)]
    pub idempotency_id: Option<String>,
    /// Optional; when given it must be the producer's tenant.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Fills the request's model when it names none; must match it when it does.
    #[serde(default)]
    pub model: Option<String>,
    pub request: ProducerRequest,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub callback_url: Option<String>,
    #[serde(default)]
    pub priority: Option<String>,
}

/// How a producer message reached the worker: who vouches for the sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// Sent straight to the queue: SQS's `SenderId`, and the message id.
    Sqs {
        message_id: String,
        sender_id: Option<String>,
    },
    /// Routed by the bus: the event's `source` and id.
    EventBridge { event_id: String, source: String },
}

/// A producer message, read and identified, not yet authorised.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub message: ProducerMessage,
    pub transport: Transport,
    pub size: usize,
}

/// Why a producer message is dead-lettered: a stable code and a reason without secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub code: &'static str,
    pub reason: String,
}

impl Rejection {
    pub fn new(code: &'static str, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }
}

/// `None`: not a producer message (a job pointer or a callback message). `Some(Err)`: a
/// producer message that cannot be read, or an EventBridge envelope that did not come
/// through the bus.
///
/// `from_bus`: the record arrived on the queue only the bus's request rule can send to (the
/// SQS record's `eventSourceARN`, set by the event source mapping, is that queue's ARN). Any
/// principal allowed `SendMessage` on the jobs queue can write an envelope, body and
/// attributes alike, so an envelope is taken as an event, and its `source` as the producer's
/// identity, only from there (docs/JOB_PRODUCERS.md).
pub fn read(
    body: &str,
    message_id: &str,
    sender_id: Option<&str>,
    from_bus: bool,
) -> Option<Result<Inbound, Rejection>> {
    let value: Value = match serde_json::from_str(body) {
        Ok(value) => value,
        // A producer's message that does not parse (cut short, nested past the parser's
        // limit) is dead-lettered with its reason at once, not retried as a broken pointer.
        Err(error) if body.contains("\"schema\"") || body.contains("\"detail-type\"") => {
            return Some(Err(Rejection::new(
                "malformed_message",
                format!("not JSON: {error}"),
            )));
        }
        Err(_) => return None,
    };
    let object = value.as_object()?;
    let (detail, transport) = if object.contains_key("detail-type") && object.contains_key("detail")
    {
        let text = |key: &str| object.get(key).and_then(Value::as_str).unwrap_or_default();
        if !from_bus {
            return Some(Err(Rejection::new(
                "sender_not_allowed",
                "an EventBridge envelope sent to the jobs queue, not through the bus: \
                 not taken as an event",
            )));
        }
        if text("detail-type") != DETAIL_TYPE_REQUESTED {
            return Some(Err(Rejection::new(
                "unknown_detail_type",
                format!(
                    "detail-type `{}` is not `{DETAIL_TYPE_REQUESTED}`",
                    text("detail-type")
                ),
            )));
        }
        let transport = Transport::EventBridge {
            event_id: text("id").to_owned(),
            source: text("source").to_owned(),
        };
        (object.get("detail").cloned().unwrap_or_default(), transport)
    } else if object.contains_key("schema") {
        let transport = Transport::Sqs {
            message_id: message_id.to_owned(),
            sender_id: sender_id.map(str::to_owned),
        };
        (value, transport)
    } else {
        return None;
    };
    if body.len() > MAX_MESSAGE_BYTES {
        return Some(Err(too_large(MAX_MESSAGE_BYTES)));
    }
    let schema = detail
        .get("schema")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if schema != SCHEMA_V1 {
        return Some(Err(Rejection::new(
            "unknown_schema",
            format!("schema `{schema}` is not `{SCHEMA_V1}`"),
        )));
    }
    Some(
        serde_path_to_error::deserialize(detail)
            .map(|message| Inbound {
                message,
                transport,
                size: body.len(),
            })
            .map_err(|e| {
                Rejection::new("malformed_message", format!("{}: {}", e.path(), e.inner()))
            }),
    )
}

fn too_large(limit: usize) -> Rejection {
    Rejection::new(
        "message_too_large",
        format!("the message is larger than {limit} bytes"),
    )
}

/// A producer message its producer may send: the policy, the idempotency id and the job's
/// submission. Checks identity (sender id or event source), tenant, size and allow-list.
pub struct Authorised<'a> {
    pub name: &'a str,
    pub policy: &'a ProducerPolicy,
    pub idempotency_id: String,
    pub submission: SubmitJob,
    pub model: String,
}

impl Inbound {
    pub fn authorise<'a>(
        self,
        producers: &'a Producers,
        config: &crate::config::GatewayConfig,
    ) -> Result<Authorised<'a>, Rejection> {
        let (name, policy) = producers
            .0
            .get_key_value(&self.message.producer)
            .ok_or_else(|| {
                Rejection::new(
                    "unknown_producer",
                    format!("no producer `{}` is configured", self.message.producer),
                )
            })?;
        let default_id = match &self.transport {
            Transport::Sqs {
                message_id,
                sender_id,
            } => {
                let allowed = policy.sender_ids.is_empty()
                    || sender_id
                        .as_ref()
                        .is_some_and(|id| policy.sender_ids.contains(id));
                if !allowed {
                    return Err(Rejection::new(
                        "sender_not_allowed",
                        format!("this sender may not send as producer `{name}`"),
                    ));
                }
                message_id.clone()
            }
            Transport::EventBridge { event_id, source } => {
                if !policy.event_sources.contains(source) {
                    return Err(Rejection::new(
                        "sender_not_allowed",
                        format!("event source `{source}` may not send as producer `{name}`"),
                    ));
                }
                event_id.clone()
            }
        };
        if self.size > policy.max_message_bytes {
            return Err(too_large(policy.max_message_bytes));
        }
        if let Some(tenant) = &self.message.tenant
            && *tenant != policy.tenant
        {
            return Err(Rejection::new(
                "tenant_not_allowed",
                format!("producer `{name}` may not submit jobs for tenant `{tenant}`"),
            ));
        }
        let idempotency_id = self.message.idempotency_id.clone().unwrap_or(default_id);
        if idempotency_id.is_empty()
            || idempotency_id.chars().count() > MAX_IDEMPOTENCY_ID_CHARS
            || idempotency_id.chars().any(char::is_control)
        {
            return Err(Rejection::new(
                "malformed_message",
                format!(
                    "idempotency_id must be 1 to {MAX_IDEMPOTENCY_ID_CHARS} printable characters"
                ),
            ));
        }
        let message = self.message;
        let invalid = |field: &str, reason: &str| {
            Rejection::new("malformed_message", format!("{field}: {reason}"))
        };
        let (mut converse, mut chat) = (message.request.converse, message.request.chat);
        match (&mut converse, &mut chat) {
            (Some(converse), None) => {
                let model = reconcile(converse.model_id.take(), message.model)
                    .map_err(|reason| invalid("model", &reason))?;
                converse.model_id = Some(model);
            }
            (None, Some(chat)) => {
                let object = chat
                    .as_object_mut()
                    .ok_or_else(|| invalid("request.chat", "must be an object"))?;
                let current = object
                    .get("model")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                let model = reconcile(current, message.model)
                    .map_err(|reason| invalid("model", &reason))?;
                object.insert("model".into(), Value::String(model));
            }
            _ => return Err(invalid("request", "give exactly one of converse or chat")),
        }
        let submission = SubmitJob {
            converse,
            chat,
            callback_url: message.callback_url,
            metadata: message.metadata,
            priority: message.priority,
        };
        let model = submission.model_name().unwrap_or_default().to_owned();
        if !policy.models.is_empty() {
            crate::controls::models::resolve(config, &model, &policy.models).map_err(|error| {
                match error {
                    crate::GatewayError::Forbidden(_) => Rejection::new(
                        "model_not_allowed",
                        format!("producer `{name}` may not use model `{model}`"),
                    ),
                    error => Rejection::new("invalid_request", error.public_message()),
                }
            })?;
        }
        Ok(Authorised {
            name,
            policy,
            idempotency_id,
            submission,
            model,
        })
    }
}

/// The request's model and the message's `model` field agree on one name.
fn reconcile(in_request: Option<String>, in_message: Option<String>) -> Result<String, String> {
    match (in_request, in_message) {
        (Some(a), Some(b)) if a != b => Err(format!(
            "the request names model `{a}` and the message `{b}`"
        )),
        (Some(model), _) | (None, Some(model)) => Ok(model),
        (None, None) => Err("name the model in `model` or in the request".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GatewayConfig;
    use serde_json::json;

    fn producers() -> Producers {
        Producers::parse(
            &json!({"crm": {"tenant": "crm", "models": ["haiku"], "event_sources": ["com.example.crm"]}})
                .to_string(),
        )
        .unwrap()
    }

    fn message() -> Value {
        json!({"schema": SCHEMA_V1, "producer": "crm", "model": "haiku",
               "request": {"converse": {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}}})
    }

    fn authorise(body: &Value) -> Result<String, Rejection> {
        authorise_from(body, true)
    }

    fn authorise_from(body: &Value, from_bus: bool) -> Result<String, Rejection> {
        let producers = producers();
        let inbound = read(&body.to_string(), "m-1", Some("AIDA1"), from_bus).unwrap()?;
        inbound
            .authorise(&producers, &GatewayConfig::default())
            .map(|a| a.idempotency_id)
    }

    #[test]
    fn the_sample_events_are_read_as_documented() {
        let producers = Producers::parse(
            &json!({"crm": {"tenant": "crm", "models": ["haiku"], "event_sources": ["com.example.crm"],
                            "callback_hosts": ["hooks.example.com"]}})
            .to_string(),
        )
        .unwrap();
        let config = GatewayConfig::default();
        let direct = include_str!("../../../../events/jobs/producer-message.json");
        let authorised = read(direct, "m-1", None, false)
            .unwrap()
            .unwrap()
            .authorise(&producers, &config)
            .unwrap();
        assert_eq!(authorised.idempotency_id, "order-1234");
        assert_eq!(authorised.model, "haiku");
        let event = include_str!("../../../../events/jobs/eventbridge-job-requested.json");
        let authorised = read(event, "m-2", None, true)
            .unwrap()
            .unwrap()
            .authorise(&producers, &config)
            .unwrap();
        assert_eq!(
            authorised.idempotency_id,
            "6a7e8feb-b491-4cf7-a9f1-bf3703467718"
        );
        assert_eq!(authorised.submission.model_name(), Some("haiku"));
        for sample in [
            include_str!("../../../../events/jobs/eventbridge-job-succeeded.json"),
            include_str!("../../../../events/jobs/eventbridge-job-failed.json"),
        ] {
            let envelope: Value = serde_json::from_str(sample).unwrap();
            let detail: crate::jobs::events::JobResultEvent =
                serde_json::from_value(envelope["detail"].clone()).unwrap();
            assert_eq!(envelope["detail-type"], detail.detail_type());
        }
    }

    #[test]
    fn pointers_are_not_producer_messages() {
        assert!(read(r#"{"job_id":"job-1","tenant":"t"}"#, "m", None, false).is_none());
        assert!(read("not json", "m", None, false).is_none());
    }

    #[test]
    fn a_message_and_its_event_envelope_are_read_alike() {
        assert_eq!(authorise(&message()).unwrap(), "m-1");
        let event = json!({"id": "ev-1", "source": "com.example.crm",
                           "detail-type": DETAIL_TYPE_REQUESTED, "detail": message()});
        assert_eq!(authorise(&event).unwrap(), "ev-1");
        let mut forged = event.clone();
        forged["source"] = json!("com.example.other");
        assert_eq!(authorise(&forged).unwrap_err().code, "sender_not_allowed");
        // The same envelope, not from the bus's queue: whoever wrote it, it is no event.
        assert_eq!(
            authorise_from(&event, false).unwrap_err().code,
            "sender_not_allowed"
        );
        assert_eq!(authorise_from(&message(), false).unwrap(), "m-1");
    }

    #[test]
    fn each_broken_rule_has_its_code() {
        let code = |edit: &dyn Fn(&mut Value)| {
            let mut body = message();
            edit(&mut body);
            authorise(&body).unwrap_err().code
        };
        assert_eq!(
            code(&|b| b["schema"] = json!("gateway.job.v9")),
            "unknown_schema"
        );
        assert_eq!(
            code(&|b| b["producer"] = json!("nobody")),
            "unknown_producer"
        );
        assert_eq!(
            code(&|b| b["tenant"] = json!("other")),
            "tenant_not_allowed"
        );
        assert_eq!(code(&|b| b["model"] = json!("sonnet")), "model_not_allowed");
        assert_eq!(code(&|b| b["extra"] = json!(1)), "malformed_message");
        assert_eq!(
            code(&|b| b["idempotency_id"] = json!("x".repeat(200))),
            "malformed_message"
        );
        assert_eq!(
            code(&|b| b["metadata"] = json!({"note": "x".repeat(70 * 1024)})),
            "message_too_large"
        );
    }
}
