//! The callback URL policy: static checks on the URL, then one DNS resolution whose every
//! answer must be permitted. The addresses returned are the only ones the caller may use.

use std::net::{IpAddr, SocketAddr};

use serde::Deserialize;
use url::{Host, Url};

use super::address::{AddressClass, classify};
use super::{Resolver, SsrfError};

/// Where callbacks may go. The default is the production policy: https only, public
/// addresses only, any host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallbackPolicy {
    /// Permit `http://`. Local development only: callbacks carry results.
    pub allow_http: bool,
    /// If set, the host must equal an entry or, for `*.suffix` entries, be a subdomain of
    /// `suffix` (not `suffix` itself). ASCII/punycode, matched case-insensitively.
    pub allowed_hosts: Option<Vec<String>>,
    /// Permit loopback, RFC 1918 and unique-local addresses, for a receiver on the dev
    /// machine or in a test network. Metadata, link-local and unspecified addresses stay
    /// forbidden even then.
    pub allow_private: bool,
}

/// A callback URL that passed the static checks. Only [`CallbackPolicy::parse_callback_url`]
/// makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackTarget {
    url: Url,
    host: Host<String>,
    port: u16,
}

impl CallbackTarget {
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The host name, when the URL names one rather than an IP literal.
    pub fn domain(&self) -> Option<&str> {
        match &self.host {
            Host::Domain(domain) => Some(domain),
            Host::Ipv4(_) | Host::Ipv6(_) => None,
        }
    }

    /// The IP literal, when the URL holds one.
    pub fn ip(&self) -> Option<IpAddr> {
        match self.host {
            Host::Domain(_) => None,
            Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
            Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

/// A callback target whose addresses were all vetted. Connect to [`Self::addrs`] only
/// (with reqwest: `resolve_to_addrs(domain, addrs)`), never re-resolve, never redirect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VettedTarget {
    url: Url,
    domain: Option<String>,
    addrs: Vec<SocketAddr>,
}

impl VettedTarget {
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The name to pin `addrs` to (and for TLS SNI); `None` for IP-literal URLs.
    pub fn domain(&self) -> Option<&str> {
        self.domain.as_deref()
    }

    /// Non-empty, deduplicated, all permitted, all with the URL's port.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }
}

impl CallbackPolicy {
    /// Static checks: scheme, no credentials, host and port present, allow-list, and
    /// literal IPs (the `url` crate has already normalised `127.1`, `0x7f000001`,
    /// `2130706433`, `0177.0.0.1` and percent-encoding to a plain IPv4, per WHATWG).
    pub fn parse_callback_url(&self, raw: &str) -> Result<CallbackTarget, SsrfError> {
        let url = Url::parse(raw.trim())?;
        // Scheme first: `file:` or `javascript:` URLs have no host, and "wrong scheme" is
        // the accurate refusal for them.
        self.check_scheme(&url)?;
        let target = CallbackTarget {
            host: url.host().ok_or(SsrfError::MissingHost)?.to_owned(),
            port: url.port_or_known_default().ok_or(SsrfError::MissingHost)?,
            url,
        };
        self.check_static(&target)?;
        Ok(target)
    }

    /// Resolves the target once and refuses it if ANY address is not permitted (one bad
    /// answer is enough for a rebinding attacker) or if there is none. IP literals are
    /// not resolved. The static checks are repeated in case `target` came from a laxer
    /// policy.
    pub async fn vet<R: Resolver>(
        &self,
        target: &CallbackTarget,
        resolver: &R,
    ) -> Result<VettedTarget, SsrfError> {
        self.check_static(target)?;
        let (domain, resolved) = match &target.host {
            Host::Domain(domain) => {
                let answers = resolver
                    .resolve(domain, target.port)
                    .await
                    .map_err(SsrfError::Resolution)?;
                (Some(domain.clone()), answers)
            }
            Host::Ipv4(ip) => (None, vec![SocketAddr::new(IpAddr::V4(*ip), target.port)]),
            Host::Ipv6(ip) => (None, vec![SocketAddr::new(IpAddr::V6(*ip), target.port)]),
        };

        let mut addrs: Vec<SocketAddr> = Vec::with_capacity(resolved.len());
        for answer in resolved {
            // The URL's port is what was vetted, whatever the resolver echoed back.
            let addr = SocketAddr::new(answer.ip(), target.port);
            if !self.permits(addr.ip()) {
                tracing::warn!(
                    host = domain.as_deref().unwrap_or_default(),
                    addr = %addr.ip(),
                    "callback host resolves to a non-public address"
                );
                return Err(SsrfError::ForbiddenAddress(addr.ip()));
            }
            if !addrs.contains(&addr) {
                addrs.push(addr);
            }
        }
        if addrs.is_empty() {
            return Err(SsrfError::NoAddresses);
        }
        Ok(VettedTarget {
            url: target.url.clone(),
            domain,
            addrs,
        })
    }

    /// [`Self::parse_callback_url`] then [`Self::vet`].
    pub async fn vet_url<R: Resolver>(
        &self,
        raw: &str,
        resolver: &R,
    ) -> Result<VettedTarget, SsrfError> {
        let target = self.parse_callback_url(raw)?;
        self.vet(&target, resolver).await
    }

    fn check_static(&self, target: &CallbackTarget) -> Result<(), SsrfError> {
        let url = &target.url;
        self.check_scheme(url)?;
        // Credentials in a callback URL would be sent to whoever the host turns out to be,
        // and `user@host` is a classic way to disguise the real host to a human reviewer.
        if !url.username().is_empty() || url.password().is_some() {
            return Err(SsrfError::CredentialsNotAllowed);
        }
        if target.port == 0 {
            return Err(SsrfError::PortNotAllowed(0));
        }
        if let Some(patterns) = &self.allowed_hosts {
            let host = match &target.host {
                Host::Domain(domain) => domain.clone(),
                Host::Ipv4(ip) => ip.to_string(),
                Host::Ipv6(ip) => ip.to_string(),
            };
            if !host_allowed(patterns, &host) {
                return Err(SsrfError::HostNotAllowed(host));
            }
        }
        if let Some(ip) = target.ip()
            && !self.permits(ip)
        {
            return Err(SsrfError::ForbiddenAddress(ip));
        }
        // `localhost` and `*.localhost` are loopback by definition (RFC 6761): refused
        // without asking a resolver, so an intake can refuse them before anything is queued.
        if let Some(domain) = target.domain()
            && is_localhost_name(domain)
            && !self.permits(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
        {
            return Err(SsrfError::ForbiddenAddress(IpAddr::V4(
                std::net::Ipv4Addr::LOCALHOST,
            )));
        }
        Ok(())
    }

    fn check_scheme(&self, url: &Url) -> Result<(), SsrfError> {
        match url.scheme() {
            "https" => Ok(()),
            "http" if self.allow_http => Ok(()),
            other => Err(SsrfError::SchemeNotAllowed(other.to_owned())),
        }
    }

    fn permits(&self, ip: IpAddr) -> bool {
        match classify(ip) {
            AddressClass::Global => true,
            AddressClass::Private => self.allow_private,
            AddressClass::Forbidden => false,
        }
    }
}

/// `localhost`, `localhost.` and any name under it.
fn is_localhost_name(domain: &str) -> bool {
    let name = domain
        .strip_suffix('.')
        .unwrap_or(domain)
        .to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// Exact match, or `*.suffix` matching strict subdomains. A trailing root dot is ignored
/// on both sides (`example.com.` is `example.com`).
fn host_allowed(patterns: &[String], host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    patterns.iter().any(|pattern| {
        let pattern = pattern.trim().to_ascii_lowercase();
        let pattern = pattern.strip_suffix('.').unwrap_or(&pattern);
        match pattern.strip_prefix("*.") {
            Some(suffix) if !suffix.is_empty() => host
                .strip_suffix(suffix)
                .and_then(|label| label.strip_suffix('.'))
                .is_some_and(|label| !label.is_empty()),
            Some(_) => false,
            None => host == pattern,
        }
    })
}
