//! The jobs flow's ports over DynamoDB (records), SQS (the queue and producer dead letters),
//! SNS (notifications) and EventBridge (result events).

mod async_invocations;
mod batch_publish;
mod dead_letters;
mod dynamo_store;
mod event_bus;
mod invocations_index;
mod redelivery;
mod result_codec;
mod s3_outputs;
mod sns_notifier;
mod sqs_queue;

pub use dead_letters::SqsDeadLetters;
pub use dynamo_store::DynamoJobStore;
pub use event_bus::EventBridgeJobEvents;
pub use invocations_index::{INVOCATIONS_INDEX, INVOCATIONS_INDEX_KEY};
pub use redelivery::SqsRedelivery;
pub use s3_outputs::S3InvocationOutputs;
pub use sns_notifier::SnsJobNotifier;
pub use sqs_queue::SqsJobQueue;

use gateway::GatewayError;

/// An AWS call failed: logged with its detail, surfaced as an internal error.
pub(crate) fn aws_error(operation: &str, error: impl std::fmt::Debug) -> GatewayError {
    tracing::error!(operation, error = ?error, "AWS call failed");
    GatewayError::Internal(format!("{operation} failed"))
}
