//! Event source mappings, played locally: read what Lambda's pollers would read (SQS messages,
//! DynamoDB stream records) through the SDK and shape it exactly as Lambda hands it to a
//! function; then honour the function's batch response as Lambda would. Used by the offline run
//! and by tests, so the handlers see the same events here as in AWS.

pub mod dynamodb_stream;
pub mod sqs;
