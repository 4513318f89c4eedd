//! The principal of work the gateway does on someone's behalf without credentials: a webhook
//! source's jobs are admitted and charged against the tenant (and optionally the key) its
//! configuration names, exactly like a caller of that key would be.

use super::controller::Controller;
use super::keys::{AuthMethod, Principal, is_key_id, valid_tenant};
use super::ports::KeyStore;
use crate::error::GatewayError;

impl<S: KeyStore> Controller<S> {
    /// `tenant`'s principal, through key `key_id` when given: that key's limits, budget and
    /// allowed models apply, and the tenant's budget always does. The key must belong to
    /// `tenant` and be usable now; a disabled tenant is refused. Without a key the principal
    /// is `service:<tenant>`, limited by the tenant's record only.
    pub async fn service_principal(
        &self,
        tenant: &str,
        key_id: Option<&str>,
        now_ms: u64,
    ) -> Result<Principal, GatewayError> {
        if !valid_tenant(tenant) {
            return Err(GatewayError::Forbidden(format!(
                "`{tenant}` is not a usable tenant name"
            )));
        }
        if let Some(key_id) = key_id {
            if !is_key_id(key_id) {
                return Err(GatewayError::Forbidden(format!(
                    "`{key_id}` is not a gateway key id"
                )));
            }
            let record = self
                .cached_key(format!("i:{key_id}"), || self.store().key_by_id(key_id))
                .await?
                .ok_or_else(|| GatewayError::Forbidden(format!("no key {key_id}")))?;
            if record.tenant != tenant {
                return Err(GatewayError::Forbidden(format!(
                    "key {key_id} does not belong to tenant `{tenant}`"
                )));
            }
            // The key is used as if presented: the audit and ledger see its id.
            return self.key_principal(record, AuthMethod::ApiKey, now_ms).await;
        }
        let policy = self.tenant_policy(tenant).await?;
        if policy.as_ref().is_some_and(|p| p.disabled) {
            return Err(GatewayError::Forbidden("this tenant is disabled".into()));
        }
        Ok(Principal {
            id: format!("service:{tenant}"),
            tenant: tenant.to_owned(),
            method: AuthMethod::Open,
            key: None,
            tenant_policy: policy,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GatewayConfig;
    use crate::controls::in_memory::InMemoryControlStore;
    use crate::controls::keys::{self, KeyRecord, TenantRecord};

    fn key(tenant: &str) -> KeyRecord {
        let issued = keys::issue(&[7; keys::ENTROPY_BYTES]);
        KeyRecord::new(&issued, tenant, 0)
    }

    #[tokio::test]
    async fn a_key_of_the_tenant_is_used_as_if_presented() {
        let store = InMemoryControlStore::default();
        let record = key("tickets");
        store.put_key(record.clone());
        store.put_tenant(TenantRecord {
            tenant: "tickets".into(),
            ..TenantRecord::default()
        });
        let controller =
            Controller::new(&GatewayConfig::default(), store, Vec::new(), None).unwrap();
        let principal = controller
            .service_principal("tickets", Some(&record.key_id), 0)
            .await
            .unwrap();
        assert_eq!(principal.id, record.key_id);
        assert!(principal.key.is_some() && principal.tenant_policy.is_some());

        let tenant_only = controller
            .service_principal("tickets", None, 0)
            .await
            .unwrap();
        assert_eq!(tenant_only.id, "service:tickets");
        assert!(tenant_only.key.is_none() && tenant_only.tenant_policy.is_some());

        let other = controller
            .service_principal("other", Some(&record.key_id), 0)
            .await
            .unwrap_err();
        assert_eq!(other.status_code(), 403);
    }
}
