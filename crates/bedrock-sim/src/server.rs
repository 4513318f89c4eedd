//! The HTTP surface: Bedrock Runtime routes, the admin routes, and the server lifecycle.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::serve::ListenerExt;
use http::{HeaderValue, Uri, header};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::behavior::{Behavior, SimConfig};
use crate::catalog::ResolvedModel;
use crate::control::{CallCounts, PlannedOutcome};
use crate::converse::{self, StreamShape};
use crate::error::{ApiError, ErrorKind, SimError};
use crate::paths::{decode_segment, unknown_operation};
use crate::reply::{self, GenRequest};
use crate::state::SimState;
use crate::stream::{Segments, sleep_unless_shutdown};
use crate::{admin, anthropic, count_tokens, embeddings, request_id, titan};

/// Largest request body accepted (images and documents can be large).
const BODY_LIMIT: usize = 32 * 1024 * 1024;
const EVENT_STREAM: &str = "application/vnd.amazon.eventstream";

/// Starts simulators.
#[derive(Debug, Clone, Copy)]
pub struct Simulator;

impl Simulator {
    /// Binds `127.0.0.1:0` and serves on the current tokio runtime.
    pub async fn start(config: SimConfig) -> Result<SimHandle, SimError> {
        Simulator::bind(SocketAddr::from(([127, 0, 0, 1], 0)), config).await
    }

    /// Binds `addr` and serves on the current tokio runtime.
    pub async fn bind(addr: SocketAddr, config: SimConfig) -> Result<SimHandle, SimError> {
        config.validate()?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| SimError::Bind {
                addr: addr.to_string(),
                source,
            })?;
        let local = listener.local_addr().map_err(|source| SimError::Bind {
            addr: addr.to_string(),
            source,
        })?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let state = Arc::new(SimState::new(config, stop_rx.clone()));
        let app = router(state.clone());
        let mut graceful = stop_rx;
        let task = tokio::spawn(async move {
            // Without TCP_NODELAY a stream's second segment waits for the client's delayed
            // ACK (~40 ms), which distorts whole-stream times.
            axum::serve(
                listener.tap_io(|tcp| {
                    let _ = tcp.set_nodelay(true);
                }),
                app,
            )
            .with_graceful_shutdown(async move {
                // An error means the handle is gone: stop as well.
                let _ = graceful.wait_for(|stop| *stop).await;
            })
            .await
        });
        tracing::debug!(%local, "bedrock-sim listening");
        Ok(SimHandle {
            addr: local,
            state,
            stop: stop_tx,
            task: Some(task),
        })
    }
}

/// A running simulator. Dropping it stops the server (in-flight hangs end at once).
#[derive(Debug)]
pub struct SimHandle {
    addr: SocketAddr,
    state: Arc<SimState>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl SimHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, for the SDK's `endpoint_url`.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sets the behaviour of one model id (exact id as requested, or a base id); rewinds its script.
    pub fn set_behavior(&self, model: &str, behavior: Behavior) {
        self.state.control.set_behavior(model, behavior);
    }

    /// Removes a model's own behaviour; true if it had one.
    pub fn remove_behavior(&self, model: &str) -> bool {
        self.state.control.remove_behavior(model)
    }

    /// Sets the behaviour of models without their own.
    pub fn set_default_behavior(&self, behavior: Behavior) {
        self.state.control.set_default_behavior(behavior);
    }

    /// Back to the start-up config's behaviours (counters kept).
    pub fn reset_behaviors(&self) {
        self.state.control.reset_behaviors();
    }

    /// Back to the start-up config's behaviours, with zero counters and an empty prompt cache.
    pub fn reset(&self) {
        self.state.reset();
    }

    /// From now on, each streamed response sends everything but its last delta (and what follows
    /// it) and waits for [`SimHandle::release_stream_ends`]: a test can check what reached the
    /// client before the model finished, by order rather than by timing.
    pub fn hold_stream_ends(&self) {
        self.state.set_hold(true);
    }

    /// Lets held streams finish (and new ones run straight through).
    pub fn release_stream_ends(&self) {
        self.state.set_hold(false);
    }

    /// Forgets every cached prompt prefix (as if all had expired); behaviours and counters stay.
    pub fn clear_prompt_cache(&self) {
        self.state.prompt_cache.clear();
    }

    /// Calls of one model id (decoded, ARN stripped, as the client named it), rejected ones included.
    pub fn calls(&self, model: &str) -> u64 {
        self.state.control.calls(model)
    }

    /// All call counters.
    pub fn call_counts(&self) -> CallCounts {
        self.state.control.call_counts()
    }

    /// Stops accepting, ends hanging requests and waits for the server to finish.
    pub async fn shutdown(mut self) -> Result<(), SimError> {
        let _ = self.stop.send(true);
        match self.task.take() {
            Some(task) => match task.await {
                Ok(result) => result.map_err(SimError::Serve),
                Err(join) => Err(SimError::Serve(std::io::Error::other(join.to_string()))),
            },
            None => Ok(()),
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// The simulator's router (Bedrock Runtime routes + `/_sim/` admin routes).
pub(crate) fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/model/{*rest}", post(model_route))
        // SageMaker Runtime and Bedrock Agent Runtime share the port: their paths do not collide.
        .route("/endpoints/{*rest}", post(crate::sagemaker::route))
        .route(
            "/knowledgebases/{*rest}",
            post(crate::knowledge_base::retrieve),
        )
        .route(
            "/retrieveAndGenerate",
            post(crate::knowledge_base::retrieve_and_generate),
        )
        .merge(admin::routes())
        .fallback(unknown_operation)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    Converse,
    ConverseStream,
    Invoke,
    InvokeStream,
    CountTokens,
}

impl Operation {
    fn from_path(op: &str) -> Option<Operation> {
        match op {
            "converse" => Some(Operation::Converse),
            "converse-stream" => Some(Operation::ConverseStream),
            "invoke" => Some(Operation::Invoke),
            "invoke-with-response-stream" => Some(Operation::InvokeStream),
            "count-tokens" => Some(Operation::CountTokens),
            _ => None,
        }
    }

    fn is_streaming(self) -> bool {
        matches!(self, Operation::ConverseStream | Operation::InvokeStream)
    }
}

async fn model_route(State(state): State<Arc<SimState>>, uri: Uri, body: Bytes) -> Response {
    let started = Instant::now();
    let Some((raw_id, op)) = uri
        .path()
        .strip_prefix("/model/")
        .and_then(|rest| rest.rsplit_once('/'))
    else {
        return unknown_operation(uri).await;
    };
    let Some(op) = Operation::from_path(op) else {
        return unknown_operation(uri).await;
    };
    let Some(model_id) = decode_segment(raw_id) else {
        return ApiError::validation(
            "The model identifier is not valid UTF-8 once percent-decoded.",
        )
        .into_response();
    };
    let Some(model) = state.catalog.resolve(&model_id) else {
        // Counting tokens is not a model call (see `count_tokens`).
        if op != Operation::CountTokens {
            state.control.count_rejected(&model_id);
        }
        return ApiError::invalid_model().into_response();
    };
    if op == Operation::CountTokens {
        return count_tokens::handle(&model, &body);
    }
    if model.is_embedding() {
        return serve_embedding(&state, op, &model, &body).await;
    }
    let parsed = match op {
        // Answered above; never planned as a model call.
        Operation::CountTokens => return unknown_operation(uri).await,
        Operation::Converse | Operation::ConverseStream => converse::parse(&body),
        Operation::Invoke | Operation::InvokeStream if model.is_anthropic() => {
            anthropic::parse(&body)
        }
        Operation::Invoke | Operation::InvokeStream => titan::parse(&model, &body),
    };
    let request = match parsed {
        Ok(request) => request,
        Err(err) => {
            state.control.count_rejected(&model.id);
            return err.into_response();
        }
    };
    serve_call(&state, op, &model, &request, started).await
}

async fn serve_call(
    state: &SimState,
    op: Operation,
    model: &ResolvedModel,
    request: &GenRequest,
    started: Instant,
) -> Response {
    let plan = state.control.begin_call(model);
    let mut shutdown = state.shutdown_signal();
    let failure = match plan.outcome {
        PlannedOutcome::Ok => plan.stream_failure,
        PlannedOutcome::Error(kind) => return ApiError::injected(kind).into_response(),
        PlannedOutcome::Hang => {
            let _ = shutdown.wait_for(|stop| *stop).await;
            return ApiError::injected(ErrorKind::ServiceUnavailableException).into_response();
        }
        PlannedOutcome::StreamError { kind, after_chunks } => {
            if !op.is_streaming() {
                return ApiError::injected(kind.http_equivalent()).into_response();
            }
            Some((kind, after_chunks))
        }
    };

    let mut reply = reply::generate(request);
    let cache = state
        .prompt_cache
        .apply(&model.base, &request.cache_checkpoints, Instant::now());
    reply.apply_cache(cache);
    let deltas = converse::delta_count(&reply, plan.words_per_chunk);
    let streaming_time = plan
        .chunk_delay
        .saturating_mul(u32::try_from(deltas.saturating_sub(1)).unwrap_or(u32::MAX));
    if !sleep_unless_shutdown(plan.first_token, &mut shutdown).await {
        return ApiError::injected(ErrorKind::ServiceUnavailableException).into_response();
    }
    if !op.is_streaming() && !sleep_unless_shutdown(streaming_time, &mut shutdown).await {
        return ApiError::injected(ErrorKind::ServiceUnavailableException).into_response();
    }
    let first_byte = started.elapsed();
    let latency = if op.is_streaming() {
        first_byte.saturating_add(streaming_time)
    } else {
        first_byte
    };

    match op {
        Operation::Converse => json_response(converse::response_body(&reply, latency), None),
        Operation::Invoke => {
            let body = if model.is_anthropic() {
                anthropic::response_body(model, &reply)
            } else {
                titan::response_body(&reply)
            };
            json_response(body, Some((&reply, latency)))
        }
        // Answered in `model_route`; never reaches a planned call.
        Operation::CountTokens => {
            ApiError::injected(ErrorKind::InternalServerException).into_response()
        }
        Operation::ConverseStream | Operation::InvokeStream => {
            let shape = StreamShape {
                words_per_chunk: plan.words_per_chunk,
                chunk_delay: plan.chunk_delay,
                failure,
                latency,
            };
            let segments = match op {
                Operation::ConverseStream => converse::stream_segments(&reply, shape),
                _ if model.is_anthropic() => {
                    anthropic::stream_segments(model, &reply, shape, first_byte)
                }
                _ => titan::stream_segments(&reply, shape, first_byte),
            };
            event_stream_response(segments, state, op == Operation::InvokeStream)
        }
    }
}

fn json_response(body: Vec<u8>, invoke_usage: Option<(&reply::Reply, Duration)>) -> Response {
    let mut response = Response::new(Body::from(body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert("x-amzn-requestid", request_id::next_header_value());
    if let Some((reply, latency)) = invoke_usage {
        headers.insert(
            "x-amzn-bedrock-input-token-count",
            HeaderValue::from(reply.input_tokens),
        );
        headers.insert(
            "x-amzn-bedrock-output-token-count",
            HeaderValue::from(reply.output_tokens),
        );
        headers.insert(
            "x-amzn-bedrock-invocation-latency",
            HeaderValue::from(converse::millis(latency)),
        );
        if reply.cache.requested {
            headers.insert(
                "x-amzn-bedrock-cache-read-input-token-count",
                HeaderValue::from(reply.cache.read),
            );
            headers.insert(
                "x-amzn-bedrock-cache-write-input-token-count",
                HeaderValue::from(reply.cache.write()),
            );
        }
    }
    response
}

/// InvokeModel on an embedding model: behaviours apply as for text models (errors, hangs,
/// first-token delay); streaming and Converse are refused as the service refuses them.
async fn serve_embedding(
    state: &SimState,
    op: Operation,
    model: &ResolvedModel,
    body: &[u8],
) -> Response {
    if op != Operation::Invoke {
        state.control.count_rejected(&model.id);
        return ApiError::validation(embeddings::UNSUPPORTED_OPERATION).into_response();
    }
    let embedded = match embeddings::embed(model, body) {
        Ok(embedded) => embedded,
        Err(err) => {
            state.control.count_rejected(&model.id);
            return err.into_response();
        }
    };
    let plan = state.control.begin_call(model);
    let mut shutdown = state.shutdown_signal();
    match plan.outcome {
        PlannedOutcome::Ok => {}
        PlannedOutcome::Error(kind) => return ApiError::injected(kind).into_response(),
        PlannedOutcome::StreamError { kind, .. } => {
            return ApiError::injected(kind.http_equivalent()).into_response();
        }
        PlannedOutcome::Hang => {
            let _ = shutdown.wait_for(|stop| *stop).await;
            return ApiError::injected(ErrorKind::ServiceUnavailableException).into_response();
        }
    }
    if !sleep_unless_shutdown(plan.first_token, &mut shutdown).await {
        return ApiError::injected(ErrorKind::ServiceUnavailableException).into_response();
    }
    let mut response = json_response(embedded.body, None);
    response.headers_mut().insert(
        "x-amzn-bedrock-input-token-count",
        HeaderValue::from(embedded.input_tokens),
    );
    response
}

fn event_stream_response(segments: Segments, state: &SimState, invoke: bool) -> Response {
    let mut response = Response::new(segments.into_body(&state.shutdown, &state.hold_signal()));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(EVENT_STREAM));
    headers.insert("x-amzn-requestid", request_id::next_header_value());
    if invoke {
        headers.insert(
            "x-amzn-bedrock-content-type",
            HeaderValue::from_static("application/json"),
        );
    }
    response
}
