//! A Lambda Runtime API whose invocations are made on demand, for any number of function
//! processes polling it at once (each one a Lambda instance): `invoke` queues an event and
//! waits for the answer; each `/next` poll takes the next queued event. The worker part's event
//! source mapping uses it to hand SQS batches to the real worker binary, as Lambda would.

use crate::runtime_api::{function_arn, invocation_headers};
use anyhow::{Context, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

type Answer = Result<Bytes, String>;

struct Pending {
    payload: String,
    reply: oneshot::Sender<Answer>,
}

struct HostState {
    function_arn: String,
    queued: tokio::sync::Mutex<mpsc::UnboundedReceiver<Pending>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
    polls: AtomicU64,
    next_id: AtomicU64,
    init_error: Mutex<Option<String>>,
    unexpected: Mutex<Vec<String>>,
}

/// The Runtime API server; it stops when dropped.
pub struct InvokeHost {
    pub addr: SocketAddr,
    sender: mpsc::UnboundedSender<Pending>,
    state: Arc<HostState>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for InvokeHost {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl InvokeHost {
    pub async fn start(function_name: &str) -> anyhow::Result<InvokeHost> {
        let (sender, receiver) = mpsc::unbounded_channel();
        let state = Arc::new(HostState {
            function_arn: function_arn(function_name),
            queued: tokio::sync::Mutex::new(receiver),
            waiting: Mutex::new(HashMap::new()),
            polls: AtomicU64::new(0),
            next_id: AtomicU64::new(1),
            init_error: Mutex::new(None),
            unexpected: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .fallback(unexpected)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            // Ends when aborted; a serve error only means the functions went away.
            let _ = axum::serve(listener, app).await;
        });
        Ok(InvokeHost {
            addr,
            sender,
            state,
            server,
        })
    }

    /// One invocation: the function's response body, or an error if it reported one.
    pub async fn invoke(&self, payload: String) -> anyhow::Result<Bytes> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Pending { payload, reply })
            .map_err(|_| anyhow::anyhow!("the Runtime API has stopped"))?;
        match answer
            .await
            .context("the invocation was dropped without an answer")?
        {
            Ok(body) => Ok(body),
            Err(error) => bail!("the function reported an error: {error}"),
        }
    }

    /// `/next` polls so far: each instance polls once when its init is done, then once per
    /// invocation.
    pub fn polls(&self) -> u64 {
        self.state.polls.load(Ordering::SeqCst)
    }

    /// An init error or an unexpected Runtime API call, if any happened.
    pub fn problem(&self) -> Option<String> {
        if let Some(e) = self.state.init_error.lock().ok().and_then(|e| e.clone()) {
            return Some(format!("init error: {e}"));
        }
        self.state
            .unexpected
            .lock()
            .ok()
            .and_then(|u| u.first().cloned())
    }
}

async fn next(State(state): State<Arc<HostState>>) -> Response {
    state.polls.fetch_add(1, Ordering::SeqCst);
    // One poller at a time waits on the queue; the others wait for the lock, as idle Lambda
    // instances wait for work.
    let pending = state.queued.lock().await.recv().await;
    let Some(pending) = pending else {
        std::future::pending::<()>().await;
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let n = state.next_id.fetch_add(1, Ordering::SeqCst);
    let (request_id, headers) = invocation_headers(n, &state.function_arn);
    if let Ok(mut waiting) = state.waiting.lock() {
        waiting.insert(request_id, pending.reply);
    }
    (StatusCode::OK, headers, pending.payload).into_response()
}

fn answer(state: &HostState, id: &str, answer: Answer) {
    let reply = state.waiting.lock().ok().and_then(|mut w| w.remove(id));
    match reply {
        // The caller may have given up (timeout): nothing to tell.
        Some(reply) => {
            let _ = reply.send(answer);
        }
        None => {
            if let Ok(mut u) = state.unexpected.lock() {
                u.push(format!("answer for unknown request id {id}"));
            }
        }
    }
}

async fn response(
    State(state): State<Arc<HostState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    answer(&state, &id, Ok(body));
    StatusCode::ACCEPTED
}

async fn error(
    State(state): State<Arc<HostState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    answer(
        &state,
        &id,
        Err(String::from_utf8_lossy(&body).into_owned()),
    );
    StatusCode::ACCEPTED
}

async fn init_error(State(state): State<Arc<HostState>>, body: Bytes) -> StatusCode {
    if let Ok(mut e) = state.init_error.lock() {
        *e = Some(String::from_utf8_lossy(&body).into_owned());
    }
    StatusCode::ACCEPTED
}

async fn unexpected(State(state): State<Arc<HostState>>, uri: axum::http::Uri) -> StatusCode {
    if let Ok(mut u) = state.unexpected.lock() {
        u.push(format!("unexpected call to {uri}"));
    }
    StatusCode::NOT_FOUND
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    #[tokio::test]
    async fn an_invocation_reaches_a_poller_and_its_answer_comes_back() {
        let host = InvokeHost::start("bench-test").await.unwrap();
        let addr = host.addr;
        // A minimal function: poll once, answer with the payload reversed.
        let function = tokio::spawn(async move {
            let (status, headers, body) =
                crate::client::call(addr, Method::GET, "/2018-06-01/runtime/invocation/next", "")
                    .await
                    .unwrap();
            assert_eq!(status, 200);
            let id = headers["lambda-runtime-aws-request-id"].to_str().unwrap();
            assert!(
                headers["lambda-runtime-invoked-function-arn"]
                    .to_str()
                    .unwrap()
                    .ends_with(":function:bench-test")
            );
            let reversed: String = String::from_utf8_lossy(&body).chars().rev().collect();
            crate::client::call_ok(
                addr,
                Method::POST,
                &format!("/2018-06-01/runtime/invocation/{id}/response"),
                &reversed,
            )
            .await
            .unwrap();
        });
        let answer = host.invoke("abc".to_owned()).await.unwrap();
        assert_eq!(&answer[..], b"cba");
        function.await.unwrap();
        assert_eq!(host.polls(), 1);
        assert!(host.problem().is_none());
    }

    #[tokio::test]
    async fn a_reported_error_is_an_error() {
        let host = InvokeHost::start("bench-test").await.unwrap();
        let addr = host.addr;
        tokio::spawn(async move {
            let (_, headers, _) =
                crate::client::call(addr, Method::GET, "/2018-06-01/runtime/invocation/next", "")
                    .await
                    .unwrap();
            let id = headers["lambda-runtime-aws-request-id"].to_str().unwrap();
            crate::client::call_ok(
                addr,
                Method::POST,
                &format!("/2018-06-01/runtime/invocation/{id}/error"),
                r#"{"errorMessage":"boom"}"#,
            )
            .await
            .unwrap();
        });
        let error = host.invoke("{}".to_owned()).await.unwrap_err();
        assert!(format!("{error:#}").contains("boom"), "{error:#}");
    }
}
