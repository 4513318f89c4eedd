//! A verified payload → the job it becomes: the model request from the source's templates,
//! the callback URL (fixed or from the payload; checked now against the deployment's static
//! SSRF policy and the source's host allow-list, before anything is queued, and vetted again
//! with DNS at delivery), and metadata.

use gateway::GatewayError;
use gateway::api::converse::ConverseRequest;
use gateway::jobs::SubmitJob;
use gateway::webhook::CallbackPolicy;
use serde_json::{Value, json};

use crate::config::{CallbackSource, Source};
use crate::error::HandlerError;
use crate::template::MissingField;

/// The job submission for one delivery. `policy` is the deployment's callback policy; the
/// source's host allow-list is added to it.
pub fn submission(
    source: &Source,
    payload: &Value,
    policy: &CallbackPolicy,
) -> Result<SubmitJob, HandlerError> {
    let prompt = source.prompt.render(payload)?;
    let mut request = json!({
        "modelId": source.model,
        "messages": [{"role": "user", "content": [{"text": prompt}]}],
    });
    if let Some(system) = &source.system {
        request["system"] = json!([{"text": system.render(payload)?}]);
    }
    if let Some(inference) = &source.inference_config {
        request["inferenceConfig"] = serde_json::to_value(inference)
            .map_err(|e| HandlerError::Internal(format!("inference config: {e}")))?;
    }
    let converse: ConverseRequest = serde_json::from_value(request)
        .map_err(|e| HandlerError::Invalid(GatewayError::invalid("converse", e.to_string())))?;

    let callback_url = match &source.callback {
        None => None,
        Some(CallbackSource::Url(url)) => Some(url.clone()),
        Some(CallbackSource::Pointer(pointer)) => {
            let url = payload
                .pointer(pointer)
                .and_then(Value::as_str)
                .ok_or_else(|| MissingField(pointer.clone()))?;
            Some(url.trim().to_owned())
        }
    };
    if let Some(url) = &callback_url {
        let policy = CallbackPolicy {
            allowed_hosts: source.callback_hosts.clone(),
            ..policy.clone()
        };
        policy.parse_callback_url(url)?;
    }

    Ok(SubmitJob {
        converse: Some(converse),
        chat: None,
        callback_url,
        metadata: source.metadata_for(payload),
        priority: source.priority.clone(),
    })
}
