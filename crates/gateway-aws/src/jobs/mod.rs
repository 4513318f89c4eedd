//! The jobs flow's ports over DynamoDB (records), SQS (the queue) and SNS (notifications).

mod dynamo_store;
mod result_codec;
mod sns_notifier;
mod sqs_queue;

pub use dynamo_store::DynamoJobStore;
pub use sns_notifier::SnsJobNotifier;
pub use sqs_queue::SqsJobQueue;

use gateway::GatewayError;

/// An AWS call failed: logged with its detail, surfaced as an internal error.
pub(crate) fn aws_error(operation: &str, error: impl std::fmt::Debug) -> GatewayError {
    tracing::error!(operation, error = ?error, "AWS call failed");
    GatewayError::Internal(format!("{operation} failed"))
}
