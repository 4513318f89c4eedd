//! SageMaker Runtime's exceptions, named as the Bedrock exceptions of the same meaning, so the
//! one SDK-error mapping (`bedrock::error::from_sdk`) classifies both services alike.

use crate::bedrock::error::modeled_exceptions;
use aws_sdk_sagemakerruntime::operation::invoke_endpoint::InvokeEndpointError;
use aws_sdk_sagemakerruntime::operation::invoke_endpoint_with_response_stream::InvokeEndpointWithResponseStreamError;
use aws_sdk_sagemakerruntime::types::error::ResponseStreamError;

modeled_exceptions! {
    InvokeEndpointError => [
        // The container failed: what Bedrock calls a model error.
        ModelError as "ModelErrorException",
        ModelNotReadyException,
        ServiceUnavailable as "ServiceUnavailableException",
        InternalDependencyException as "ServiceUnavailableException",
        InternalFailure as "InternalServerException",
        ValidationError as "ValidationException",
    ];
    InvokeEndpointWithResponseStreamError => [
        ModelError as "ModelErrorException",
        ModelStreamError as "ModelStreamErrorException",
        InternalStreamFailure as "ModelStreamErrorException",
        ServiceUnavailable as "ServiceUnavailableException",
        InternalFailure as "InternalServerException",
        ValidationError as "ValidationException",
    ];
    ResponseStreamError => [
        ModelStreamError as "ModelStreamErrorException",
        InternalStreamFailure as "ModelStreamErrorException",
    ];
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bedrock::error::ModeledException;
    use aws_sdk_sagemakerruntime::types::error::{
        InternalDependencyException, InternalFailure, InternalStreamFailure, ModelError,
        ModelNotReadyException, ModelStreamError, ServiceUnavailable, ValidationError,
    };

    /// Pins each SageMaker exception to the Bedrock exception it is classified as: retries,
    /// fallbacks and the caller's status follow from that name.
    #[test]
    fn sagemaker_exceptions_are_named_as_their_bedrock_kin() {
        let m = Some("why");
        let invoke = [
            (
                InvokeEndpointError::ModelError(ModelError::builder().message("why").build()),
                "ModelErrorException",
            ),
            (
                InvokeEndpointError::ModelNotReadyException(
                    ModelNotReadyException::builder().message("why").build(),
                ),
                "ModelNotReadyException",
            ),
            (
                InvokeEndpointError::ServiceUnavailable(
                    ServiceUnavailable::builder().message("why").build(),
                ),
                "ServiceUnavailableException",
            ),
            (
                InvokeEndpointError::InternalDependencyException(
                    InternalDependencyException::builder()
                        .message("why")
                        .build(),
                ),
                "ServiceUnavailableException",
            ),
            (
                InvokeEndpointError::InternalFailure(
                    InternalFailure::builder().message("why").build(),
                ),
                "InternalServerException",
            ),
            (
                InvokeEndpointError::ValidationError(
                    ValidationError::builder().message("why").build(),
                ),
                "ValidationException",
            ),
        ];
        for (error, name) in &invoke {
            assert_eq!(error.exception(), Some((*name, m)), "{error:?}");
        }
        let stream = [
            (
                InvokeEndpointWithResponseStreamError::ModelError(
                    ModelError::builder().message("why").build(),
                ),
                "ModelErrorException",
            ),
            (
                InvokeEndpointWithResponseStreamError::ModelStreamError(
                    ModelStreamError::builder().message("why").build(),
                ),
                "ModelStreamErrorException",
            ),
            (
                InvokeEndpointWithResponseStreamError::InternalStreamFailure(
                    InternalStreamFailure::builder().message("why").build(),
                ),
                "ModelStreamErrorException",
            ),
            (
                InvokeEndpointWithResponseStreamError::ServiceUnavailable(
                    ServiceUnavailable::builder().message("why").build(),
                ),
                "ServiceUnavailableException",
            ),
            (
                InvokeEndpointWithResponseStreamError::InternalFailure(
                    InternalFailure::builder().message("why").build(),
                ),
                "InternalServerException",
            ),
            (
                InvokeEndpointWithResponseStreamError::ValidationError(
                    ValidationError::builder().message("why").build(),
                ),
                "ValidationException",
            ),
        ];
        for (error, name) in &stream {
            assert_eq!(error.exception(), Some((*name, m)), "{error:?}");
        }
        let in_stream = [
            ResponseStreamError::ModelStreamError(
                ModelStreamError::builder().message("why").build(),
            ),
            ResponseStreamError::InternalStreamFailure(
                InternalStreamFailure::builder().message("why").build(),
            ),
        ];
        for error in &in_stream {
            assert_eq!(
                error.exception(),
                Some(("ModelStreamErrorException", m)),
                "{error:?}"
            );
        }
    }
}
