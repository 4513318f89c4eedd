//! DNS resolution as an injected capability, so vetting is testable without a network and
//! the same answer that was vetted is the one the HTTP client connects to.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

/// Resolves a host name to every address it currently has.
///
/// `Send` future so vetting can run inside spawned tasks. An adapter over
/// `tokio::net::lookup_host((host, port))` is enough for Lambda.
pub trait Resolver {
    fn resolve(
        &self,
        host: &str,
        port: u16,
    ) -> impl Future<Output = io::Result<Vec<SocketAddr>>> + Send;
}
