//! When the caller stops waiting: Lambda's invocation deadline, so retries and fallbacks never
//! run past the function's timeout. Outside Lambda there is none (the configured request
//! timeout still applies).

use gateway::clock::unix_ms;
use http::request::Parts;
use std::time::{Duration, Instant};

/// Kept free before Lambda's deadline to write the response (or the error) and flush state.
const RESPONSE_MARGIN: Duration = Duration::from_millis(250);

pub fn lambda_deadline(parts: &Parts) -> Option<Instant> {
    parts
        .extensions
        .get::<lambda_http::lambda_runtime::Context>()
        .filter(|ctx| ctx.deadline > 0)
        .map(|ctx| {
            let left = Duration::from_millis(ctx.deadline.saturating_sub(unix_ms()))
                .saturating_sub(RESPONSE_MARGIN);
            Instant::now() + left
        })
}
