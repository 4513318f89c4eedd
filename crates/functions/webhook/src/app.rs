//! The router: the webhook route, in one place.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::post;

use crate::handler;
use crate::state::SharedState;

pub fn router(state: SharedState) -> Router {
    // The largest source limit here; each source's own limit is checked in the handler.
    let body_limit = state.webhooks.max_body_bytes();
    Router::new()
        .route("/webhooks/{source}", post(handler::receive))
        .fallback(handler::not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}
