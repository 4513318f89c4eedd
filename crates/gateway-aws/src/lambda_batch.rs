//! The batch lifter every batch function uses ([`run_batch`]: bounded concurrency, panics
//! caught, a span per record) and Lambda's partial batch responses: the records a handler
//! reports as failed, shaped as the event source mapping reads them (SQS message ids, DynamoDB
//! stream sequence numbers).

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use futures_util::{FutureExt, StreamExt};
use std::panic::AssertUnwindSafe;
use tracing::Instrument;

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

/// What a record's handler decided.
#[derive(Debug)]
pub enum Outcome<T = ()> {
    /// Done: the record is not reported.
    Done,
    /// The record must come back: it is reported as a batch item failure.
    Failed,
    /// The handler left work to do for the whole batch (the worker's announcements): this
    /// value is handed back.
    Deferred(T),
}

/// A batch after every record ran.
#[derive(Debug)]
pub struct BatchRun<T> {
    /// Identifiers of the records to report as failed.
    pub failed: Vec<String>,
    /// What the handlers that deferred work handed back.
    pub deferred: Vec<T>,
}

/// Lifts a per-record handler to a whole batch: at most `concurrency` records in flight, each
/// in a `record` span naming its `item_id`. A handler that panics has its record reported
/// failed: one bad record never takes the batch down, nor passes for a success (the release
/// profile unwinds; it must never be `panic = "abort"`).
pub async fn run_batch<R, T, Fut>(
    records: Vec<R>,
    concurrency: usize,
    item_id: impl Fn(&R) -> String,
    handle: impl Fn(R) -> Fut,
) -> BatchRun<T>
where
    Fut: Future<Output = Outcome<T>>,
{
    let (item_id, handle) = (&item_id, &handle);
    let ran: Vec<(String, Outcome<T>)> = futures_util::stream::iter(records)
        .map(|record| async move {
            let id = item_id(&record);
            let span = tracing::info_span!("record", item_id = %id);
            // The handler is called inside the caught future: a panic before its first
            // await is caught too.
            let outcome = AssertUnwindSafe(async move { handle(record).await }.instrument(span))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| {
                    tracing::error!(item_id = %id, "record handler panicked; reported as failed");
                    Outcome::Failed
                });
            (id, outcome)
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut batch = BatchRun {
        failed: Vec::new(),
        deferred: Vec::new(),
    };
    for (id, outcome) in ran {
        match outcome {
            Outcome::Done => {}
            Outcome::Failed => batch.failed.push(id),
            Outcome::Deferred(value) => batch.deferred.push(value),
        }
    }
    batch
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn panics_fail_their_record_and_concurrency_is_bounded() {
        let (in_flight, peak) = (&AtomicUsize::new(0), &AtomicUsize::new(0));
        let batch = run_batch(
            (0..20u32).collect(),
            3,
            |n| n.to_string(),
            move |n: u32| async move {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::task::yield_now().await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                match n % 4 {
                    0 => panic!("record {n}"),
                    1 => Outcome::Failed,
                    2 => Outcome::Deferred(n * 10),
                    _ => Outcome::Done,
                }
            },
        )
        .await;
        let mut failed = batch.failed;
        failed.sort_by_key(|id| id.parse::<u32>().unwrap());
        let expected: Vec<String> = (0..20u32)
            .filter(|n| n % 4 < 2)
            .map(|n| n.to_string())
            .collect();
        assert_eq!(failed, expected);
        let mut deferred = batch.deferred;
        deferred.sort();
        assert_eq!(deferred, vec![20, 60, 100, 140, 180]);
        assert!(peak.load(Ordering::SeqCst) <= 3);
        assert!(peak.load(Ordering::SeqCst) > 1, "records ran concurrently");
    }
}
