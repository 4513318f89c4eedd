//! Per-request context: the request id every log line, header and error body carries.

use axum::extract::FromRequestParts;
use http::request::Parts;
use std::convert::Infallible;

#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
}

impl RequestContext {
    /// Lambda's request id when hosted by Lambda, else the caller's `x-request-id`, else a new one.
    pub fn from_parts(parts: &Parts) -> Self {
        let request_id = parts
            .extensions
            .get::<lambda_http::lambda_runtime::Context>()
            .map(|c| c.request_id.clone())
            .or_else(|| {
                parts
                    .headers
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .filter(|v| !v.is_empty() && v.len() <= 128)
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        Self { request_id }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestContext {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        if let Some(ctx) = parts.extensions.get::<RequestContext>() {
            return Ok(ctx.clone());
        }
        let ctx = Self::from_parts(parts);
        parts.extensions.insert(ctx.clone());
        Ok(ctx)
    }
}

tokio::task_local! {
    /// The request a governed route's handler serves: set around the handler by the auth
    /// layer, so an error made anywhere in it names its request.
    static SERVING: String;
}

/// Runs `handler` as the request `request_id`'s.
pub async fn serve<F: Future>(request_id: String, handler: F) -> F::Output {
    SERVING.scope(request_id, handler).await
}

/// The id of the request being served. Every handler that returns a `Failure` is behind the
/// auth layer (`governed`); one that is not still answers with an id, one of its own.
pub fn request_id() -> String {
    SERVING.try_with(Clone::clone).unwrap_or_else(|_| {
        let id = uuid::Uuid::new_v4().to_string();
        tracing::error!(request_id = %id, "an error made outside a governed route's handler");
        id
    })
}
