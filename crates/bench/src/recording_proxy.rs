//! A recording HTTP/1.1 proxy between a process under test and its AWS endpoints: each listener
//! forwards to one upstream (moto or bedrock-sim) and appends every forwarded request to one
//! ordered log shared by all listeners — which upstream, the operation (DynamoDB's
//! `X-Amz-Target`, else method and path) and when the upstream was waited on. The order of the
//! log is the order the process sent its calls in; the wait is the emulator's time, so it can
//! be told apart from the gateway's.
//!
//! Bodies are buffered (the proxied calls are JSON requests and whole answers), so this is for
//! non-streaming calls only.

use crate::client::{self, Sender};
use anyhow::Context;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Full};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Largest body forwarded either way; the proxied calls are a few KiB.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Upstream {
    Moto,
    Bedrock,
}

/// One forwarded request.
#[derive(Debug, Clone)]
pub struct Call {
    pub upstream: Upstream,
    /// `GetItem`, `TransactWriteItems`, … (the `X-Amz-Target` after its service prefix), else
    /// `POST /model/…/converse`.
    pub operation: String,
    /// Request received from the process under test.
    pub received: Instant,
    /// Upstream asked → its whole answer read: the emulator's time.
    pub upstream_started: Instant,
    pub upstream_ended: Instant,
    /// The upstream's status, or 502 when it could not be reached.
    pub status: u16,
}

/// The ordered log of every listener of one proxy.
#[derive(Debug, Default)]
pub struct CallLog(Mutex<Vec<Call>>);

impl CallLog {
    /// Calls logged so far (a mark for [`CallLog::since`]).
    pub fn mark(&self) -> usize {
        self.0.lock().map(|l| l.len()).unwrap_or(0)
    }

    /// The calls logged from `mark` on, in order.
    pub fn since(&self, mark: usize) -> Vec<Call> {
        self.0
            .lock()
            .map(|l| l.get(mark..).map(<[Call]>::to_vec).unwrap_or_default())
            .unwrap_or_default()
    }

    fn push(&self, call: Call) {
        if let Ok(mut log) = self.0.lock() {
            log.push(call);
        }
    }
}

struct Listener {
    upstream: Upstream,
    addr: SocketAddr,
    /// Idle keep-alive connections to the upstream.
    idle: Mutex<Vec<Sender>>,
    log: Arc<CallLog>,
}

/// Starts a listener on a free local port forwarding to `upstream_addr`; returns its address.
/// It runs as a task on the current runtime until the process ends.
pub async fn listen(
    upstream: Upstream,
    upstream_addr: SocketAddr,
    log: Arc<CallLog>,
) -> anyhow::Result<SocketAddr> {
    let state = Arc::new(Listener {
        upstream,
        addr: upstream_addr,
        idle: Mutex::new(Vec::new()),
        log,
    });
    let app = Router::new().fallback(forward).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        // Ends with the process; a failed accept loop shows as the gateway's upstream errors.
        let _ = axum::serve(listener, app).await;
    });
    Ok(addr)
}

/// `http://host:port` of an endpoint URL, as a socket address.
pub fn socket_addr(endpoint_url: &str) -> anyhow::Result<SocketAddr> {
    let rest = endpoint_url
        .strip_prefix("http://")
        .with_context(|| format!("{endpoint_url}: not an http:// URL"))?;
    let host_port = rest.split('/').next().unwrap_or(rest);
    let host_port = host_port.replacen("localhost", "127.0.0.1", 1);
    host_port
        .parse()
        .with_context(|| format!("{endpoint_url}: not host:port"))
}

async fn forward(State(listener): State<Arc<Listener>>, request: Request) -> Response {
    let received = Instant::now();
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("proxy: body: {e}")).into_response(),
    };
    let operation = operation(&parts, &body);
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned());
    let upstream_started = Instant::now();
    let result = listener.send(parts, &path, body).await;
    let upstream_ended = Instant::now();
    let (response, status) = match result {
        Ok(response) => {
            let status = response.status().as_u16();
            (response, status)
        }
        Err(e) => (
            (StatusCode::BAD_GATEWAY, format!("proxy: upstream: {e:#}")).into_response(),
            502,
        ),
    };
    listener.log.push(Call {
        upstream: listener.upstream,
        operation,
        received,
        upstream_started,
        upstream_ended,
        status,
    });
    response
}

impl Listener {
    async fn send(
        &self,
        parts: http::request::Parts,
        path: &str,
        body: Bytes,
    ) -> anyhow::Result<Response> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let mut sender = match idle {
            Some(s) if !s.is_closed() => s,
            _ => client::connect(self.addr).await?,
        };
        sender.ready().await?;
        let mut request = http::Request::builder()
            .method(parts.method)
            .uri(path)
            .body(Full::new(body))?;
        *request.headers_mut() = parts.headers;
        strip_framing(request.headers_mut());
        let answer = sender.send_request(request).await?;
        let (mut parts, body) = answer.into_parts();
        strip_framing(&mut parts.headers);
        let bytes = body.collect().await?.to_bytes();
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(sender);
        }
        Ok(Response::from_parts(parts, Body::from(bytes)))
    }
}

/// The body is re-framed on each hop (buffered: a length, not chunks).
fn strip_framing(headers: &mut http::HeaderMap) {
    for name in [
        http::header::TRANSFER_ENCODING,
        http::header::CONTENT_LENGTH,
        http::header::CONNECTION,
    ] {
        headers.remove(name);
    }
}

/// Appended to a DynamoDB operation on the shared model health and breaker items (keys
/// `HEALTH#…`, `BREAKER#…`): state the resilience layer loads when its cache is stale and
/// flushes every few seconds, not the controls' per-request calls.
pub const RESILIENCE_SUFFIX: &str = " (model health, breaker)";

fn touches_resilience_state(body: &[u8]) -> bool {
    let has = |needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
    has(br#""S":"HEALTH#"#) || has(br#""S":"BREAKER#"#)
}

/// DynamoDB's (JSON protocol) `X-Amz-Target` after its service prefix; the query protocol's
/// (SNS, SQS) `Action=` form field; else method and path.
fn operation(parts: &http::request::Parts, body: &[u8]) -> String {
    if let Some(target) = parts.headers.get("x-amz-target") {
        let target = target.to_str().unwrap_or("?");
        let name = target.rsplit('.').next().unwrap_or(target);
        return if touches_resilience_state(body) {
            format!("{name}{RESILIENCE_SUFFIX}")
        } else {
            name.to_owned()
        };
    }
    let action = std::str::from_utf8(body).ok().and_then(|form| {
        form.split('&')
            .find_map(|pair| pair.strip_prefix("Action="))
            .filter(|a| !a.is_empty() && a.len() <= 64)
    });
    match action {
        Some(action) => action.to_owned(),
        None => format!("{} {}", parts.method, parts.uri.path()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(target: Option<&str>) -> http::request::Parts {
        let mut request = http::Request::post("/model/m/converse");
        if let Some(t) = target {
            request = request.header("x-amz-target", t);
        }
        request.body(()).unwrap().into_parts().0
    }

    #[test]
    fn names_operations_by_protocol() {
        assert_eq!(
            operation(&parts(Some("DynamoDB_20120810.GetItem")), b"{}"),
            "GetItem"
        );
        assert_eq!(
            operation(&parts(None), b"Action=Publish&Version=2010-03-31"),
            "Publish"
        );
        assert_eq!(operation(&parts(None), b"{}"), "POST /model/m/converse");
    }

    #[test]
    fn the_resilience_layers_items_are_told_apart() {
        let get = parts(Some("DynamoDB_20120810.GetItem"));
        let health = br#"{"TableName":"t","Key":{"pk":{"S":"HEALTH#m"},"sk":{"S":"HEALTH#m"}}}"#;
        let breaker = br#"{"TableName":"t","Item":{"pk":{"S":"BREAKER#m#us-east-1"}}}"#;
        let key = br#"{"TableName":"t","Key":{"pk":{"S":"KEY#abc"}}}"#;
        assert_eq!(operation(&get, health), "GetItem (model health, breaker)");
        assert_eq!(operation(&get, breaker), "GetItem (model health, breaker)");
        assert_eq!(operation(&get, key), "GetItem");
    }

    #[test]
    fn endpoint_urls_become_socket_addresses() {
        assert_eq!(
            socket_addr("http://localhost:4566/").unwrap(),
            "127.0.0.1:4566".parse().unwrap()
        );
        assert!(socket_addr("https://x:1").is_err());
    }
}
