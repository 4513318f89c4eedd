//! Reservations, settlements and the ledger: the controls' hot path.

use super::cache::{CACHE_SK, cache_item, cache_pk, decode_cached};
use super::{DynamoControlStore, Item, aws_error, expired, key, n, number, s, string};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    KeysAndAttributes, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use gateway::controls::ledger::{LedgerEntry, usage_pk, usage_sk};
use gateway::controls::ports::{CounterStore, Peek, Reserved, Settlement, StoreError};
use gateway::controls::reservation::{Counter, Observed};
use std::collections::HashMap;
use std::time::Duration;

/// A transaction that lost a race with another one on the same item is retried this often
/// (real DynamoDB cancels concurrent transactions on one item with `TransactionConflict`).
const CONFLICT_RETRIES: u32 = 4;

/// The sort key of a counter item: the prefix of its pk (`RL`, `CC`, `BUDGET`).
fn counter_sk(pk: &str) -> &str {
    pk.split('#').next().unwrap_or("COUNTER")
}

/// The parts of a counter's guarded update: expression, condition, names and values.
struct CounterExpression {
    update: String,
    condition: Option<String>,
    names: HashMap<String, String>,
    values: HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
}

fn counter_expression(counter: &Counter) -> CounterExpression {
    let mut names = HashMap::new();
    let mut values = HashMap::new();
    let mut adds = Vec::new();
    let mut conditions = Vec::new();
    for (i, add) in counter.adds.iter().enumerate() {
        names.insert(format!("#a{i}"), add.attribute.to_owned());
        values.insert(format!(":a{i}"), n(add.amount));
        adds.push(format!("#a{i} :a{i}"));
        if let Some(at_most) = add.at_most {
            values.insert(format!(":m{i}"), n(at_most));
            conditions.push(format!("(attribute_not_exists(#a{i}) OR #a{i} <= :m{i})"));
        }
    }
    values.insert(":exp".to_owned(), n(counter.expires_at_secs));
    let mut update = format!("ADD {} SET expires_at = :exp", adds.join(", "));
    if let Some(mark) = &counter.mark {
        values.insert(":mark".to_owned(), s(mark.clone()));
        update.push_str(", mark = :mark");
    }
    CounterExpression {
        update,
        condition: (!conditions.is_empty()).then(|| conditions.join(" AND ")),
        names,
        values,
    }
}

fn counter_update(table: &str, counter: &Counter) -> Result<TransactWriteItem, StoreError> {
    let e = counter_expression(counter);
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(key(counter.pk.clone(), counter_sk(&counter.pk))))
        .update_expression(e.update)
        .set_expression_attribute_names(Some(e.names))
        .set_expression_attribute_values(Some(e.values))
        .set_condition_expression(e.condition)
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .build()
        .map_err(|e| StoreError(format!("building a counter update: {e}")))?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// The numeric attributes of an item.
fn numbers(item: &Item) -> Observed {
    item.keys()
        .filter_map(|name| Some((name.clone(), number(item, name)?)))
        .collect()
}

fn adjustment_update(
    table: &str,
    pk: &str,
    adds: &[(&'static str, i64)],
) -> Result<TransactWriteItem, StoreError> {
    let mut names = HashMap::new();
    let mut values = HashMap::new();
    let mut parts = Vec::new();
    for (i, (attribute, amount)) in adds.iter().enumerate() {
        names.insert(format!("#a{i}"), (*attribute).to_owned());
        values.insert(format!(":a{i}"), n(amount));
        parts.push(format!("#a{i} :a{i}"));
    }
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(key(pk.to_owned(), counter_sk(pk))))
        .update_expression(format!("ADD {}", parts.join(", ")))
        .set_expression_attribute_names(Some(names))
        .set_expression_attribute_values(Some(values))
        .build()
        .map_err(|e| StoreError(format!("building a settlement update: {e}")))?;
    Ok(TransactWriteItem::builder().update(update).build())
}

fn ledger_update(table: &str, entry: &LedgerEntry) -> Result<TransactWriteItem, StoreError> {
    let values = HashMap::from([
        (":one".to_owned(), n(1)),
        (":in".to_owned(), n(entry.usage.input)),
        (":out".to_owned(), n(entry.usage.output)),
        (":cr".to_owned(), n(entry.usage.cache_read)),
        (":cw".to_owned(), n(entry.usage.cache_write)),
        (":cw1h".to_owned(), n(entry.usage.cache_write_1h)),
        (":cost".to_owned(), n(entry.cost.0)),
        (":hit".to_owned(), n(u8::from(entry.cache_hit))),
        (":err".to_owned(), n(u8::from(entry.error))),
        (":principal".to_owned(), s(entry.principal.clone())),
        (":model".to_owned(), s(entry.model.clone())),
        (":day".to_owned(), s(entry.day.clone())),
        (":exp".to_owned(), n(entry.expires_at_secs)),
    ]);
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(key(
            usage_pk(&entry.tenant, &entry.day),
            &usage_sk(&entry.principal, &entry.model),
        )))
        .update_expression(
            "ADD requests :one, input_tokens :in, output_tokens :out, cache_read_tokens :cr, \
             cache_write_tokens :cw, cache_write_1h_tokens :cw1h, cost_nanos :cost, cache_hits :hit, errors :err \
             SET principal = :principal, model = :model, #day = :day, expires_at = :exp",
        )
        .expression_attribute_names("#day", "day")
        .set_expression_attribute_values(Some(values))
        .build()
        .map_err(|e| StoreError(format!("building the ledger update: {e}")))?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// What a cancelled transaction says: the first item whose condition failed (with the
/// item's values when returned), or that it lost a race and may be retried.
enum Cancelled {
    Condition {
        index: usize,
        observed: Option<Observed>,
    },
    Conflict,
    Other(String),
}

fn cancelled(error: &TransactWriteItemsError) -> Option<Cancelled> {
    let TransactWriteItemsError::TransactionCanceledException(e) = error else {
        return None;
    };
    let reasons = e.cancellation_reasons();
    for (index, reason) in reasons.iter().enumerate() {
        if reason.code() == Some("ConditionalCheckFailed") {
            let observed = reason.item().map(numbers);
            return Some(Cancelled::Condition { index, observed });
        }
    }
    if reasons
        .iter()
        .any(|r| r.code() == Some("TransactionConflict"))
    {
        return Some(Cancelled::Conflict);
    }
    Some(Cancelled::Other(
        reasons
            .iter()
            .filter_map(|r| r.code())
            .collect::<Vec<_>>()
            .join(","),
    ))
}

impl DynamoControlStore {
    /// One TransactWriteItems, retried on `TransactionConflict` with jitter.
    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<Option<(usize, Option<Observed>)>, StoreError> {
        let mut attempt = 0;
        loop {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let error = match result {
                Ok(_) => return Ok(None),
                Err(error) => error,
            };
            match error.as_service_error().and_then(cancelled) {
                Some(Cancelled::Condition { index, observed }) => {
                    return Ok(Some((index, observed)));
                }
                Some(Cancelled::Conflict) if attempt < CONFLICT_RETRIES => {
                    attempt += 1;
                    // Jitter from the clock's nanoseconds: enough to pull racing writers apart.
                    let jitter = (5 + fastrand::u64(0..16)) * u64::from(attempt);
                    tracing::debug!(attempt, "transaction conflict; retrying");
                    tokio::time::sleep(Duration::from_millis(jitter)).await;
                }
                Some(Cancelled::Other(reasons)) => {
                    return Err(StoreError(format!(
                        "dynamodb:TransactWriteItems cancelled: {reasons}"
                    )));
                }
                _ => return Err(aws_error("dynamodb:TransactWriteItems", error)),
            }
        }
    }
}

impl CounterStore for DynamoControlStore {
    #[tracing::instrument(skip_all, fields(counters = counters.len()))]
    async fn reserve(&self, counters: &[Counter]) -> Result<Reserved, StoreError> {
        // One counter (the common case: a rate limit, or a budget) needs no transaction: a
        // conditional UpdateItem is as atomic, costs half, and never conflicts.
        if let [counter] = counters {
            let e = counter_expression(counter);
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(counter.pk.clone(), counter_sk(&counter.pk))))
                .update_expression(e.update)
                .set_expression_attribute_names(Some(e.names))
                .set_expression_attribute_values(Some(e.values))
                .set_condition_expression(e.condition)
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .await;
            return match result {
                Ok(_) => Ok(Reserved::Admitted),
                Err(error) => match error.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(e)) => {
                        Ok(Reserved::Refused {
                            index: 0,
                            observed: e.item().map(numbers),
                        })
                    }
                    _ => Err(aws_error("dynamodb:UpdateItem", error)),
                },
            };
        }
        let items = counters
            .iter()
            .map(|c| counter_update(&self.table, c))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(match self.transact(items).await? {
            None => Reserved::Admitted,
            Some((index, observed)) => Reserved::Refused { index, observed },
        })
    }

    #[tracing::instrument(skip_all)]
    async fn peek(
        &self,
        rate_pk: Option<&str>,
        cache_key: Option<&str>,
    ) -> Result<Peek, StoreError> {
        let rate_key = rate_pk.map(|pk| key(pk.to_owned(), counter_sk(pk)));
        let cache_key = cache_key.map(|k| key(cache_pk(k), CACHE_SK));
        let items: Vec<Item> = match (rate_key, cache_key) {
            (None, None) => Vec::new(),
            (Some(one), None) | (None, Some(one)) => {
                let output = self
                    .client
                    .get_item()
                    .table_name(&self.table)
                    .set_key(Some(one))
                    .send()
                    .await
                    .map_err(|e| aws_error("dynamodb:GetItem", e))?;
                output.item.into_iter().collect()
            }
            (Some(rate), Some(cache)) => {
                let keys = KeysAndAttributes::builder()
                    .keys(rate)
                    .keys(cache)
                    .build()
                    .map_err(|e| StoreError(format!("building a batch get: {e}")))?;
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, keys)
                    .send()
                    .await
                    .map_err(|e| aws_error("dynamodb:BatchGetItem", e))?;
                output
                    .responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default()
            }
        };
        let mut peek = Peek::default();
        for item in items {
            if expired(&item) {
                continue;
            }
            match string(&item, "sk").as_deref() {
                Some(CACHE_SK) => match decode_cached(item) {
                    Ok(cached) => peek.cached = Some(cached),
                    Err(e) => {
                        tracing::warn!(error = %e, "a cached answer does not decode; ignoring it")
                    }
                },
                _ => {
                    peek.rate_mark = string(&item, "mark");
                    peek.rate = Some(
                        ["requests", "tokens"]
                            .into_iter()
                            .filter_map(|a| Some((a.to_owned(), number(&item, a)?)))
                            .collect(),
                    );
                }
            }
        }
        Ok(peek)
    }

    #[tracing::instrument(skip_all, fields(adjustments = settlement.adjustments.len(), cache = settlement.cache.is_some()))]
    async fn settle(&self, settlement: &Settlement) -> Result<(), StoreError> {
        let mut items = Vec::with_capacity(settlement.adjustments.len() + 2);
        for adjustment in &settlement.adjustments {
            items.push(adjustment_update(
                &self.table,
                &adjustment.pk,
                &adjustment.adds,
            )?);
        }
        if let Some(entry) = &settlement.ledger {
            items.push(ledger_update(&self.table, entry)?);
        }
        if let Some(write) = &settlement.cache {
            match cache_item(write, self.compress_above, self.max_entry) {
                Ok(Some(item)) => {
                    let put = Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(item))
                        .build()
                        .map_err(|e| StoreError(format!("building the cache put: {e}")))?;
                    items.push(TransactWriteItem::builder().put(put).build());
                }
                Ok(None) => tracing::debug!("answer too large to cache"),
                Err(e) => tracing::warn!(error = %e, "could not encode the answer for the cache"),
            }
        }
        // One item (the ledger row of an unlimited key, or one counter given back): a plain
        // UpdateItem.
        if items.is_empty() {
            return Ok(());
        }
        if let [only] = items.as_slice()
            && let Some(update) = only.update()
        {
            self.client
                .update_item()
                .table_name(update.table_name())
                .set_key(Some(update.key().clone()))
                .update_expression(update.update_expression())
                .set_expression_attribute_names(update.expression_attribute_names().cloned())
                .set_expression_attribute_values(update.expression_attribute_values().cloned())
                .send()
                .await
                .map_err(|e| aws_error("dynamodb:UpdateItem", e))?;
            return Ok(());
        }
        match self.transact(items).await? {
            None => Ok(()),
            Some((index, _)) => Err(StoreError(format!(
                "settlement item {index} failed a condition it does not have"
            ))),
        }
    }
}
