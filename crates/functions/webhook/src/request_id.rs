//! The request id every log line and response carries: Lambda's when hosted by Lambda, else
//! the caller's `x-request-id`, else a fresh one.

use axum::extract::FromRequestParts;
use http::request::Parts;
use std::convert::Infallible;

#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let id = parts
            .extensions
            .get::<lambda_http::lambda_runtime::Context>()
            .map(|c| c.request_id.clone())
            .or_else(|| {
                parts
                    .headers
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .filter(|v| {
                        !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic())
                    })
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        Ok(Self(id))
    }
}
