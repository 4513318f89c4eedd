//! Which stream records need work: the in-code half of the loop guard.
//!
//! The event source mapping's filter (`eventName` INSERT/MODIFY, `NewImage.status` PENDING)
//! already keeps the processor's `ENRICHED`/`FAILED` write-backs and deletions away from the
//! function. This module enforces the same rule again in code — a filter can be dropped from a
//! template, and the offline runner may poll without one — and adds the part a filter cannot
//! express: a MODIFY that only changed the processor's own bookkeeping attributes (a failed
//! attempt being counted) leaves the item `PENDING` but is not new work.

use super::document::{Document, DocumentError, Status, attr, unmarshal};
use serde_json::{Map, Value};

/// A stream record as far as triage cares. Images are DynamoDB JSON, as in the Lambda event;
/// an absent image is an empty map (as `aws_lambda_events` gives it).
#[derive(Debug, Clone, Copy)]
pub struct StreamChange<'a> {
    /// `INSERT`, `MODIFY` or `REMOVE`.
    pub event_name: &'a str,
    pub new_image: &'a Map<String, Value>,
    pub old_image: &'a Map<String, Value>,
}

/// Why a record needs no work. None of these calls a model or writes anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// A deletion.
    Removed,
    /// Not INSERT/MODIFY, or no new image (a KEYS_ONLY / OLD_IMAGE stream).
    NotAChange,
    /// The new image is not `PENDING`: the processor's own write-back, or an application
    /// write that asks for nothing.
    NotPending,
    /// A MODIFY that changed only the processor's bookkeeping (or nothing at all).
    OwnWrite,
    /// The item is gone.
    Deleted,
    /// The item has moved on to another version since this record: that version's own record
    /// does the work. Out-of-order and stale records end here.
    Superseded { record: u64, current: Option<u64> },
    /// Already enriched at this version: a duplicate record.
    AlreadyEnriched,
    /// The conditional write-back lost: the item changed while the model was answering.
    LostRace,
}

impl SkipReason {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Removed => "removed",
            Self::NotAChange => "not_a_change",
            Self::NotPending => "not_pending",
            Self::OwnWrite => "own_write",
            Self::Deleted => "deleted",
            Self::Superseded { .. } => "superseded",
            Self::AlreadyEnriched => "already_enriched",
            Self::LostRace => "lost_race",
        }
    }
}

/// What to do with a record.
#[derive(Debug, Clone, PartialEq)]
pub enum Triage {
    Skip(SkipReason),
    /// A PENDING document to enrich.
    Work(Document),
    /// PENDING, but not a usable document: mark it `FAILED` with the reason. `version` is the
    /// image's, when it has a usable one (the write is conditional on it).
    Reject {
        key: String,
        version: Option<u64>,
        error: DocumentError,
    },
}

pub fn triage(change: StreamChange<'_>) -> Triage {
    match change.event_name {
        "INSERT" | "MODIFY" => {}
        "REMOVE" => return Triage::Skip(SkipReason::Removed),
        _ => return Triage::Skip(SkipReason::NotAChange),
    }
    if change.new_image.is_empty() {
        return Triage::Skip(SkipReason::NotAChange);
    }
    let status = change
        .new_image
        .get(attr::STATUS)
        .and_then(|s| s.get("S"))
        .and_then(Value::as_str);
    if status != Some(Status::Pending.as_str()) {
        return Triage::Skip(SkipReason::NotPending);
    }
    if change.event_name == "MODIFY"
        && !change.old_image.is_empty()
        && only_bookkeeping_changed(change.old_image, change.new_image)
    {
        return Triage::Skip(SkipReason::OwnWrite);
    }
    match Document::from_image(change.new_image) {
        Ok(document) => Triage::Work(document),
        Err(error) => {
            let key = change
                .new_image
                .get(attr::KEY)
                .and_then(|k| k.get("S"))
                .and_then(Value::as_str);
            let Some(key) = key else {
                // Not an item of a table keyed by a string `pk`: nothing we could mark.
                return Triage::Skip(SkipReason::NotAChange);
            };
            let version = change
                .new_image
                .get(attr::VERSION)
                .and_then(|v| unmarshal(v).ok()?.as_u64());
            Triage::Reject {
                key: key.to_owned(),
                version,
                error,
            }
        }
    }
}

/// Whether every attribute that differs between the images is one the processor writes while
/// a document stays PENDING.
fn only_bookkeeping_changed(old: &Map<String, Value>, new: &Map<String, Value>) -> bool {
    let changed = |name: &String| old.get(name) != new.get(name);
    old.keys()
        .chain(new.keys())
        .filter(|name| changed(name))
        .all(|name| attr::BOOKKEEPING.contains(&name.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrichment::document::Task;
    use serde_json::json;

    fn pending(version: u64) -> Map<String, Value> {
        json!({"pk": {"S": "doc-1"}, "version": {"N": version.to_string()}, "status": {"S": "PENDING"},
               "content": {"S": "text"}, "task": {"S": "summarize"}})
        .as_object()
        .unwrap()
        .clone()
    }

    fn with(mut image: Map<String, Value>, name: &str, value: Value) -> Map<String, Value> {
        image.insert(name.to_owned(), value);
        image
    }

    fn run(
        event_name: &str,
        new_image: &Map<String, Value>,
        old_image: &Map<String, Value>,
    ) -> Triage {
        triage(StreamChange {
            event_name,
            new_image,
            old_image,
        })
    }

    #[test]
    fn pending_inserts_and_modifies_are_work() {
        let empty = Map::new();
        let Triage::Work(doc) = run("INSERT", &pending(1), &empty) else {
            panic!("not work")
        };
        assert_eq!((doc.version, doc.task), (1, Task::Summarize));
        // The application re-requested enrichment with new content.
        let old = with(pending(1), "status", json!({"S": "ENRICHED"}));
        assert!(matches!(run("MODIFY", &pending(2), &old), Triage::Work(_)));
    }

    #[test]
    fn the_processors_own_writes_are_never_work() {
        let empty = Map::new();
        let enriched = with(pending(1), "status", json!({"S": "ENRICHED"}));
        let failed = with(pending(1), "status", json!({"S": "FAILED"}));
        assert_eq!(
            run("MODIFY", &enriched, &pending(1)),
            Triage::Skip(SkipReason::NotPending)
        );
        assert_eq!(
            run("MODIFY", &failed, &pending(1)),
            Triage::Skip(SkipReason::NotPending)
        );
        // Counting a failed attempt keeps the item PENDING: only bookkeeping changed.
        let counted = with(
            with(
                with(pending(1), "attempts", json!({"N": "1"})),
                "attempted_version",
                json!({"N": "1"}),
            ),
            "last_error",
            json!({"M": {"code": {"S": "model_throttled"}}}),
        );
        assert_eq!(
            run("MODIFY", &counted, &pending(1)),
            Triage::Skip(SkipReason::OwnWrite)
        );
        assert_eq!(
            run("MODIFY", &pending(1), &pending(1)),
            Triage::Skip(SkipReason::OwnWrite)
        );
        assert_eq!(
            run("REMOVE", &empty, &pending(1)),
            Triage::Skip(SkipReason::Removed)
        );
        assert_eq!(
            run("INSERT", &empty, &empty),
            Triage::Skip(SkipReason::NotAChange)
        );
        assert_eq!(
            run(
                "INSERT",
                &with(pending(1), "status", json!({"N": "1"})),
                &empty
            ),
            Triage::Skip(SkipReason::NotPending)
        );
    }

    #[test]
    fn unusable_pending_documents_are_rejected_with_their_version() {
        let empty = Map::new();
        let bad_task = with(pending(4), "task", json!({"S": "translate"}));
        let Triage::Reject {
            key,
            version,
            error,
        } = run("INSERT", &bad_task, &empty)
        else {
            panic!("not rejected")
        };
        assert_eq!(
            (key.as_str(), version, error.field.as_str()),
            ("doc-1", Some(4), "task.type")
        );
        let bad_version = with(pending(4), "version", json!({"S": "four"}));
        let Triage::Reject { version, .. } = run("INSERT", &bad_version, &empty) else {
            panic!("not rejected")
        };
        assert_eq!(version, None);
        let mut no_key = pending(1);
        no_key.remove("pk");
        assert_eq!(
            run("INSERT", &no_key, &empty),
            Triage::Skip(SkipReason::NotAChange)
        );
    }
}
