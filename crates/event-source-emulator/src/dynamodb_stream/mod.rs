//! The DynamoDB Streams event source mapping, played locally: read the stream through the SDK
//! (DescribeStream → shards → GetShardIterator → GetRecords), shape the records as Lambda does
//! ([`record`]), drop what the mapping's `FilterCriteria` would drop ([`filter`]), invoke the
//! function, and honour its `DynamoDbEventResponse` as Lambda does:
//!
//! - no failures: checkpoint after the batch;
//! - `batchItemFailures`: checkpoint before the earliest reported record and read again from it
//!   (records after it come again too — handlers must be idempotent, as on AWS);
//! - an identifier that is empty or names no record of the batch, or a function error: the
//!   whole batch failed;
//! - a record that failed `max_attempts` deliveries (`MaximumRetryAttempts + 1`) goes to the
//!   on-failure destination ([`on_failure`]) and the shard moves past it.
//!
//! Parent shards are read to their end before their children. One [`poll_once`] makes one
//! GetRecords call (and at most one invocation) per ready shard.
//!
//! [`poll_once`]: DynamoDbStreamPoller::poll_once

pub mod filter;
pub mod on_failure;
pub mod record;

pub use filter::FilterCriteria;
pub use on_failure::{OnFailure, OnFailureRecord};
pub use record::to_lambda_record;

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use aws_sdk_dynamodbstreams::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodbstreams::operation::get_records::{GetRecordsError, GetRecordsOutput};
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use chrono::SecondsFormat;
use gateway::GatewayError;
use on_failure::{DdbStreamBatchInfo, RequestContext, ResponseContext};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Display;
use std::future::Future;

/// Where reading starts on a shard the poller has not read yet (the mapping's `StartingPosition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartingPosition {
    TrimHorizon,
    Latest,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Resume {
    Start(StartingPosition),
    At(String),
    After(String),
}

#[derive(Debug, Clone)]
struct Shard {
    parent: Option<String>,
    iterator: Option<String>,
    resume: Resume,
    /// Closed and read to its end.
    finished: bool,
}

/// What one poll did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollReport {
    /// Records read from the stream.
    pub read: usize,
    /// Records handed to the function (after the filter).
    pub delivered: usize,
    pub invocations: usize,
    /// The record each failed batch will be read again from (or was given up on).
    pub failed: Vec<String>,
    /// Records given up on: sent to the on-failure destination.
    pub discarded: Vec<String>,
}

#[derive(Debug)]
pub struct DynamoDbStreamPoller {
    client: aws_sdk_dynamodbstreams::Client,
    stream_arn: String,
    region: String,
    function_arn: String,
    batch_size: i32,
    max_attempts: u32,
    filter: Option<FilterCriteria>,
    start: StartingPosition,
    on_failure: OnFailure,
    shards: BTreeMap<String, Shard>,
    /// Failed deliveries per sequence number, until the record succeeds or is given up on.
    deliveries: HashMap<String, u32>,
    invocations: u64,
}

fn sdk_error<E, R>(operation: &str, error: SdkError<E, R>) -> GatewayError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    GatewayError::Internal(format!(
        "dynamodbstreams:{operation}: {}",
        DisplayErrorContext(&error)
    ))
}

fn sequence_number(record: &EventRecord) -> &str {
    record.change.sequence_number.as_deref().unwrap_or_default()
}

impl DynamoDbStreamPoller {
    /// A poller with Lambda's defaults: batch size 100, TRIM_HORIZON, no filter, retries until
    /// success (`max_attempts` = `u32::MAX`), no on-failure destination.
    pub fn new(client: aws_sdk_dynamodbstreams::Client, stream_arn: impl Into<String>) -> Self {
        Self {
            client,
            stream_arn: stream_arn.into(),
            region: "us-east-1".to_owned(),
            function_arn: "arn:aws:lambda:us-east-1:000000000000:function:local".to_owned(),
            batch_size: 100,
            max_attempts: u32::MAX,
            filter: None,
            start: StartingPosition::TrimHorizon,
            on_failure: OnFailure::Discard,
            shards: BTreeMap::new(),
            deliveries: HashMap::new(),
            invocations: 0,
        }
    }

    /// `BatchSize` (1–1000 for GetRecords).
    pub fn with_batch_size(mut self, batch_size: i32) -> Self {
        self.batch_size = batch_size.clamp(1, 1000);
        self
    }

    /// `MaximumRetryAttempts`: deliveries of a failing record after the first.
    pub fn with_maximum_retry_attempts(mut self, retries: u32) -> Self {
        self.max_attempts = retries.saturating_add(1);
        self
    }

    pub fn with_filter(mut self, filter: FilterCriteria) -> Self {
        self.filter = Some(filter);
        self
    }

    pub fn with_starting_position(mut self, start: StartingPosition) -> Self {
        self.start = start;
        self
    }

    pub fn with_on_failure(mut self, on_failure: OnFailure) -> Self {
        self.on_failure = on_failure;
        self
    }

    /// The function ARN written into on-failure records.
    pub fn with_function_arn(mut self, arn: impl Into<String>) -> Self {
        self.function_arn = arn.into();
        self
    }

    pub fn stream_arn(&self) -> &str {
        &self.stream_arn
    }

    /// Reads one batch from every ready shard, hands each non-empty (filtered) batch to
    /// `handler` as the Lambda event, and settles it by the handler's response.
    pub async fn poll_once<F, Fut, E>(&mut self, mut handler: F) -> Result<PollReport, GatewayError>
    where
        F: FnMut(Event) -> Fut,
        Fut: Future<Output = Result<DynamoDbEventResponse, E>>,
        E: Display,
    {
        self.refresh_shards().await?;
        let mut report = PollReport::default();
        for shard_id in self.ready_shards() {
            let records = self.read(&shard_id).await?;
            let Some(last) = records.last() else {
                continue;
            };
            let last = sequence_number(last).to_owned();
            report.read += records.len();
            let delivered: Vec<EventRecord> = match &self.filter {
                Some(filter) => records
                    .into_iter()
                    .filter(|r| serde_json::to_value(r).is_ok_and(|json| filter.matches(&json)))
                    .collect(),
                None => records,
            };
            if delivered.is_empty() {
                self.checkpoint_after(&shard_id, last);
                continue;
            }
            report.delivered += delivered.len();
            report.invocations += 1;
            self.invocations += 1;
            let mut event = Event::default();
            event.records = delivered.clone();
            let (failed_at, function_error) = match handler(event).await {
                Ok(response) => (first_failure(&delivered, &response), None),
                Err(error) => {
                    tracing::warn!(shard_id, %error, "function failed: the whole batch is retried");
                    (Some(0), Some("Unhandled".to_owned()))
                }
            };
            let Some(index) = failed_at else {
                for record in &delivered {
                    self.deliveries.remove(sequence_number(record));
                }
                self.checkpoint_after(&shard_id, last);
                continue;
            };
            for record in &delivered[..index] {
                self.deliveries.remove(sequence_number(record));
            }
            let failed = &delivered[index];
            let seq = sequence_number(failed).to_owned();
            let count = self.deliveries.entry(seq.clone()).or_insert(0);
            *count += 1;
            let count = *count;
            report.failed.push(seq.clone());
            if count >= self.max_attempts {
                let info = self.on_failure_record(&shard_id, failed, count, function_error);
                self.on_failure
                    .send(&info)
                    .await
                    .map_err(GatewayError::Internal)?;
                self.deliveries.remove(&seq);
                report.discarded.push(seq.clone());
                self.reread(&shard_id, Resume::After(seq));
            } else {
                self.reread(&shard_id, Resume::At(seq));
            }
        }
        Ok(report)
    }

    async fn refresh_shards(&mut self) -> Result<(), GatewayError> {
        let mut exclusive_start: Option<String> = None;
        loop {
            let output = self
                .client
                .describe_stream()
                .stream_arn(&self.stream_arn)
                .set_exclusive_start_shard_id(exclusive_start.clone())
                .send()
                .await
                .map_err(|e| sdk_error("DescribeStream", e))?;
            let Some(description) = output.stream_description else {
                return Ok(());
            };
            for shard in description.shards() {
                let Some(id) = shard.shard_id() else { continue };
                if self.shards.contains_key(id) {
                    continue;
                }
                let parent = shard.parent_shard_id().map(str::to_owned);
                // A child of a shard we read starts at its beginning, as Lambda's does.
                let start = match &parent {
                    Some(p) if self.shards.contains_key(p) => StartingPosition::TrimHorizon,
                    _ => self.start,
                };
                self.shards.insert(
                    id.to_owned(),
                    Shard {
                        parent,
                        iterator: None,
                        resume: Resume::Start(start),
                        finished: false,
                    },
                );
            }
            match description.last_evaluated_shard_id {
                Some(last) if Some(&last) != exclusive_start.as_ref() => {
                    exclusive_start = Some(last)
                }
                _ => return Ok(()),
            }
        }
    }

    /// Unfinished shards whose parent (if we know it) is finished.
    fn ready_shards(&self) -> Vec<String> {
        self.shards
            .iter()
            .filter(|(_, shard)| !shard.finished)
            .filter(|(_, shard)| {
                shard
                    .parent
                    .as_ref()
                    .and_then(|p| self.shards.get(p))
                    .is_none_or(|parent| parent.finished)
            })
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// One GetRecords on the shard, shaped as Lambda records.
    async fn read(&mut self, shard_id: &str) -> Result<Vec<EventRecord>, GatewayError> {
        let output = match self.get_records(shard_id).await {
            Err(SdkError::ServiceError(e))
                if e.err().is_expired_iterator_exception()
                    || e.err().is_trimmed_data_access_exception() =>
            {
                if e.err().is_trimmed_data_access_exception()
                    && let Some(shard) = self.shards.get_mut(shard_id)
                {
                    tracing::warn!(
                        shard_id,
                        "records expired before they were read; resuming at TRIM_HORIZON"
                    );
                    shard.resume = Resume::Start(StartingPosition::TrimHorizon);
                }
                if let Some(shard) = self.shards.get_mut(shard_id) {
                    shard.iterator = None;
                }
                self.get_records(shard_id).await
            }
            other => other,
        }
        .map_err(|e| sdk_error("GetRecords", e))?;
        let Some(shard) = self.shards.get_mut(shard_id) else {
            return Ok(Vec::new());
        };
        shard.iterator = output.next_shard_iterator.clone();
        if output.records().is_empty() && shard.iterator.is_none() {
            shard.finished = true;
        }
        Ok(output
            .records()
            .iter()
            .map(|r| to_lambda_record(r, &self.stream_arn, &self.region))
            .collect())
    }

    async fn get_records(
        &mut self,
        shard_id: &str,
    ) -> Result<
        GetRecordsOutput,
        SdkError<GetRecordsError, aws_sdk_dynamodbstreams::config::http::HttpResponse>,
    > {
        let iterator = match self.shards.get(shard_id).and_then(|s| s.iterator.clone()) {
            Some(iterator) => iterator,
            None => {
                let iterator = self
                    .iterator(shard_id)
                    .await
                    .map_err(SdkError::construction_failure)?;
                if let Some(shard) = self.shards.get_mut(shard_id) {
                    shard.iterator = Some(iterator.clone());
                }
                iterator
            }
        };
        self.client
            .get_records()
            .shard_iterator(iterator)
            .limit(self.batch_size)
            .send()
            .await
    }

    async fn iterator(&self, shard_id: &str) -> Result<String, GatewayError> {
        let resume = self
            .shards
            .get(shard_id)
            .map(|s| s.resume.clone())
            .unwrap_or(Resume::Start(self.start));
        let request = self
            .client
            .get_shard_iterator()
            .stream_arn(&self.stream_arn)
            .shard_id(shard_id);
        let request = match resume {
            Resume::Start(StartingPosition::TrimHorizon) => {
                request.shard_iterator_type(ShardIteratorType::TrimHorizon)
            }
            Resume::Start(StartingPosition::Latest) => {
                request.shard_iterator_type(ShardIteratorType::Latest)
            }
            Resume::At(seq) => request
                .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
                .sequence_number(seq),
            Resume::After(seq) => request
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .sequence_number(seq),
        };
        request
            .send()
            .await
            .map_err(|e| sdk_error("GetShardIterator", e))?
            .shard_iterator
            .ok_or_else(|| GatewayError::Internal(format!("no shard iterator for {shard_id}")))
    }

    /// The batch is done up to `seq`; the current iterator continues after it.
    fn checkpoint_after(&mut self, shard_id: &str, seq: String) {
        if let Some(shard) = self.shards.get_mut(shard_id) {
            shard.resume = Resume::After(seq);
            if shard.iterator.is_none() {
                shard.finished = true;
            }
        }
    }

    /// Drops the iterator: the next poll reads from `resume`.
    fn reread(&mut self, shard_id: &str, resume: Resume) {
        if let Some(shard) = self.shards.get_mut(shard_id) {
            shard.resume = resume;
            shard.iterator = None;
            shard.finished = false;
        }
    }

    fn on_failure_record(
        &self,
        shard_id: &str,
        record: &EventRecord,
        attempts: u32,
        function_error: Option<String>,
    ) -> OnFailureRecord {
        let seq = sequence_number(record).to_owned();
        let arrival = record
            .change
            .approximate_creation_date_time
            .to_rfc3339_opts(SecondsFormat::Millis, true);
        OnFailureRecord {
            request_context: RequestContext {
                request_id: format!("local-{:08x}", self.invocations),
                function_arn: self.function_arn.clone(),
                condition: "RetryAttemptsExhausted".to_owned(),
                approximate_invoke_count: attempts,
            },
            response_context: ResponseContext {
                status_code: 200,
                executed_version: "$LATEST".to_owned(),
                function_error,
            },
            version: "1.0".to_owned(),
            timestamp: chrono::Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            batch_info: DdbStreamBatchInfo {
                shard_id: shard_id.to_owned(),
                start_sequence_number: seq.clone(),
                end_sequence_number: seq,
                approximate_arrival_of_first_record: arrival.clone(),
                approximate_arrival_of_last_record: arrival,
                batch_size: 1,
                stream_arn: self.stream_arn.clone(),
            },
        }
    }
}

/// The index of the earliest record the response reports. An identifier that is empty or
/// names no record of the batch fails the whole batch (index 0), as Lambda treats it.
fn first_failure(delivered: &[EventRecord], response: &DynamoDbEventResponse) -> Option<usize> {
    let mut earliest: Option<usize> = None;
    for failure in &response.batch_item_failures {
        let position = failure
            .item_identifier
            .as_deref()
            .filter(|id| !id.is_empty())
            .and_then(|id| delivered.iter().position(|r| sequence_number(r) == id));
        let index = position.unwrap_or(0);
        earliest = Some(earliest.map_or(index, |e| e.min(index)));
    }
    earliest
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_aws::lambda_batch::dynamodb_batch_response as batch_response;

    fn records(seqs: &[&str]) -> Vec<EventRecord> {
        seqs.iter()
            .map(|s| {
                let mut r = EventRecord::default();
                r.change.sequence_number = Some((*s).to_owned());
                r
            })
            .collect()
    }

    #[test]
    fn the_earliest_reported_record_is_where_reading_resumes() {
        let batch = records(&["10", "11", "12"]);
        assert_eq!(first_failure(&batch, &batch_response([])), None);
        assert_eq!(
            first_failure(&batch, &batch_response(["12".into(), "11".into()])),
            Some(1)
        );
        assert_eq!(
            first_failure(&batch, &batch_response(["99".into()])),
            Some(0),
            "unknown id: whole batch"
        );
        assert_eq!(
            first_failure(&batch, &batch_response(["".into()])),
            Some(0),
            "empty id: whole batch"
        );
    }
}
