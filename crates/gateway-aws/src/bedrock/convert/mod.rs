//! Mapping between the gateway's Bedrock-shaped types and the SDK's types, in both directions.
//! Pure functions: no I/O, so every field is unit-testable.

pub(crate) mod document;
pub(crate) mod request;
pub(crate) mod response;
