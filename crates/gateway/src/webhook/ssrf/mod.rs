//! SSRF-safe callback URLs: a client-supplied callback must not let the gateway reach
//! loopback, VPC, link-local (instance metadata) or other non-public addresses.
//!
//! Flow: [`CallbackPolicy::parse_callback_url`] checks the URL statically (scheme, no
//! credentials, allow-list, literal IPs); [`CallbackPolicy::vet`] resolves a domain ONCE
//! through the injected [`Resolver`] and refuses it if any address is non-public. The HTTP
//! client adapter must then connect only to [`VettedTarget::addrs`] (reqwest
//! `resolve_to_addrs`), so a DNS rebind between check and connect cannot redirect it, and
//! must not follow redirects (see [`is_redirect`]): a 3xx could point anywhere.

mod address;
mod error;
mod policy;
mod resolver;

#[cfg(test)]
mod tests;

pub use address::vet_address;
pub use error::SsrfError;
pub use policy::{CallbackPolicy, CallbackTarget, VettedTarget};
pub use resolver::Resolver;

/// Whether a callback response is a redirect. The delivery adapter disables redirect
/// following and treats these as a failed delivery: the `Location` was never vetted.
pub fn is_redirect(status: u16) -> bool {
    (300..400).contains(&status)
}
