//! Logging for every function: JSON lines (CloudWatch parses them), level from `RUST_LOG`
//! (default `info`), no ANSI colours, no timestamps (Lambda adds its own).
//! `LOG_FORMAT=text` gives human-readable lines for the offline run.

use std::str::FromStr;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The filter `RUST_LOG` asks for: a level (`debug`) and levels by target prefix
/// (`warn,gateway=debug,aws_smithy_runtime=trace`). `EnvFilter`'s span and field directives are
/// not supported on purpose: they bring a regex engine, ~250 KiB of every function's binary.
/// Unset, empty or unparseable: `info`.
pub fn filter(rust_log: Option<&str>) -> Targets {
    rust_log
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .and_then(|v| Targets::from_str(v).ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
}

pub fn init() {
    let filter = filter(std::env::var("RUST_LOG").ok().as_deref());
    let builder = tracing_subscriber::fmt().with_ansi(false);
    let result = if std::env::var("LOG_FORMAT").as_deref() == Ok("text") {
        builder.with_target(false).finish().with(filter).try_init()
    } else {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .without_time()
            .finish()
            .with(filter)
            .try_init()
    };
    // Already initialised (tests, or a host that set its own): keep that one.
    let _ = result;
}

#[cfg(test)]
mod tests {
    use super::filter;
    use tracing::Level;

    #[test]
    fn levels_by_target_prefix() {
        let f = filter(Some("warn,gateway=debug"));
        assert!(f.would_enable("gateway::service", &Level::DEBUG));
        assert!(!f.would_enable("gateway::service", &Level::TRACE));
        assert!(f.would_enable("aws_smithy_runtime", &Level::WARN));
        assert!(!f.would_enable("aws_smithy_runtime", &Level::INFO));
    }

    #[test]
    fn unset_empty_or_unparseable_is_info() {
        for value in [None, Some(""), Some("  "), Some("gateway=loud")] {
            let f = filter(value);
            assert!(f.would_enable("api", &Level::INFO), "{value:?}");
            assert!(!f.would_enable("api", &Level::DEBUG), "{value:?}");
        }
        assert!(filter(Some("debug")).would_enable("api", &Level::DEBUG));
    }
}
