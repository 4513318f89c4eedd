//! What a call costs: the price table (built in, with the configuration's overrides) and each
//! model's flat `price_per_1k_tokens` for models the table lacks; a call without a region is
//! priced in the home region. One place, used by the API's controls and the jobs worker.

mod table;

pub use table::{Price, PriceEntry, PriceTable};

use super::money::Nanos;
use super::usage::TokenUsage;
use crate::config::GatewayConfig;
use std::collections::HashMap;

#[derive(Debug, Clone)]
pub struct Pricing {
    table: PriceTable,
    /// Models' `price_per_1k_tokens`, for models the table lacks.
    flat: HashMap<String, Price>,
    home_region: Option<String>,
}

impl Pricing {
    pub fn new(gateway: &GatewayConfig, home_region: Option<String>) -> Result<Self, String> {
        let table = PriceTable::builtin(&gateway.controls.prices)?;
        let flat = gateway
            .models
            .iter()
            .filter_map(|m| {
                // A SageMaker endpoint's hourly price, spread over the tokens it is sized for.
                let usd = m
                    .price_per_1k_tokens
                    .or_else(|| m.sagemaker.as_ref()?.price_per_1k_tokens())?;
                let per_1k = Nanos::from_usd(usd)?;
                Some((m.id.clone(), Price::flat(per_1k)))
            })
            .collect();
        Ok(Self {
            table,
            flat,
            home_region,
        })
    }

    pub fn table(&self) -> &PriceTable {
        &self.table
    }

    /// The price of a call to `model_id` in `region` (the home region when `None`).
    pub fn price(&self, model_id: &str, region: Option<&str>) -> Option<Price> {
        let region = region.or(self.home_region.as_deref());
        self.table
            .lookup(model_id, region)
            .or_else(|| self.flat.get(model_id).copied())
    }

    /// What `usage` of `model_id` in `region` cost; `None` when the model has no price.
    pub fn cost(&self, model_id: &str, region: Option<&str>, usage: &TokenUsage) -> Option<Nanos> {
        self.price(model_id, region).map(|p| p.cost(usage))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_prices_then_flat_prices_then_none() {
        let mut config = GatewayConfig::default();
        config.models[0].price_per_1k_tokens = Some(0.5);
        config.models.push(crate::config::ModelConfig {
            id: "acme.unlisted-v1".to_owned(),
            price_per_1k_tokens: Some(2.0),
            ..Default::default()
        });
        let pricing = Pricing::new(&config, Some("us-east-1".to_owned())).unwrap();
        let usage = TokenUsage {
            input: 1000,
            output: 1000,
            ..TokenUsage::default()
        };
        // A model in the built-in table keeps its table price.
        let haiku = &config.models[0].id;
        assert_eq!(
            pricing.cost(haiku, None, &usage),
            pricing
                .price(haiku, Some("us-east-1"))
                .map(|p| p.cost(&usage))
        );
        assert!(pricing.cost(haiku, None, &usage).unwrap() > Nanos::ZERO);
        // A model the table lacks: its flat price, $2 per 1k tokens of any kind.
        assert_eq!(
            pricing.cost("acme.unlisted-v1", None, &usage),
            Nanos::from_usd(4.0)
        );
        assert_eq!(pricing.cost("acme.unknown-v9", None, &usage), None);
    }

    #[test]
    fn a_sagemaker_endpoints_hourly_price_is_spread_over_its_tokens() {
        let mut config = GatewayConfig::default();
        config.models.push(crate::config::ModelConfig {
            id: "ft-llama".to_owned(),
            sagemaker: Some(crate::sagemaker::SageMakerModel {
                endpoint: "ft-llama-ep".to_owned(),
                inference_component: None,
                dialect: crate::sagemaker::PayloadDialect::Chat,
                price_per_hour: Some(7.2),
                tokens_per_hour: Some(3_600_000),
            }),
            ..Default::default()
        });
        let pricing = Pricing::new(&config, None).unwrap();
        let usage = TokenUsage {
            input: 600,
            output: 400,
            ..Default::default()
        };
        // $7.20 / 3.6M tokens = $0.002 per 1k tokens; 1k tokens cost $0.002.
        assert_eq!(
            pricing.cost("ft-llama", None, &usage),
            Nanos::from_usd(0.002)
        );
    }
}
