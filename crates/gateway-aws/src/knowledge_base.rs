//! `KnowledgeBaseClient` over `aws-sdk-bedrockagentruntime`: Bedrock Knowledge Bases'
//! `Retrieve`, one attempt per call (SDK retries off), errors through the one SDK-error
//! mapping. Generation never goes through Bedrock's RetrieveAndGenerate: the gateway answers
//! with its own call path so routing, fallbacks and cost apply.

use crate::bedrock::connect_timeout_only;
use crate::bedrock::error::{modeled_exceptions, sent};
use aws_sdk_bedrockagentruntime::Client;
use aws_sdk_bedrockagentruntime::config::retry::RetryConfig;
use aws_sdk_bedrockagentruntime::operation::retrieve::RetrieveError;
use aws_sdk_bedrockagentruntime::types::{
    KnowledgeBaseQuery, KnowledgeBaseRetrievalConfiguration, KnowledgeBaseRetrievalResult,
    KnowledgeBaseVectorSearchConfiguration,
};
use gateway::GatewayError;
use gateway::knowledge_base::{Chunk, KnowledgeBaseClient};

#[derive(Debug, Clone)]
pub struct BedrockKnowledgeBases {
    client: Client,
}

impl BedrockKnowledgeBases {
    /// Makes no network call.
    pub fn from_sdk_config(sdk: &aws_config::SdkConfig) -> Self {
        let conf = aws_sdk_bedrockagentruntime::config::Builder::from(sdk)
            .retry_config(RetryConfig::disabled())
            .timeout_config(connect_timeout_only())
            .build();
        Self {
            client: Client::from_conf(conf),
        }
    }
}

fn chunk(result: &KnowledgeBaseRetrievalResult) -> Option<Chunk> {
    let location = result.location();
    let uri = location
        .and_then(|l| l.s3_location().and_then(|s| s.uri()))
        .or_else(|| location.and_then(|l| l.web_location().and_then(|w| w.url())))
        .map(str::to_owned);
    Some(Chunk {
        text: result.content()?.text().to_owned(),
        uri,
        score: result.score(),
    })
}

impl KnowledgeBaseClient for BedrockKnowledgeBases {
    #[tracing::instrument(skip_all, fields(knowledge_base = %knowledge_base_id))]
    async fn retrieve(
        &self,
        knowledge_base_id: &str,
        query: &str,
        number_of_results: u32,
    ) -> Result<Vec<Chunk>, GatewayError> {
        let count = i32::try_from(number_of_results).unwrap_or(i32::MAX);
        let send = self
            .client
            .retrieve()
            .knowledge_base_id(knowledge_base_id)
            .retrieval_query(KnowledgeBaseQuery::builder().text(query).build())
            .retrieval_configuration(
                KnowledgeBaseRetrievalConfiguration::builder()
                    .vector_search_configuration(
                        KnowledgeBaseVectorSearchConfiguration::builder()
                            .number_of_results(count)
                            .build(),
                    )
                    .build(),
            )
            .send();
        Ok(sent(send)
            .await?
            .retrieval_results()
            .iter()
            .filter_map(chunk)
            .collect())
    }
}

modeled_exceptions! {
    RetrieveError => [
        AccessDeniedException, ResourceNotFoundException, ThrottlingException,
        ServiceQuotaExceededException, ValidationException, InternalServerException,
        // The vector store or the embedding model behind the knowledge base failed.
        DependencyFailedException as "ServiceUnavailableException",
        BadGatewayException as "ServiceUnavailableException",
        ConflictException as "ValidationException",
    ];
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bedrock::error::ModeledException;
    use crate::bedrock::{assert_no_retries_and_connect_timeout_only, test_sdk_config};
    use aws_sdk_bedrockagentruntime::types::error::{
        AccessDeniedException, BadGatewayException, ConflictException, DependencyFailedException,
        InternalServerException, ResourceNotFoundException, ServiceQuotaExceededException,
        ThrottlingException, ValidationException,
    };

    /// Pins each Retrieve exception to the Bedrock exception it is classified as: retries,
    /// fallbacks and the caller's status follow from that name.
    #[test]
    fn retrieve_exceptions_are_named_as_their_bedrock_kin() {
        macro_rules! named {
            ($($variant:ident => $name:literal),+ $(,)?) => {$(
                let error = RetrieveError::$variant($variant::builder().message("why").build());
                assert_eq!(error.exception(), Some(($name, Some("why"))), "{error:?}");
            )+};
        }
        named! {
            AccessDeniedException => "AccessDeniedException",
            ResourceNotFoundException => "ResourceNotFoundException",
            ThrottlingException => "ThrottlingException",
            ServiceQuotaExceededException => "ServiceQuotaExceededException",
            ValidationException => "ValidationException",
            InternalServerException => "InternalServerException",
            DependencyFailedException => "ServiceUnavailableException",
            BadGatewayException => "ServiceUnavailableException",
            ConflictException => "ValidationException",
        }
    }

    #[test]
    fn the_client_has_no_sdk_retries_and_only_a_connect_timeout() {
        let sdk = test_sdk_config("us-east-1");
        let knowledge_bases = BedrockKnowledgeBases::from_sdk_config(&sdk);
        let config = knowledge_bases.client.config();
        assert_no_retries_and_connect_timeout_only(config.retry_config(), config.timeout_config());
    }
}
