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
