//! Result events over EventBridge: one `PutEvents` entry per terminal job on the gateway's
//! bus (source `genai.gateway`, detail-type `GenAI Job Succeeded` / `GenAI Job Failed`), up to
//! ten entries (a batch's jobs) per call. An event's detail is the same bytes on every publish
//! of one job, so a subscriber can deduplicate by content.

use super::aws_error;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use gateway::GatewayError;
use gateway::jobs::events::{BatchPublished, EVENT_SOURCE, JobEventPublisher, JobResultEvent};
use std::future::Future;
use std::pin::Pin;

#[derive(Debug, Clone)]
pub struct EventBridgeJobEvents {
    client: aws_sdk_eventbridge::Client,
    bus_name: String,
}

impl EventBridgeJobEvents {
    pub fn new(client: aws_sdk_eventbridge::Client, bus_name: impl Into<String>) -> Self {
        Self {
            client,
            bus_name: bus_name.into(),
        }
    }

    fn entry(&self, event: &JobResultEvent) -> Result<PutEventsRequestEntry, GatewayError> {
        let detail =
            serde_json::to_string(event).map_err(|e| GatewayError::Internal(e.to_string()))?;
        Ok(PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus_name)
            .source(EVENT_SOURCE)
            .detail_type(event.detail_type())
            .detail(detail)
            .build())
    }

    /// One `PutEvents` call; its answer lists the entries in order, each failed or not.
    #[tracing::instrument(skip_all, fields(events = events.len()))]
    async fn put_all(&self, events: &[JobResultEvent]) -> Vec<Result<(), GatewayError>> {
        let mut results: Vec<Result<(), GatewayError>> = Vec::with_capacity(events.len());
        let mut entries = Vec::with_capacity(events.len());
        let mut sent = Vec::with_capacity(events.len());
        for (index, event) in events.iter().enumerate() {
            match self.entry(event) {
                Ok(entry) => {
                    entries.push(entry);
                    sent.push(index);
                    results.push(Ok(()));
                }
                Err(error) => results.push(Err(error)),
            }
        }
        if entries.is_empty() {
            return results;
        }
        let output = match self
            .client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
        {
            Ok(output) => output,
            Err(error) => {
                let error = aws_error("events:PutEvents", error);
                return results
                    .into_iter()
                    .map(|r| r.and(Err(error.clone())))
                    .collect();
            }
        };
        for (n, index) in sent.into_iter().enumerate() {
            let failed = match output.entries().get(n) {
                Some(entry) => entry.error_code().map(str::to_owned),
                None if output.failed_entry_count() > 0 => Some("unknown".to_owned()),
                None => None,
            };
            if let Some(code) = failed {
                results[index] = Err(aws_error("events:PutEvents(entry)", code));
            }
        }
        results
    }

    #[tracing::instrument(skip_all, fields(job_id = %event.job_id))]
    async fn put(&self, event: &JobResultEvent) -> Result<(), GatewayError> {
        let entry = self.entry(event)?;
        let output = self
            .client
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| aws_error("events:PutEvents", e))?;
        // PutEvents answers 200 with per-entry failures: one failed entry is a failed publish.
        if output.failed_entry_count() > 0 {
            let code = output
                .entries()
                .first()
                .and_then(|e| e.error_code())
                .unwrap_or("unknown");
            return Err(aws_error("events:PutEvents(entry)", code));
        }
        Ok(())
    }
}

impl JobEventPublisher for EventBridgeJobEvents {
    fn publish<'a>(
        &'a self,
        event: &'a JobResultEvent,
    ) -> Pin<Box<dyn Future<Output = Result<(), GatewayError>> + Send + 'a>> {
        Box::pin(self.put(event))
    }

    fn publish_batch<'a>(&'a self, events: &'a [JobResultEvent]) -> BatchPublished<'a> {
        Box::pin(self.put_all(events))
    }
}
