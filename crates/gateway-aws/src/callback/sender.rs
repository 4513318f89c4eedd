//! POSTing one signed callback to vetted addresses only.

use std::error::Error as _;
use std::time::Duration;

use gateway::jobs::{CallbackSender, DeliveryError};
use gateway::webhook::{CallbackPolicy, Resolver, VettedTarget};
use reqwest::redirect;

use super::TokioResolver;

/// The whole exchange (connect, TLS, request, response head) must fit in this.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const USER_AGENT: &str = concat!("bedrock-gateway-callbacks/", env!("CARGO_PKG_VERSION"));
/// Transport error texts are recorded on the job; keep them short.
const MAX_ERROR_TEXT: usize = 200;

/// The callback HTTP client. `R` resolves callback hosts; tests inject their own answers.
#[derive(Debug, Clone)]
pub struct HttpCallbackSender<R = TokioResolver> {
    resolver: R,
    timeout: Duration,
}

impl Default for HttpCallbackSender<TokioResolver> {
    fn default() -> Self {
        Self::with_resolver(TokioResolver)
    }
}

impl HttpCallbackSender<TokioResolver> {
    pub fn new() -> Self {
        Self::default()
    }
}

impl<R: Resolver + Send + Sync> HttpCallbackSender<R> {
    pub fn with_resolver(resolver: R) -> Self {
        Self {
            resolver,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// A client that can reach `target`'s vetted addresses and nothing else. Built per
    /// delivery because the pinning is a client setting; callbacks are not a hot path.
    fn client_for(&self, target: &VettedTarget) -> Result<reqwest::Client, DeliveryError> {
        let mut builder = reqwest::Client::builder()
            .redirect(redirect::Policy::none())
            .no_proxy()
            .timeout(self.timeout)
            .connect_timeout(CONNECT_TIMEOUT.min(self.timeout))
            .user_agent(USER_AGENT)
            .pool_max_idle_per_host(0);
        if let Some(domain) = target.domain() {
            builder = builder.resolve_to_addrs(domain, target.addrs());
        }
        builder
            .build()
            .map_err(|e| DeliveryError::Transport(describe(&e)))
    }
}

impl<R: Resolver + Send + Sync> CallbackSender for HttpCallbackSender<R> {
    #[tracing::instrument(skip_all)]
    async fn post(
        &self,
        url: &str,
        policy: &CallbackPolicy,
        headers: &[(&'static str, String)],
        body: &[u8],
    ) -> Result<u16, DeliveryError> {
        let target = policy.vet_url(url, &self.resolver).await?;
        let client = self.client_for(&target)?;
        let mut request = client.post(target.url().clone()).body(body.to_vec());
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        match request.send().await {
            // Only the status matters; the body is never read (it could be huge, or slow).
            Ok(response) => Ok(response.status().as_u16()),
            Err(e) if e.is_timeout() => Err(DeliveryError::Timeout),
            Err(e) => Err(DeliveryError::Transport(describe(&e.without_url()))),
        }
    }
}

/// The error and its causes in one line, without the URL (its path or query may hold the
/// receiver's token).
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    if text.len() > MAX_ERROR_TEXT {
        let mut end = MAX_ERROR_TEXT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}
