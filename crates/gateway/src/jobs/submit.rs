//! Turning a `POST /v1/jobs` body into a job record: validated before anything is queued.

use super::model::{
    CallbackState, JobMessage, JobRecord, JobRequest, JobStatus, MessageKind, NotificationState,
    SubmitJob,
};
use crate::GatewayError;
use crate::config::GatewayConfig;
use crate::webhook::CallbackPolicy;
use sha2::{Digest, Sha256};

/// Settings for new jobs.
#[derive(Debug, Clone, Copy)]
pub struct JobSettings {
    /// How long a job record lives (DynamoDB TTL), in seconds.
    pub ttl_secs: u64,
}

impl Default for JobSettings {
    fn default() -> Self {
        Self {
            ttl_secs: 7 * 24 * 3600,
        }
    }
}

/// The longest job id the gateway makes is 40 bytes (`job-` + a UUID); a longer one cannot
/// name a job, and DynamoDB refuses keys over 2,048 bytes with an error, so it is refused first.
pub const MAX_JOB_ID_BYTES: usize = 128;

/// The id of a job: derived from the tenant and Idempotency-Key when there is one, so a retried
/// submit finds the same record; else the caller's fresh random id.
pub fn job_id(tenant: &str, idempotency_key: Option<&str>, fresh: &str) -> String {
    match idempotency_key {
        Some(key) => {
            let digest = Sha256::new()
                .chain_update(tenant)
                .chain_update([0])
                .chain_update(key)
                .finalize();
            format!("job-{}", &hex::encode(digest)[..32])
        }
        None => format!("job-{fresh}"),
    }
}

/// Validates the submission (including the model call it will make) and builds the record.
pub fn prepare(
    submit: SubmitJob,
    config: &GatewayConfig,
    tenant: &str,
    job_id: String,
    now_ms: u64,
    settings: JobSettings,
) -> Result<JobRecord, GatewayError> {
    let request = match (submit.converse, submit.chat) {
        (Some(converse), None) => JobRequest::Converse(Box::new(converse)),
        (None, Some(chat)) => JobRequest::Chat(chat),
        (Some(_), Some(_)) => {
            return Err(GatewayError::invalid(
                "chat",
                "give either converse or chat, not both",
            ));
        }
        (None, None) => {
            return Err(GatewayError::invalid(
                "converse",
                "a converse or chat request is required",
            ));
        }
    };
    let (model, _) = request.to_converse()?;
    config.resolve_model(&model)?;
    // Static checks only (scheme, credentials, literal addresses that are never allowed):
    // where http and private receivers are allowed is the delivering worker's policy, and a
    // host's addresses are vetted when the callback is delivered, not now.
    if let Some(url) = &submit.callback_url {
        let lenient = CallbackPolicy {
            allow_http: true,
            allow_private: true,
            allowed_hosts: None,
        };
        lenient
            .parse_callback_url(url)
            .map_err(|e| GatewayError::invalid("callback_url", e.to_string()))?;
    }
    let callback_state = submit.callback_url.as_ref().map(|_| CallbackState::Pending);
    if let Some(priority) = &submit.priority
        && !matches!(priority.as_str(), "high" | "normal")
    {
        return Err(GatewayError::invalid(
            "priority",
            "must be \"high\" or \"normal\"",
        ));
    }
    // Stored as JSON carries it: a number JSON cannot hold (a value that overflowed `f32` to
    // infinity) becomes absent here, once, instead of failing the write (DynamoDB has no inf).
    let request: JobRequest = serde_json::to_value(&request)
        .and_then(serde_json::from_value)
        .map_err(|e| GatewayError::Internal(format!("job request: {e}")))?;
    let canonical = serde_json::json!({
        "request": &request, "callback_url": submit.callback_url, "metadata": submit.metadata, "priority": submit.priority,
    });
    let request_hash = hex::encode(Sha256::digest(canonical.to_string().as_bytes()));
    let record = JobRecord {
        callback_url: submit.callback_url,
        metadata: submit.metadata,
        priority: submit.priority,
        callback_state,
        ..queued_record(job_id, tenant, request, request_hash, now_ms, settings)
    };
    check_record_size(record)
}

/// A new `QUEUED` record for `request`, with nothing else set: what every intake builds on.
pub(crate) fn queued_record(
    job_id: String,
    tenant: &str,
    request: JobRequest,
    request_hash: String,
    now_ms: u64,
    settings: JobSettings,
) -> JobRecord {
    JobRecord {
        job_id,
        tenant: tenant.to_owned(),
        status: JobStatus::Queued,
        request,
        request_hash,
        callback_url: None,
        metadata: Default::default(),
        priority: None,
        created_at_ms: now_ms,
        updated_at_ms: now_ms,
        attempts: 0,
        lease_until_ms: None,
        lease_token: None,
        result: None,
        error: None,
        usage: None,
        notification: NotificationState::Pending,
        notify_lease_until_ms: None,
        callback_hosts: None,
        callback_state: None,
        callback_sent: 0,
        callback_attempts: Vec::new(),
        callback_lease_until_ms: None,
        expires_at: now_ms / 1000 + settings.ttl_secs,
        charge: None,
        charge_settled_at_ms: None,
        origin: None,
        allowed_models: Vec::new(),
    }
}

/// The largest a job record may be when it is submitted (its JSON form, a close upper bound
/// of its DynamoDB size). DynamoDB items end at 400 KB; the rest is room for the result
/// (stored gzip-compressed when large, see the store) and the callback attempts, so a job
/// accepted here can always be finished.
pub const MAX_JOB_RECORD_BYTES: usize = 200 * 1024;

/// Refuses a record too large to be stored with its result: 413, before anything is written.
pub(crate) fn check_record_size(record: JobRecord) -> Result<JobRecord, GatewayError> {
    let size = serde_json::to_vec(&record)
        .map_err(|e| GatewayError::Internal(format!("job record: {e}")))?
        .len();
    if size > MAX_JOB_RECORD_BYTES {
        return Err(GatewayError::PayloadTooLarge {
            limit: MAX_JOB_RECORD_BYTES,
        });
    }
    Ok(record)
}

impl JobRecord {
    pub fn message(&self) -> JobMessage {
        JobMessage {
            job_id: self.job_id.clone(),
            tenant: self.tenant.clone(),
            priority: self.priority.clone(),
            kind: MessageKind::Run,
            attempt: None,
            not_before_ms: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn submit(body: serde_json::Value) -> SubmitJob {
        serde_json::from_value(body).unwrap()
    }

    fn converse() -> serde_json::Value {
        json!({"converse": {"modelId": "haiku", "messages": [{"role": "user", "content": [{"text": "hi"}]}]}})
    }

    #[test]
    fn the_same_key_gives_the_same_id_per_tenant() {
        assert_eq!(job_id("t1", Some("k"), "a"), job_id("t1", Some("k"), "b"));
        assert_ne!(job_id("t1", Some("k"), "a"), job_id("t2", Some("k"), "a"));
        assert_eq!(job_id("t1", None, "abc"), "job-abc");
    }

    #[test]
    fn a_valid_submission_becomes_a_queued_record() {
        let config = GatewayConfig::default();
        let record = prepare(
            submit(converse()),
            &config,
            "t1",
            "job-1".into(),
            1_000_000,
            JobSettings::default(),
        )
        .unwrap();
        assert_eq!(record.status, JobStatus::Queued);
        assert_eq!(record.expires_at, 1000 + 7 * 24 * 3600);
        let again = prepare(
            submit(converse()),
            &config,
            "t1",
            "job-1".into(),
            2_000_000,
            JobSettings::default(),
        )
        .unwrap();
        assert_eq!(
            record.request_hash, again.request_hash,
            "the hash ignores time"
        );
    }

    #[test]
    fn bad_submissions_name_the_field() {
        let config = GatewayConfig::default();
        let field = |body| {
            prepare(
                submit(body),
                &config,
                "t",
                "j".into(),
                0,
                JobSettings::default(),
            )
            .unwrap_err()
            .field()
            .map(str::to_owned)
        };
        assert_eq!(field(json!({})), Some("converse".into()));
        assert_eq!(
            field(json!({"converse": {"messages": []}})),
            Some("converse.modelId".into())
        );
        assert_eq!(
            field(json!({"converse": {"modelId": "nope", "messages": []}})),
            Some("modelId".into())
        );
        let mut with_callback = converse();
        for bad in [
            "ftp://x",
            "not a url",
            "https://user:pw@example.com/",
            "http://169.254.169.254/latest",
        ] {
            with_callback["callback_url"] = json!(bad);
            assert_eq!(
                field(with_callback.clone()),
                Some("callback_url".into()),
                "{bad}"
            );
        }
        assert_eq!(
            field(json!({"chat": {"model": "haiku", "messages": [], "n": 3}})),
            Some("n".into())
        );
    }

    #[test]
    fn a_number_json_cannot_hold_is_dropped_not_stored_as_infinity() {
        let mut body = converse();
        body["converse"]["inferenceConfig"] = json!({"temperature": 1e308});
        let record = prepare(
            submit(body),
            &GatewayConfig::default(),
            "t",
            "j".into(),
            0,
            JobSettings::default(),
        )
        .unwrap();
        let (_, request) = record.call().unwrap();
        assert_eq!(request.inference_config.and_then(|c| c.temperature), None);
    }

    #[test]
    fn a_record_too_large_to_finish_is_refused_with_the_limit() {
        let config = GatewayConfig::default();
        let body = |chars: usize| json!({"converse": {"modelId": "haiku", "messages": [{"role": "user", "content": [{"text": "x".repeat(chars)}]}]}});
        let prepare_chars = |chars| {
            prepare(
                submit(body(chars)),
                &config,
                "t",
                "j".into(),
                0,
                JobSettings::default(),
            )
        };
        assert!(prepare_chars(MAX_JOB_RECORD_BYTES - 2_000).is_ok());
        let refused = prepare_chars(MAX_JOB_RECORD_BYTES).unwrap_err();
        assert_eq!(refused.status_code(), 413);
        assert!(
            refused
                .to_string()
                .contains(&MAX_JOB_RECORD_BYTES.to_string()),
            "{refused}"
        );
    }
}
