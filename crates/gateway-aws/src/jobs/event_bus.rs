//! Result events over EventBridge: one `PutEvents` entry per terminal job on the gateway's
//! bus (source `genai.gateway`, detail-type `GenAI Job Succeeded` / `GenAI Job Failed`), up to
//! ten entries (a batch's jobs) per call. An event's detail is the same bytes on every publish
//! of one job, so a subscriber can deduplicate by content.

use super::aws_error;
use super::batch_publish::{Refused, publish_in_batches};
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

    /// `PutEvents` calls of up to ten entries; each answer lists its entries in order, each
    /// failed or not.
    #[tracing::instrument(skip_all, fields(events = events.len()))]
    async fn put_all(&self, events: &[JobResultEvent]) -> Vec<Result<(), GatewayError>> {
        let send = |entries: Vec<(usize, PutEventsRequestEntry)>| async move {
            let (indexes, entries): (Vec<usize>, Vec<_>) = entries.into_iter().unzip();
            let output = self
                .client
                .put_events()
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|error| aws_error("events:PutEvents", error))?;
            let mut refused = Vec::new();
            for (n, index) in indexes.into_iter().enumerate() {
                let failed = match output.entries().get(n) {
                    Some(entry) => entry.error_code().map(str::to_owned),
                    None if output.failed_entry_count() > 0 => Some("unknown".to_owned()),
                    None => None,
                };
                refused.extend(failed.map(|code| (index, code)));
            }
            Ok::<Refused, GatewayError>(refused)
        };
        let entry = |_: usize, event: &JobResultEvent| self.entry(event);
        publish_in_batches(events, entry, send, "events:PutEvents(entry)").await
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
