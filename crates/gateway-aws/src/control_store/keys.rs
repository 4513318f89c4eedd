//! Key and tenant records (`KEY#`, `KEYID#`, `TENANT#`), read on the hot path when the
//! per-instance cache misses.

use super::{DynamoControlStore, Item, aws_error, key};
use gateway::controls::keys::{KeyRecord, TenantRecord};
use gateway::controls::ports::{KeyStore, StoreError};
use serde::de::DeserializeOwned;

pub(super) const KEY_SK: &str = "KEY";
pub(super) const TENANT_SK: &str = "TENANT";

pub(super) fn key_pk(secret_hash: &str) -> String {
    format!("KEY#{secret_hash}")
}

pub(super) fn key_id_pk(key_id: &str) -> String {
    format!("KEYID#{key_id}")
}

pub(super) fn tenant_pk(tenant: &str) -> String {
    format!("TENANT#{tenant}")
}

/// A record from its item, without the table's own attributes.
pub(super) fn record<T: DeserializeOwned>(mut item: Item, what: &str) -> Result<T, StoreError> {
    for name in ["pk", "sk", "expires_at"] {
        item.remove(name);
    }
    serde_dynamo::from_item(item)
        .map_err(|e| StoreError(format!("a stored {what} does not parse: {e}")))
}

pub(super) fn item<T: serde::Serialize>(
    record: &T,
    pk: String,
    sk: &str,
) -> Result<Item, StoreError> {
    let mut item: Item =
        serde_dynamo::to_item(record).map_err(|e| StoreError(format!("record to item: {e}")))?;
    item.extend(key(pk, sk));
    Ok(item)
}

impl DynamoControlStore {
    async fn get<T: DeserializeOwned>(
        &self,
        pk: String,
        sk: &str,
        what: &str,
    ) -> Result<Option<T>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .send()
            .await
            .map_err(|e| aws_error("dynamodb:GetItem", e))?;
        output.item.map(|i| record(i, what)).transpose()
    }
}

impl KeyStore for DynamoControlStore {
    #[tracing::instrument(skip_all)]
    async fn key_by_hash(&self, secret_hash: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.get(key_pk(secret_hash), KEY_SK, "key").await
    }

    #[tracing::instrument(skip_all, fields(key_id = %key_id))]
    async fn key_by_id(&self, key_id: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.get(key_id_pk(key_id), KEY_SK, "key").await
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    async fn tenant(&self, tenant: &str) -> Result<Option<TenantRecord>, StoreError> {
        self.get(tenant_pk(tenant), TENANT_SK, "tenant").await
    }
}
