//! `ListAsyncInvokes`: its query string read into a bounded [`ListFilter`], the page cursor
//! (`nextToken`), and the port that lists one tenant's invocations by submit time.
//!
//! The cursor names only a position (submit time and job id) and is decoded strictly: the
//! adapter pairs it with the caller's own tenant, so a forged token can at most skip within
//! the caller's own invocations, and garbage is a 400 naming `nextToken`.

use super::async_invoke::invalid;
use super::model::{JobRecord, JobStatus};
use crate::GatewayError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use std::future::Future;

/// Bedrock's bounds on `maxResults`, and the page size when none is given.
pub const MAX_RESULTS: u32 = 1000;
pub const DEFAULT_MAX_RESULTS: u32 = 100;
const MAX_TOKEN_CHARS: usize = 2048;

/// Where a page ends: the last invocation listed (submit time, job id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cursor {
    pub t: u64,
    pub j: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    pub fn decode(token: &str) -> Result<Self, GatewayError> {
        let bad = || invalid("nextToken", "is not a token this API returned");
        if token.is_empty() || token.len() > MAX_TOKEN_CHARS {
            return Err(bad());
        }
        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
        let cursor: Self = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        let job_id_ok = cursor.j.len() <= 64
            && cursor
                .j
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !job_id_ok || cursor.j.is_empty() {
            return Err(bad());
        }
        Ok(cursor)
    }
}

/// Bedrock's `AsyncInvokeStatus`, and the job states each covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvocationStatus {
    InProgress,
    Completed,
    Failed,
}

impl InvocationStatus {
    pub fn job_states(self) -> &'static [JobStatus] {
        match self {
            Self::InProgress => &[JobStatus::Queued, JobStatus::Running],
            Self::Completed => &[JobStatus::Succeeded],
            Self::Failed => &[JobStatus::Failed],
        }
    }
}

/// One page's question, every number bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListFilter {
    pub status: Option<InvocationStatus>,
    /// Submitted strictly after / before (epoch ms).
    pub after_ms: Option<u64>,
    pub before_ms: Option<u64>,
    pub descending: bool,
    pub max_results: u32,
    pub after: Option<Cursor>,
}

impl Default for ListFilter {
    fn default() -> Self {
        Self {
            status: None,
            after_ms: None,
            before_ms: None,
            // Bedrock lists the newest first unless asked otherwise.
            descending: true,
            max_results: DEFAULT_MAX_RESULTS,
            after: None,
        }
    }
}

impl ListFilter {
    /// From the query string's (decoded) pairs; an unknown value or a number out of range
    /// is a 400 naming its parameter.
    pub fn from_query<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, GatewayError> {
        let mut filter = Self::default();
        for (name, value) in pairs {
            match name {
                "statusEquals" => {
                    filter.status = Some(match value {
                        "InProgress" => InvocationStatus::InProgress,
                        "Completed" => InvocationStatus::Completed,
                        "Failed" => InvocationStatus::Failed,
                        _ => {
                            return Err(invalid(name, "must be InProgress, Completed or Failed"));
                        }
                    })
                }
                "submitTimeAfter" => filter.after_ms = Some(parse_time(name, value)?),
                "submitTimeBefore" => filter.before_ms = Some(parse_time(name, value)?),
                "sortBy" if value == "SubmissionTime" => {}
                "sortBy" => return Err(invalid(name, "must be SubmissionTime")),
                "sortOrder" => {
                    filter.descending = match value {
                        "Ascending" => false,
                        "Descending" => true,
                        _ => {
                            return Err(invalid(name, "must be Ascending or Descending"));
                        }
                    }
                }
                "maxResults" => {
                    filter.max_results = value
                        .parse::<u32>()
                        .ok()
                        .filter(|n| (1..=MAX_RESULTS).contains(n))
                        .ok_or_else(|| {
                            invalid(
                                name,
                                format!("must be a whole number from 1 to {MAX_RESULTS}"),
                            )
                        })?
                }
                "nextToken" => filter.after = Some(Cursor::decode(value)?),
                // Other parameters (an SDK's own) are not Bedrock's to refuse.
                _ => {}
            }
        }
        Ok(filter)
    }
}

/// ISO 8601 (as SDKs send query timestamps) or epoch seconds, to epoch ms.
fn parse_time(name: &str, value: &str) -> Result<u64, GatewayError> {
    let bad = || invalid(name, "must be an ISO 8601 timestamp");
    if value.len() > 64 {
        return Err(bad());
    }
    if let Ok(secs) = value.parse::<f64>() {
        return (0.0..1e13)
            .contains(&secs)
            .then_some((secs * 1000.0) as u64)
            .ok_or_else(bad);
    }
    let time = chrono::DateTime::parse_from_rfc3339(value).map_err(|_| bad())?;
    u64::try_from(time.timestamp_millis()).map_err(|_| bad())
}

/// One page of a tenant's invocations, in the order asked for.
#[derive(Debug, Default)]
pub struct InvocationPage {
    pub records: Vec<JobRecord>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Cursor>,
}

/// Lists a tenant's async invocations by submit time (an index of the jobs table).
pub trait InvocationIndex: Send + Sync {
    fn list(
        &self,
        tenant: &str,
        filter: &ListFilter,
    ) -> impl Future<Output = Result<InvocationPage, GatewayError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_are_read_and_bounded() {
        let filter = ListFilter::from_query([
            ("statusEquals", "Completed"),
            ("submitTimeAfter", "2026-01-01T00:00:00Z"),
            ("submitTimeBefore", "2026-01-02T00:00:00.500+00:00"),
            ("sortBy", "SubmissionTime"),
            ("sortOrder", "Ascending"),
            ("maxResults", "5"),
        ])
        .unwrap();
        assert_eq!(filter.status, Some(InvocationStatus::Completed));
        assert_eq!(filter.after_ms, Some(1_767_225_600_000));
        assert_eq!(filter.before_ms, Some(1_767_312_000_500));
        assert!(!filter.descending);
        assert_eq!(filter.max_results, 5);
        for (name, value) in [
            ("maxResults", "0"),
            ("maxResults", "1001"),
            ("maxResults", "-1"),
            ("maxResults", "99999999999999999999"),
            ("statusEquals", "Done"),
            ("sortOrder", "Up"),
            ("sortBy", "Name"),
            ("submitTimeAfter", "yesterday"),
            ("submitTimeAfter", "1e300"),
            ("nextToken", "garbage!"),
            ("nextToken", "eyJ0IjoxfQ"),
        ] {
            let error = ListFilter::from_query([(name, value)]).unwrap_err();
            assert_eq!(error.field(), Some(name), "{name}={value}");
            assert_eq!(error.status_code(), 400);
        }
    }

    #[test]
    fn cursors_round_trip_and_forged_ones_are_refused() {
        let cursor = Cursor {
            t: 42,
            j: "job-ai-abc".into(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()).unwrap(), cursor);
        let forged = URL_SAFE_NO_PAD.encode(br#"{"t":1,"j":"x\"}"#);
        assert!(Cursor::decode(&forged).is_err());
        let extra = URL_SAFE_NO_PAD.encode(br#"{"t":1,"j":"a","tenant":"other"}"#);
        assert!(Cursor::decode(&extra).is_err());
        assert!(Cursor::decode(&"A".repeat(5000)).is_err());
    }
}
