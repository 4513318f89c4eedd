//! A `GatewayError` rendered in the caller's dialect. Logged here, once, with the request id.

use axum::response::{IntoResponse, Response};
use gateway::GatewayError;
use http::{HeaderValue, StatusCode};
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// The gateway's own routes: `{"error": {"code", "message", "field", "request_id"}}`.
    Gateway,
    /// OpenAI-compatible routes: `{"error": {"message", "type", "param", "code"}}`.
    OpenAi,
    /// Bedrock wire routes: `x-amzn-ErrorType` + `{"message"}`, as the AWS SDKs expect.
    Bedrock,
    /// Anthropic's Messages API: `{"type": "error", "error": {"type", "message"}}`.
    Anthropic,
}

/// The stable error code of a response, for the audit record.
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub &'static str);

#[derive(Debug)]
pub struct ApiError {
    pub error: GatewayError,
    pub dialect: Dialect,
    pub request_id: String,
}

impl ApiError {
    pub fn new(error: GatewayError, dialect: Dialect, request_id: &str) -> Self {
        Self {
            error,
            dialect,
            request_id: request_id.to_owned(),
        }
    }

    /// The JSON body, also used as the final event of a stream that fails midway.
    pub fn body(&self) -> serde_json::Value {
        let e = &self.error;
        match self.dialect {
            Dialect::Gateway => json!({"error": {
                "code": e.code(), "message": e.public_message(), "field": e.field(), "request_id": self.request_id,
            }}),
            Dialect::OpenAi => json!({"error": {
                "message": e.public_message(), "type": e.openai_type(), "param": e.field(), "code": e.code(),
            }}),
            Dialect::Bedrock => json!({"message": e.public_message()}),
            Dialect::Anthropic => gateway::api::anthropic_stream::error_body(e, &self.request_id),
        }
    }

    pub fn log(&self) {
        let e = &self.error;
        let status = e.status_code();
        let detail = match e {
            GatewayError::Internal(detail) => detail.as_str(),
            _ => "",
        };
        if status >= 500 {
            tracing::error!(request_id = %self.request_id, status, code = e.code(), detail, "request failed");
        } else {
            tracing::warn!(request_id = %self.request_id, status, code = e.code(), "request refused");
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.log();
        let status = match self.dialect {
            Dialect::Bedrock => self.error.bedrock_status(),
            _ => self.error.status_code(),
        };
        let mut response = (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            axum::Json(self.body()),
        )
            .into_response();
        response
            .extensions_mut()
            .insert(ErrorCode(self.error.code()));
        let headers = response.headers_mut();
        crate::headers::insert(headers, crate::headers::REQUEST_ID, &self.request_id);
        if let Some(after) = self.error.retry_after() {
            headers.insert("retry-after", HeaderValue::from(after.as_secs().max(1)));
        }
        if self.dialect == Dialect::Bedrock {
            headers.insert(
                "x-amzn-errortype",
                HeaderValue::from_static(self.error.bedrock_error_type()),
            );
        }
        response
    }
}
