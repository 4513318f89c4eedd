//! The only configuration in which the offline run differs from a deployment: settings a
//! function needs that the template leaves empty (its secrets come from Secrets Manager at
//! deploy time) or that exist for local development only. Each applies only when neither the
//! template nor the shell sets the variable, and the summary prints which ones are in use.

/// The demo webhook source's shared secret (GitHub-style `X-Hub-Signature-256`).
pub const DEMO_WEBHOOK_SECRET: &str = "local-demo-secret";

/// The demo secret the worker signs callbacks with (Standard Webhooks `whsec_` form).
pub const DEMO_CALLBACK_SECRET: &str = "whsec_Z2F0ZXdheS1sb2NhbC1kZW1vLWNhbGxiYWNrLWtleSE=";

/// `WEBHOOK_CONFIG` of the offline run: one source, `demo`, signed the way GitHub signs (so a
/// shell can sign with `openssl dgst -sha256 -hmac`), its callback URL taken from the payload.
pub fn demo_webhook_config() -> String {
    serde_json::json!({
        "sources": {
            "demo": {
                "signature": {"scheme": "github", "secret": DEMO_WEBHOOK_SECRET},
                "model": "haiku",
                "system": "You triage support tickets. Answer with one line.",
                "prompt": "Ticket {{/ticket/id}}: {{/ticket/title}}\n\n{{/ticket/body?}}",
                "callback": {"pointer": "/callback_url"},
                "callback_hosts": ["127.0.0.1", "localhost"],
                "metadata": {"ticket_id": "/ticket/id"}
            }
        }
    })
    .to_string()
}

/// `JOB_PRODUCERS` of the offline run: producer `demo` (tenant `demo`), sending straight to
/// the jobs queue or as `GenAI Job Requested` events with source `com.example.demo`.
pub fn demo_producers() -> String {
    serde_json::json!({
        "demo": {"tenant": "demo", "event_sources": ["com.example.demo"]}
    })
    .to_string()
}

/// The variables this module can supply, with why.
pub const SUPPLIED: &[(&str, &str)] = &[
    (
        "JOB_PRODUCERS",
        "demo producer `demo` (deployed: the JobProducersJson parameter)",
    ),
    (
        "WEBHOOK_CONFIG",
        "demo source `demo` (deployed: from Secrets Manager)",
    ),
    (
        "CALLBACK_SIGNING_SECRET",
        "demo secret (deployed: from Secrets Manager)",
    ),
    (
        "CALLBACK_ALLOW_HTTP",
        "callback receivers on this machine speak plain HTTP",
    ),
    (
        "CALLBACK_ALLOW_PRIVATE",
        "callback receivers on this machine listen on loopback",
    ),
];

pub fn local_default(name: &str) -> Option<String> {
    match name {
        "WEBHOOK_CONFIG" => Some(demo_webhook_config()),
        "JOB_PRODUCERS" => Some(demo_producers()),
        "CALLBACK_SIGNING_SECRET" => Some(DEMO_CALLBACK_SECRET.to_owned()),
        "CALLBACK_ALLOW_HTTP" | "CALLBACK_ALLOW_PRIVATE" => Some("true".to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_supplied_variable_has_a_value_and_nothing_else_does() {
        for (name, _) in SUPPLIED {
            assert!(local_default(name).is_some(), "{name}");
        }
        assert_eq!(local_default("JOBS_TABLE"), None);
        assert_eq!(local_default("GATEWAY_CONFIG"), None);
    }
}
