//! A `GatewayError` rendered in the caller's dialect. Logged here, once, with the request id.
//! A handler's errors are a [`Failure`] in its route's dialect, so the handler is its happy
//! path with `?` and the error renders itself; a [`Refused`] call carries the controls'
//! headers (rate limits, attempts) into it.

use crate::headers::{AMZN_REQUEST_ID, ANTHROPIC_REQUEST_ID, ATTEMPTS, rate_headers};
use axum::response::{IntoResponse, Response};
use gateway::GatewayError;
use gateway::controls::Refusal;
use gateway::jobs::submitter::SubmitError;
use gateway::metered::Refused as MeterRefused;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::json;
use std::marker::PhantomData;

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
        // The header each SDK reads the request id from, on every error of its dialect.
        match self.dialect {
            Dialect::Bedrock => {
                headers.insert(
                    "x-amzn-errortype",
                    HeaderValue::from_static(self.error.bedrock_error_type()),
                );
                crate::headers::insert(headers, AMZN_REQUEST_ID, &self.request_id);
            }
            Dialect::Anthropic => {
                crate::headers::insert(headers, ANTHROPIC_REQUEST_ID, &self.request_id);
            }
            Dialect::Gateway | Dialect::OpenAi => {}
        }
        response
    }
}

/// A refused or failed call, with the rate-limit headers when a limit refused it; a handler
/// answers it as a [`Failure`] in its route's dialect.
#[derive(Debug)]
pub struct Refused {
    pub error: GatewayError,
    pub headers: HeaderMap,
}

impl From<GatewayError> for Refused {
    fn from(error: GatewayError) -> Self {
        Self {
            error,
            headers: HeaderMap::new(),
        }
    }
}

/// A refusal by the controls, with the rate headers when a rate limit refused.
impl From<Refusal> for Refused {
    fn from(refusal: Refusal) -> Self {
        let mut refused = Self::from(refusal.error);
        rate_headers(refusal.rate.as_ref(), &mut refused.headers);
        refused
    }
}

/// A job submission refused by the controls (with their rate headers) or failed.
impl From<SubmitError> for Refused {
    fn from(error: SubmitError) -> Self {
        match error {
            SubmitError::Refused(refusal) => refusal.into(),
            SubmitError::Failed(error) => error.into(),
        }
    }
}

/// The metered call's refusal or failure, with its rate headers and the attempts it made.
impl From<MeterRefused> for Refused {
    fn from(refused: MeterRefused) -> Self {
        let mut out = Self::from(refused.error);
        rate_headers(refused.rate.as_ref(), &mut out.headers);
        if let Some(attempts) = refused.attempts {
            out.headers.insert(ATTEMPTS, HeaderValue::from(attempts));
        }
        out
    }
}

/// A dialect as a type, for a handler's return type: `Result<Response, Failure<Bedrock>>`.
pub trait Speaks {
    const DIALECT: Dialect;
}

/// The gateway's own JSON errors.
pub struct Gateway;
/// OpenAI's errors.
pub struct OpenAi;
/// Bedrock's (and SageMaker's, Agent Runtime's) errors, as the AWS SDKs read them.
pub struct Bedrock;
/// Anthropic's errors.
pub struct Anthropic;

impl Speaks for Gateway {
    const DIALECT: Dialect = Dialect::Gateway;
}
impl Speaks for OpenAi {
    const DIALECT: Dialect = Dialect::OpenAi;
}
impl Speaks for Bedrock {
    const DIALECT: Dialect = Dialect::Bedrock;
}
impl Speaks for Anthropic {
    const DIALECT: Dialect = Dialect::Anthropic;
}

/// A handler's error in the dialect `D`: what refused or failed the request (with the
/// controls' headers: rate limits, attempts) and the request it belongs to, taken when the
/// error is made (`?`) from the request the handler serves ([`crate::context::request_id`]).
#[derive(Debug)]
pub struct Failure<D> {
    refused: Refused,
    request_id: String,
    dialect: PhantomData<fn() -> D>,
}

impl<D> From<Refused> for Failure<D> {
    fn from(refused: Refused) -> Self {
        Self {
            refused,
            request_id: crate::context::request_id(),
            dialect: PhantomData,
        }
    }
}

impl<D> From<GatewayError> for Failure<D> {
    fn from(error: GatewayError) -> Self {
        Refused::from(error).into()
    }
}

impl<D> From<SubmitError> for Failure<D> {
    fn from(error: SubmitError) -> Self {
        Refused::from(error).into()
    }
}

impl<D: Speaks> IntoResponse for Failure<D> {
    fn into_response(self) -> Response {
        let Refused { error, headers } = self.refused;
        let id = &self.request_id;
        let mut response = ApiError::new(error, D::DIALECT, id).into_response();
        let response_headers = response.headers_mut();
        for (name, value) in headers {
            if let Some(name) = name {
                response_headers.insert(name, value);
            }
        }
        response
    }
}
