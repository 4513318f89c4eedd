//! What a callback carries and how we sign it: Standard Webhooks headers, so the receiver
//! can verify it with any Standard Webhooks library.
//!
//! Callbacks are attributable: each tenant (for its API jobs) and each webhook source (for
//! its jobs) signs with its own secret, derived from the deployment's master secret(s) as
//! `HMAC-SHA256(master key, "gateway-callback-v1\0tenant\0" + tenant)` (for a source:
//! `"gateway-callback-v1\0source\0" + source`), handed out as `whsec_<base64>` by
//! `gatewayctl callbacks secret`. A receiver holding tenant X's secret can never verify a
//! callback caused by tenant Y, and the tenant, origin and job id are inside the signed body.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value, json};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::jobs::model::{JobRecord, JobStatus};
use crate::webhook::{SecretKey, standard_headers};

/// Domain separation for derived callback secrets; a new version means new secrets.
const DERIVATION_LABEL: &[u8] = b"gateway-callback-v1\0";

/// Whose secret signs a callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signer<'a> {
    /// A tenant, for the jobs its callers submit through `POST /v1/jobs`.
    Tenant(&'a str),
    /// A webhook source, for the jobs its deliveries cause.
    Source(&'a str),
}

impl<'a> Signer<'a> {
    /// The signer of a job's callbacks: its webhook source, else its tenant.
    pub fn of(job: &'a JobRecord) -> Self {
        match job.webhook_source() {
            Some(source) => Self::Source(source),
            None => Self::Tenant(&job.tenant),
        }
    }

    fn label(&self) -> Vec<u8> {
        let (kind, name): (&[u8], &str) = match self {
            Self::Tenant(tenant) => (b"tenant\0", tenant),
            Self::Source(source) => (b"source\0", source),
        };
        [DERIVATION_LABEL, kind, name.as_bytes()].concat()
    }

    /// The signer's secret under one master secret, as raw key bytes.
    fn derive(&self, master: &SecretKey) -> [u8; 32] {
        master.derive(&self.label())
    }
}

/// Our signing secrets: a default set, and optional sets for particular destination hosts
/// (so one receiver's secret can be rotated or revealed without touching the others). Each
/// set may hold several secrets: every one signs, so receivers can rotate.
#[derive(Clone)]
pub struct CallbackSecrets {
    default: Vec<SecretKey>,
    by_host: BTreeMap<String, Vec<SecretKey>>,
}

impl fmt::Debug for CallbackSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackSecrets")
            .field("default", &self.default.len())
            .field("hosts", &self.by_host.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl CallbackSecrets {
    /// `default`: `whsec_...` secrets separated by spaces or commas (the first is the current
    /// one; the others stay valid during a rotation). `per_host`: optional JSON
    /// `{"hooks.example.com": "whsec_..." | ["whsec_...", ...]}`. Errors never echo a secret.
    pub fn parse(default: &str, per_host: Option<&str>) -> Result<Self, String> {
        let default = parse_set(default).map_err(|e| format!("default secret: {e}"))?;
        let mut by_host = BTreeMap::new();
        if let Some(json) = per_host.filter(|j| !j.trim().is_empty()) {
            let raw: BTreeMap<String, OneOrMany> = serde_json::from_str(json).map_err(|e| {
                format!("per-host secrets must be a JSON object of host to secret(s): {e}")
            })?;
            for (host, secrets) in raw {
                let secrets =
                    parse_set(&secrets.into_vec().join(" ")).map_err(|e| format!("{host}: {e}"))?;
                by_host.insert(
                    host.trim().trim_end_matches('.').to_ascii_lowercase(),
                    secrets,
                );
            }
        }
        Ok(Self { default, by_host })
    }

    pub fn new(default: Vec<SecretKey>) -> Result<Self, String> {
        if default.is_empty() {
            return Err("at least one signing secret is required".into());
        }
        Ok(Self {
            default,
            by_host: BTreeMap::new(),
        })
    }

    /// The master secrets for callbacks to `host`.
    pub fn for_host(&self, host: &str) -> &[SecretKey] {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.by_host.get(&host).map_or(&self.default, |s| s)
    }

    /// The secrets that sign a callback of `signer` to `host`: one derived secret per master
    /// secret for that host (every one signs, so a rotation of the masters keeps receivers
    /// verifying).
    pub fn for_job(&self, host: &str, signer: Signer<'_>) -> Vec<SecretKey> {
        self.for_host(host)
            .iter()
            .filter_map(|master| SecretKey::from_bytes(&signer.derive(master)).ok())
            .collect()
    }

    /// The `whsec_` secrets a receiver of `signer`'s callbacks verifies with, one per default
    /// master secret (the current one first): what `gatewayctl callbacks secret` prints.
    pub fn whsec_for(&self, signer: Signer<'_>) -> Vec<String> {
        self.default
            .iter()
            .map(|master| format!("whsec_{}", STANDARD.encode(signer.derive(master))))
            .collect()
    }
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(s) => vec![s],
            Self::Many(v) => v,
        }
    }
}

fn parse_set(text: &str) -> Result<Vec<SecretKey>, String> {
    let keys = text
        .split([' ', ',', '\n', '\t'])
        .filter(|s| !s.is_empty())
        .map(|s| SecretKey::from_whsec(s).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    if keys.is_empty() {
        return Err("at least one `whsec_` secret is required".into());
    }
    Ok(keys)
}

/// The callback body, the same bytes on every attempt: `{"type": "job.succeeded" |
/// "job.failed", "data": {job_id, tenant, origin, status, result, error, usage, metadata}}`
/// (Standard Webhooks' suggested shape; the send time is in the signed `webhook-timestamp`
/// header). `origin` is `api` or `webhook:<source>`: who caused the job, signed.
///
/// Object keys are sorted: the record is re-read for each attempt, and a map read back from
/// DynamoDB comes in no particular order (serde_json keeps insertion order in this build).
pub fn callback_body(job: &JobRecord) -> Vec<u8> {
    let kind = match job.status {
        JobStatus::Succeeded => "job.succeeded",
        JobStatus::Failed => "job.failed",
        JobStatus::Queued | JobStatus::Running => "job.updated",
    };
    let body = json!({
        "type": kind,
        "data": {
            "job_id": job.job_id,
            "tenant": job.tenant,
            "origin": job.origin(),
            "status": job.status,
            "result": job.result,
            "error": job.error,
            "usage": job.usage,
            "metadata": job.metadata,
        },
    });
    sorted(body).to_string().into_bytes()
}

/// `value` with every object's keys in lexicographic order.
fn sorted(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sorted(v)))
                    .collect::<Map<_, _>>(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// Headers for one attempt: `webhook-id` (the job id: the same on every retry, so receivers
/// dedupe), `webhook-timestamp` (now), `webhook-signature` (one `v1,` entry per secret), and
/// the content type.
pub fn callback_headers(
    secrets: &[SecretKey],
    job_id: &str,
    now_secs: i64,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    let mut headers: Vec<(&'static str, String)> =
        standard_headers(secrets, job_id, now_secs, body).into();
    headers.push(("content-type", "application/json".to_owned()));
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const OTHER: &str = "whsec_dGhpcy1pcy1hbm90aGVyLXNlY3JldC0xMjM0NTY=";

    #[test]
    fn headers_match_the_standard_webhooks_spec_example() {
        // The specification's published example (id, timestamp, body, secret → signature).
        let secrets = CallbackSecrets::parse(SPEC_SECRET, None).unwrap();
        let body = br#"{"test": 2432232314}"#;
        let headers = callback_headers(
            secrets.for_host("any"),
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            body,
        );
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("webhook-id"), Some("msg_p5jXN8AQM9LWM0D4loKWxJek"));
        assert_eq!(get("webhook-timestamp"), Some("1614265330"));
        assert_eq!(
            get("webhook-signature"),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
        assert_eq!(get("content-type"), Some("application/json"));
    }

    #[test]
    fn hosts_can_have_their_own_secrets_and_rotation_signs_with_all() {
        let per_host = format!(r#"{{"Hooks.Example.com": ["{OTHER}", "{SPEC_SECRET}"]}}"#);
        let secrets = CallbackSecrets::parse(SPEC_SECRET, Some(&per_host)).unwrap();
        assert_eq!(secrets.for_host("elsewhere.example.com").len(), 1);
        assert_eq!(secrets.for_host("hooks.example.com.").len(), 2);
        let headers = callback_headers(secrets.for_host("hooks.example.com"), "job-1", 1, b"{}");
        let signature = &headers
            .iter()
            .find(|(n, _)| *n == "webhook-signature")
            .unwrap()
            .1;
        assert_eq!(signature.split(' ').count(), 2);
    }

    #[test]
    fn each_tenant_and_source_gets_its_own_secret_from_every_master() {
        let secrets = CallbackSecrets::parse(&format!("{SPEC_SECRET} {OTHER}"), None).unwrap();
        let x = secrets.whsec_for(Signer::Tenant("x"));
        let y = secrets.whsec_for(Signer::Tenant("y"));
        let source_x = secrets.whsec_for(Signer::Source("x"));
        assert_eq!(x.len(), 2, "one derived secret per master");
        assert!(x.iter().all(|s| !y.contains(s) && !source_x.contains(s)));
        // The documented derivation, computed independently.
        use hmac::Mac;
        let master = STANDARD.decode(&SPEC_SECRET[6..]).unwrap();
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&master).unwrap();
        mac.update(b"gateway-callback-v1\0tenant\0x");
        assert_eq!(
            x[0],
            format!("whsec_{}", STANDARD.encode(mac.finalize().into_bytes()))
        );
        // What signs is what a receiver verifies with: X's secret never verifies Y's.
        let body = b"{}";
        let signature = |keys: &[SecretKey]| {
            callback_headers(keys, "job-1", 1, body)
                .into_iter()
                .find(|(n, _)| *n == "webhook-signature")
                .unwrap()
                .1
        };
        let signed_for_y = signature(&secrets.for_job("h", Signer::Tenant("y")));
        let x_keys: Vec<SecretKey> = x
            .iter()
            .map(|s| SecretKey::from_whsec(s).unwrap())
            .collect();
        assert_ne!(signed_for_y, signature(&x_keys));
        let y_keys: Vec<SecretKey> = y
            .iter()
            .map(|s| SecretKey::from_whsec(s).unwrap())
            .collect();
        assert_eq!(signed_for_y, signature(&y_keys));
    }

    #[test]
    fn the_body_does_not_depend_on_the_order_maps_were_read_in() {
        let submit = serde_json::from_value(json!({
            "converse": {"modelId": "haiku", "messages": [{"role": "user", "content": [{"text": "hi"}]}]},
        }))
        .unwrap();
        let config = crate::config::GatewayConfig::default();
        let settings = crate::jobs::submit::JobSettings::default();
        let mut job =
            crate::jobs::submit::prepare(submit, &config, "t", "job-1".into(), 0, settings)
                .unwrap();
        job.status = JobStatus::Succeeded;
        let result = |response: Value| crate::jobs::model::JobResult {
            model: "m".into(),
            text: "t".into(),
            stop_reason: "end_turn".into(),
            cost_usd: None,
            response,
        };
        let mut one_way = Map::new();
        one_way.insert("z".into(), json!({"b": 1, "a": [{"y": 1, "x": 2}]}));
        one_way.insert("a".into(), json!(1));
        let mut other_way = Map::new();
        other_way.insert("a".into(), json!(1));
        other_way.insert("z".into(), json!({"a": [{"x": 2, "y": 1}], "b": 1}));
        job.result = Some(result(Value::Object(one_way)));
        let first = callback_body(&job);
        job.result = Some(result(Value::Object(other_way)));
        assert_eq!(
            String::from_utf8(first).unwrap(),
            String::from_utf8(callback_body(&job)).unwrap()
        );
    }

    #[test]
    fn bad_secrets_fail_without_echoing_them() {
        assert!(CallbackSecrets::parse(" ", None).is_err());
        for bad in ["whsec_c2hvcnQ=", "plain-text-secret"] {
            let err = CallbackSecrets::parse(bad, None).unwrap_err();
            assert!(!err.contains(bad), "{err}");
        }
        let err = CallbackSecrets::parse(SPEC_SECRET, Some(r#"{"h": "nope-secret"}"#)).unwrap_err();
        assert!(
            err.starts_with("h: ") && !err.contains("nope-secret"),
            "{err}"
        );
        assert!(
            !format!("{:?}", CallbackSecrets::parse(SPEC_SECRET, None).unwrap()).contains("MfKQ")
        );
    }
}
