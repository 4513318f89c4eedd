//! Exactly one audit record per request: the auth layer opens it, handlers and the controls
//! fill it in, and it is written — one structured `tracing` event on the `audit` target and one
//! EMF line — when the response is complete: at once for a buffered body, when the last byte
//! went out (or the caller went away) for a stream.

use super::MetricsSink;
use axum::body::Body;
use axum::body::HttpBody as _;
use axum::response::Response;
use futures_util::StreamExt;

pub use gateway::metered::AuditSlot;

/// Writes the record: the `audit` event and the EMF line.
fn write(slot: &AuditSlot, metrics: &MetricsSink, namespace: &str) {
    let latency_ms = u64::try_from(slot.elapsed().as_millis()).unwrap_or(u64::MAX);
    // Written once, at the end of the response: the record is not cloned for it.
    let mut record = slot.lock();
    record.latency_ms = latency_ms;
    tracing::info!(
        target: "audit",
        request_id = %record.request_id,
        principal = %record.principal,
        tenant = %record.tenant,
        auth = %record.auth,
        method = %record.method,
        route = %record.route,
        model = %record.model,
        served_model = %record.served_model,
        region = %record.region,
        status = record.status,
        error_code = %record.error_code,
        input_tokens = record.input_tokens,
        output_tokens = record.output_tokens,
        cache_read_tokens = record.cache_read_tokens,
        cache_write_tokens = record.cache_write_tokens,
        cost_usd = %record.cost_usd,
        latency_ms = record.latency_ms,
        cache = record.cache.as_str(),
        attempts = record.attempts,
        streamed = record.streamed,
        prompt = record.prompt.as_deref(),
        completion = record.completion.as_deref(),
        "audit"
    );
    if metrics.is_on() {
        let line = record.emf_line(namespace, gateway::clock::unix_ms());
        if !line.is_empty() {
            metrics.emit(&line);
        }
    }
}

/// Writes the record when `AuditSlot` is dropped with the response body.
struct WriteOnDrop {
    slot: AuditSlot,
    metrics: MetricsSink,
    namespace: String,
}

impl Drop for WriteOnDrop {
    fn drop(&mut self) {
        write(&self.slot, &self.metrics, &self.namespace);
    }
}

/// The response, with the record written now (buffered body) or when its body ends (stream).
pub fn finish(
    response: Response,
    slot: AuditSlot,
    metrics: MetricsSink,
    namespace: String,
) -> Response {
    let status = response.status().as_u16();
    let code = response
        .extensions()
        .get::<crate::error_response::ErrorCode>()
        .map(|c| c.0);
    slot.update(|r| {
        r.status = status;
        if let Some(code) = code {
            r.error_code = code.to_owned();
        } else if status >= 400 && r.error_code.is_empty() {
            r.error_code = format!("http_{status}");
        }
    });
    if response.body().size_hint().exact().is_some() {
        write(&slot, &metrics, &namespace);
        return response;
    }
    slot.update(|r| r.streamed = true);
    let guard = WriteOnDrop {
        slot,
        metrics,
        namespace,
    };
    let (parts, body) = response.into_parts();
    let stream = body.into_data_stream().map(move |chunk| {
        let _held = &guard;
        chunk
    });
    Response::from_parts(parts, Body::from_stream(stream))
}

/// Writes the record of a request whose caller went away before the response existed (the
/// handler was dropped mid-call): status 499, with whatever the call had settled or charged.
/// Disarmed once the response exists; [`finish`] writes it from then on.
pub struct WriteIfAbandoned {
    armed: Option<(AuditSlot, MetricsSink, String)>,
}

impl WriteIfAbandoned {
    pub fn arm(slot: &AuditSlot, metrics: &MetricsSink, namespace: &str) -> Self {
        Self {
            armed: Some((slot.clone(), metrics.clone(), namespace.to_owned())),
        }
    }

    pub fn disarm(mut self) {
        self.armed = None;
    }
}

impl Drop for WriteIfAbandoned {
    fn drop(&mut self) {
        let Some((slot, metrics, namespace)) = self.armed.take() else {
            return;
        };
        slot.update(|r| {
            r.status = gateway::controls::audit::CLIENT_CLOSED;
            if r.error_code.is_empty() {
                r.error_code = "client_closed".to_owned();
            }
        });
        write(&slot, &metrics, &namespace);
    }
}
