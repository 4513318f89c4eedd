//! Logging for every function: JSON lines (CloudWatch parses them), level from `RUST_LOG`
//! (default `info`), no ANSI colours, no timestamps (Lambda adds its own).
//! `LOG_FORMAT=text` gives human-readable lines for the offline run.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false);
    let result = if std::env::var("LOG_FORMAT").as_deref() == Ok("text") {
        builder.with_target(false).try_init()
    } else {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .without_time()
            .try_init()
    };
    // Already initialised (tests, or a host that set its own): keep that one.
    let _ = result;
}
