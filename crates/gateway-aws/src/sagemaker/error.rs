//! SageMaker Runtime's exceptions, named as the Bedrock exceptions of the same meaning, so the
//! one SDK-error mapping (`bedrock::error::from_sdk`) classifies both services alike.

use crate::bedrock::error::ModeledException;
use aws_sdk_sagemakerruntime::operation::invoke_endpoint::InvokeEndpointError;
use aws_sdk_sagemakerruntime::operation::invoke_endpoint_with_response_stream::InvokeEndpointWithResponseStreamError;
use aws_sdk_sagemakerruntime::types::error::ResponseStreamError;

impl ModeledException for InvokeEndpointError {
    fn exception(&self) -> Option<(&'static str, Option<&str>)> {
        match self {
            // The container failed: what Bedrock calls a model error.
            Self::ModelError(e) => Some(("ModelErrorException", e.message())),
            Self::ModelNotReadyException(e) => Some(("ModelNotReadyException", e.message())),
            Self::ServiceUnavailable(e) => Some(("ServiceUnavailableException", e.message())),
            Self::InternalDependencyException(e) => {
                Some(("ServiceUnavailableException", e.message()))
            }
            Self::InternalFailure(e) => Some(("InternalServerException", e.message())),
            Self::ValidationError(e) => Some(("ValidationException", e.message())),
            _ => None,
        }
    }
}

impl ModeledException for InvokeEndpointWithResponseStreamError {
    fn exception(&self) -> Option<(&'static str, Option<&str>)> {
        match self {
            Self::ModelError(e) => Some(("ModelErrorException", e.message())),
            Self::ModelStreamError(e) => Some(("ModelStreamErrorException", e.message())),
            Self::InternalStreamFailure(e) => Some(("ModelStreamErrorException", e.message())),
            Self::ServiceUnavailable(e) => Some(("ServiceUnavailableException", e.message())),
            Self::InternalFailure(e) => Some(("InternalServerException", e.message())),
            Self::ValidationError(e) => Some(("ValidationException", e.message())),
            _ => None,
        }
    }
}

impl ModeledException for ResponseStreamError {
    fn exception(&self) -> Option<(&'static str, Option<&str>)> {
        match self {
            Self::ModelStreamError(e) => Some(("ModelStreamErrorException", e.message())),
            Self::InternalStreamFailure(e) => Some(("ModelStreamErrorException", e.message())),
            _ => None,
        }
    }
}
