//! SDK event receivers as the gateway's streams. Each SDK event becomes at most one item; an
//! in-stream exception (or a broken connection) becomes one `Err` item, after which the stream ends.

use crate::bedrock::convert::response::stream_event;
use crate::bedrock::error::{ModeledException, Phase, from_sdk};
use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::primitives::event_stream::EventReceiver;
use aws_sdk_bedrockruntime::types::error::{ConverseStreamOutputError, ResponseStreamError};
use aws_sdk_bedrockruntime::types::{ConverseStreamOutput, ResponseStream};
use aws_sdk_sagemakerruntime::primitives::event_stream::EventReceiver as SageMakerReceiver;
use aws_smithy_types::event_stream::RawMessage;
use futures_core::Stream;
use gateway::GatewayError;
use gateway::api::invoke::InvokeChunk;
use gateway::ports::{ConverseEventStream, InvokeChunkStream};
use std::error::Error;
use std::pin::Pin;

/// What an SDK event receiver's `recv` gives: the next event, `None` at the end, or a failure.
type Received<T, E> = Result<Option<T>, SdkError<E, RawMessage>>;

/// What [`items`] needs of an event receiver. Each SDK crate generates its own `EventReceiver`
/// type, the same but for its name, so Bedrock's and SageMaker's both implement this.
pub(crate) trait EventSource<T, E>: Send + 'static {
    fn next(&mut self) -> impl Future<Output = Received<T, E>> + Send;
}

impl<T: Send + 'static, E: Send + 'static> EventSource<T, E> for EventReceiver<T, E> {
    fn next(&mut self) -> impl Future<Output = Received<T, E>> + Send {
        self.recv()
    }
}

impl<T: Send + 'static, E: Send + 'static> EventSource<T, E> for SageMakerReceiver<T, E> {
    fn next(&mut self) -> impl Future<Output = Received<T, E>> + Send {
        self.recv()
    }
}

/// The receiver's events as `item` makes them (`None`: an event the caller has no use for, such
/// as a kind newer than this code).
pub(crate) fn items<T, E, I>(
    mut receiver: impl EventSource<T, E>,
    item: impl Fn(T) -> Option<I> + Send + 'static,
) -> Pin<Box<dyn Stream<Item = Result<I, GatewayError>> + Send>>
where
    T: Send + 'static,
    E: ModeledException + ProvideErrorMetadata + Error + Send + Sync + 'static,
    I: Send + 'static,
{
    Box::pin(async_stream::stream! {
        loop {
            match receiver.next().await {
                Ok(Some(event)) => {
                    if let Some(item) = item(event) {
                        yield Ok(item);
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

pub(crate) fn converse_events(
    receiver: EventReceiver<ConverseStreamOutput, ConverseStreamOutputError>,
) -> ConverseEventStream {
    items(receiver, stream_event)
}

pub(crate) fn invoke_chunks(
    receiver: EventReceiver<ResponseStream, ResponseStreamError>,
) -> InvokeChunkStream {
    items(receiver, |event| match event {
        ResponseStream::Chunk(part) => Some(InvokeChunk {
            bytes: part.bytes?.into_inner(),
        }),
        _ => None,
    })
}
