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
