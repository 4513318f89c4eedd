//! Async invocations' answers written to S3 (the worker's only S3 call: `s3:PutObject`, on
//! the one output bucket its role allows).

use aws_sdk_s3::primitives::ByteStream;
use gateway::GatewayError;
use gateway::jobs::async_invoke::{InvocationOutputs, S3_URI_FIELD, invalid};

#[derive(Debug, Clone)]
pub struct S3InvocationOutputs {
    client: aws_sdk_s3::Client,
}

impl S3InvocationOutputs {
    /// Path-style addressing: it works for every bucket name (dots included) and with any
    /// endpoint the environment names (`AWS_ENDPOINT_URL_S3`).
    pub fn from_sdk_config(sdk: &aws_config::SdkConfig) -> Self {
        let config = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build();
        Self {
            client: aws_sdk_s3::Client::from_conf(config),
        }
    }
}

impl InvocationOutputs for S3InvocationOutputs {
    #[tracing::instrument(skip(self, body), fields(bytes = body.len()))]
    async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), GatewayError> {
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body))
            .send()
            .await
            .map(|_| ())
            .map_err(|error| {
                tracing::error!(error = ?error, "s3:PutObject failed");
                // Not retried by the job (the SDK's own retries are on): a redelivery would
                // call and bill the model again; the invocation fails saying where.
                invalid(
                    S3_URI_FIELD,
                    format!("the output could not be written to s3://{bucket}/{key}"),
                )
            })
    }
}
