//! What every route's handler shares: the catalogue, behaviours and counters, the prompt
//! cache, and the shutdown and hold signals. The server builds it; the Bedrock, SageMaker,
//! Agent Runtime and admin routes read it.

use tokio::sync::watch;

use crate::behavior::SimConfig;
use crate::catalog::Catalog;
use crate::control::Control;
use crate::prompt_cache::PromptCache;

/// Everything a request needs: catalogue, behaviours and counters, and the shutdown signal.
#[derive(Debug)]
pub struct SimState {
    pub(crate) catalog: Catalog,
    pub(crate) control: Control,
    pub(crate) prompt_cache: PromptCache,
    pub(crate) shutdown: watch::Receiver<bool>,
    /// True: streams hold back their last delta until released (see `SimHandle::hold_stream_ends`).
    hold: watch::Sender<bool>,
}

impl SimState {
    pub(crate) fn new(config: SimConfig, shutdown: watch::Receiver<bool>) -> Self {
        SimState {
            catalog: Catalog::new(config.extra_models.iter().cloned()),
            prompt_cache: PromptCache::new(config.prompt_cache.clone()),
            control: Control::new(config),
            shutdown,
            hold: watch::Sender::new(false),
        }
    }

    /// Start-up behaviours, zero counters and an empty prompt cache.
    pub(crate) fn reset(&self) {
        self.control.reset();
        self.prompt_cache.clear();
        self.hold.send_replace(false);
    }

    pub(crate) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.clone()
    }

    pub(crate) fn hold_signal(&self) -> watch::Receiver<bool> {
        self.hold.subscribe()
    }

    /// Streams started while held keep back their last delta until `set_hold(false)`.
    pub(crate) fn set_hold(&self, held: bool) {
        self.hold.send_replace(held);
    }
}
