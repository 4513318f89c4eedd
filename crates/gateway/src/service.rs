//! The call path every front door shares (HTTP routes, the jobs worker, the stream processor):
//! pick the target, call the model through the resilience policy, report who served.

use crate::api::converse::{ConverseRequest, ConverseResponse};
use crate::api::invoke::{InvokeRequest, InvokeResponse};
use crate::config::{GatewayConfig, ModelConfig};
use crate::error::GatewayError;
use crate::ports::{ConverseEventStream, InvokeChunkStream, ModelClient, Target};

/// A model's answer and who gave it, for response headers, audit and cost.
#[derive(Debug)]
pub struct Served<T> {
    pub value: T,
    pub target: Target,
    pub attempts: u32,
}

pub struct Gateway<M> {
    config: GatewayConfig,
    models: M,
}

impl<M: ModelClient> Gateway<M> {
    pub fn new(config: GatewayConfig, models: M) -> Self {
        Self { config, models }
    }

    pub fn config(&self) -> &GatewayConfig {
        &self.config
    }

    fn target(model: &ModelConfig) -> Target {
        Target::new(model.id.clone())
    }

    pub async fn converse(
        &self,
        model: &ModelConfig,
        request: &ConverseRequest,
    ) -> Result<Served<ConverseResponse>, GatewayError> {
        let target = Self::target(model);
        let value = self.models.converse(&target, request).await?;
        Ok(Served {
            value,
            target,
            attempts: 1,
        })
    }

    pub async fn converse_stream(
        &self,
        model: &ModelConfig,
        request: &ConverseRequest,
    ) -> Result<Served<ConverseEventStream>, GatewayError> {
        let target = Self::target(model);
        let value = self.models.converse_stream(&target, request).await?;
        Ok(Served {
            value,
            target,
            attempts: 1,
        })
    }

    pub async fn invoke(
        &self,
        model: &ModelConfig,
        request: &InvokeRequest,
    ) -> Result<Served<InvokeResponse>, GatewayError> {
        let target = Self::target(model);
        let value = self.models.invoke(&target, request).await?;
        Ok(Served {
            value,
            target,
            attempts: 1,
        })
    }

    pub async fn invoke_stream(
        &self,
        model: &ModelConfig,
        request: &InvokeRequest,
    ) -> Result<Served<InvokeChunkStream>, GatewayError> {
        let target = Self::target(model);
        let value = self.models.invoke_stream(&target, request).await?;
        Ok(Served {
            value,
            target,
            attempts: 1,
        })
    }
}
