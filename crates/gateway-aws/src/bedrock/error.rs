//! Every SDK failure becomes a `GatewayError` here and nowhere else. The four operations and the
//! two in-stream error unions share one table keyed by Bedrock's exception name; a failure the SDK
//! does not model falls back to its error code, then to its HTTP status.

use aws_sdk_bedrockruntime::config::http::HttpResponse;
use aws_sdk_bedrockruntime::error::{
    BuildError, DisplayErrorContext, ProvideErrorMetadata, SdkError,
};
use aws_sdk_bedrockruntime::operation::converse::ConverseError;
use aws_sdk_bedrockruntime::operation::converse_stream::ConverseStreamError;
use aws_sdk_bedrockruntime::operation::count_tokens::CountTokensError;
use aws_sdk_bedrockruntime::operation::invoke_model::InvokeModelError;
use aws_sdk_bedrockruntime::operation::invoke_model_with_response_stream::InvokeModelWithResponseStreamError;
use aws_sdk_bedrockruntime::types::error::{ConverseStreamOutputError, ResponseStreamError};
use aws_smithy_types::event_stream::RawMessage;
use futures_util::TryFutureExt;
use gateway::{GatewayError, UpstreamKind};
use std::error::Error;
use std::time::Duration;

/// A required field the SDK's builder found missing or wrong. `path` is the gateway JSON path.
pub(crate) fn invalid_input(path: &str, err: &BuildError) -> GatewayError {
    GatewayError::invalid(path, format!("invalid {path}: {err}"))
}

/// Where the failure happened: before the response (no answer: `Network`) or while reading an
/// event stream that had already started (the stream broke: `StreamError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Call,
    InStream,
}

/// Bedrock's exception name (as its API reference spells it) to the gateway's classification.
const KINDS: &[(&str, UpstreamKind)] = &[
    ("ThrottlingException", UpstreamKind::Throttled),
    // A quota is a rate limit that a later retry, another model or another region may not hit.
    ("ServiceQuotaExceededException", UpstreamKind::Throttled),
    ("ModelNotReadyException", UpstreamKind::ModelNotReady),
    ("ModelTimeoutException", UpstreamKind::ModelTimeout),
    ("ModelErrorException", UpstreamKind::ModelError),
    (
        "ServiceUnavailableException",
        UpstreamKind::ServiceUnavailable,
    ),
    ("InternalServerException", UpstreamKind::InternalServer),
    ("AccessDeniedException", UpstreamKind::AccessDenied),
    ("ResourceNotFoundException", UpstreamKind::ResourceNotFound),
    ("ValidationException", UpstreamKind::Validation),
    ("ModelStreamErrorException", UpstreamKind::StreamError),
];

/// In-stream exceptions arrive as `throttlingException`, so the lookup ignores case.
fn kind_for_code(code: &str) -> Option<UpstreamKind> {
    KINDS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(code))
        .map(|(_, kind)| *kind)
}

/// For errors with neither a modeled type nor a known code: Bedrock's own status conventions.
fn kind_for_status(status: u16) -> UpstreamKind {
    match status {
        400 => UpstreamKind::Validation,
        401 | 403 => UpstreamKind::AccessDenied,
        404 => UpstreamKind::ResourceNotFound,
        408 => UpstreamKind::ModelTimeout,
        424 => UpstreamKind::ModelError,
        429 => UpstreamKind::Throttled,
        503 => UpstreamKind::ServiceUnavailable,
        _ => UpstreamKind::InternalServer,
    }
}

/// An operation's (or stream's) modeled exception: its name and the message Bedrock sent with it.
/// Matching the variant, not only the error code, matters for in-stream exceptions, whose payload
/// carries no code, and for errors built in tests.
pub(crate) trait ModeledException {
    fn exception(&self) -> Option<(&'static str, Option<&str>)>;
}

/// `Variant` is named as it is spelled; `Variant as "Name"` names another service's exception
/// as the Bedrock exception of the same meaning (SageMaker, Knowledge Bases).
macro_rules! modeled_exceptions {
    (@name $variant:ident) => { stringify!($variant) };
    (@name $variant:ident $name:literal) => { $name };
    ($($error:ty => [$($variant:ident $(as $name:literal)?),+ $(,)?];)+) => {$(
        impl $crate::bedrock::error::ModeledException for $error {
            fn exception(&self) -> Option<(&'static str, Option<&str>)> {
                match self {
                    $(Self::$variant(e) => Some((
                        $crate::bedrock::error::modeled_exceptions!(@name $variant $($name)?),
                        e.message(),
                    )),)+
                    _ => None,
                }
            }
        }
    )+};
}
pub(crate) use modeled_exceptions;

modeled_exceptions! {
    ConverseError => [
        AccessDeniedException, InternalServerException, ModelErrorException, ModelNotReadyException,
        ModelTimeoutException, ResourceNotFoundException, ServiceUnavailableException,
        ThrottlingException, ValidationException,
    ];
    ConverseStreamError => [
        AccessDeniedException, InternalServerException, ModelErrorException, ModelNotReadyException,
        ModelTimeoutException, ResourceNotFoundException, ServiceUnavailableException,
        ThrottlingException, ValidationException, ModelStreamErrorException,
    ];
    InvokeModelError => [
        AccessDeniedException, InternalServerException, ModelErrorException, ModelNotReadyException,
        ModelTimeoutException, ResourceNotFoundException, ServiceQuotaExceededException,
        ServiceUnavailableException, ThrottlingException, ValidationException,
    ];
    InvokeModelWithResponseStreamError => [
        AccessDeniedException, InternalServerException, ModelErrorException, ModelNotReadyException,
        ModelStreamErrorException, ModelTimeoutException, ResourceNotFoundException,
        ServiceQuotaExceededException, ServiceUnavailableException, ThrottlingException,
        ValidationException,
    ];
    CountTokensError => [
        AccessDeniedException, InternalServerException, ResourceNotFoundException,
        ServiceUnavailableException, ThrottlingException, ValidationException,
    ];
    ConverseStreamOutputError => [
        InternalServerException, ModelStreamErrorException, ValidationException, ThrottlingException,
        ServiceUnavailableException,
    ];
    ResponseStreamError => [
        InternalServerException, ModelStreamErrorException, ValidationException, ThrottlingException,
        ModelTimeoutException, ServiceUnavailableException,
    ];
}

/// What the mapping needs from the raw response: an HTTP response has a status and headers, an
/// event-stream message (in-stream exception) has neither.
pub(crate) trait RawResponse {
    fn status(&self) -> Option<u16>;
    fn header(&self, name: &str) -> Option<&str>;
}

impl RawResponse for HttpResponse {
    fn status(&self) -> Option<u16> {
        Some(HttpResponse::status(self).as_u16())
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers().get(name)
    }
}

impl RawResponse for RawMessage {
    fn status(&self) -> Option<u16> {
        None
    }

    fn header(&self, name: &str) -> Option<&str> {
        let RawMessage::Decoded(message) = self else {
            return None;
        };
        message
            .headers()
            .iter()
            .find(|header| header.name().as_str() == name)
            .and_then(|header| header.value().as_string().ok())
            .map(|value| value.as_str())
    }
}

/// `Retry-After` in delta-seconds (integer or decimal). The HTTP-date form is not used by Bedrock.
fn retry_after(raw: &impl RawResponse) -> Option<Duration> {
    let value = raw.header("retry-after")?.trim();
    value
        .parse::<u64>()
        .map(Duration::from_secs)
        .ok()
        .or_else(|| {
            value
                .parse::<f64>()
                .ok()
                .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        })
}

/// The one mapping from an SDK failure to the gateway's error.
pub(crate) fn from_sdk<E, R>(err: SdkError<E, R>, phase: Phase) -> GatewayError
where
    E: ModeledException + ProvideErrorMetadata + Error + Send + Sync + 'static,
    R: RawResponse + std::fmt::Debug,
{
    if matches!(err, SdkError::ConstructionFailure(_)) {
        return construction_failure(err);
    }
    let raw = err.raw_response();
    let status = raw.and_then(RawResponse::status);
    let retry_after = raw.and_then(retry_after);
    match &err {
        SdkError::ServiceError(service) => {
            let inner = service.err();
            let (code, message) = match inner.exception() {
                Some((name, message)) => (Some(name), message.or_else(|| inner.message())),
                // An in-stream exception the SDK does not model for this operation still names
                // itself in the `:exception-type` header.
                None => (
                    inner
                        .code()
                        .or_else(|| raw.and_then(|raw| raw.header(":exception-type"))),
                    inner.message(),
                ),
            };
            let kind = code
                .and_then(kind_for_code)
                .or_else(|| status.map(kind_for_status))
                .unwrap_or(UpstreamKind::InternalServer);
            upstream(kind, code, message, retry_after)
        }
        SdkError::ResponseError(_) if status.is_some_and(|s| s >= 500) => {
            tracing::warn!(error = %DisplayErrorContext(&err), "Bedrock sent an unreadable error response");
            upstream(UpstreamKind::InternalServer, None, None, retry_after)
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            tracing::warn!(error = %DisplayErrorContext(&err), ?phase, "no usable response from Bedrock");
            let (kind, message) = match (phase, &err) {
                (Phase::InStream, _) => (
                    UpstreamKind::StreamError,
                    "the Bedrock stream broke while it was being read",
                ),
                (Phase::Call, SdkError::TimeoutError(_)) => {
                    (UpstreamKind::Network, "Bedrock did not answer in time")
                }
                (Phase::Call, _) => (UpstreamKind::Network, "Bedrock could not be reached"),
            };
            GatewayError::Upstream {
                kind,
                message: message.to_owned(),
                retry_after,
            }
        }
        _ => GatewayError::Internal(format!(
            "unexpected SDK error: {}",
            DisplayErrorContext(&err)
        )),
    }
}

/// An SDK call's `send()` future, boxed, its failure mapped by [`from_sdk`]. Boxed: the SDK's
/// send futures are several KB, and held inline one would make every future above it that
/// large, copied whole each time the router boxes one.
pub(crate) fn sent<T, E>(
    send: impl Future<Output = Result<T, SdkError<E, HttpResponse>>>,
) -> impl Future<Output = Result<T, GatewayError>>
where
    E: ModeledException + ProvideErrorMetadata + Error + Send + Sync + 'static,
{
    Box::pin(send).map_err(|err| from_sdk(err, Phase::Call))
}

/// The request never left: a builder refused it (the caller's fault) or the client is misconfigured.
fn construction_failure<E, R>(err: SdkError<E, R>) -> GatewayError
where
    E: Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let detail = DisplayErrorContext(&err).to_string();
    match err
        .into_source()
        .map(|source| source.downcast::<BuildError>())
    {
        Ok(Ok(build)) => GatewayError::InvalidRequest {
            field: None,
            message: format!("invalid request: {build}"),
        },
        _ => GatewayError::Internal(format!("could not build the Bedrock request: {detail}")),
    }
}

/// Bedrock's message goes to the caller only where it is about the caller's request; the others
/// get a fixed message and the original goes to the log.
fn upstream(
    kind: UpstreamKind,
    code: Option<&str>,
    bedrock_message: Option<&str>,
    retry_after: Option<Duration>,
) -> GatewayError {
    let fixed = match kind {
        UpstreamKind::AccessDenied => Some("the gateway is not permitted to call this model"),
        UpstreamKind::InternalServer => Some("Bedrock had an internal error"),
        UpstreamKind::ResourceNotFound => Some("the model or inference profile was not found"),
        _ => None,
    };
    let message = match fixed {
        Some(fixed) => {
            tracing::warn!(?kind, code, bedrock_message, "Bedrock refused the call");
            fixed.to_owned()
        }
        None => {
            tracing::debug!(?kind, code, "Bedrock refused the call");
            bedrock_message.map_or_else(|| default_message(kind).to_owned(), str::to_owned)
        }
    };
    GatewayError::Upstream {
        kind,
        message,
        retry_after,
    }
}

fn default_message(kind: UpstreamKind) -> &'static str {
    match kind {
        UpstreamKind::Throttled => "Bedrock is throttling requests to this model",
        UpstreamKind::ModelNotReady => "the model is not ready to serve requests",
        UpstreamKind::ModelTimeout => "the model took too long to answer",
        UpstreamKind::ModelError => "the model failed to process the request",
        UpstreamKind::ServiceUnavailable => "Bedrock is unavailable",
        UpstreamKind::Validation => "Bedrock refused the request as invalid",
        UpstreamKind::StreamError => "the model stream failed",
        UpstreamKind::AccessDenied
        | UpstreamKind::InternalServer
        | UpstreamKind::ResourceNotFound
        | UpstreamKind::Network => "Bedrock call failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_bedrockruntime::types::error::{
        AccessDeniedException, ModelStreamErrorException, ThrottlingException,
    };
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn http(status: u16, headers: &[(&'static str, &'static str)]) -> HttpResponse {
        let mut response = HttpResponse::new(status.try_into().unwrap(), SdkBody::empty());
        for (name, value) in headers {
            response.headers_mut().insert(*name, *value);
        }
        response
    }

    #[test]
    fn codes_match_whatever_their_case() {
        assert_eq!(
            kind_for_code("ThrottlingException"),
            Some(UpstreamKind::Throttled)
        );
        assert_eq!(
            kind_for_code("throttlingException"),
            Some(UpstreamKind::Throttled)
        );
        assert_eq!(
            kind_for_code("modelStreamErrorException"),
            Some(UpstreamKind::StreamError)
        );
        assert_eq!(kind_for_code("SomethingNewException"), None);
    }

    #[test]
    fn retry_after_is_read_from_the_http_headers() {
        let err = SdkError::service_error(
            ConverseError::ThrottlingException(
                ThrottlingException::builder().message("slow").build(),
            ),
            http(429, &[("retry-after", "7")]),
        );
        let GatewayError::Upstream {
            kind,
            message,
            retry_after,
        } = from_sdk(err, Phase::Call)
        else {
            panic!("expected an upstream error");
        };
        assert_eq!(kind, UpstreamKind::Throttled);
        assert_eq!(message, "slow");
        assert_eq!(retry_after, Some(Duration::from_secs(7)));
    }

    #[test]
    fn fractional_and_garbage_retry_after() {
        assert_eq!(
            retry_after(&http(429, &[("retry-after", "1.5")])),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(retry_after(&http(429, &[("retry-after", "soon")])), None);
        assert_eq!(retry_after(&http(429, &[("retry-after", "-3")])), None);
        assert_eq!(retry_after(&http(429, &[("retry-after", "1e300")])), None);
    }

    #[test]
    fn access_denied_detail_stays_in_the_log() {
        let err = SdkError::service_error(
            ConverseError::AccessDeniedException(
                AccessDeniedException::builder()
                    .message("User arn:aws:iam::123456789012:role/gw is not authorized")
                    .build(),
            ),
            http(403, &[]),
        );
        let mapped = from_sdk(err, Phase::Call);
        assert!(!mapped.to_string().contains("arn:aws"), "{mapped}");
        assert!(matches!(
            mapped,
            GatewayError::Upstream {
                kind: UpstreamKind::AccessDenied,
                ..
            }
        ));
    }

    #[test]
    fn unmodeled_errors_fall_back_to_code_then_status() {
        let by_code = SdkError::service_error(
            ConverseError::generic(
                ErrorMetadata::builder()
                    .code("ModelTimeoutException")
                    .build(),
            ),
            http(500, &[]),
        );
        assert!(matches!(
            from_sdk(by_code, Phase::Call),
            GatewayError::Upstream {
                kind: UpstreamKind::ModelTimeout,
                ..
            }
        ));
        let by_status = SdkError::service_error(
            ConverseError::generic(ErrorMetadata::builder().code("BrandNewException").build()),
            http(503, &[]),
        );
        assert!(matches!(
            from_sdk(by_status, Phase::Call),
            GatewayError::Upstream {
                kind: UpstreamKind::ServiceUnavailable,
                ..
            }
        ));
    }

    #[test]
    fn in_stream_exceptions_map_without_an_http_response() {
        let err: SdkError<ConverseStreamOutputError, RawMessage> = SdkError::service_error(
            ConverseStreamOutputError::ModelStreamErrorException(
                ModelStreamErrorException::builder()
                    .message("model broke")
                    .build(),
            ),
            RawMessage::invalid(None),
        );
        let GatewayError::Upstream {
            kind,
            message,
            retry_after,
        } = from_sdk(err, Phase::InStream)
        else {
            panic!("expected an upstream error");
        };
        assert_eq!(kind, UpstreamKind::StreamError);
        assert_eq!(message, "model broke");
        assert_eq!(retry_after, None);
    }

    #[test]
    fn an_unmodeled_in_stream_exception_is_named_by_its_header() {
        use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
        let frame = Message::new(&b"{\"message\":\"too slow\"}"[..]).add_header(Header::new(
            ":exception-type",
            HeaderValue::String("modelTimeoutException".into()),
        ));
        let err: SdkError<ConverseStreamOutputError, RawMessage> = SdkError::service_error(
            ConverseStreamOutputError::generic(
                ErrorMetadata::builder().message("too slow").build(),
            ),
            RawMessage::Decoded(frame),
        );
        let GatewayError::Upstream { kind, message, .. } = from_sdk(err, Phase::InStream) else {
            panic!("expected an upstream error");
        };
        assert_eq!(kind, UpstreamKind::ModelTimeout);
        assert_eq!(message, "too slow");
    }

    #[test]
    fn transport_failures_depend_on_the_phase() {
        let timeout = |phase| {
            from_sdk(
                SdkError::<ConverseError, HttpResponse>::timeout_error("slow"),
                phase,
            )
        };
        assert!(matches!(
            timeout(Phase::Call),
            GatewayError::Upstream {
                kind: UpstreamKind::Network,
                ..
            }
        ));
        assert!(matches!(
            timeout(Phase::InStream),
            GatewayError::Upstream {
                kind: UpstreamKind::StreamError,
                ..
            }
        ));
    }

    #[test]
    fn a_builder_refusal_is_an_invalid_request() {
        let err = SdkError::<ConverseError, HttpResponse>::construction_failure(
            BuildError::missing_field("model_id", "model_id was not specified"),
        );
        assert_eq!(from_sdk(err, Phase::Call).status_code(), 400);
        let other = SdkError::<ConverseError, HttpResponse>::construction_failure("no region");
        assert!(matches!(
            from_sdk(other, Phase::Call),
            GatewayError::Internal(_)
        ));
    }
}
