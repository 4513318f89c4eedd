//! A minimal Lambda Runtime API (the `2018-06-01` interface a custom runtime polls), enough to
//! run the real release Lambda binary outside Lambda: hands out a fixed list of events, records
//! when each is taken and answered, and notes when the function first polls (the end of init).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

pub use testkit::lambda_runtime::{
    function_arn, function_url_event, http_api_event, invocation_headers, lambda_command,
};

pub const FUNCTION_NAME: &str = "gateway-api";

/// One event to hand to the function.
#[derive(Debug, Clone)]
pub struct Event {
    pub label: &'static str,
    pub payload: Value,
}

/// One answered invocation.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub label: &'static str,
    /// Event handed out (the `/next` response) → response or error posted.
    pub duration: Duration,
    /// `statusCode` of the API Gateway response the function returned, if it returned one.
    pub status_code: Option<u16>,
    /// Set when the function posted to `/error` instead.
    pub error: Option<String>,
}

/// What the function did during init, captured at its first `/next` poll.
#[derive(Debug, Clone)]
pub struct FirstPoll {
    pub at: Instant,
    /// Connections accepted by the sentinel (every AWS endpoint) before this poll.
    pub sentinel_connections: u64,
}

pub struct RuntimeState {
    events: Mutex<VecDeque<Event>>,
    in_flight: Mutex<HashMap<String, (Instant, &'static str)>>,
    pub done: Mutex<Vec<Invocation>>,
    pub first_poll: OnceLock<FirstPoll>,
    /// Called once, at the first poll, while the function is still waiting for its answer.
    on_first_poll: Mutex<Option<Box<dyn FnOnce() + Send>>>,
    pub init_error: Mutex<Option<String>>,
    pub unexpected: Mutex<Vec<String>>,
    sentinel: Arc<std::sync::atomic::AtomicU64>,
    pub changed: Notify,
    next_id: std::sync::atomic::AtomicU64,
}

impl RuntimeState {
    pub fn new(events: Vec<Event>, sentinel: Arc<std::sync::atomic::AtomicU64>) -> Arc<Self> {
        Arc::new(Self {
            events: Mutex::new(events.into()),
            in_flight: Mutex::new(HashMap::new()),
            done: Mutex::new(Vec::new()),
            first_poll: OnceLock::new(),
            on_first_poll: Mutex::new(None),
            init_error: Mutex::new(None),
            unexpected: Mutex::new(Vec::new()),
            sentinel,
            changed: Notify::new(),
            next_id: std::sync::atomic::AtomicU64::new(1),
        })
    }

    pub fn on_first_poll(&self, f: impl FnOnce() + Send + 'static) {
        if let Ok(mut slot) = self.on_first_poll.lock() {
            *slot = Some(Box::new(f));
        }
    }

    pub fn answered(&self) -> Vec<Invocation> {
        self.done.lock().map(|d| d.clone()).unwrap_or_default()
    }
}

/// Serves the Runtime API on 127.0.0.1 (any free port) until the returned task is aborted.
pub async fn serve(
    state: Arc<RuntimeState>,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .fallback(unexpected)
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        // Ends when aborted; a serve error only means the function went away.
        let _ = axum::serve(listener, app).await;
    });
    Ok((addr, task))
}

async fn next(State(state): State<Arc<RuntimeState>>) -> Response {
    if state.first_poll.get().is_none() {
        let sentinel_connections = state.sentinel.load(std::sync::atomic::Ordering::SeqCst);
        let _ = state.first_poll.set(FirstPoll {
            at: Instant::now(),
            sentinel_connections,
        });
        let hook = state.on_first_poll.lock().ok().and_then(|mut h| h.take());
        if let Some(hook) = hook {
            hook();
        }
        state.changed.notify_waiters();
    }
    let event = state.events.lock().ok().and_then(|mut e| e.pop_front());
    let Some(event) = event else {
        // Nothing more to invoke: keep the function waiting, as Lambda does, until it is stopped.
        std::future::pending::<()>().await;
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let n = state
        .next_id
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let (request_id, headers) = invocation_headers(n, &function_arn(FUNCTION_NAME));
    if let Ok(mut in_flight) = state.in_flight.lock() {
        in_flight.insert(request_id, (Instant::now(), event.label));
    }
    (StatusCode::OK, headers, event.payload.to_string()).into_response()
}

fn finish(state: &RuntimeState, id: &str, status_code: Option<u16>, error: Option<String>) {
    let started = state.in_flight.lock().ok().and_then(|mut f| f.remove(id));
    match started {
        Some((at, label)) => {
            if let Ok(mut done) = state.done.lock() {
                done.push(Invocation {
                    label,
                    duration: at.elapsed(),
                    status_code,
                    error,
                });
            }
        }
        None => {
            if let Ok(mut u) = state.unexpected.lock() {
                u.push(format!("answer for unknown request id {id}"));
            }
        }
    }
    state.changed.notify_waiters();
}

/// `statusCode` from a buffered API Gateway response, or from the JSON prelude of a streamed one
/// (prelude, eight NUL bytes, body).
fn status_code(body: &[u8]) -> Option<u16> {
    let prelude = match body.windows(8).position(|w| w == [0u8; 8]) {
        Some(end) if serde_json::from_slice::<Value>(body).is_err() => &body[..end],
        _ => body,
    };
    let value: Value = serde_json::from_slice(prelude).ok()?;
    value
        .get("statusCode")?
        .as_u64()
        .and_then(|c| u16::try_from(c).ok())
}

async fn response(
    State(state): State<Arc<RuntimeState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    finish(&state, &id, status_code(&body), None);
    StatusCode::ACCEPTED
}

async fn error(
    State(state): State<Arc<RuntimeState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    let message = String::from_utf8_lossy(&body).into_owned();
    finish(&state, &id, None, Some(message));
    StatusCode::ACCEPTED
}

async fn init_error(State(state): State<Arc<RuntimeState>>, body: Bytes) -> StatusCode {
    if let Ok(mut e) = state.init_error.lock() {
        *e = Some(String::from_utf8_lossy(&body).into_owned());
    }
    state.changed.notify_waiters();
    StatusCode::ACCEPTED
}

async fn unexpected(State(state): State<Arc<RuntimeState>>, uri: axum::http::Uri) -> StatusCode {
    if let Ok(mut u) = state.unexpected.lock() {
        u.push(format!("unexpected call to {uri}"));
    }
    StatusCode::NOT_FOUND
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_code_of_buffered_and_streamed_responses() {
        assert_eq!(status_code(br#"{"statusCode":200,"body":"{}"}"#), Some(200));
        let mut streamed = br#"{"statusCode":404,"headers":{}}"#.to_vec();
        streamed.extend_from_slice(&[0u8; 8]);
        streamed.extend_from_slice(b"not json");
        assert_eq!(status_code(&streamed), Some(404));
        assert_eq!(status_code(b"garbage"), None);
    }

    #[test]
    fn the_event_is_an_http_api_v2_event() {
        let e = http_api_event("POST", "/v1/converse", Some("{}"));
        assert_eq!(e["version"], "2.0");
        assert_eq!(e["requestContext"]["http"]["method"], "POST");
        assert_eq!(e["headers"]["content-length"], "2");
        // No httpMethod, so lambda_http cannot mistake it for a REST API (v1) event.
        assert!(e.get("httpMethod").is_none());
    }
}
