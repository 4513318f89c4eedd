//! A minimal HTTP/1.1 client over hyper's connection API: one TCP connection per caller, no
//! pool, no TLS, no redirects, so the load generator adds as little as possible and the same
//! amount to every target.

use anyhow::{Context, bail};
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;

pub type Sender = SendRequest<Full<Bytes>>;

/// Opens one keep-alive HTTP/1.1 connection; its driver runs as a task until either side closes.
pub async fn connect(addr: SocketAddr) -> anyhow::Result<Sender> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connect to {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // The connection ends when the sender is dropped or the peer closes: nothing to report.
        let _ = connection.await;
    });
    Ok(sender)
}

pub fn build(
    addr: SocketAddr,
    method: Method,
    path: &str,
    body: Bytes,
) -> anyhow::Result<Request<Full<Bytes>>> {
    Ok(Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, addr.to_string())
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(body))?)
}

/// One request on a fresh connection, whole body read, with a timeout.
pub async fn call(
    addr: SocketAddr,
    method: Method,
    path: &str,
    body: &str,
) -> anyhow::Result<(StatusCode, HeaderMap, Bytes)> {
    let fut = async {
        let mut sender = connect(addr).await?;
        let request = build(
            addr,
            method.clone(),
            path,
            Bytes::copy_from_slice(body.as_bytes()),
        )?;
        let response = sender.send_request(request).await?;
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await?.to_bytes();
        Ok::<_, anyhow::Error>((parts.status, parts.headers, bytes))
    };
    match tokio::time::timeout(Duration::from_secs(30), fut).await {
        Ok(result) => result.with_context(|| format!("{method} http://{addr}{path}")),
        Err(_) => bail!("{method} http://{addr}{path}: no answer within 30 s"),
    }
}

/// Like [`call`] but any status other than 2xx is an error carrying the body.
pub async fn call_ok(
    addr: SocketAddr,
    method: Method,
    path: &str,
    body: &str,
) -> anyhow::Result<Bytes> {
    let (status, _, bytes) = call(addr, method.clone(), path, body).await?;
    if !status.is_success() {
        bail!(
            "{method} http://{addr}{path}: {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
    }
    Ok(bytes)
}
