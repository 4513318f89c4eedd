//! Request and response shapes the gateway speaks.

pub mod anthropic;
pub mod anthropic_stream;
pub mod catalog;
pub mod converse;
pub mod count_tokens;
pub mod embeddings;
pub mod invoke;
pub mod openai;
pub mod openai_stream;
pub mod responses;
pub mod responses_output;
pub mod responses_stream;
pub mod stream;
pub mod structured_output;
pub mod tasks;
