//! ListAsyncInvokes over the jobs table: a sparse global secondary index (`async-invocations`,
//! key `ai_tenant` + `created_at_ms`) holds only StartAsyncInvoke jobs, so one tenant's
//! invocations are one Query, in submit-time order either way.
//!
//! Pages read only the attributes a summary needs (never the model input or the answer), and
//! the page cursor is paired with the caller's tenant here: a token cannot reach another
//! tenant's partition.

use super::aws_error;
use super::dynamo_store::{DynamoJobStore, from_item};
use super::invocations_index::{INVOCATIONS_INDEX, INVOCATIONS_INDEX_KEY};
use crate::dynamo_attr::{Item, n, s};
use aws_sdk_dynamodb::types::AttributeValue;
use gateway::GatewayError;
use gateway::jobs::async_invoke_list::{Cursor, InvocationIndex, InvocationPage, ListFilter};
use std::collections::HashMap;

/// Queries per page at most: a page filtered down to little ends early, with a token.
const MAX_QUERIES_PER_PAGE: usize = 8;

fn start_key(tenant: &str, cursor: &Cursor) -> Item {
    HashMap::from([
        ("pk".to_owned(), s(&cursor.j)),
        (INVOCATIONS_INDEX_KEY.to_owned(), s(tenant)),
        ("created_at_ms".to_owned(), n(cursor.t)),
    ])
}

fn cursor_of(key: &Item) -> Option<Cursor> {
    let t = match key.get("created_at_ms")? {
        AttributeValue::N(t) => t.parse().ok()?,
        _ => return None,
    };
    let j = match key.get("pk")? {
        AttributeValue::S(j) => j.clone(),
        _ => return None,
    };
    Some(Cursor { t, j })
}

impl InvocationIndex for DynamoJobStore {
    #[tracing::instrument(skip_all)]
    async fn list(
        &self,
        tenant: &str,
        filter: &ListFilter,
    ) -> Result<InvocationPage, GatewayError> {
        let lo = filter.after_ms.map_or(0, |t| t.saturating_add(1));
        let hi = match filter.before_ms {
            Some(0) => return Ok(InvocationPage::default()),
            Some(t) => t - 1,
            None => i64::MAX as u64,
        };
        if lo > hi {
            return Ok(InvocationPage::default());
        }
        // A cursor outside the window (a forged one, or the window changed between pages):
        // behind the reading direction it is dropped, past the end the page is empty.
        let mut start = match &filter.after {
            Some(c) if c.t < lo && filter.descending => return Ok(InvocationPage::default()),
            Some(c) if c.t > hi && !filter.descending => return Ok(InvocationPage::default()),
            Some(c) if c.t < lo || c.t > hi => None,
            Some(c) => Some(start_key(tenant, c)),
            None => None,
        };
        let max = filter.max_results as usize;
        let now = gateway::clock::unix_ms();
        let mut records = Vec::new();
        for _ in 0..MAX_QUERIES_PER_PAGE {
            let want = i32::try_from(max - records.len()).unwrap_or(i32::MAX);
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(INVOCATIONS_INDEX)
                .key_condition_expression("#tenant = :tenant AND #created BETWEEN :lo AND :hi")
                .expression_attribute_names("#tenant", INVOCATIONS_INDEX_KEY)
                .expression_attribute_names("#created", "created_at_ms")
                .expression_attribute_values(":tenant", s(tenant))
                .expression_attribute_values(":lo", n(lo))
                .expression_attribute_values(":hi", n(hi))
                .scan_index_forward(!filter.descending)
                .limit(want)
                // What a summary needs: never the model input or the answer.
                .projection_expression(
                    "pk, job_id, tenant, #status, request_hash, #created, updated_at_ms, \
                     expires_at, #error, #request.async_invoke.invocation_id, \
                     #request.async_invoke.model_id, #request.async_invoke.model_arn, \
                     #request.async_invoke.#output, #request.async_invoke.client_request_token",
                )
                .expression_attribute_names("#status", "status")
                .expression_attribute_names("#error", "error")
                .expression_attribute_names("#request", "request")
                .expression_attribute_names("#output", "output")
                .set_exclusive_start_key(start.take());
            if let Some(status) = filter.status {
                let states = status.job_states();
                let names: Vec<String> = (0..states.len()).map(|i| format!(":s{i}")).collect();
                query = query.filter_expression(format!("#status IN ({})", names.join(", ")));
                for (name, state) in names.iter().zip(states) {
                    query = query.expression_attribute_values(name, s(state.as_str()));
                }
            }
            let output = query
                .send()
                .await
                .map_err(|e| aws_error("dynamodb:Query(async-invocations)", e))?;
            for item in output.items.unwrap_or_default() {
                let record = from_item(item)?;
                // Past its TTL: DynamoDB deletes it eventually; it is gone already.
                if !record.is_expired(now) {
                    records.push(record);
                }
            }
            let Some(last) = output.last_evaluated_key else {
                return Ok(InvocationPage {
                    records,
                    next: None,
                });
            };
            if records.len() >= max {
                return Ok(InvocationPage {
                    records,
                    next: cursor_of(&last),
                });
            }
            start = Some(last);
        }
        let next = start.as_ref().and_then(cursor_of);
        Ok(InvocationPage { records, next })
    }
}
