//! What every route does with its path: decode a segment, answer a path no operation matches.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, Uri};
use percent_encoding::percent_decode_str;

/// 404 `UnknownOperationException`, as Bedrock answers a path it has no operation for.
pub(crate) async fn unknown_operation(uri: Uri) -> Response {
    let body = serde_json::json!({ "message": format!("No operation matches {}", uri.path()) });
    let mut response = (StatusCode::NOT_FOUND, axum::Json(body)).into_response();
    response.headers_mut().insert(
        "x-amzn-errortype",
        HeaderValue::from_static("UnknownOperationException"),
    );
    response
}

/// Decodes a percent-encoded path segment; `None` if it is not UTF-8 afterwards.
pub(crate) fn decode_segment(raw: &str) -> Option<String> {
    percent_decode_str(raw)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}
