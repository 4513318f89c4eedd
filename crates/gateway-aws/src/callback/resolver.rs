//! The system resolver (what Lambda's VPC or public DNS answers), bounded in time.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use gateway::webhook::Resolver;

/// A lookup that hangs must not eat the delivery's whole time budget.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, Default)]
pub struct TokioResolver;

impl Resolver for TokioResolver {
    fn resolve(
        &self,
        host: &str,
        port: u16,
    ) -> impl Future<Output = io::Result<Vec<SocketAddr>>> + Send {
        let host = host.to_owned();
        async move {
            let lookup = tokio::net::lookup_host((host.as_str(), port));
            match tokio::time::timeout(LOOKUP_TIMEOUT, lookup).await {
                Ok(addrs) => Ok(addrs?.collect()),
                Err(_) => Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "DNS lookup timed out",
                )),
            }
        }
    }
}
