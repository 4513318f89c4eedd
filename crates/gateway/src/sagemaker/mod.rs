//! SageMaker endpoints as models: a model entry's `sagemaker` section (which endpoint, which
//! inference component, which payload dialect, what it costs) and the pure translation between
//! Converse and the dialects (`dialect`, `stream`). No AWS type here: the adapter in
//! `gateway-aws` sends the bytes this module builds.

pub mod dialect;
pub mod stream;

use serde::Deserialize;

/// The payload a model container speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayloadDialect {
    /// OpenAI-style `messages` (the TGI, LMI and vLLM containers' chat API); streams are
    /// `chat.completion.chunk` SSE lines.
    Chat,
    /// A plain prompt (`{"inputs": ..., "parameters": {...}}`, TGI's generate API); streams
    /// are TGI's `token` SSE lines.
    Prompt,
}

/// A model entry's SageMaker target.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SageMakerModel {
    /// The endpoint name (`InvokeEndpoint`'s `EndpointName`).
    pub endpoint: String,
    /// The inference component to address on a multi-component endpoint.
    #[serde(default)]
    pub inference_component: Option<String>,
    pub dialect: PayloadDialect,
    /// USD per instance-hour, for endpoints billed by the hour: with `tokens_per_hour` (the
    /// throughput the endpoint is sized for) it becomes a per-token price, so every call
    /// carries its share of the hour. A model's `price_per_1k_tokens` takes precedence.
    #[serde(default)]
    pub price_per_hour: Option<f64>,
    #[serde(default)]
    pub tokens_per_hour: Option<u64>,
}

/// SageMaker's endpoint-name rule (also inference components').
fn valid_name(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

impl SageMakerModel {
    /// `Err((field, reason))`, the field relative to the section.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !valid_name(&self.endpoint) {
            return Err((
                "endpoint",
                format!(
                    "'{}' is not an endpoint name ([a-zA-Z0-9-], 1–63)",
                    self.endpoint
                ),
            ));
        }
        if let Some(component) = &self.inference_component
            && !valid_name(component)
        {
            return Err((
                "inference_component",
                format!("'{component}' is not an inference component name"),
            ));
        }
        match (self.price_per_hour, self.tokens_per_hour) {
            (None, None) => Ok(()),
            (Some(price), Some(tokens)) if price.is_finite() && price >= 0.0 && tokens > 0 => {
                Ok(())
            }
            (Some(_), Some(_)) => Err((
                "price_per_hour",
                "needs a non-negative price and a positive tokens_per_hour".into(),
            )),
            _ => Err((
                "price_per_hour",
                "price_per_hour and tokens_per_hour go together".into(),
            )),
        }
    }

    /// The hourly price as USD per 1k tokens (`None` without one).
    pub fn price_per_1k_tokens(&self) -> Option<f64> {
        let (price, tokens) = (self.price_per_hour?, self.tokens_per_hour?);
        (tokens > 0).then(|| price * 1000.0 / tokens as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(endpoint: &str) -> SageMakerModel {
        SageMakerModel {
            endpoint: endpoint.into(),
            inference_component: None,
            dialect: PayloadDialect::Chat,
            price_per_hour: None,
            tokens_per_hour: None,
        }
    }

    #[test]
    fn names_and_prices_are_checked() {
        assert!(model("ft-llama-3").validate().is_ok());
        assert_eq!(model("bad_name").validate().unwrap_err().0, "endpoint");
        assert_eq!(model("").validate().unwrap_err().0, "endpoint");
        let mut m = model("ep");
        m.price_per_hour = Some(7.2);
        assert_eq!(m.validate().unwrap_err().0, "price_per_hour");
        m.tokens_per_hour = Some(3_600_000);
        assert!(m.validate().is_ok());
        assert!((m.price_per_1k_tokens().unwrap() - 0.002).abs() < 1e-12);
        m.inference_component = Some("-x".into());
        assert_eq!(m.validate().unwrap_err().0, "inference_component");
    }
}
