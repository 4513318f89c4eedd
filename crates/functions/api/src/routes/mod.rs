//! Route handlers, one file per front door.

pub mod async_invoke;
pub mod bedrock;
pub mod bedrock_catalog;
pub mod converse;
pub mod embeddings;
pub mod jobs;
pub mod knowledge_base;
pub mod messages;
pub mod meta;
pub mod openai;
pub mod responses;
pub mod sagemaker;
mod segment;
pub mod tasks;
pub mod usage;

pub use segment::Segment;

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_core::Stream;
use http::{HeaderMap, HeaderValue, header};
use std::convert::Infallible;

/// A streamed response: each chunk goes out as it is produced.
pub fn streaming(
    mut headers: HeaderMap,
    content_type: &'static str,
    body: impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static,
) -> Response {
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    (headers, axum::body::Body::from_stream(body)).into_response()
}
