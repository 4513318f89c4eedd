//! Adapters: the gateway's ports over the real AWS SDK clients. Endpoints come from the standard
//! `AWS_ENDPOINT_URL*` variables, so no code here knows whether it talks to AWS or an emulator.

pub mod bedrock;
