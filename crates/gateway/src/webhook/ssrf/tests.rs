//! Hostile and friendly callback URLs through the whole policy, with a resolver that counts
//! its calls: IP literals and statically refused URLs must never reach DNS.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

struct TestResolver {
    names: HashMap<&'static str, Vec<IpAddr>>,
    /// Port the fake DNS answers with, to prove the URL's port is what gets used.
    answer_port: u16,
    calls: AtomicUsize,
}

impl TestResolver {
    fn new() -> Self {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let names = HashMap::from([
            ("localhost", vec![ip("127.0.0.1"), ip("::1")]),
            ("internal.example", vec![ip("10.0.0.5")]),
            ("rebind.example", vec![ip("93.184.216.34"), ip("127.0.0.1")]),
            ("metadata.example", vec![ip("169.254.169.254")]),
            ("v6internal.example", vec![ip("fd00::1")]),
            ("mapped.example", vec![ip("::ffff:10.0.0.1")]),
            ("empty.example", vec![]),
            (
                "hooks.example.com",
                vec![
                    ip("93.184.216.34"),
                    ip("2606:2800:220:1:248:1893:25c8:1946"),
                    ip("93.184.216.34"),
                ],
            ),
            ("a.partner.example", vec![ip("93.184.216.35")]),
        ]);
        Self {
            names,
            answer_port: 9,
            calls: AtomicUsize::new(0),
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Resolver for TestResolver {
    async fn resolve(&self, host: &str, _port: u16) -> io::Result<Vec<SocketAddr>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let host = host.strip_suffix('.').unwrap_or(host);
        let ips = self
            .names
            .get(host)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such host"))?;
        Ok(ips
            .iter()
            .map(|ip| SocketAddr::new(*ip, self.answer_port))
            .collect())
    }
}

/// One test per hostile URL, under the default (production) policy: refused with the given
/// error, after exactly `calls` resolutions (0 for literals and static refusals).
macro_rules! refused {
    ($($name:ident: $url:literal => $err:pat, calls: $calls:literal;)+) => {$(
        #[tokio::test]
        async fn $name() {
            let resolver = TestResolver::new();
            let result = CallbackPolicy::default().vet_url($url, &resolver).await;
            assert!(matches!(result, Err($err)), "{}: {:?}", $url, result);
            assert_eq!(resolver.calls(), $calls, "resolver calls for {}", $url);
        }
    )+};
}

refused! {
    http_without_allow_http: "http://example.com/cb" => SsrfError::SchemeNotAllowed(_), calls: 0;
    ftp_scheme: "ftp://example.com" => SsrfError::SchemeNotAllowed(_), calls: 0;
    file_scheme: "file:///etc/passwd" => SsrfError::SchemeNotAllowed(_), calls: 0;
    gopher_scheme: "gopher://example.com:70/_" => SsrfError::SchemeNotAllowed(_), calls: 0;
    javascript_scheme: "javascript:alert(1)" => SsrfError::SchemeNotAllowed(_), calls: 0;
    relative_url: "/callbacks/1" => SsrfError::InvalidUrl(_), calls: 0;
    empty_host: "https://" => SsrfError::InvalidUrl(_), calls: 0;
    userinfo_user_and_password: "https://user:pass@example.com" => SsrfError::CredentialsNotAllowed, calls: 0;
    userinfo_user_only: "https://user@example.com" => SsrfError::CredentialsNotAllowed, calls: 0;
    userinfo_disguising_host: "https://hooks.example.com@10.0.0.1/" => SsrfError::CredentialsNotAllowed, calls: 0;
    port_zero: "https://example.com:0/" => SsrfError::PortNotAllowed(0), calls: 0;
    loopback: "https://127.0.0.1" => SsrfError::ForbiddenAddress(_), calls: 0;
    loopback_short_form: "https://127.1" => SsrfError::ForbiddenAddress(_), calls: 0;
    loopback_hex: "https://0x7f000001" => SsrfError::ForbiddenAddress(_), calls: 0;
    loopback_decimal: "https://2130706433" => SsrfError::ForbiddenAddress(_), calls: 0;
    loopback_octal: "https://0177.0.0.1" => SsrfError::ForbiddenAddress(_), calls: 0;
    loopback_mixed_hex: "https://0x7f.1" => SsrfError::ForbiddenAddress(_), calls: 0;
    loopback_percent_encoded: "https://%31%32%37.0.0.1/" => SsrfError::ForbiddenAddress(_), calls: 0;
    loopback_trailing_dot: "https://127.0.0.1./" => SsrfError::ForbiddenAddress(_), calls: 0;
    loopback_v6: "https://[::1]" => SsrfError::ForbiddenAddress(_), calls: 0;
    mapped_loopback_dotted: "https://[::ffff:127.0.0.1]" => SsrfError::ForbiddenAddress(_), calls: 0;
    mapped_loopback_hex: "https://[::ffff:7f00:1]" => SsrfError::ForbiddenAddress(_), calls: 0;
    mapped_metadata: "https://[::ffff:169.254.169.254]" => SsrfError::ForbiddenAddress(_), calls: 0;
    compatible_loopback: "https://[::127.0.0.1]" => SsrfError::ForbiddenAddress(_), calls: 0;
    translated_loopback: "https://[::ffff:0:7f00:1]" => SsrfError::ForbiddenAddress(_), calls: 0;
    unspecified_v4: "https://0.0.0.0" => SsrfError::ForbiddenAddress(_), calls: 0;
    unspecified_v6: "https://[::]" => SsrfError::ForbiddenAddress(_), calls: 0;
    metadata_v4: "https://169.254.169.254/latest/meta-data" => SsrfError::ForbiddenAddress(_), calls: 0;
    metadata_v6: "https://[fd00:ec2::254]" => SsrfError::ForbiddenAddress(_), calls: 0;
    rfc1918_10: "https://10.1.2.3" => SsrfError::ForbiddenAddress(_), calls: 0;
    rfc1918_172: "https://172.16.0.1" => SsrfError::ForbiddenAddress(_), calls: 0;
    rfc1918_192: "https://192.168.1.1" => SsrfError::ForbiddenAddress(_), calls: 0;
    cgnat: "https://100.64.0.1" => SsrfError::ForbiddenAddress(_), calls: 0;
    benchmarking: "https://198.18.0.1" => SsrfError::ForbiddenAddress(_), calls: 0;
    documentation_v4: "https://192.0.2.1" => SsrfError::ForbiddenAddress(_), calls: 0;
    relay_anycast: "https://192.88.99.1" => SsrfError::ForbiddenAddress(_), calls: 0;
    multicast_v4: "https://224.0.0.1" => SsrfError::ForbiddenAddress(_), calls: 0;
    broadcast: "https://255.255.255.255" => SsrfError::ForbiddenAddress(_), calls: 0;
    link_local_v6: "https://[fe80::1]" => SsrfError::ForbiddenAddress(_), calls: 0;
    site_local_v6: "https://[fec0::1]" => SsrfError::ForbiddenAddress(_), calls: 0;
    unique_local: "https://[fc00::1]" => SsrfError::ForbiddenAddress(_), calls: 0;
    multicast_v6: "https://[ff02::1]" => SsrfError::ForbiddenAddress(_), calls: 0;
    documentation_v6: "https://[2001:db8::1]" => SsrfError::ForbiddenAddress(_), calls: 0;
    teredo: "https://[2001::1]" => SsrfError::ForbiddenAddress(_), calls: 0;
    discard_only_v6: "https://[100::1]" => SsrfError::ForbiddenAddress(_), calls: 0;
    nat64_loopback: "https://[64:ff9b::7f00:1]" => SsrfError::ForbiddenAddress(_), calls: 0;
    nat64_metadata: "https://[64:ff9b::a9fe:a9fe]" => SsrfError::ForbiddenAddress(_), calls: 0;
    six_to_four_loopback: "https://[2002:7f00:1::]" => SsrfError::ForbiddenAddress(_), calls: 0;
    six_to_four_private: "https://[2002:c0a8:101::1]" => SsrfError::ForbiddenAddress(_), calls: 0;
    localhost_name: "https://localhost" => SsrfError::ForbiddenAddress(_), calls: 0;
    localhost_name_trailing_dot: "https://localhost./cb" => SsrfError::ForbiddenAddress(_), calls: 0;
    localhost_subdomain: "https://api.LOCALHOST/cb" => SsrfError::ForbiddenAddress(_), calls: 0;
    internal_name: "https://internal.example" => SsrfError::ForbiddenAddress(_), calls: 1;
    rebinding_name_one_bad_answer: "https://rebind.example" => SsrfError::ForbiddenAddress(_), calls: 1;
    name_to_metadata: "https://metadata.example/latest/api/token" => SsrfError::ForbiddenAddress(_), calls: 1;
    name_to_unique_local: "https://v6internal.example" => SsrfError::ForbiddenAddress(_), calls: 1;
    name_to_mapped_private: "https://mapped.example" => SsrfError::ForbiddenAddress(_), calls: 1;
    name_without_addresses: "https://empty.example" => SsrfError::NoAddresses, calls: 1;
    name_not_found: "https://nxdomain.example" => SsrfError::Resolution(_), calls: 1;
}

fn sock(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[tokio::test]
async fn public_ip_literal_is_accepted_without_resolution() {
    let resolver = TestResolver::new();
    let vetted = CallbackPolicy::default()
        .vet_url("https://93.184.216.34/cb", &resolver)
        .await
        .unwrap();
    assert_eq!(vetted.addrs(), [sock("93.184.216.34:443")]);
    assert_eq!(vetted.domain(), None);
    assert_eq!(vetted.url().as_str(), "https://93.184.216.34/cb");
    assert_eq!(resolver.calls(), 0);
}

#[tokio::test]
async fn public_ipv6_literal_keeps_its_port() {
    let resolver = TestResolver::new();
    let vetted = CallbackPolicy::default()
        .vet_url(
            "https://[2606:2800:220:1:248:1893:25c8:1946]:8443/x",
            &resolver,
        )
        .await
        .unwrap();
    assert_eq!(
        vetted.addrs(),
        [sock("[2606:2800:220:1:248:1893:25c8:1946]:8443")]
    );
    assert_eq!(resolver.calls(), 0);
}

#[tokio::test]
async fn public_name_resolves_once_and_pins_deduplicated_addrs_with_url_port() {
    let resolver = TestResolver::new();
    let vetted = CallbackPolicy::default()
        .vet_url("https://hooks.example.com/x", &resolver)
        .await
        .unwrap();
    assert_eq!(resolver.calls(), 1);
    assert_eq!(vetted.domain(), Some("hooks.example.com"));
    // The fake DNS answered on port 9; the URL's 443 is what was vetted and is used.
    assert_eq!(
        vetted.addrs(),
        [
            sock("93.184.216.34:443"),
            sock("[2606:2800:220:1:248:1893:25c8:1946]:443"),
        ]
    );
}

#[tokio::test]
async fn nat64_and_6to4_of_public_ipv4_are_accepted() {
    let resolver = TestResolver::new();
    for url in [
        "https://[64:ff9b::5db8:d822]",
        "https://[2002:5db8:d822::1]",
    ] {
        assert!(
            CallbackPolicy::default()
                .vet_url(url, &resolver)
                .await
                .is_ok(),
            "{url}"
        );
    }
}

#[tokio::test]
async fn http_is_accepted_only_when_allowed() {
    let resolver = TestResolver::new();
    let dev = CallbackPolicy {
        allow_http: true,
        ..CallbackPolicy::default()
    };
    let vetted = dev
        .vet_url("http://hooks.example.com/x", &resolver)
        .await
        .unwrap();
    assert_eq!(vetted.addrs()[0].port(), 80);
    // allow_http does not open private addresses.
    assert!(matches!(
        dev.vet_url("http://127.0.0.1:8080/cb", &resolver).await,
        Err(SsrfError::ForbiddenAddress(_))
    ));
}

#[tokio::test]
async fn allow_private_opens_loopback_and_rfc1918_but_never_metadata() {
    let resolver = TestResolver::new();
    let local = CallbackPolicy {
        allow_http: true,
        allow_private: true,
        allowed_hosts: None,
    };
    for url in [
        "http://127.0.0.1:8080/cb",
        "http://localhost:8080/cb",
        "https://[::1]:9443",
        "https://internal.example",
        "https://10.1.2.3",
    ] {
        assert!(local.vet_url(url, &resolver).await.is_ok(), "{url}");
    }
    for url in [
        "https://169.254.169.254/latest/meta-data",
        "https://metadata.example",
        "https://[fd00:ec2::254]",
        "https://0.0.0.0:8080",
        "https://[::]",
        "https://[::ffff:127.0.0.1]",
        "https://[64:ff9b::7f00:1]",
        "https://100.64.0.1",
    ] {
        assert!(
            matches!(
                local.vet_url(url, &resolver).await,
                Err(SsrfError::ForbiddenAddress(_))
            ),
            "{url}"
        );
    }
}

fn allow_listed() -> CallbackPolicy {
    CallbackPolicy {
        allowed_hosts: Some(vec!["hooks.example.com".into(), "*.Partner.Example".into()]),
        ..CallbackPolicy::default()
    }
}

#[tokio::test]
async fn allow_list_admits_exact_and_wildcard_subdomains() {
    let resolver = TestResolver::new();
    for url in [
        "https://hooks.example.com/x",
        "https://HOOKS.Example.com./x",
        "https://a.partner.example/cb",
    ] {
        assert!(
            allow_listed().vet_url(url, &resolver).await.is_ok(),
            "{url}"
        );
    }
}

#[tokio::test]
async fn allow_list_is_checked_before_any_resolution() {
    let resolver = TestResolver::new();
    for url in [
        "https://partner.example",
        "https://evil-partner.example",
        "https://evilpartner.example",
        "https://hooks.example.com.evil.io",
        "https://sub.hooks.example.com",
        "https://93.184.216.34",
    ] {
        let result = allow_listed().vet_url(url, &resolver).await;
        assert!(
            matches!(result, Err(SsrfError::HostNotAllowed(_))),
            "{url}: {result:?}"
        );
    }
    assert_eq!(resolver.calls(), 0);
}

#[tokio::test]
async fn allow_list_does_not_bypass_address_vetting() {
    let resolver = TestResolver::new();
    let policy = CallbackPolicy {
        allowed_hosts: Some(vec!["internal.example".into(), "127.0.0.1".into()]),
        ..CallbackPolicy::default()
    };
    for url in ["https://internal.example", "https://127.0.0.1"] {
        assert!(
            matches!(
                policy.vet_url(url, &resolver).await,
                Err(SsrfError::ForbiddenAddress(_))
            ),
            "{url}"
        );
    }
}

#[tokio::test]
async fn vet_rechecks_a_target_parsed_under_a_laxer_policy() {
    let resolver = TestResolver::new();
    let lax = CallbackPolicy {
        allow_http: true,
        allow_private: true,
        allowed_hosts: None,
    };
    let target = lax.parse_callback_url("http://127.0.0.1:8080/cb").unwrap();
    let result = CallbackPolicy::default().vet(&target, &resolver).await;
    assert!(matches!(result, Err(SsrfError::SchemeNotAllowed(_))));
}

#[test]
fn parse_exposes_normalised_host_and_port() {
    let policy = CallbackPolicy::default();
    let target = policy
        .parse_callback_url(" https://Hooks.Example.COM:8443/a?b=c ")
        .unwrap();
    assert_eq!(target.domain(), Some("hooks.example.com"));
    assert_eq!(target.ip(), None);
    assert_eq!(target.port(), 8443);
    let literal = policy.parse_callback_url("https://93.184.216.34").unwrap();
    assert_eq!(literal.ip(), Some("93.184.216.34".parse().unwrap()));
}

#[test]
fn refusals_do_not_reveal_resolved_addresses() {
    let err = SsrfError::ForbiddenAddress("10.0.0.5".parse().unwrap());
    assert!(!err.to_string().contains("10.0.0.5"));
    assert_eq!((err.status_code(), err.is_retryable()), (400, false));
    let dns = SsrfError::Resolution(io::Error::from(io::ErrorKind::TimedOut));
    assert!(dns.is_retryable());
}

#[test]
fn policy_config_defaults_to_production_and_rejects_unknown_keys() {
    let policy: CallbackPolicy = serde_json::from_str("{}").unwrap();
    assert_eq!(policy, CallbackPolicy::default());
    assert!(!policy.allow_http && !policy.allow_private && policy.allowed_hosts.is_none());
    let dev: CallbackPolicy =
        serde_json::from_str(r#"{"allow_http":true,"allowed_hosts":["*.example.com"]}"#).unwrap();
    assert!(dev.allow_http);
    assert!(serde_json::from_str::<CallbackPolicy>(r#"{"allow_https":true}"#).is_err());
}

#[test]
fn every_3xx_is_a_redirect() {
    for status in [300, 301, 302, 303, 307, 308, 399] {
        assert!(is_redirect(status), "{status}");
    }
    for status in [200, 204, 299, 400, 404, 500] {
        assert!(!is_redirect(status), "{status}");
    }
}
