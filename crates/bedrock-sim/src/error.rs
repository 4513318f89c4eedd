//! Errors: the service errors the simulator sends on the wire, and the errors of starting it.

use std::fmt;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};

/// The HTTP-level exceptions Bedrock Runtime declares, named exactly as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorKind {
    ValidationException,
    AccessDeniedException,
    ResourceNotFoundException,
    ModelTimeoutException,
    ModelErrorException,
    ThrottlingException,
    ModelNotReadyException,
    InternalServerException,
    ServiceUnavailableException,
}

impl ErrorKind {
    /// Every kind, for tests and documentation.
    pub const ALL: [ErrorKind; 9] = [
        ErrorKind::ValidationException,
        ErrorKind::AccessDeniedException,
        ErrorKind::ResourceNotFoundException,
        ErrorKind::ModelTimeoutException,
        ErrorKind::ModelErrorException,
        ErrorKind::ThrottlingException,
        ErrorKind::ModelNotReadyException,
        ErrorKind::InternalServerException,
        ErrorKind::ServiceUnavailableException,
    ];

    /// The wire name (also the `x-amzn-ErrorType` prefix).
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::ValidationException => "ValidationException",
            ErrorKind::AccessDeniedException => "AccessDeniedException",
            ErrorKind::ResourceNotFoundException => "ResourceNotFoundException",
            ErrorKind::ModelTimeoutException => "ModelTimeoutException",
            ErrorKind::ModelErrorException => "ModelErrorException",
            ErrorKind::ThrottlingException => "ThrottlingException",
            ErrorKind::ModelNotReadyException => "ModelNotReadyException",
            ErrorKind::InternalServerException => "InternalServerException",
            ErrorKind::ServiceUnavailableException => "ServiceUnavailableException",
        }
    }

    /// Parses a wire name; `None` for anything else.
    pub fn from_name(name: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The status code the service uses for this exception.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::ValidationException => StatusCode::BAD_REQUEST,
            ErrorKind::AccessDeniedException => StatusCode::FORBIDDEN,
            ErrorKind::ResourceNotFoundException => StatusCode::NOT_FOUND,
            ErrorKind::ModelTimeoutException => StatusCode::REQUEST_TIMEOUT,
            ErrorKind::ModelErrorException => StatusCode::FAILED_DEPENDENCY,
            ErrorKind::ThrottlingException | ErrorKind::ModelNotReadyException => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ErrorKind::InternalServerException => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::ServiceUnavailableException => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The `x-amzn-ErrorType` header value, as the service sends it.
    pub fn error_type_header(self) -> &'static str {
        match self {
            ErrorKind::ValidationException => {
                "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/"
            }
            ErrorKind::AccessDeniedException => {
                "AccessDeniedException:http://internal.amazon.com/coral/com.amazon.bedrock/"
            }
            ErrorKind::ResourceNotFoundException => {
                "ResourceNotFoundException:http://internal.amazon.com/coral/com.amazon.bedrock/"
            }
            ErrorKind::ModelTimeoutException => {
                "ModelTimeoutException:http://internal.amazon.com/coral/com.amazon.bedrock/"
            }
            ErrorKind::ModelErrorException => {
                "ModelErrorException:http://internal.amazon.com/coral/com.amazon.bedrock/"
            }
            ErrorKind::ThrottlingException => {
                "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/"
            }
            ErrorKind::ModelNotReadyException => {
                "ModelNotReadyException:http://internal.amazon.com/coral/com.amazon.bedrock/"
            }
            ErrorKind::InternalServerException => {
                "InternalServerException:http://internal.amazon.com/coral/com.amazon.bedrock/"
            }
            ErrorKind::ServiceUnavailableException => {
                "ServiceUnavailableException:http://internal.amazon.com/coral/com.amazon.bedrock/"
            }
        }
    }

    /// The message an injected error of this kind carries (close to the real service's).
    pub fn default_message(self) -> &'static str {
        match self {
            ErrorKind::ValidationException => "The request failed validation (simulated).",
            ErrorKind::AccessDeniedException => {
                "You don't have access to the model with the specified model ID."
            }
            ErrorKind::ResourceNotFoundException => {
                "The specified resource could not be found (simulated)."
            }
            ErrorKind::ModelTimeoutException => {
                "Model has timed out in processing the request. Try your request again."
            }
            ErrorKind::ModelErrorException => {
                "The model returned an error while processing the request (simulated)."
            }
            ErrorKind::ThrottlingException => "Too many requests, please wait before trying again.",
            ErrorKind::ModelNotReadyException => {
                "Model is not ready to serve inference requests. The AWS SDK will automatically retry the operation up to 5 times."
            }
            ErrorKind::InternalServerException => {
                "The system encountered an unexpected error during processing. Try your request again."
            }
            ErrorKind::ServiceUnavailableException => "Bedrock is unable to process your request.",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The exceptions that can arrive inside a response event stream, named as in `:exception-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum StreamErrorKind {
    #[serde(alias = "ThrottlingException")]
    ThrottlingException,
    #[serde(alias = "ModelStreamErrorException")]
    ModelStreamErrorException,
    #[serde(alias = "InternalServerException")]
    InternalServerException,
    #[serde(alias = "ServiceUnavailableException")]
    ServiceUnavailableException,
    #[serde(alias = "ValidationException")]
    ValidationException,
    #[serde(alias = "ModelTimeoutException")]
    /// Only declared by `InvokeModelWithResponseStream`; `ConverseStream` clients see a generic error.
    ModelTimeoutException,
}

impl StreamErrorKind {
    /// The `:exception-type` header value.
    pub fn name(self) -> &'static str {
        match self {
            StreamErrorKind::ThrottlingException => "throttlingException",
            StreamErrorKind::ModelStreamErrorException => "modelStreamErrorException",
            StreamErrorKind::InternalServerException => "internalServerException",
            StreamErrorKind::ServiceUnavailableException => "serviceUnavailableException",
            StreamErrorKind::ValidationException => "validationException",
            StreamErrorKind::ModelTimeoutException => "modelTimeoutException",
        }
    }

    /// The JSON payload of the exception message.
    pub fn payload(self) -> &'static str {
        match self {
            StreamErrorKind::ThrottlingException => {
                r#"{"message":"Too many requests, please wait before trying again."}"#
            }
            StreamErrorKind::ModelStreamErrorException => {
                r#"{"message":"The model encountered an error while streaming the response (simulated).","originalStatusCode":500,"originalMessage":"simulated stream failure"}"#
            }
            StreamErrorKind::InternalServerException => {
                r#"{"message":"The system encountered an unexpected error during processing. Try your request again."}"#
            }
            StreamErrorKind::ServiceUnavailableException => {
                r#"{"message":"Bedrock is unable to process your request."}"#
            }
            StreamErrorKind::ValidationException => {
                r#"{"message":"The request failed validation (simulated)."}"#
            }
            StreamErrorKind::ModelTimeoutException => {
                r#"{"message":"Model has timed out in processing the request. Try your request again."}"#
            }
        }
    }

    /// The HTTP error used when a stream-error outcome hits a non-streaming operation.
    pub fn http_equivalent(self) -> ErrorKind {
        match self {
            StreamErrorKind::ThrottlingException => ErrorKind::ThrottlingException,
            StreamErrorKind::ModelStreamErrorException => ErrorKind::ModelErrorException,
            StreamErrorKind::InternalServerException => ErrorKind::InternalServerException,
            StreamErrorKind::ServiceUnavailableException => ErrorKind::ServiceUnavailableException,
            StreamErrorKind::ValidationException => ErrorKind::ValidationException,
            StreamErrorKind::ModelTimeoutException => ErrorKind::ModelTimeoutException,
        }
    }

    /// Every kind, in declaration order.
    pub const ALL: [StreamErrorKind; 6] = [
        StreamErrorKind::ThrottlingException,
        StreamErrorKind::ModelStreamErrorException,
        StreamErrorKind::InternalServerException,
        StreamErrorKind::ServiceUnavailableException,
        StreamErrorKind::ValidationException,
        StreamErrorKind::ModelTimeoutException,
    ];

    /// Parses an `:exception-type` name (camelCase as on the wire, or the PascalCase shape name).
    pub fn from_name(name: &str) -> Option<StreamErrorKind> {
        Self::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for StreamErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A service error as sent to the client: status, `x-amzn-ErrorType`, `{"message": ...}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
        }
    }

    pub fn validation(message: impl Into<String>) -> Self {
        ApiError::new(ErrorKind::ValidationException, message)
    }

    /// An injected error with the service's usual message.
    pub fn injected(kind: ErrorKind) -> Self {
        ApiError::new(kind, kind.default_message())
    }

    /// What the real service answers for an id it does not know.
    pub fn invalid_model() -> Self {
        ApiError::validation("The provided model identifier is invalid.")
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for ApiError {}

#[derive(Serialize)]
struct ErrorBody<'a> {
    message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&ErrorBody {
            message: &self.message,
        })
        .unwrap_or_else(|_| b"{}".to_vec());
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = self.kind.status();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(
            "x-amzn-errortype",
            HeaderValue::from_static(self.kind.error_type_header()),
        );
        headers.insert("x-amzn-requestid", crate::request_id::next_header_value());
        response
    }
}

/// Failures of configuring or starting the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot read config file {path}: {source}")]
    ConfigRead {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid config at `{path}`: {message}")]
    ConfigInvalid { path: String, message: String },
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("server failed: {0}")]
    Serve(#[source] std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in ErrorKind::ALL {
            assert_eq!(ErrorKind::from_name(kind.name()), Some(kind));
            assert!(kind.error_type_header().starts_with(kind.name()));
            assert!(kind.error_type_header()[kind.name().len()..].starts_with(':'));
        }
        assert_eq!(
            StreamErrorKind::from_name("ModelStreamErrorException"),
            Some(StreamErrorKind::ModelStreamErrorException)
        );
        assert_eq!(
            StreamErrorKind::from_name("throttlingException"),
            Some(StreamErrorKind::ThrottlingException)
        );
        assert_eq!(StreamErrorKind::from_name("nope"), None);
    }

    #[test]
    fn stream_payloads_are_json() {
        for kind in StreamErrorKind::ALL {
            let v: serde_json::Value = serde_json::from_str(kind.payload()).unwrap();
            assert!(v["message"].is_string());
        }
    }
}
