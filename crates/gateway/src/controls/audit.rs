//! The audit record every request leaves (exactly one), and the CloudWatch Embedded Metric
//! Format line made from it. Prompts and completions are in the record only when
//! `controls.audit.include_content` is on.

use super::money::Nanos;
use super::usage::TokenUsage;
use serde::Serialize;
use serde_json::{Value, json};

/// Where the answer came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheStatus {
    /// The request did not involve the response cache.
    #[default]
    None,
    Hit,
    Miss,
    /// Every model failed and the fallback chain's cached-response tier answered.
    Fallback,
}

impl CacheStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Hit => "hit",
            Self::Miss => "miss",
            Self::Fallback => "fallback",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    pub request_id: String,
    pub principal: String,
    pub tenant: String,
    pub auth: String,
    pub method: String,
    pub route: String,
    /// The model name the caller asked for.
    pub model: String,
    /// The model that answered, when one did.
    pub served_model: String,
    pub region: String,
    pub status: u16,
    /// The stable error code, for refusals and failures.
    pub error_code: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub cost_usd: String,
    #[serde(skip)]
    pub cost: Nanos,
    pub latency_ms: u64,
    pub cache: CacheStatus,
    pub attempts: u32,
    pub streamed: bool,
    /// Only with `include_content`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion: Option<String>,
}

impl AuditRecord {
    pub fn set_usage(&mut self, usage: &TokenUsage, cost: Nanos) {
        self.input_tokens = usage.input;
        self.output_tokens = usage.output;
        self.cache_read_tokens = usage.cache_read;
        self.cache_write_tokens = usage.cache_write;
        self.cost = cost;
        self.cost_usd = cost.usd();
    }

    /// The request failed (a 4xx refusal or a 5xx), for the error metrics.
    pub fn is_error(&self) -> bool {
        self.status >= 400
    }

    /// One EMF line: requests, tokens, cost, latency and errors, by model and tenant (and by
    /// each alone). The request id rides along as a property for log searches.
    pub fn emf(&self, namespace: &str, timestamp_ms: u64) -> Value {
        let model = if self.served_model.is_empty() {
            if self.model.is_empty() {
                "none"
            } else {
                &self.model
            }
        } else {
            &self.served_model
        };
        let tenant = if self.tenant.is_empty() {
            "none"
        } else {
            &self.tenant
        };
        let metric = |name: &str, unit: &str| json!({"Name": name, "Unit": unit});
        #[allow(clippy::cast_precision_loss)]
        let cost_usd = self.cost.0 as f64 / 1e9;
        json!({
            "_aws": {
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": namespace,
                    "Dimensions": [["Model", "Tenant"], ["Model"], ["Tenant"]],
                    "Metrics": [
                        metric("Requests", "Count"),
                        metric("InputTokens", "Count"),
                        metric("OutputTokens", "Count"),
                        metric("CacheReadTokens", "Count"),
                        metric("CacheWriteTokens", "Count"),
                        metric("CostUSD", "None"),
                        metric("Latency", "Milliseconds"),
                        metric("Errors", "Count"),
                        metric("CacheHits", "Count"),
                    ],
                }],
            },
            "Model": model,
            "Tenant": tenant,
            "Requests": 1,
            "InputTokens": self.input_tokens,
            "OutputTokens": self.output_tokens,
            "CacheReadTokens": self.cache_read_tokens,
            "CacheWriteTokens": self.cache_write_tokens,
            "CostUSD": cost_usd,
            "Latency": self.latency_ms,
            "Errors": u8::from(self.is_error()),
            "CacheHits": u8::from(self.cache == CacheStatus::Hit),
            "RequestId": self.request_id,
            "Route": self.route,
            "Status": self.status,
        })
    }
}

/// `text` cut to at most `max` characters, for content in audit records.
pub fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_has_the_documented_shape() {
        let mut record = AuditRecord {
            request_id: "r1".into(),
            tenant: "acme".into(),
            model: "haiku".into(),
            served_model: "anthropic.haiku".into(),
            status: 200,
            latency_ms: 12,
            cache: CacheStatus::Hit,
            ..AuditRecord::default()
        };
        record.set_usage(
            &TokenUsage {
                input: 3,
                output: 4,
                ..TokenUsage::default()
            },
            Nanos(1_500),
        );
        let line = record.emf("Gw", 1_000);
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Gw");
        assert_eq!(directive["Dimensions"][0], json!(["Model", "Tenant"]));
        // Every metric named in the directive has a value at the top level.
        for metric in directive["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            assert!(line[name].is_number(), "{name}");
        }
        assert_eq!(line["Model"], "anthropic.haiku");
        assert_eq!(line["CostUSD"], 0.0000015);
        assert_eq!(line["CacheHits"], 1);
        assert_eq!(line["Errors"], 0);
        let json = serde_json::to_value(&record).unwrap();
        assert!(json.get("prompt").is_none(), "no content unless enabled");
        assert_eq!(json["cost_usd"], "0.0000015");
    }

    #[test]
    fn truncation_respects_characters() {
        assert_eq!(truncate("héllo", 2), "hé…");
        assert_eq!(truncate("hi", 5), "hi");
    }
}
