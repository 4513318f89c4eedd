//! The kind of front door a request came through, as keys' `routes` and the cache's `routes`
//! configuration name it.

use serde::Deserialize;

/// The kind of front door a request came through: what a key's `routes` allow and what the
/// cache is enabled for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum RouteClass {
    /// `POST /v1/converse`, `POST /model/{id}/converse`.
    Converse,
    /// `POST /v1/converse-stream`, `POST /model/{id}/converse-stream`.
    ConverseStream,
    /// `POST /v1/chat/completions`.
    Chat,
    /// `POST /api/{task}`.
    Task,
    /// `POST /model/{id}/invoke` and `invoke-with-response-stream`.
    Invoke,
    /// `/v1/jobs*`.
    Jobs,
    /// `GET /v1/usage`.
    Usage,
    /// `POST /v1/embeddings`.
    Embeddings,
}

impl RouteClass {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Converse => "converse",
            Self::ConverseStream => "converse_stream",
            Self::Chat => "chat",
            Self::Task => "task",
            Self::Invoke => "invoke",
            Self::Jobs => "jobs",
            Self::Usage => "usage",
            Self::Embeddings => "embeddings",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "converse" => Self::Converse,
            "converse_stream" => Self::ConverseStream,
            "chat" => Self::Chat,
            "task" => Self::Task,
            "invoke" => Self::Invoke,
            "jobs" => Self::Jobs,
            "usage" => Self::Usage,
            "embeddings" => Self::Embeddings,
            _ => return None,
        })
    }

    pub const ALL: [Self; 7] = [
        Self::Converse,
        Self::ConverseStream,
        Self::Chat,
        Self::Task,
        Self::Invoke,
        Self::Jobs,
        Self::Usage,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_names_round_trip() {
        for route in RouteClass::ALL {
            assert_eq!(RouteClass::parse(route.as_str()), Some(route));
        }
    }
}
