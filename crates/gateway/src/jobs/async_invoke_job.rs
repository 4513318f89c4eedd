//! What a StartAsyncInvoke job stores as its request: the invocation, the model's native
//! InvokeModel body and where its answer goes. Part of the job record (`model`); the start,
//! reads and listings of invocations are in `async_invoke`, which builds on both.

use crate::GatewayError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The field Bedrock's errors name for the output location.
pub const S3_URI_FIELD: &str = "outputDataConfig.s3OutputDataConfig.s3Uri";
/// The object each invocation's answer is written to, under `<s3Uri>/<invocation id>/`.
pub const OUTPUT_OBJECT: &str = "output.json";

/// Bedrock's `AsyncInvokeOutputDataConfig` (a union with one member).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputDataConfig {
    pub s3_output_data_config: S3OutputDataConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3OutputDataConfig {
    pub s3_uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_owner: Option<String>,
}

/// What a StartAsyncInvoke job stores as its request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AsyncInvokeJob {
    pub invocation_id: String,
    /// The model as the caller named it (what the call path routes).
    pub model_id: String,
    pub model_arn: String,
    /// The native InvokeModel body. Absent in listings, which do not read it.
    #[serde(default)]
    pub model_input: Value,
    pub output: OutputDataConfig,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_request_token: Option<String>,
}

impl AsyncInvokeJob {
    /// The bucket and key of the answer's object: `<s3Uri>/<invocation id>/output.json`.
    pub fn output_object(&self) -> Result<(String, String), GatewayError> {
        let (bucket, prefix) = split_s3_uri(&self.output.s3_output_data_config.s3_uri)?;
        let key = match prefix.trim_end_matches('/') {
            "" => format!("{}/{OUTPUT_OBJECT}", self.invocation_id),
            prefix => format!("{prefix}/{}/{OUTPUT_OBJECT}", self.invocation_id),
        };
        Ok((bucket.to_owned(), key))
    }
}

/// A 400 naming `field`, in the message too: Bedrock's error body carries only the message.
pub fn invalid(field: impl Into<String>, message: impl std::fmt::Display) -> GatewayError {
    let field = field.into();
    let message = format!("{field}: {message}");
    GatewayError::invalid(field, message)
}

/// `s3://<bucket>/<prefix>` → (bucket, prefix), the bucket name checked.
pub(super) fn split_s3_uri(uri: &str) -> Result<(&str, &str), GatewayError> {
    let rest = uri
        .strip_prefix("s3://")
        .ok_or_else(|| invalid(S3_URI_FIELD, "must be an S3 URI: s3://<bucket>/<prefix>"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let valid = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && !bucket.starts_with(['.', '-'])
        && !bucket.ends_with(['.', '-']);
    if !valid {
        return Err(invalid(
            S3_URI_FIELD,
            "names no valid bucket: s3://<bucket>/<prefix>",
        ));
    }
    Ok((bucket, prefix))
}
