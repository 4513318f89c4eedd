//! Ledger rows for reports: one Query per tenant and day.

use super::{DynamoControlStore, aws_error, number, string};
use aws_sdk_dynamodb::types::AttributeValue;
use gateway::controls::ledger::{UsageRow, usage_pk};
use gateway::controls::ports::{StoreError, UsageStore};

impl UsageStore for DynamoControlStore {
    #[tracing::instrument(skip_all, fields(tenant = %tenant, day = %day))]
    async fn usage(&self, tenant: &str, day: &str) -> Result<Vec<UsageRow>, StoreError> {
        let mut rows = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", AttributeValue::S(usage_pk(tenant, day)))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| aws_error("dynamodb:Query", e))?;
            for item in output.items.unwrap_or_default() {
                let count = |name| {
                    number(&item, name)
                        .and_then(|v| u64::try_from(v).ok())
                        .unwrap_or(0)
                };
                rows.push(UsageRow {
                    day: day.to_owned(),
                    principal: string(&item, "principal").unwrap_or_default(),
                    model: string(&item, "model").unwrap_or_default(),
                    requests: count("requests"),
                    input_tokens: count("input_tokens"),
                    output_tokens: count("output_tokens"),
                    cache_read_tokens: count("cache_read_tokens"),
                    cache_write_tokens: count("cache_write_tokens"),
                    cache_write_1h_tokens: count("cache_write_1h_tokens"),
                    cost_nanos: count("cost_nanos"),
                    cache_hits: count("cache_hits"),
                    errors: count("errors"),
                });
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                return Ok(rows);
            }
        }
    }
}
