//! `POST /v1/responses`: OpenAI's Responses API, stateless, answered by Bedrock through
//! Converse (the translation is `gateway::api::responses*`). Errors in OpenAI's shape.

use super::streaming;
use crate::body::read_json;
use crate::context::RequestContext;
use crate::error_response::{ApiError, Dialect, Failure, OpenAi};
use crate::http_controls::call::CallContext;
use crate::state::SharedState;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_core::Stream;
use futures_util::StreamExt;
use gateway::api::responses::ResponsesRequest;
use gateway::api::responses_output::{ResponseIds, ResponseObject};
use gateway::api::responses_stream::{ResponsesEvent, ResponsesStreamMapper};
use gateway::ports::ConverseEventStream;
use gateway::service::Route;
use std::convert::Infallible;

pub async fn create(
    State(state): State<SharedState>,
    ctx: RequestContext,
    call: CallContext,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure<OpenAi>> {
    let request: ResponsesRequest = read_json(body, state.body_limit())?;
    let converse = request.to_converse()?;
    let route = Route::Model(&request.model);
    let ids = ResponseIds::new(&ctx.request_id);
    if request.stream {
        let done = call.converse_stream(route, &converse).await?;
        let headers = done.headers(&ctx.request_id);
        let mapper = ResponsesStreamMapper::new(
            &request,
            ids,
            gateway::clock::unix_secs(),
            done.served.target.model_id.clone(),
        );
        let frames = events(done.served.value, mapper, ctx.request_id);
        return Ok(streaming(headers, "text/event-stream", frames));
    }
    let done = call.converse(route, &converse).await?;
    let response = ResponseObject::from_converse(
        &request,
        &ids,
        gateway::clock::unix_secs(),
        done.served.target.model_id.clone(),
        &done.served.value,
    );
    Ok((done.headers(&ctx.request_id), Json(response)).into_response())
}

fn frame(event: &ResponsesEvent) -> Bytes {
    Bytes::from(format!("event: {}\ndata: {}\n\n", event.name, event.data))
}

/// `event: response.*` + `data: {…}` frames; a failure midway is a final `error` event.
fn events(
    mut stream: ConverseEventStream,
    mut mapper: ResponsesStreamMapper,
    request_id: String,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
    async_stream::stream! {
        while let Some(item) = stream.next().await {
            match item {
                Ok(event) => {
                    for out in mapper.map(&event) {
                        yield Ok(frame(&out));
                    }
                }
                Err(error) => {
                    let error = ApiError::new(error, Dialect::OpenAi, &request_id);
                    error.log();
                    let e = &error.error;
                    let event = mapper.error(e.code(), &e.public_message(), e.field());
                    yield Ok(frame(&event));
                    return;
                }
            }
        }
        for out in mapper.finish() {
            yield Ok(frame(&out));
        }
    }
}
