//! A route's `{id}` segment as text. One that does not decode (percent-encoded bytes that
//! are not UTF-8, e.g. `/model/%FF/invoke`) is the caller's mistake and is answered like any
//! other bad input, as JSON in the route's dialect: axum's own rejection is a plain-text body
//! that neither the AWS SDKs nor OpenAI clients can read.

use crate::context::RequestContext;
use crate::error_response::{ApiError, Dialect};
use axum::extract::{FromRequestParts, Path};
use axum::response::{IntoResponse, Response};
use gateway::GatewayError;
use http::request::Parts;

pub struct Segment(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Segment {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(segment)) => Ok(Self(segment)),
            Err(rejection) => {
                let path = parts.uri.path();
                let dialect = if ["/model/", "/endpoints/", "/knowledgebases/"]
                    .iter()
                    .any(|p| path.starts_with(p))
                {
                    Dialect::Bedrock
                } else {
                    Dialect::Gateway
                };
                let ctx = RequestContext::from_parts(parts);
                let error = GatewayError::InvalidRequest {
                    field: None,
                    message: rejection.body_text(),
                };
                Err(ApiError::new(error, dialect, &ctx.request_id).into_response())
            }
        }
    }
}
