//! SageMaker Runtime and Bedrock Agent Runtime through the unmodified SDKs: invoke (both
//! dialects), the response stream's PayloadPart framing, faults, Retrieve and
//! RetrieveAndGenerate.

use aws_sdk_bedrockagentruntime::types::{
    KnowledgeBaseQuery, KnowledgeBaseRetrievalConfiguration,
    KnowledgeBaseRetrieveAndGenerateConfiguration, KnowledgeBaseVectorSearchConfiguration,
    RetrieveAndGenerateConfiguration, RetrieveAndGenerateInput, RetrieveAndGenerateType,
};
use aws_sdk_sagemakerruntime::primitives::Blob;
use aws_sdk_sagemakerruntime::types::ResponseStream;
use bedrock_sim::{Behavior, ErrorKind, Outcome, SimHandle, StreamErrorKind};

use crate::common::sim;

async fn sdk_config(sim: &SimHandle) -> aws_config::SdkConfig {
    use aws_config::{BehaviorVersion, Region};
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sagemakerruntime::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .endpoint_url(sim.endpoint_url())
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await
}

async fn sagemaker(sim: &SimHandle) -> aws_sdk_sagemakerruntime::Client {
    aws_sdk_sagemakerruntime::Client::new(&sdk_config(sim).await)
}

async fn agent(sim: &SimHandle) -> aws_sdk_bedrockagentruntime::Client {
    aws_sdk_bedrockagentruntime::Client::new(&sdk_config(sim).await)
}

const CHAT: &str =
    r#"{"messages":[{"role":"user","content":"reply with: one two three four"}],"max_tokens":50}"#;

#[tokio::test]
async fn invoke_endpoint_chat_and_prompt_dialects() {
    let sim = sim().await;
    let client = sagemaker(&sim).await;
    let out = client
        .invoke_endpoint()
        .endpoint_name("ft-llama")
        .content_type("application/json")
        .body(Blob::new(CHAT))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(out.body().unwrap().as_ref()).unwrap();
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "one two three four"
    );
    assert_eq!(body["usage"]["completion_tokens"], 4);
    assert_eq!(out.invoked_production_variant(), Some("AllTraffic"));

    let out = client
        .invoke_endpoint()
        .endpoint_name("tgi-plain")
        .content_type("application/json")
        .body(Blob::new(r#"{"inputs":"reply with: plain words"}"#))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(out.body().unwrap().as_ref()).unwrap();
    assert_eq!(body[0]["generated_text"], "plain words");
    assert_eq!(sim.calls("sagemaker:ft-llama"), 1);
    assert_eq!(sim.calls("sagemaker:tgi-plain"), 1);
}

#[tokio::test]
async fn response_stream_is_payload_parts_of_sse_lines() {
    let sim = sim().await;
    let client = sagemaker(&sim).await;
    let mut out = client
        .invoke_endpoint_with_response_stream()
        .endpoint_name("ft-llama")
        .content_type("application/json")
        .body(Blob::new(CHAT))
        .send()
        .await
        .unwrap();
    let mut bytes = Vec::new();
    let mut parts = 0;
    while let Some(event) = out.body.recv().await.unwrap() {
        if let ResponseStream::PayloadPart(part) = event {
            bytes.extend_from_slice(part.bytes().unwrap().as_ref());
            parts += 1;
        }
    }
    let text = String::from_utf8(bytes).unwrap();
    assert!(parts >= 3, "{parts}");
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    assert!(text.contains(r#""content":"one"#), "{text}");
}

#[tokio::test]
async fn faults_map_to_sagemaker_errors_in_and_before_the_stream() {
    let sim = sim().await;
    let client = sagemaker(&sim).await;
    sim.set_behavior(
        "sagemaker:ft-llama",
        Behavior::script([
            Outcome::Error(ErrorKind::ModelErrorException),
            Outcome::Error(ErrorKind::ServiceUnavailableException),
            Outcome::StreamError {
                kind: StreamErrorKind::ModelStreamErrorException,
                after_chunks: Some(1),
            },
        ]),
    );
    let err = client
        .invoke_endpoint()
        .endpoint_name("ft-llama")
        .body(Blob::new(CHAT))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_model_error(), "{err:?}");
    let err = client
        .invoke_endpoint()
        .endpoint_name("ft-llama")
        .body(Blob::new(CHAT))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_service_unavailable(), "{err:?}");
    let mut out = client
        .invoke_endpoint_with_response_stream()
        .endpoint_name("ft-llama")
        .body(Blob::new(CHAT))
        .send()
        .await
        .unwrap();
    assert!(matches!(
        out.body.recv().await.unwrap(),
        Some(ResponseStream::PayloadPart(_))
    ));
    let err = out.body.recv().await.unwrap_err().into_service_error();
    assert!(err.is_model_stream_error(), "{err:?}");
    // A body in neither dialect: a ValidationError, counted but never planned.
    let err = client
        .invoke_endpoint()
        .endpoint_name("ft-llama")
        .body(Blob::new("{}"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_validation_error(), "{err:?}");
}

#[tokio::test]
async fn retrieve_gives_ranked_deterministic_chunks() {
    let sim = sim().await;
    let client = agent(&sim).await;
    let retrieve = || {
        client
            .retrieve()
            .knowledge_base_id("KB12345678")
            .retrieval_query(
                KnowledgeBaseQuery::builder()
                    .text("vacation policy")
                    .build(),
            )
            .retrieval_configuration(
                KnowledgeBaseRetrievalConfiguration::builder()
                    .vector_search_configuration(
                        KnowledgeBaseVectorSearchConfiguration::builder()
                            .number_of_results(3)
                            .build(),
                    )
                    .build(),
            )
            .send()
    };
    let a = retrieve().await.unwrap();
    let b = retrieve().await.unwrap();
    assert_eq!(a.retrieval_results().len(), 3);
    assert_eq!(a.retrieval_results(), b.retrieval_results());
    let first = &a.retrieval_results()[0];
    assert_eq!(first.score(), Some(0.95));
    assert!(first.content().unwrap().text().contains("vacation policy"));
    assert!(
        first
            .location()
            .unwrap()
            .s3_location()
            .unwrap()
            .uri()
            .unwrap()
            .starts_with("s3://kb-kb12345678/")
    );
    sim.set_behavior(
        "kb:KB12345678",
        Behavior::script([Outcome::Error(ErrorKind::ThrottlingException)]),
    );
    let err = retrieve().await.unwrap_err().into_service_error();
    assert!(err.is_throttling_exception(), "{err:?}");
    assert_eq!(sim.calls("kb:KB12345678"), 3);
}

#[tokio::test]
async fn retrieve_and_generate_answers_with_citations() {
    let sim = sim().await;
    let client = agent(&sim).await;
    let out = client
        .retrieve_and_generate()
        .input(
            RetrieveAndGenerateInput::builder()
                .text("reply with: ten days a year")
                .build()
                .unwrap(),
        )
        .retrieve_and_generate_configuration(
            RetrieveAndGenerateConfiguration::builder()
                .r#type(RetrieveAndGenerateType::KnowledgeBase)
                .knowledge_base_configuration(
                    KnowledgeBaseRetrieveAndGenerateConfiguration::builder()
                        .knowledge_base_id("KB12345678")
                        .model_arn("anthropic.claude-3-5-haiku-20241022-v1:0")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.output().unwrap().text(),
        "According to knowledge base KB12345678: ten days a year"
    );
    assert!(!out.session_id().is_empty());
    let citation = &out.citations()[0];
    assert_eq!(citation.retrieved_references().len(), 3);
}
