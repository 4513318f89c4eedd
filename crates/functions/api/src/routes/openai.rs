//! `POST /v1/chat/completions`: OpenAI's chat API, answered by Bedrock through Converse.

use super::{CallDeadline, streaming};
use crate::body::read_json;
use crate::context::RequestContext;
use crate::error_response::Dialect;
use crate::http_controls::call::{CallContext, Refused};
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
    CallDeadline(deadline): CallDeadline,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let fail = |refused: Refused| refused.into_response(Dialect::OpenAi, &ctx.request_id);
    let chat: ChatRequest = match read_json(body, state.body_limit()) {
        Ok(chat) => chat,
        Err(error) => return fail(error.into()),
    };
    let request = match chat.to_converse() {
        Ok(mut request) => {
            request.model_id = None;
            request
        }
        Err(error) => return fail(error.into()),
    };
    let route = Route::Model(&chat.model);
    let id = format!("chatcmpl-{}", ctx.request_id);
    if chat.stream {
        match call
            .converse_stream(&state, route, &request, deadline)
            .await
        {
            Ok(done) => {
                let headers = done.headers(&ctx.request_id);
                let mapper = ChatStreamMapper::new(
                    id,
                    gateway::clock::unix_secs(),
                    done.served.target.model_id.clone(),
                    chat.include_usage(),
                );
                streaming(
                    headers,
                    "text/event-stream",
                    sse::chat_chunks(done.served.value, mapper, ctx.request_id),
                )
            }
            Err(refused) => fail(refused),
        }
    } else {
        match call.converse(&state, route, &request, deadline).await {
            Ok(done) => {
                let completion = ChatCompletion::from_converse(
                    id,
                    gateway::clock::unix_secs(),
                    done.served.target.model_id.clone(),
                    &done.served.value,
                );
                (done.headers(&ctx.request_id), Json(completion)).into_response()
            }
            Err(refused) => fail(refused),
        }
    }
}
