//! A callback receiver for the offline run: `POST /callbacks/...` on its own port logs each
//! callback the worker delivers (job, status, whether the Standard Webhooks signature verifies
//! with the worker's signing secret) and answers 204. It stands in for the application a
//! webhook sender names in its payload; it is not part of the template.

use super::StopSignal;
use crate::StackError;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use gateway::webhook::SignatureScheme;
use http::{HeaderMap, StatusCode};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::task::JoinHandle;

/// Serves the inbox; `signing_secret` is the worker's `CALLBACK_SIGNING_SECRET`, if any.
pub async fn serve(
    addr: SocketAddr,
    signing_secret: Option<String>,
    stop: StopSignal,
) -> Result<(SocketAddr, JoinHandle<()>), StackError> {
    let scheme = signing_secret.and_then(|secret| {
        serde_json::from_value::<SignatureScheme>(
            serde_json::json!({"scheme": "standard", "secrets": [secret]}),
        )
        .ok()
    });
    let router = Router::new()
        .route("/callbacks", post(receive))
        .route("/callbacks/{*path}", post(receive))
        .with_state(Arc::new(scheme));
    super::http::serve("callback inbox", router, addr, stop).await
}

async fn receive(
    State(scheme): State<Arc<Option<SignatureScheme>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let pairs: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    let now = i64::try_from(gateway::clock::unix_ms() / 1_000).unwrap_or(i64::MAX);
    let signature = match scheme.as_ref() {
        Some(scheme) => match scheme.verify(&pairs, &body, now) {
            Ok(_) => "valid".to_owned(),
            Err(error) => format!("INVALID ({error})"),
        },
        None => "not checked (no CALLBACK_SIGNING_SECRET)".to_owned(),
    };
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    tracing::info!(
        webhook_id = pairs.as_slice().header_or_dash("webhook-id"),
        kind = json["type"].as_str().unwrap_or("-"),
        job_id = json["data"]["job_id"].as_str().unwrap_or("-"),
        status = json["data"]["status"].as_str().unwrap_or("-"),
        signature,
        "callback received"
    );
    StatusCode::NO_CONTENT
}

trait HeaderOrDash {
    fn header_or_dash(&self, name: &str) -> &str;
}

impl HeaderOrDash for [(String, String)] {
    fn header_or_dash(&self, name: &str) -> &str {
        use gateway::webhook::HeaderLookup;
        self.header(name).unwrap_or("-")
    }
}
