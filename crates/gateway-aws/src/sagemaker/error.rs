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
        macro_rules! named {
            ($error:ident: $($variant:ident($shape:ident) => $name:literal),+ $(,)?) => {$(
                let error = $error::$variant($shape::builder().message("why").build());
                assert_eq!(error.exception(), Some(($name, Some("why"))), "{error:?}");
            )+};
        }
        named! { InvokeEndpointError:
            ModelError(ModelError) => "ModelErrorException",
            ModelNotReadyException(ModelNotReadyException) => "ModelNotReadyException",
            ServiceUnavailable(ServiceUnavailable) => "ServiceUnavailableException",
            InternalDependencyException(InternalDependencyException) => "ServiceUnavailableException",
            InternalFailure(InternalFailure) => "InternalServerException",
            ValidationError(ValidationError) => "ValidationException",
        }
        named! { InvokeEndpointWithResponseStreamError:
            ModelError(ModelError) => "ModelErrorException",
            ModelStreamError(ModelStreamError) => "ModelStreamErrorException",
            InternalStreamFailure(InternalStreamFailure) => "ModelStreamErrorException",
            ServiceUnavailable(ServiceUnavailable) => "ServiceUnavailableException",
            InternalFailure(InternalFailure) => "InternalServerException",
            ValidationError(ValidationError) => "ValidationException",
        }
        named! { ResponseStreamError:
            ModelStreamError(ModelStreamError) => "ModelStreamErrorException",
            InternalStreamFailure(InternalStreamFailure) => "ModelStreamErrorException",
        }
    }
}
