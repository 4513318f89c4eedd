//! Lambda's partial batch responses: the records a batch handler reports as failed, shaped as
//! the event source mapping reads them (SQS message ids, DynamoDB stream sequence numbers).

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};

/// An SQS batch response failing exactly these message ids.
pub fn sqs_batch_response(failed_ids: impl IntoIterator<Item = String>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed_ids
        .into_iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}

/// A DynamoDB stream batch response failing exactly these sequence numbers.
pub fn dynamodb_batch_response(
    failed_sequence_numbers: impl IntoIterator<Item = String>,
) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    response.batch_item_failures = failed_sequence_numbers
        .into_iter()
        .map(|seq| {
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some(seq);
            failure
        })
        .collect();
    response
}
