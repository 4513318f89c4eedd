//! `POST /api/classify|generate|analyze`: small bodies, statically routed to the task's model.

use super::Segment;
use crate::body::read_json;
use crate::context::RequestContext;
use crate::error_response::{Failure, Gateway};
use crate::http_controls::call::CallContext;
use crate::state::SharedState;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use gateway::GatewayError;
use gateway::api::tasks::{AnalyzeRequest, ClassifyRequest, GenerateRequest, Task, TaskResponse};
use gateway::service::Route;

pub async fn run_task(
    State(state): State<SharedState>,
    Segment(task): Segment,
    ctx: RequestContext,
    call: CallContext,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure<Gateway>> {
    let limit = state.body_limit();
    let (task, request, classify) = match task.as_str() {
        "classify" => {
            let classify: ClassifyRequest = read_json(body, limit)?;
            (Task::Classify, classify.to_converse()?, Some(classify))
        }
        "generate" => (
            Task::Generate,
            read_json::<GenerateRequest>(body, limit)?.to_converse()?,
            None,
        ),
        "analyze" => (
            Task::Analyze,
            read_json::<AnalyzeRequest>(body, limit)?.to_converse()?,
            None,
        ),
        other => {
            return Err(GatewayError::NotFound(format!(
                "no task route '{other}'; use classify, generate or analyze"
            ))
            .into());
        }
    };
    let done = call.converse(Route::Task(task), &request).await?;
    let served = &done.served;
    let label = classify.and_then(|c| c.pick_label(&served.value.text()));
    let response = TaskResponse::new(task, served.target.model_id.clone(), &served.value, label);
    Ok((done.headers(&ctx.request_id), Json(response)).into_response())
}
