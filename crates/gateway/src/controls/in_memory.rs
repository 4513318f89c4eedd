//! An in-memory state table for the controls' ports, for this crate's unit tests. Conditions
//! and adds are applied under one lock, so it is as atomic as the real table.

use super::cache::CachedAnswer;
use super::keys::{KeyRecord, TenantRecord};
use super::ledger::{UsageRow, usage_pk, usage_sk};
use super::ports::{CounterStore, KeyStore, Peek, Reserved, Settlement, StoreError, UsageStore};
use super::reservation::{Counter, Observed};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

#[derive(Debug, Default)]
pub struct InMemoryControlStore {
    state: Mutex<State>,
    /// Round trips made, as a DynamoDB adapter would make them.
    pub calls: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    keys_by_hash: HashMap<String, KeyRecord>,
    tenants: HashMap<String, TenantRecord>,
    counters: HashMap<String, Observed>,
    marks: HashMap<String, String>,
    ledger: BTreeMap<(String, String), UsageRow>,
    cache: HashMap<String, CachedAnswer>,
}

impl InMemoryControlStore {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn call(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
    }

    pub fn put_key(&self, record: KeyRecord) {
        self.lock()
            .keys_by_hash
            .insert(record.secret_hash.clone(), record);
    }

    pub fn put_tenant(&self, record: TenantRecord) {
        self.lock().tenants.insert(record.tenant.clone(), record);
    }

    /// A counter attribute's current value.
    pub fn counter(&self, pk: &str, attribute: &str) -> i64 {
        self.lock()
            .counters
            .get(pk)
            .and_then(|c| c.get(attribute))
            .copied()
            .unwrap_or(0)
    }
}

impl KeyStore for InMemoryControlStore {
    async fn key_by_hash(&self, secret_hash: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.call();
        Ok(self.lock().keys_by_hash.get(secret_hash).cloned())
    }

    async fn key_by_id(&self, key_id: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.call();
        Ok(self
            .lock()
            .keys_by_hash
            .values()
            .find(|k| k.key_id == key_id)
            .cloned())
    }

    async fn tenant(&self, tenant: &str) -> Result<Option<TenantRecord>, StoreError> {
        self.call();
        Ok(self.lock().tenants.get(tenant).cloned())
    }
}

impl CounterStore for InMemoryControlStore {
    async fn reserve(&self, counters: &[Counter]) -> Result<Reserved, StoreError> {
        self.call();
        let mut state = self.lock();
        for (index, counter) in counters.iter().enumerate() {
            let item = state.counters.get(&counter.pk);
            let fits = counter.adds.iter().all(|add| {
                let current = item.and_then(|i| i.get(add.attribute));
                match (add.at_most, current) {
                    (Some(max), Some(value)) => *value <= max,
                    _ => true,
                }
            });
            if !fits {
                return Ok(Reserved::Refused {
                    index,
                    observed: item.cloned(),
                });
            }
        }
        for counter in counters {
            let item = state.counters.entry(counter.pk.clone()).or_default();
            for add in &counter.adds {
                *item.entry(add.attribute.to_owned()).or_default() += add.amount;
            }
            if let Some(mark) = &counter.mark {
                state.marks.insert(counter.pk.clone(), mark.clone());
            }
        }
        Ok(Reserved::Admitted)
    }

    async fn peek(
        &self,
        rate_pk: Option<&str>,
        cache_key: Option<&str>,
    ) -> Result<Peek, StoreError> {
        self.call();
        let state = self.lock();
        Ok(Peek {
            rate: rate_pk.and_then(|pk| state.counters.get(pk).cloned()),
            rate_mark: rate_pk.and_then(|pk| state.marks.get(pk).cloned()),
            cached: cache_key.and_then(|k| state.cache.get(k).cloned()),
        })
    }

    async fn settle(&self, settlement: &Settlement) -> Result<(), StoreError> {
        self.call();
        let mut state = self.lock();
        for adjustment in &settlement.adjustments {
            let item = state.counters.entry(adjustment.pk.clone()).or_default();
            for (attribute, amount) in &adjustment.adds {
                *item.entry((*attribute).to_owned()).or_default() += amount;
            }
        }
        if let Some(entry) = &settlement.ledger {
            let row = state
                .ledger
                .entry((
                    usage_pk(&entry.tenant, &entry.day),
                    usage_sk(&entry.principal, &entry.model),
                ))
                .or_insert_with(|| UsageRow {
                    day: entry.day.clone(),
                    principal: entry.principal.clone(),
                    model: entry.model.clone(),
                    ..UsageRow::default()
                });
            row.requests += 1;
            row.input_tokens += entry.usage.input;
            row.output_tokens += entry.usage.output;
            row.cache_read_tokens += entry.usage.cache_read;
            row.cache_write_tokens += entry.usage.cache_write;
            row.cache_write_1h_tokens += entry.usage.cache_write_1h;
            row.cost_nanos += entry.cost.0;
            row.cache_hits += u64::from(entry.cache_hit);
            row.errors += u64::from(entry.error);
        }
        if let Some(write) = &settlement.cache {
            state.cache.insert(write.key.clone(), write.answer.clone());
        }
        Ok(())
    }
}

impl UsageStore for InMemoryControlStore {
    async fn usage(&self, tenant: &str, day: &str) -> Result<Vec<UsageRow>, StoreError> {
        self.call();
        let pk = usage_pk(tenant, day);
        Ok(self
            .lock()
            .ledger
            .iter()
            .filter(|((p, _), _)| *p == pk)
            .map(|(_, row)| row.clone())
            .collect())
    }
}
