//! The Bedrock Runtime wire format for the streaming operations: AWS event-stream frames, encoded
//! with the same codec the AWS SDK decodes them with, so an SDK pointed at the gateway works.

use crate::error_response::{ApiError, Dialect};
use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use base64::Engine;
use bytes::Bytes;
use futures_core::Stream;
use futures_util::StreamExt;
use gateway::GatewayError;
use gateway::ports::{ConverseEventStream, InvokeChunkStream};
use std::convert::Infallible;

pub const CONTENT_TYPE: &str = "application/vnd.amazon.eventstream";

fn frame(headers: [(&'static str, &str); 3], payload: Vec<u8>) -> Bytes {
    let mut message = Message::new(payload);
    for (name, value) in headers {
        message = message.add_header(Header::new(
            name,
            HeaderValue::String(value.to_owned().into()),
        ));
    }
    let mut buffer = Vec::new();
    // Encoding only fails for a header or payload over the format's limits (16 MB), which a
    // model event never reaches; an empty frame is then the safest thing to send.
    if let Err(e) = write_message_to(&message, &mut buffer) {
        tracing::error!(error = %e, "encoding an event-stream frame");
        buffer.clear();
    }
    Bytes::from(buffer)
}

fn event_frame(event_type: &str, payload: Vec<u8>) -> Bytes {
    frame(
        [
            (":message-type", "event"),
            (":event-type", event_type),
            (":content-type", "application/json"),
        ],
        payload,
    )
}

fn exception_frame(error: ApiError) -> Bytes {
    error.log();
    let payload = error.body().to_string().into_bytes();
    frame(
        [
            (":message-type", "exception"),
            (":exception-type", error.error.bedrock_stream_exception()),
            (":content-type", "application/json"),
        ],
        payload,
    )
}

pub fn converse_frames(
    mut events: ConverseEventStream,
    request_id: String,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
    async_stream::stream! {
        while let Some(item) = events.next().await {
            let named = item.and_then(|event| {
                event
                    .payload_json()
                    .map(|payload| (event.name(), payload))
                    .map_err(|e| GatewayError::Internal(format!("serialising a stream event: {e}")))
            });
            match named {
                Ok((name, payload)) => yield Ok(event_frame(name, payload)),
                Err(error) => {
                    yield Ok(exception_frame(ApiError::new(error, Dialect::Bedrock, &request_id)));
                    return;
                }
            }
        }
    }
}

pub fn invoke_frames(
    mut chunks: InvokeChunkStream,
    request_id: String,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
    async_stream::stream! {
        while let Some(item) = chunks.next().await {
            match item {
                Ok(chunk) => {
                    let encoded = base64::engine::general_purpose::STANDARD.encode(&chunk.bytes);
                    let payload = serde_json::json!({ "bytes": encoded }).to_string().into_bytes();
                    yield Ok(event_frame("chunk", payload));
                }
                Err(error) => {
                    yield Ok(exception_frame(ApiError::new(error, Dialect::Bedrock, &request_id)));
                    return;
                }
            }
        }
    }
}

/// SageMaker's InvokeEndpointWithResponseStream: each chunk is a `PayloadPart` event whose
/// payload is the container's bytes; a failure is a `ModelStreamError` exception.
pub fn payload_part_frames(
    mut chunks: InvokeChunkStream,
    request_id: String,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
    async_stream::stream! {
        while let Some(item) = chunks.next().await {
            match item {
                Ok(chunk) => yield Ok(frame(
                    [
                        (":message-type", "event"),
                        (":event-type", "PayloadPart"),
                        (":content-type", "application/octet-stream"),
                    ],
                    chunk.bytes,
                )),
                Err(error) => {
                    let error = ApiError::new(error, Dialect::Bedrock, &request_id);
                    error.log();
                    let payload = serde_json::json!({
                        "Message": error.error.public_message(),
                        "ErrorCode": error.error.code(),
                    });
                    yield Ok(frame(
                        [
                            (":message-type", "exception"),
                            (":exception-type", "ModelStreamError"),
                            (":content-type", "application/json"),
                        ],
                        payload.to_string().into_bytes(),
                    ));
                    return;
                }
            }
        }
    }
}
