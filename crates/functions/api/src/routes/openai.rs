//! `POST /v1/chat/completions`: OpenAI's chat API, answered by Bedrock through Converse.

use super::{CallDeadline, streaming};
use crate::app::SharedState;
use crate::body::read_json;
use crate::context::RequestContext;
use crate::error_response::{ApiError, Dialect};
use crate::headers::served_headers;
use crate::sse;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use gateway::api::openai::{ChatCompletion, ChatRequest};
use gateway::api::openai_stream::ChatStreamMapper;
use gateway::service::Route;
use std::time::{SystemTime, UNIX_EPOCH};

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub async fn chat_completions(
    State(state): State<SharedState>,
    ctx: RequestContext,
    CallDeadline(deadline): CallDeadline,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let fail = |error| ApiError::new(error, Dialect::OpenAi, &ctx.request_id).into_response();
    let chat: ChatRequest = match read_json(body, state.body_limit()) {
        Ok(chat) => chat,
        Err(error) => return fail(error),
    };
    let request = match chat.to_converse() {
        Ok(mut request) => {
            request.model_id = None;
            request
        }
        Err(error) => return fail(error),
    };
    let route = Route::Model(&chat.model);
    let id = format!("chatcmpl-{}", ctx.request_id);
    if chat.stream {
        match state
            .gateway
            .converse_stream(route, &request, deadline)
            .await
        {
            Ok(served) => {
                let headers = served_headers(&ctx.request_id, &served);
                let mapper = ChatStreamMapper::new(
                    id,
                    unix_now(),
                    served.target.model_id.clone(),
                    chat.include_usage(),
                );
                streaming(
                    headers,
                    "text/event-stream",
                    sse::chat_chunks(served.value, mapper, ctx.request_id),
                )
            }
            Err(error) => fail(error),
        }
    } else {
        match state.gateway.converse(route, &request, deadline).await {
            Ok(served) => {
                let completion = ChatCompletion::from_converse(
                    id,
                    unix_now(),
                    served.target.model_id.clone(),
                    &served.value,
                );
                (served_headers(&ctx.request_id, &served), Json(completion)).into_response()
            }
            Err(error) => fail(error),
        }
    }
}
