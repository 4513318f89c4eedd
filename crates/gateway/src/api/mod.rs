//! Request and response shapes the gateway speaks.

pub mod converse;
pub mod invoke;
pub mod stream;
