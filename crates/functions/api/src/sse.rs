//! Server-sent events for the JSON streaming routes. Each event is written as it arrives; an
//! error midway becomes a final error event, never a hung or silently truncated connection.

use crate::error_response::{ApiError, Dialect};
use bytes::Bytes;
use futures_core::Stream;
use futures_util::StreamExt;
use gateway::GatewayError;
use gateway::api::openai_stream::ChatStreamMapper;
use gateway::ports::ConverseEventStream;
use std::convert::Infallible;

/// `/v1/converse-stream`: `event: <Bedrock event name>` + `data: <Bedrock's JSON payload>`.
pub fn converse_events(
    mut events: ConverseEventStream,
    request_id: String,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
    async_stream::stream! {
        while let Some(item) = events.next().await {
            let frame = match item.and_then(|event| {
                event
                    .payload_json()
                    .map(|payload| (event.name(), payload))
                    .map_err(|e| GatewayError::Internal(format!("serialising a stream event: {e}")))
            }) {
                Ok((name, payload)) => {
                    let mut frame = Vec::with_capacity(payload.len() + name.len() + 16);
                    frame.extend_from_slice(b"event: ");
                    frame.extend_from_slice(name.as_bytes());
                    frame.extend_from_slice(b"\ndata: ");
                    frame.extend_from_slice(&payload);
                    frame.extend_from_slice(b"\n\n");
                    frame
                }
                Err(error) => {
                    let error = ApiError::new(error, Dialect::Gateway, &request_id);
                    error.log();
                    yield Ok(Bytes::from(format!("event: error\ndata: {}\n\n", error.body())));
                    break;
                }
            };
            yield Ok(Bytes::from(frame));
        }
    }
}

/// `/v1/chat/completions` with `stream: true`: `data: <chunk>` lines, then `data: [DONE]`.
pub fn chat_chunks(
    mut events: ConverseEventStream,
    mut mapper: ChatStreamMapper,
    request_id: String,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
    async_stream::stream! {
        while let Some(item) = events.next().await {
            match item {
                Ok(event) => {
                    if let Some(chunk) = mapper.map(&event) {
                        match serde_json::to_string(&chunk) {
                            Ok(json) => yield Ok(Bytes::from(format!("data: {json}\n\n"))),
                            Err(e) => {
                                tracing::error!(request_id = %request_id, error = %e, "serialising a chunk");
                            }
                        }
                    }
                }
                Err(error) => {
                    // OpenAI's SDKs raise an APIError on a chunk carrying `error`.
                    let error = ApiError::new(error, Dialect::OpenAi, &request_id);
                    error.log();
                    yield Ok(Bytes::from(format!("data: {}\n\n", error.body())));
                    return;
                }
            }
        }
        yield Ok(Bytes::from_static(b"data: [DONE]\n\n"));
    }
}
