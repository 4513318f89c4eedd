//! Result events over EventBridge: one `PutEvents` entry per terminal job on the gateway's
//! bus (source `genai.gateway`, detail-type `GenAI Job Succeeded` / `GenAI Job Failed`).

use super::aws_error;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use gateway::GatewayError;
use gateway::jobs::events::{EVENT_SOURCE, JobEventPublisher, JobResultEvent};
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

    #[tracing::instrument(skip_all, fields(job_id = %event.job_id))]
    async fn put(&self, event: &JobResultEvent) -> Result<(), GatewayError> {
        let detail =
            serde_json::to_string(event).map_err(|e| GatewayError::Internal(e.to_string()))?;
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus_name)
            .source(EVENT_SOURCE)
            .detail_type(event.detail_type())
            .detail(detail)
            .build();
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
}
