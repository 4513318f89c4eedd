//! Administration of keys and tenants (`gatewayctl`): off the hot path, so plain and simple.
//! A key's two items (`KEY#<hash>`, `KEYID#<id>`) are always written in one transaction.

use super::keys::{KEY_SK, TENANT_SK, item, key_id_pk, key_pk, record, tenant_pk};
use super::{DynamoControlStore, Item, aws_error};
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use gateway::controls::keys::{KeyRecord, TenantRecord};
use gateway::controls::ports::StoreError;

impl DynamoControlStore {
    fn key_puts(
        &self,
        record: &KeyRecord,
        condition: &str,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        [key_pk(&record.secret_hash), key_id_pk(&record.key_id)]
            .into_iter()
            .map(|pk| {
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item(record, pk, KEY_SK)?))
                    .condition_expression(condition)
                    .build()
                    .map_err(|e| StoreError(format!("building a key put: {e}")))?;
                Ok(TransactWriteItem::builder().put(put).build())
            })
            .collect()
    }

    async fn write_key(
        &self,
        record: &KeyRecord,
        condition: &str,
        what: &str,
    ) -> Result<(), StoreError> {
        self.client
            .transact_write_items()
            .set_transact_items(Some(self.key_puts(record, condition)?))
            .send()
            .await
            .map_err(|e| aws_error(what, e))?;
        Ok(())
    }

    /// Stores a new key; fails if its id or hash exists.
    pub async fn create_key(&self, record: &KeyRecord) -> Result<(), StoreError> {
        self.write_key(record, "attribute_not_exists(pk)", "creating a key")
            .await
    }

    /// Replaces an existing key's record (limits, budget, disabled, …).
    pub async fn save_key(&self, record: &KeyRecord) -> Result<(), StoreError> {
        self.write_key(record, "attribute_exists(pk)", "saving a key")
            .await
    }

    /// Every key (of one tenant), by scanning the table for `KEYID#` items.
    pub async fn list_keys(&self, tenant: Option<&str>) -> Result<Vec<KeyRecord>, StoreError> {
        let mut keys = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut request = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression(match tenant {
                    Some(_) => "begins_with(pk, :prefix) AND tenant = :tenant",
                    None => "begins_with(pk, :prefix)",
                })
                .expression_attribute_values(":prefix", AttributeValue::S("KEYID#".into()))
                .set_exclusive_start_key(start);
            if let Some(tenant) = tenant {
                request = request
                    .expression_attribute_values(":tenant", AttributeValue::S(tenant.to_owned()));
            }
            let output = request
                .send()
                .await
                .map_err(|e| aws_error("dynamodb:Scan", e))?;
            for item in output.items.unwrap_or_default() {
                keys.push(record(item, "key")?);
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                keys.sort_by_key(|k: &KeyRecord| (k.tenant.clone(), k.created_at_ms));
                return Ok(keys);
            }
        }
    }

    pub async fn save_tenant(&self, tenant: &TenantRecord) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item(tenant, tenant_pk(&tenant.tenant), TENANT_SK)?))
            .send()
            .await
            .map_err(|e| aws_error("dynamodb:PutItem", e))?;
        Ok(())
    }
}
