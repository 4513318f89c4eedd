//! Hosting a function's handler the way Lambda invokes it: HTTP functions behind a local
//! listener, queue consumers behind the SQS event source mapping, stream consumers behind the
//! DynamoDB Streams event source mapping. Which handler a function gets is decided by its
//! binary (`Metadata.BuildProperties.Binary`), how it is invoked by its template events.

pub mod callback_inbox;
pub mod http;
pub mod sqs_source;
pub mod stream_source;
pub mod topic_tap;

use crate::local_defaults;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// Tells hosted loops and servers to stop; each finishes what it is doing first.
#[derive(Debug, Clone)]
pub struct StopSignal(watch::Receiver<bool>);

impl StopSignal {
    pub fn new() -> (watch::Sender<bool>, Self) {
        let (sender, receiver) = watch::channel(false);
        (sender, Self(receiver))
    }

    pub fn is_stopped(&self) -> bool {
        *self.0.borrow()
    }

    pub async fn stopped(mut self) {
        let _ = self.0.wait_for(|stopped| *stopped).await;
    }

    /// Sleeps unless stopped first; `true` when stopped.
    pub async fn sleep(&self, duration: Duration) -> bool {
        tokio::select! {
            () = self.clone().stopped() => true,
            () = tokio::time::sleep(duration) => self.is_stopped(),
        }
    }
}

/// Variables the process environment may supply, for `lookup`s that miss.
pub type Fallback = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// A function's environment as deployed (the template's variables, resolved locally). A
/// variable the template leaves empty or does not declare comes from the shell (so
/// `GATEWAY_CONFIG=... gateway-local` works as an override would), else from the offline
/// run's [`local_defaults`](crate::local_defaults) when enabled.
#[derive(Clone)]
pub struct FunctionEnv {
    pub values: BTreeMap<String, String>,
    shell: Fallback,
    local_defaults: bool,
    /// Which local defaults the function actually read.
    defaults_read: Arc<Mutex<BTreeSet<String>>>,
}

impl std::fmt::Debug for FunctionEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FunctionEnv")
            .field("values", &self.values.keys())
            .finish()
    }
}

impl FunctionEnv {
    pub fn new(values: BTreeMap<String, String>, shell: Fallback, local_defaults: bool) -> Self {
        Self {
            values,
            shell,
            local_defaults,
            defaults_read: Arc::default(),
        }
    }

    pub fn get(&self, name: &str) -> Option<String> {
        match self.values.get(name) {
            Some(value) if !value.is_empty() => Some(value.clone()),
            declared => (self.shell)(name)
                .or_else(|| self.local_default(name))
                .or_else(|| declared.cloned()),
        }
    }

    pub fn lookup(&self) -> impl Fn(&str) -> Option<String> + '_ {
        |name| self.get(name)
    }

    fn local_default(&self, name: &str) -> Option<String> {
        let value = local_defaults::local_default(name).filter(|_| self.local_defaults)?;
        if let Ok(mut read) = self.defaults_read.lock() {
            read.insert(name.to_owned());
        }
        Some(value)
    }

    /// The local defaults this function read (neither the template nor the shell set them).
    pub fn local_defaults_read(&self) -> Vec<String> {
        self.defaults_read
            .lock()
            .map(|read| read.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// `NAME=value` pairs for display; values of configuration documents and secrets hidden.
    pub fn describe(&self) -> String {
        self.values
            .iter()
            .map(|(name, value)| {
                let hidden = ["CONFIG", "SECRET", "TOKEN", "KEY"]
                    .iter()
                    .any(|s| name.contains(s));
                match (hidden, value.is_empty()) {
                    (_, true) => format!("{name}=\"\""),
                    (true, false) => format!("{name}=<set>"),
                    (false, false) => format!("{name}={value}"),
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}
