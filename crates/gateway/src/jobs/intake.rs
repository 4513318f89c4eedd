//! What every job intake (`POST /v1/jobs`, the webhook function) checks before anything is
//! admitted, queued or called: the caller's metadata keys, and the callback URL against the
//! deployment's SSRF policy and the principal's callback host allow-list.
//!
//! The worker checks the URL again when it delivers (then with DNS, pinning the vetted
//! addresses); these are the checks that need no network, so a probe costs nothing.

use std::collections::BTreeMap;

use crate::GatewayError;
use crate::webhook::{CallbackPolicy, SsrfError};

/// Metadata keys only the gateway sets: the webhook function puts the source and delivery
/// there, and receivers act on `ticket_id`. A caller of `POST /v1/jobs` setting one could
/// pass its job off as a webhook job.
pub const RESERVED_METADATA_KEYS: &[&str] = &["ticket_id"];
/// Metadata key prefixes only the gateway uses.
pub const RESERVED_METADATA_PREFIXES: &[&str] = &["gateway_", "webhook_"];

/// Refuses reserved metadata keys with 400 naming the key (`metadata.<key>`).
pub fn check_caller_metadata(metadata: &BTreeMap<String, String>) -> Result<(), GatewayError> {
    let reserved = metadata.keys().find(|key| {
        let key = key.to_ascii_lowercase();
        RESERVED_METADATA_KEYS.contains(&key.as_str())
            || RESERVED_METADATA_PREFIXES
                .iter()
                .any(|prefix| key.starts_with(prefix))
    });
    match reserved {
        Some(key) => Err(GatewayError::invalid(
            format!("metadata.{key}"),
            format!(
                "metadata key `{key}` is reserved for the gateway (reserved: {}, and keys starting with {})",
                RESERVED_METADATA_KEYS.join(", "),
                RESERVED_METADATA_PREFIXES.join(" or ")
            ),
        )),
        None => Ok(()),
    }
}

/// Checks a job's callback URL at intake: the principal must have a callback host allow-list
/// (none: callbacks are refused, 403), the host must be on it (403), and the URL must pass the
/// deployment's static SSRF checks (scheme, credentials, port, literal and loopback
/// addresses; 400). Every refusal names `callback_url`.
pub fn check_callback_url(
    url: &str,
    policy: &CallbackPolicy,
    allowed_hosts: &[String],
) -> Result<(), GatewayError> {
    if allowed_hosts.is_empty() {
        return Err(GatewayError::Forbidden(
            "callback_url: no callback hosts are allowed for this key or tenant (an operator sets them with gatewayctl --callback-hosts)"
                .into(),
        ));
    }
    let policy = CallbackPolicy {
        allowed_hosts: Some(allowed_hosts.to_vec()),
        ..policy.clone()
    };
    match policy.parse_callback_url(url) {
        Ok(_) => Ok(()),
        Err(SsrfError::HostNotAllowed(host)) => Err(GatewayError::Forbidden(format!(
            "callback_url: host `{host}` is not on the callback host allow-list"
        ))),
        Err(error) => Err(GatewayError::invalid("callback_url", error.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_metadata_keys_are_refused_by_name() {
        for key in [
            "webhook_source",
            "ticket_id",
            "gateway_origin",
            "Webhook_Delivery_Id",
        ] {
            let metadata = BTreeMap::from([(key.to_owned(), "x".to_owned())]);
            let error = check_caller_metadata(&metadata).unwrap_err();
            assert_eq!(error.field(), Some(format!("metadata.{key}").as_str()));
        }
        let fine = BTreeMap::from([("ticket".to_owned(), "T-1".to_owned())]);
        assert!(check_caller_metadata(&fine).is_ok());
    }

    #[test]
    fn callbacks_need_an_allow_list_and_a_public_https_url_on_it() {
        let policy = CallbackPolicy::default();
        let hosts = vec!["hooks.example.com".to_owned()];
        assert!(check_callback_url("https://hooks.example.com/cb", &policy, &hosts).is_ok());
        let forbidden = |url: &str, hosts: &[String]| {
            let error = check_callback_url(url, &policy, hosts).unwrap_err();
            assert!(
                error.field() == Some("callback_url")
                    || error.to_string().starts_with("callback_url:"),
                "{error}"
            );
            error.status_code()
        };
        assert_eq!(forbidden("https://hooks.example.com/cb", &[]), 403);
        assert_eq!(forbidden("https://evil.example.net/cb", &hosts), 403);
        let private = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
        assert_eq!(forbidden("https://127.0.0.1/cb", &private), 400);
        assert_eq!(forbidden("https://localhost/cb", &private), 400);
        assert_eq!(forbidden("http://hooks.example.com/cb", &hosts), 400);
    }
}
