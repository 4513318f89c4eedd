//! Prompt-regression evals for the gateway: suites of cases (a request, its route, assertions
//! on the answer, an optional judge model), run against any gateway URL with a key, reported
//! as JUnit XML and Markdown, and a gate that fails a release on a low pass rate or on a case
//! that passed in a baseline report. The binary is `gateway-eval`; see `evals/README.md`.
//!
//! Arrows: `cli` → `case` (load) → `run` (HTTP, `answer`, `check`, `judge`) → `report` →
//! `gate`, `junit`, `markdown`. Only `run` does I/O with the gateway.

pub mod answer;
pub mod case;
pub mod check;
pub mod cli;
pub mod error;
pub mod files;
pub mod gate;
pub mod judge;
pub mod junit;
pub mod markdown;
pub mod report;
pub mod run;

pub use cli::{Options, Outcome, execute};
pub use error::EvalError;
