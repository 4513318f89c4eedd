//! A Bedrock Runtime simulator speaking the real wire protocol (restJson1 + AWS event streams),
//! so the unmodified `aws-sdk-bedrockruntime` client (or boto3) works against it with only an
//! endpoint override.
//!
//! Routes: `POST /model/{modelId}/converse`, `/converse-stream`, `/invoke`,
//! `/invoke-with-response-stream`, `/count-tokens`; admin under `/_sim/` (see
//! [`admin`](crate::admin) docs). Replies are deterministic: see [`expected_reply`] and the
//! [`reply`] module.
//!
//! Also SageMaker Runtime (`POST /endpoints/{name}/invocations[-response-stream]`, chat and
//! plain-prompt payloads: [`sagemaker`]) and Bedrock Agent Runtime's knowledge-base reads
//! (`Retrieve`, `RetrieveAndGenerate`: [`knowledge_base`]) on the same port.
//!
//! Beyond text generation: prompt caching with Bedrock's usage fields ([`prompt_cache`]),
//! Anthropic bodies with tools, extended thinking and `cache_control`, CountTokens, and the
//! Titan Text Embeddings v2 / Cohere Embed v3 models with deterministic vectors ([`embeddings`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), bedrock_sim::SimError> {
//! use bedrock_sim::{Behavior, ErrorKind, Outcome, SimConfig, Simulator};
//! let sim = Simulator::start(SimConfig::default()).await?;
//! sim.set_behavior(
//!     "anthropic.claude-3-5-haiku-20241022-v1:0",
//!     Behavior::script([Outcome::Error(ErrorKind::ThrottlingException), Outcome::Ok]),
//! );
//! let endpoint = sim.endpoint_url(); // give to the SDK's `endpoint_url`
//! # let _ = endpoint; Ok(()) }
//! ```

pub mod admin;
mod anthropic;
pub mod behavior;
mod body;
pub mod catalog;
mod control;
mod converse;
mod count_tokens;
pub mod embeddings;
pub mod error;
pub mod eventstream;
pub mod knowledge_base;
mod paths;
pub mod prompt_cache;
pub mod reply;
mod request_id;
pub mod sagemaker;
mod server;
mod signal;
mod state;
mod stream;
mod thinking;
mod titan;

pub use behavior::{Behavior, CONFIG_ENV, Outcome, SimConfig};
pub use catalog::{BUILTIN_MODELS, PROFILE_PREFIXES};
pub use control::CallCounts;
pub use error::{ApiError, ErrorKind, SimError, StreamErrorKind};
pub use prompt_cache::PromptCacheConfig;
pub use reply::{count_input_tokens, count_output_tokens, expected_reply};
pub use server::{SimHandle, Simulator};
pub use signal::stop_signal;
