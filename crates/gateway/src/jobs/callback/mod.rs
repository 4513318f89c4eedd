//! Delivering a finished job's result to its callback URL: signed with Standard Webhooks
//! headers (`webhook-id` = job id, so receivers dedupe across retries), retried on a bounded
//! backoff schedule through delayed queue messages (never by sleeping), every attempt recorded
//! on the job, and a final failure dead-lettered and alerted.
//!
//! - [`schedule`]: the retry schedule and what each answer means. The one place retry
//!   decisions for callbacks are made.
//! - [`signing`]: our signing secrets per destination, the body and its headers.
//! - [`processor`]: one callback message, end to end, over the ports.
//!
//! The HTTP client (SSRF vetting, pinned addresses, no redirects) is an adapter behind
//! [`super::CallbackSender`].

pub mod processor;
pub mod schedule;
pub mod signing;

#[cfg(test)]
mod tests;

pub use processor::{CallbackDisposition, CallbackProcessor, CallbackSettings};
pub use schedule::{Next, RetrySchedule, classify, queue_delay};
pub use signing::{CallbackSecrets, Signer, callback_body, callback_headers};
