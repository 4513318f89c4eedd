//! Who a model call is made for, as the call path needs it: the model names the caller may
//! use (checked against every target at the moment it would be called, whatever chose it:
//! an id, an alias, `auto`, a group, a fallback chain or the cached tier) and the tenant
//! that partitions remembered answers.

use crate::config::GatewayConfig;
use crate::error::GatewayError;
use crate::resilience::FallbackChain;

#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// Partitions the cached-response tier when `controls.cache.partition` is `tenant`.
    pub tenant: &'a str,
    /// Model ids, aliases, group names or the `auto` name; empty: every model.
    pub allowed_models: &'a [String],
}

impl Caller<'static> {
    /// The gateway's own calls (the stream processor's enrichment): no allow-list.
    pub const SYSTEM: Self = Self {
        tenant: "",
        allowed_models: &[],
    };
}

impl<'a> Caller<'a> {
    pub fn new(tenant: &'a str, allowed_models: &'a [String]) -> Self {
        Self {
            tenant,
            allowed_models,
        }
    }

    pub fn may_call(&self, config: &GatewayConfig, model_id: &str) -> bool {
        config.permits(self.allowed_models, model_id)
    }

    /// Drops the chain's targets the caller may not use, so they are never called. Nothing
    /// left: 403 naming the model the route chose.
    pub(crate) fn restrict(
        &self,
        config: &GatewayConfig,
        chain: &mut FallbackChain,
    ) -> Result<(), GatewayError> {
        if self.allowed_models.is_empty() {
            return Ok(());
        }
        let chosen = chain.targets.first().map(|t| t.model_id.clone());
        chain.targets.retain(|t| self.may_call(config, &t.model_id));
        if chain.targets.is_empty() {
            let model = chosen.unwrap_or_default();
            tracing::info!(model = %model, "every model the route chose is outside the caller's allow-list");
            return Err(GatewayError::Forbidden(format!(
                "this API key may not use model '{model}'"
            )));
        }
        Ok(())
    }
}
