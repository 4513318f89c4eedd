//! The sparse global secondary index of StartAsyncInvoke jobs (`async-invocations`): its name
//! and key, and the attribute that puts a record in it. The job store writes the attribute;
//! ListAsyncInvokes (`async_invocations`) queries the index.

use crate::dynamo_attr::{Item, s};
use gateway::jobs::{JobRecord, JobRequest};

/// The index's name and partition key (template.yaml declares both).
pub const INVOCATIONS_INDEX: &str = "async-invocations";
pub const INVOCATIONS_INDEX_KEY: &str = "ai_tenant";

/// An async invocation's record carries its index key; no other job does (a sparse index).
pub(super) fn index_attributes(record: &JobRecord, item: &mut Item) {
    if matches!(record.request, JobRequest::AsyncInvoke(_)) {
        item.insert(INVOCATIONS_INDEX_KEY.to_owned(), s(&record.tenant));
    }
}
