//! A route's `{id}` segment as text. One that does not decode (percent-encoded bytes that
//! are not UTF-8, e.g. `/model/%FF/invoke`) is the caller's mistake and is answered like any
//! other bad input, as JSON in the route's dialect: axum's own rejection is a plain-text body
//! that neither the AWS SDKs nor OpenAI clients can read.

use crate::context::RequestContext;
use crate::error_response::{ApiError, Dialect};
use crate::http_controls::auth::RouteInfo;
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
                // The dialect the route was registered with, and the id the auth layer gave
                // the request (its audit record's), not a new one.
                let dialect = parts
                    .extensions
                    .get::<RouteInfo>()
                    .map_or(Dialect::Gateway, |info| info.dialect);
                let request_id = match parts.extensions.get::<RequestContext>() {
                    Some(ctx) => ctx.request_id.clone(),
                    None => RequestContext::from_parts(parts).request_id,
                };
                let error = GatewayError::InvalidRequest {
                    field: None,
                    message: rejection.body_text(),
                };
                Err(ApiError::new(error, dialect, &request_id).into_response())
            }
        }
    }
}
