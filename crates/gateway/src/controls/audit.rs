//! The audit record every request leaves (exactly one), and the CloudWatch Embedded Metric
//! Format line made from it. Prompts and completions are in the record only when
//! `controls.audit.include_content` is on.

use super::money::Nanos;
use super::usage::TokenUsage;
use serde::Serialize;
use serde_json::Value;

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

/// The status of a request whose caller went away before its response (nginx's convention).
pub const CLIENT_CLOSED: u16 = 499;

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
    /// Of `cache_write_tokens`, the 1-hour writes.
    pub cache_write_1h_tokens: u64,
    pub cost_usd: String,
    #[serde(skip)]
    pub cost: Nanos,
    pub latency_ms: u64,
    pub cache: CacheStatus,
    pub attempts: u32,
    pub streamed: bool,
    /// The answer started (status 200) and then failed: an error for the metrics all the same.
    pub failed_midway: bool,
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
        self.cache_write_1h_tokens = usage.cache_write_1h;
        self.cost = cost;
        self.cost_usd = cost.usd();
    }

    /// The request failed (a 4xx refusal or a 5xx), for the error metrics.
    /// A caller that went away (499) is not the gateway's failure.
    pub fn is_error(&self) -> bool {
        (self.status >= 400 && self.status != CLIENT_CLOSED) || self.failed_midway
    }

    /// One EMF line: requests, tokens, cost, latency and errors, by model and tenant (and by
    /// each alone). The request id rides along as a property for log searches.
    pub fn emf(&self, namespace: &str, timestamp_ms: u64) -> Value {
        // Serializing plain data into a Value cannot fail.
        serde_json::to_value(self.emf_fields(namespace, timestamp_ms)).unwrap_or(Value::Null)
    }

    /// [`emf`](Self::emf) as one JSON line (no newline), written straight from the record:
    /// this runs on every request, and building a `Value` tree first cost more than the rest
    /// of the audit record together.
    pub fn emf_line(&self, namespace: &str, timestamp_ms: u64) -> String {
        let mut line = Vec::with_capacity(768);
        // Serializing plain data cannot fail; should it, the line is empty (and not written).
        if serde_json::to_writer(&mut line, &self.emf_fields(namespace, timestamp_ms)).is_err() {
            line.clear();
        }
        String::from_utf8(line).unwrap_or_default()
    }

    fn emf_fields<'a>(&'a self, namespace: &'a str, timestamp_ms: u64) -> EmfLine<'a> {
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
        #[allow(clippy::cast_precision_loss)]
        let cost_usd = self.cost.0 as f64 / 1e9;
        EmfLine {
            cache_hits: u8::from(self.cache == CacheStatus::Hit),
            cache_read_tokens: self.cache_read_tokens,
            cache_write_tokens: self.cache_write_tokens,
            cost_usd,
            errors: u8::from(self.is_error()),
            input_tokens: self.input_tokens,
            latency: self.latency_ms,
            model,
            output_tokens: self.output_tokens,
            request_id: &self.request_id,
            requests: 1,
            route: &self.route,
            status: self.status,
            tenant,
            aws: EmfMetadata {
                cloud_watch_metrics: [EmfDirective {
                    dimensions: EMF_DIMENSIONS,
                    metrics: &EMF_METRICS,
                    namespace,
                }],
                timestamp: timestamp_ms,
            },
        }
    }
}

/// The metrics every EMF line declares (each has a value at the line's top level).
const EMF_METRICS: [EmfMetric; 9] = [
    EmfMetric::new("Requests", "Count"),
    EmfMetric::new("InputTokens", "Count"),
    EmfMetric::new("OutputTokens", "Count"),
    EmfMetric::new("CacheReadTokens", "Count"),
    EmfMetric::new("CacheWriteTokens", "Count"),
    EmfMetric::new("CostUSD", "None"),
    EmfMetric::new("Latency", "Milliseconds"),
    EmfMetric::new("Errors", "Count"),
    EmfMetric::new("CacheHits", "Count"),
];

const EMF_DIMENSIONS: &[&[&str]] = &[&["Model", "Tenant"], &["Model"], &["Tenant"]];

// The EMF line's shape. Fields are in the order of their JSON names (as a `serde_json::Map`
// sorts them), so the line reads as it did when it was built as a `Value`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct EmfLine<'a> {
    cache_hits: u8,
    cache_read_tokens: u64,
    cache_write_tokens: u64,
    #[serde(rename = "CostUSD")]
    cost_usd: f64,
    errors: u8,
    input_tokens: u64,
    latency: u64,
    model: &'a str,
    output_tokens: u64,
    request_id: &'a str,
    requests: u8,
    route: &'a str,
    status: u16,
    tenant: &'a str,
    #[serde(rename = "_aws")]
    aws: EmfMetadata<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct EmfMetadata<'a> {
    cloud_watch_metrics: [EmfDirective<'a>; 1],
    timestamp: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct EmfDirective<'a> {
    dimensions: &'static [&'static [&'static str]],
    metrics: &'static [EmfMetric],
    namespace: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct EmfMetric {
    name: &'static str,
    unit: &'static str,
}

impl EmfMetric {
    const fn new(name: &'static str, unit: &'static str) -> Self {
        Self { name, unit }
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
    use serde_json::json;

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
    fn emf_line_is_the_emf_document_with_keys_in_order() {
        let record = AuditRecord {
            request_id: "r\"1".into(),
            route: "/model/{model_id}/converse".into(),
            status: 429,
            latency_ms: 7,
            cost: Nanos(2_000_000_000),
            ..AuditRecord::default()
        };
        let line = record.emf_line("Gw", 5);
        let parsed: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed, record.emf("Gw", 5));
        assert_eq!(parsed["Model"], "none");
        assert_eq!(parsed["Tenant"], "none");
        assert_eq!(parsed["Errors"], 1);
        assert_eq!(parsed["CostUSD"], 2.0);
        assert_eq!(parsed["_aws"]["Timestamp"], 5);
        // Keys sorted, as the line read when it was built as a `serde_json::Map`.
        assert!(
            line.starts_with(r#"{"CacheHits":0,"CacheReadTokens":0,"#),
            "{line}"
        );
        assert!(
            line.ends_with(r#""Namespace":"Gw"}],"Timestamp":5}}"#),
            "{line}"
        );
    }

    #[test]
    fn truncation_respects_characters() {
        assert_eq!(truncate("héllo", 2), "hé…");
        assert_eq!(truncate("hi", 5), "hi");
    }
}
