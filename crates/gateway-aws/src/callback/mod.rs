//! Callback delivery over HTTPS: the [`CallbackSender`](gateway::jobs::CallbackSender) port
//! with reqwest, and DNS resolution through tokio for the SSRF vetting.
//!
//! Per delivery: the URL is vetted under the job's policy, resolving the host ONCE; the client
//! is pinned to exactly the vetted addresses (`resolve_to_addrs`), so a DNS answer that changes
//! between check and connect (rebinding) is never used; redirects are not followed (a
//! `Location` was never vetted); no proxy from the environment is used (it would receive the
//! connection instead of the vetted address); 15 s overall timeout.

mod resolver;
mod sender;

#[cfg(test)]
mod tests;

pub use resolver::TokioResolver;
pub use sender::{DEFAULT_TIMEOUT, HttpCallbackSender};
