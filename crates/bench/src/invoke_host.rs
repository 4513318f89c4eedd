//! The on-demand Lambda Runtime API (buffered and response-streaming protocols) lives in
//! `testkit::lambda_runtime`, shared with the api crate's streaming tests; the worker part's
//! event source mapping and the streaming part use it under this name.

pub use testkit::lambda_runtime::RuntimeApi as InvokeHost;
