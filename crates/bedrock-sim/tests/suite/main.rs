//! The crate's integration tests as one test binary: one link instead of one per file,
//! which keeps a clean build's disk use and link time down. Each module is one former file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

mod common;

mod binary;
mod robustness;
mod sdk_anthropic_features;
mod sdk_converse;
mod sdk_count_tokens;
mod sdk_embeddings;
mod sdk_faults;
mod sdk_invoke;
mod sdk_prompt_cache;
mod sdk_sagemaker_kb;
