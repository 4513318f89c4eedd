//! SDK event receivers as the gateway's streams. Each SDK event becomes at most one item; an
//! in-stream exception (or a broken connection) becomes one `Err` item, after which the stream ends.

use crate::bedrock::convert::response::stream_event;
use crate::bedrock::error::{Phase, from_sdk};
use aws_sdk_bedrockruntime::primitives::event_stream::EventReceiver;
use aws_sdk_bedrockruntime::types::error::{ConverseStreamOutputError, ResponseStreamError};
use aws_sdk_bedrockruntime::types::{ConverseStreamOutput, ResponseStream};
use gateway::api::invoke::InvokeChunk;
use gateway::ports::{ConverseEventStream, InvokeChunkStream};

pub(crate) fn converse_events(
    mut receiver: EventReceiver<ConverseStreamOutput, ConverseStreamOutputError>,
) -> ConverseEventStream {
    Box::pin(async_stream::stream! {
        loop {
            match receiver.recv().await {
                Ok(Some(event)) => {
                    if let Some(event) = stream_event(event) {
                        yield Ok(event);
                    }
                }
                Ok(None) => break,
                Err(err) => {
                    yield Err(from_sdk(err, Phase::InStream));
                    break;
                }
            }
        }
    })
}

pub(crate) fn invoke_chunks(
    mut receiver: EventReceiver<ResponseStream, ResponseStreamError>,
) -> InvokeChunkStream {
    Box::pin(async_stream::stream! {
        loop {
            match receiver.recv().await {
                Ok(Some(ResponseStream::Chunk(part))) => {
                    if let Some(bytes) = part.bytes {
                        yield Ok(InvokeChunk { bytes: bytes.into_inner() });
                    }
                }
                // A future event kind: nothing the caller could use.
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(err) => {
                    yield Err(from_sdk(err, Phase::InStream));
                    break;
                }
            }
        }
    })
}
