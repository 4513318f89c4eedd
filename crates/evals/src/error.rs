//! The one error type of the eval runner: what stops a run before any verdict (a suite or
//! baseline that cannot be read, bad options). A failing case is not an error; it is a result.

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A suite, baseline or report file that cannot be read or written.
    #[error("{path}: {message}")]
    File { path: String, message: String },
    /// A suite file that is not a valid suite; `at` names the case and field.
    #[error("{path}: {at}: {message}")]
    Suite {
        path: String,
        at: String,
        message: String,
    },
    /// A command-line option the runner rejects, named.
    #[error("{option}: {message}")]
    Usage { option: String, message: String },
    #[error("HTTP client: {0}")]
    Client(String),
}

impl EvalError {
    pub fn file(path: impl std::fmt::Display, message: impl std::fmt::Display) -> Self {
        Self::File {
            path: path.to_string(),
            message: message.to_string(),
        }
    }

    pub fn suite(
        path: impl std::fmt::Display,
        at: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::Suite {
            path: path.to_string(),
            at: at.into(),
            message: message.into(),
        }
    }

    pub fn usage(option: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Usage {
            option: option.into(),
            message: message.into(),
        }
    }
}
