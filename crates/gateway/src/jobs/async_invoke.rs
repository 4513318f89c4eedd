//! Bedrock's async API on the jobs pipeline: a `StartAsyncInvoke` body becomes a job whose
//! request is the caller's `modelInput` (the model's native InvokeModel body), the job's id
//! is derived from the invocation id (from the tenant and `clientRequestToken`: a retried
//! start finds its invocation, and another tenant's token never reaches it), and a job record
//! reads back as Bedrock's `GetAsyncInvoke` / `AsyncInvokeSummary` shapes.
//!
//! The worker runs the body through the metered InvokeModel call and writes the answer to
//! `<s3Uri>/<invocation id>/output.json` through [`InvocationOutputs`] before it finishes the
//! job, so `Completed` means the object is there. Only URIs inside the deployment's output
//! bucket are accepted: the gateway's role must not become a way to write anywhere it can.

use super::async_invoke_job::split_s3_uri;
pub use super::async_invoke_job::{
    AsyncInvokeJob, OUTPUT_OBJECT, OutputDataConfig, S3_URI_FIELD, S3OutputDataConfig, invalid,
};
use super::model::{JobRecord, JobRequest, JobStatus};
use super::submit::{JobSettings, check_record_size, queued_record};
use crate::GatewayError;
use crate::api::converse::{ConverseResponse, Usage};
use crate::config::GatewayConfig;
use crate::controls::usage::TokenUsage;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::future::Future;

/// The largest `modelInput` accepted (its JSON form): a job record must hold it with room for
/// the answer (see `MAX_JOB_RECORD_BYTES`).
pub const MAX_MODEL_INPUT_BYTES: usize = 128 * 1024;
/// Invocation ARNs are at most this long (Bedrock's `InvocationArn` shape).
pub const MAX_ARN_CHARS: usize = 2048;
const ID_CHARS: usize = 12;
const JOB_ID_PREFIX: &str = "job-ai-";

/// Where this deployment's async invocations live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsyncInvokeSettings {
    /// The one bucket outputs may be written to (`ASYNC_INVOKE_BUCKET`).
    pub bucket: String,
    /// The region and account in invocation and model ARNs.
    pub region: String,
    pub account: String,
}

/// `POST /async-invoke` (StartAsyncInvoke).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartAsyncInvoke {
    #[serde(default)]
    pub client_request_token: Option<String>,
    pub model_id: String,
    pub model_input: Value,
    pub output_data_config: OutputDataConfig,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Tag {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

/// Writes an invocation's answer (S3 in the deployed worker).
pub trait InvocationOutputs: Send + Sync {
    fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<(), GatewayError>> + Send;
}

/// A 12-character `[a-z0-9]` invocation id: from the tenant and the client's token when there
/// is one (so a retried start finds its invocation), else from `fresh` random bits.
pub fn invocation_id(tenant: &str, token: Option<&str>, fresh: u64) -> String {
    let bits = match token {
        Some(token) => {
            let digest = Sha256::new()
                .chain_update(tenant)
                .chain_update([0])
                .chain_update("async-invoke")
                .chain_update([0])
                .chain_update(token)
                .finalize();
            u64::from_be_bytes(std::array::from_fn(|i| digest[i]))
        }
        None => fresh,
    };
    base36(bits)
}

/// The low 62 bits are plenty: 36^12 > 2^62.
fn base36(mut bits: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = [b'0'; ID_CHARS];
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(bits % 36) as usize];
        bits /= 36;
    }
    out.iter().map(|&b| char::from(b)).collect()
}

/// The job that carries invocation `id`.
pub fn job_id(invocation_id: &str) -> String {
    format!("{JOB_ID_PREFIX}{invocation_id}")
}

fn is_invocation_id(id: &str) -> bool {
    id.len() == ID_CHARS
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

impl AsyncInvokeSettings {
    pub fn invocation_arn(&self, id: &str) -> String {
        format!(
            "arn:aws:bedrock:{}:{}:async-invoke/{id}",
            self.region, self.account
        )
    }

    fn model_arn(&self, model_id: &str) -> String {
        if model_id.starts_with("arn:") {
            return model_id.to_owned();
        }
        format!(
            "arn:aws:bedrock:{}::foundation-model/{model_id}",
            self.region
        )
    }

    /// The invocation id an ARN names. A malformed ARN is a 400 naming `invocationArn`; a
    /// well-formed one of another region or account is a 404, as an unknown invocation is.
    pub fn invocation_id_of<'a>(&self, arn: &'a str) -> Result<&'a str, GatewayError> {
        let field = "invocationArn";
        if arn.is_empty() || arn.len() > MAX_ARN_CHARS {
            return Err(invalid(
                field,
                format!("must be 1 to {MAX_ARN_CHARS} characters"),
            ));
        }
        let id = arn
            .strip_prefix("arn:")
            .and_then(|rest| rest.rsplit_once(":async-invoke/"))
            .map(|(_, id)| id)
            .filter(|id| is_invocation_id(id))
            .ok_or_else(|| {
                invalid(
                    field,
                    "must be an async-invoke ARN: arn:aws:bedrock:<region>:<account>:async-invoke/<12 characters a-z0-9>",
                )
            })?;
        if arn != self.invocation_arn(id) {
            return Err(not_found(arn));
        }
        Ok(id)
    }

    /// Validates a StartAsyncInvoke body and builds its job record (`QUEUED`), before
    /// anything is admitted or written. Every refusal is a 400 naming the field.
    pub fn prepare(
        &self,
        start: StartAsyncInvoke,
        config: &GatewayConfig,
        tenant: &str,
        fresh: u64,
        now_ms: u64,
        job_settings: JobSettings,
    ) -> Result<JobRecord, GatewayError> {
        if let Some(token) = &start.client_request_token
            && (token.is_empty()
                || token.len() > 256
                || !token.bytes().all(|b| (b'!'..=b'~').contains(&b)))
        {
            return Err(invalid(
                "clientRequestToken",
                "must be 1 to 256 visible ASCII characters",
            ));
        }
        check_model_id(&start.model_id)?;
        let model = config.resolve_model(&start.model_id)?;
        if !start.model_input.is_object() {
            return Err(invalid(
                "modelInput",
                "must be the model's InvokeModel body: a JSON object",
            ));
        }
        let input_bytes = serde_json::to_vec(&start.model_input)
            .map_err(|e| invalid("modelInput", e.to_string()))?
            .len();
        if input_bytes > MAX_MODEL_INPUT_BYTES {
            return Err(invalid(
                "modelInput",
                format!("is {input_bytes} bytes; at most {MAX_MODEL_INPUT_BYTES} are accepted"),
            ));
        }
        check_storable(&start.model_input, 0)?;
        self.check_output(&start.output_data_config.s3_output_data_config)?;
        check_tags(&start.tags)?;
        let id = invocation_id(tenant, start.client_request_token.as_deref(), fresh);
        let job = AsyncInvokeJob {
            invocation_id: id.clone(),
            model_arn: self.model_arn(&model.id),
            model_id: start.model_id,
            model_input: start.model_input,
            output: start.output_data_config,
            client_request_token: start.client_request_token,
        };
        // The tenant is in the hash: were two tenants' ids ever to collide, the second start
        // is a conflict, never a replay of the other tenant's invocation.
        let canonical = json!({
            "tenant": tenant, "model_id": &job.model_id, "model_input": &job.model_input,
            "output": &job.output,
        });
        let request_hash = hex::encode(Sha256::digest(canonical.to_string().as_bytes()));
        let record = queued_record(
            job_id(&id),
            tenant,
            JobRequest::AsyncInvoke(Box::new(job)),
            request_hash,
            now_ms,
            job_settings,
        );
        check_record_size(record)
    }

    /// The output must be an `s3://` URI inside this deployment's bucket; KMS keys are not
    /// supported (objects get the bucket's default encryption).
    fn check_output(&self, output: &S3OutputDataConfig) -> Result<(), GatewayError> {
        let uri = &output.s3_uri;
        if uri.len() > 1024 || uri.chars().any(char::is_control) {
            return Err(invalid(
                S3_URI_FIELD,
                "must be at most 1024 characters, without control characters",
            ));
        }
        let (bucket, prefix) = split_s3_uri(uri)?;
        // The object's key is `<prefix>/<12-character id>/output.json`: S3 keys are at most
        // 1024 bytes, and a key found too long only when the answer is written would have
        // billed the model for nothing.
        let key_bytes = prefix.trim_end_matches('/').len() + 1 + 12 + 1 + OUTPUT_OBJECT.len();
        if key_bytes > MAX_S3_KEY_BYTES {
            return Err(invalid(
                S3_URI_FIELD,
                format!(
                    "leaves no room for the output's key: keys are at most {MAX_S3_KEY_BYTES} bytes with `/<invocation id>/{OUTPUT_OBJECT}`"
                ),
            ));
        }
        if bucket != self.bucket {
            return Err(invalid(
                S3_URI_FIELD,
                format!(
                    "outputs can only be written inside s3://{}/ in this deployment",
                    self.bucket
                ),
            ));
        }
        if output.kms_key_id.is_some() {
            return Err(invalid(
                "outputDataConfig.s3OutputDataConfig.kmsKeyId",
                "is not supported: outputs get the bucket's default encryption",
            ));
        }
        if let Some(owner) = &output.bucket_owner
            && (owner.len() != 12 || !owner.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(invalid(
                "outputDataConfig.s3OutputDataConfig.bucketOwner",
                "must be a 12-digit account id",
            ));
        }
        Ok(())
    }

    /// The invocation as `GetAsyncInvoke` answers it.
    pub fn view(&self, record: &JobRecord) -> Option<Value> {
        let JobRequest::AsyncInvoke(job) = &record.request else {
            return None;
        };
        let status = match record.status {
            JobStatus::Queued | JobStatus::Running => "InProgress",
            JobStatus::Succeeded => "Completed",
            JobStatus::Failed => "Failed",
        };
        let mut view = json!({
            "invocationArn": self.invocation_arn(&job.invocation_id),
            "modelArn": job.model_arn,
            "status": status,
            "submitTime": timestamp(record.created_at_ms),
            "lastModifiedTime": timestamp(record.updated_at_ms),
            "outputDataConfig": job.output,
        });
        if let Some(token) = &job.client_request_token {
            view["clientRequestToken"] = json!(token);
        }
        if record.status.is_terminal() {
            view["endTime"] = json!(timestamp(record.updated_at_ms));
        }
        if let Some(error) = &record.error {
            let message: String = format!("{}: {}", error.code, error.message)
                .chars()
                .take(2048)
                .collect();
            view["failureMessage"] = json!(message);
        }
        Some(view)
    }
}

/// 404 in Bedrock's words; an invocation of another tenant answers exactly like this.
pub fn not_found(arn: &str) -> GatewayError {
    GatewayError::NotFound(format!("Invocation {arn} not found"))
}

fn check_model_id(model_id: &str) -> Result<(), GatewayError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_.-/:".contains(c);
    if model_id.is_empty() || model_id.len() > 256 || !model_id.chars().all(allowed) {
        return Err(invalid(
            "modelId",
            "must be 1 to 256 characters of a-z, A-Z, 0-9, _ . - / :",
        ));
    }
    Ok(())
}

fn check_tags(tags: &[Tag]) -> Result<(), GatewayError> {
    if tags.len() > 200 {
        return Err(invalid("tags", "at most 200 tags"));
    }
    match tags
        .iter()
        .position(|t| t.key.is_empty() || t.key.len() > 128 || t.value.len() > 256)
    {
        Some(i) => Err(invalid(
            format!("tags[{i}]"),
            "a key is 1 to 128 characters, a value at most 256",
        )),
        None => Ok(()),
    }
}

/// `s3://bucket/prefix` → (`bucket`, `prefix`), the bucket named as S3 allows.
/// S3's longest object key, in bytes.
const MAX_S3_KEY_BYTES: usize = 1024;

/// Levels of nesting `modelInput` may have: the job record stores it three levels down and
/// DynamoDB refuses items nested deeper than 32.
const MAX_MODEL_INPUT_DEPTH: usize = 28;

/// 400 naming `modelInput` unless DynamoDB can store it: no number outside DynamoDB's range
/// (magnitudes 1E-130 to 1E+125) and no nesting deeper than [`MAX_MODEL_INPUT_DEPTH`].
fn check_storable(value: &Value, depth: usize) -> Result<(), GatewayError> {
    if depth > MAX_MODEL_INPUT_DEPTH {
        return Err(invalid(
            "modelInput",
            format!("is nested more than {MAX_MODEL_INPUT_DEPTH} levels deep"),
        ));
    }
    match value {
        Value::Number(n) => {
            let magnitude = n.as_f64().map_or(0.0, f64::abs);
            if magnitude != 0.0 && !(1e-130..1e125).contains(&magnitude) {
                return Err(invalid(
                    "modelInput",
                    format!(
                        "holds a number ({n}) outside the range a job record can store (1e-130 to 1e125)"
                    ),
                ));
            }
            Ok(())
        }
        Value::Array(items) => items.iter().try_for_each(|v| check_storable(v, depth + 1)),
        Value::Object(fields) => fields
            .values()
            .try_for_each(|v| check_storable(v, depth + 1)),
        _ => Ok(()),
    }
}

/// ISO 8601 in UTC with milliseconds, as Bedrock's JSON timestamps are.
pub fn timestamp(ms: u64) -> String {
    let ms = i64::try_from(ms).unwrap_or(i64::MAX);
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// An InvokeModel answer summarised as a Converse response for the job record and its
/// notification: the text the model wrote, why it stopped and the usage. The native body
/// itself is what the output object holds.
pub fn summarise_answer(body: &[u8], usage: Option<TokenUsage>) -> ConverseResponse {
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let text = native_text(&json);
    let stop_reason = ["stop_reason", "stopReason", "completionReason"]
        .iter()
        .find_map(|k| json.get(*k).and_then(Value::as_str))
        .or_else(|| json.pointer("/results/0/completionReason")?.as_str())
        .or_else(|| json.pointer("/outputs/0/stop_reason")?.as_str())
        .unwrap_or("end_turn")
        .to_owned();
    let usage = usage.unwrap_or_default();
    let tokens = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
    ConverseResponse {
        stop_reason,
        usage: Usage {
            input_tokens: tokens(usage.input),
            output_tokens: tokens(usage.output),
            total_tokens: tokens(usage.input.saturating_add(usage.output)),
            cache_read_input_tokens: (usage.cache_read > 0).then(|| tokens(usage.cache_read)),
            cache_write_input_tokens: (usage.cache_write > 0).then(|| tokens(usage.cache_write)),
            cache_write_1h_input_tokens: None,
        },
        ..ConverseResponse::assistant_text(text)
    }
}

/// The text of a native answer: Anthropic (`content[].text`), Nova (`output.message`),
/// Titan (`results[].outputText`), Llama (`generation`), Mistral (`outputs[].text`), Cohere.
fn native_text(json: &Value) -> String {
    let texts = |blocks: Option<&Value>, key: &str| -> Option<String> {
        let blocks = blocks?.as_array()?;
        Some(
            blocks
                .iter()
                .filter_map(|b| b.get(key).and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(""),
        )
    };
    texts(json.get("content"), "text")
        .or_else(|| texts(json.pointer("/output/message/content"), "text"))
        .or_else(|| texts(json.get("results"), "outputText"))
        .or_else(|| texts(json.get("outputs"), "text"))
        .or_else(|| texts(json.get("generations"), "text"))
        .or_else(|| {
            ["generation", "text", "completion"]
                .iter()
                .find_map(|k| json.get(*k).and_then(Value::as_str).map(str::to_owned))
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> AsyncInvokeSettings {
        AsyncInvokeSettings {
            bucket: "gateway-out".into(),
            region: "us-east-1".into(),
            account: "123456789012".into(),
        }
    }

    fn start(body: Value) -> StartAsyncInvoke {
        serde_json::from_value(body).unwrap()
    }

    fn body() -> Value {
        json!({
            "clientRequestToken": "tok-1",
            "modelId": "haiku",
            "modelInput": {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50,
                           "messages": [{"role": "user", "content": "hi"}]},
            "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://gateway-out/runs/"}}
        })
    }

    fn prepare(body: Value) -> Result<JobRecord, GatewayError> {
        settings().prepare(
            start(body),
            &GatewayConfig::default(),
            "acme",
            7,
            1_000,
            JobSettings::default(),
        )
    }

    #[test]
    fn ids_are_twelve_base36_characters_bound_to_the_tenant_and_token() {
        let a = invocation_id("acme", Some("t"), 1);
        assert_eq!(a, invocation_id("acme", Some("t"), 2));
        assert_ne!(a, invocation_id("other", Some("t"), 1));
        assert!(is_invocation_id(&a), "{a}");
        assert!(is_invocation_id(&invocation_id("acme", None, u64::MAX)));
        assert_ne!(invocation_id("a", None, 1), invocation_id("a", None, 2));
    }

    #[test]
    fn arns_round_trip_and_foreign_or_malformed_ones_are_refused() {
        let s = settings();
        let arn = s.invocation_arn("abc123def456");
        assert_eq!(
            arn,
            "arn:aws:bedrock:us-east-1:123456789012:async-invoke/abc123def456"
        );
        assert_eq!(s.invocation_id_of(&arn).unwrap(), "abc123def456");
        let other_region = arn.replace("us-east-1", "eu-west-1");
        assert_eq!(
            s.invocation_id_of(&other_region).unwrap_err().status_code(),
            404
        );
        for bad in [
            String::new(),
            "x".repeat(3000),
            "arn:aws:bedrock:us-east-1:123456789012:async-invoke/ABC123DEF456".into(),
            "arn:aws:bedrock:us-east-1:123456789012:async-invoke/short".into(),
            "job-ai-abc123def456".into(),
        ] {
            let error = s.invocation_id_of(&bad).unwrap_err();
            assert_eq!(error.field(), Some("invocationArn"), "{bad}");
        }
    }

    #[test]
    fn a_valid_start_becomes_a_queued_job_with_its_output_object() {
        let record = prepare(body()).unwrap();
        assert_eq!(record.status, JobStatus::Queued);
        let JobRequest::AsyncInvoke(job) = &record.request else {
            panic!("not an async invoke: {:?}", record.request)
        };
        assert_eq!(record.job_id, job_id(&job.invocation_id));
        assert!(
            job.model_arn
                .ends_with(&format!("foundation-model/{}", crate::config::HAIKU))
        );
        let (bucket, key) = job.output_object().unwrap();
        assert_eq!(bucket, "gateway-out");
        assert_eq!(key, format!("runs/{}/output.json", job.invocation_id));
        assert_eq!(prepare(body()).unwrap().request_hash, record.request_hash);
    }

    #[test]
    fn bad_starts_name_the_field() {
        let field = |patch: &dyn Fn(&mut Value)| {
            let mut b = body();
            patch(&mut b);
            prepare(b).unwrap_err().field().map(str::to_owned)
        };
        for uri in [
            "s3://another-bucket/x",
            "https://gateway-out/x",
            "s3://gateway-out.evil/x",
            "s3://gateway-outx",
            "s3:///x",
        ] {
            assert_eq!(
                field(&|b| b["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"] = json!(uri)),
                Some(S3_URI_FIELD.into()),
                "{uri}"
            );
        }
        let mut whole_bucket = body();
        whole_bucket["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"] = json!("s3://gateway-out");
        assert!(prepare(whole_bucket).is_ok());
        assert_eq!(
            field(&|b| b["modelInput"] = json!({"p": "x".repeat(MAX_MODEL_INPUT_BYTES)})),
            Some("modelInput".into())
        );
        assert_eq!(
            field(&|b| b["modelInput"] = json!("a string")),
            Some("modelInput".into())
        );
        assert_eq!(
            field(&|b| b["modelId"] = json!("no such model")),
            Some("modelId".into())
        );
        assert_eq!(
            field(&|b| b["clientRequestToken"] = json!("has space")),
            Some("clientRequestToken".into())
        );
        assert_eq!(
            field(&|b| b["outputDataConfig"]["s3OutputDataConfig"]["kmsKeyId"] = json!("k")),
            Some("outputDataConfig.s3OutputDataConfig.kmsKeyId".into())
        );
    }

    #[test]
    fn records_read_back_in_bedrocks_shape() {
        let s = settings();
        let mut record = prepare(body()).unwrap();
        let view = s.view(&record).unwrap();
        assert_eq!(view["status"], "InProgress");
        assert_eq!(view["submitTime"], "1970-01-01T00:00:01.000Z");
        assert_eq!(view["clientRequestToken"], "tok-1");
        assert!(view.get("endTime").is_none());
        record.status = JobStatus::Failed;
        record.error = Some(super::super::JobError {
            code: "model_error".into(),
            message: "boom".into(),
        });
        let view = s.view(&record).unwrap();
        assert_eq!(view["status"], "Failed");
        assert_eq!(view["failureMessage"], "model_error: boom");
        assert!(view["endTime"].is_string());
    }

    #[test]
    fn native_answers_are_summarised() {
        let body = br#"{"content":[{"type":"text","text":"Hello"}],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":2}}"#;
        let usage = crate::controls::usage::from_invoke_body(body);
        let summary = summarise_answer(body, usage);
        assert_eq!(summary.text(), "Hello");
        assert_eq!(summary.usage.total_tokens, 5);
        let nova =
            br#"{"output":{"message":{"content":[{"text":"Hi"}]}},"stopReason":"max_tokens"}"#;
        let summary = summarise_answer(nova, None);
        assert_eq!(
            (summary.text().as_str(), summary.stop_reason.as_str()),
            ("Hi", "max_tokens")
        );
    }
}
