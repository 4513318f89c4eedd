//! `POST /v1/chat/completions`: OpenAI's chat API, answered by Bedrock through Converse.

use super::streaming;
use crate::body::read_json;
use crate::context::RequestContext;
use crate::error_response::{Failure, OpenAi};
use crate::http_controls::call::CallContext;
use crate::sse;
use crate::state::SharedState;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use gateway::api::openai::{ChatCompletion, ChatRequest};
use gateway::api::openai_stream::ChatStreamMapper;
use gateway::service::Route;

pub async fn chat_completions(
    State(state): State<SharedState>,
    ctx: RequestContext,
    call: CallContext,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure<OpenAi>> {
    let chat: ChatRequest = read_json(body, state.body_limit())?;
    let mut request = chat.to_converse()?;
    request.model_id = None;
    let route = Route::Model(&chat.model);
    let id = format!("chatcmpl-{}", ctx.request_id);
    if chat.stream {
        let done = call.converse_stream(route, &request).await?;
        let headers = done.headers(&ctx.request_id);
        let mapper = ChatStreamMapper::new(
            id,
            gateway::clock::unix_secs(),
            done.served.target.model_id.clone(),
            chat.include_usage(),
        );
        let chunks = sse::chat_chunks(done.served.value, mapper, ctx.request_id);
        return Ok(streaming(headers, "text/event-stream", chunks));
    }
    let done = call.converse(route, &request).await?;
    let completion = ChatCompletion::from_converse(
        id,
        gateway::clock::unix_secs(),
        done.served.target.model_id.clone(),
        &done.served.value,
    );
    Ok((done.headers(&ctx.request_id), Json(completion)).into_response())
}
