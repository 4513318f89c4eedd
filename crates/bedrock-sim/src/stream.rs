//! Response bodies delivered in timed segments (for streaming with inter-chunk delays).

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use tokio::sync::watch;

/// Bytes to send, split where the simulated model pauses.
#[derive(Debug, Default)]
pub(crate) struct Segments {
    parts: Vec<(Duration, Bytes)>,
    current: BytesMut,
    pending_delay: Duration,
}

impl Segments {
    pub(crate) fn new() -> Self {
        Segments {
            parts: Vec::new(),
            current: BytesMut::with_capacity(1024),
            pending_delay: Duration::ZERO,
        }
    }

    /// The buffer the next bytes are appended to.
    pub(crate) fn buf(&mut self) -> &mut BytesMut {
        &mut self.current
    }

    /// The bytes appended after this call are sent `delay` after those before it.
    pub(crate) fn pause(&mut self, delay: Duration) {
        if delay.is_zero() {
            return;
        }
        if !self.current.is_empty() {
            let bytes = self.current.split().freeze();
            self.parts.push((self.pending_delay, bytes));
            self.pending_delay = Duration::ZERO;
        }
        self.pending_delay = self.pending_delay.saturating_add(delay);
    }

    /// A body: one buffer when nothing waits, else a stream that sleeps between segments and
    /// ends early when the simulator shuts down.
    pub(crate) fn into_body(mut self, shutdown: &watch::Receiver<bool>) -> Body {
        if !self.current.is_empty() {
            let bytes = self.current.split().freeze();
            self.parts.push((self.pending_delay, bytes));
        }
        if self.parts.len() <= 1 && self.parts.first().is_none_or(|(d, _)| d.is_zero()) {
            return match self.parts.pop() {
                Some((_, bytes)) => Body::from(bytes),
                None => Body::empty(),
            };
        }
        let state = (self.parts.into_iter(), shutdown.clone());
        let stream = futures_util::stream::unfold(state, |(mut parts, mut shutdown)| async move {
            let (delay, bytes) = parts.next()?;
            if !delay.is_zero() && !sleep_unless_shutdown(delay, &mut shutdown).await {
                return None;
            }
            Some((Ok::<Bytes, Infallible>(bytes), (parts, shutdown)))
        });
        Body::from_stream(stream)
    }
}

/// Sleeps for `delay`; false if the simulator began shutting down first.
pub(crate) async fn sleep_unless_shutdown(
    delay: Duration,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    if delay.is_zero() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(delay) => true,
        _ = shutdown.wait_for(|stop| *stop) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn segments_concatenate_and_respect_delays() {
        let (_tx, rx) = watch::channel(false);
        let mut s = Segments::new();
        s.buf().extend_from_slice(b"ab");
        s.pause(Duration::from_millis(30));
        s.buf().extend_from_slice(b"cd");
        s.pause(Duration::ZERO);
        s.buf().extend_from_slice(b"e");
        let start = std::time::Instant::now();
        let bytes = s.into_body(&rx).collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"abcde");
        assert!(start.elapsed() >= Duration::from_millis(30));
    }

    #[tokio::test]
    async fn no_delay_is_one_buffer_and_shutdown_cuts_streams() {
        let (tx, rx) = watch::channel(false);
        let mut s = Segments::new();
        s.buf().extend_from_slice(b"xyz");
        let bytes = s.into_body(&rx).collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"xyz");

        let mut s = Segments::new();
        s.buf().extend_from_slice(b"1");
        s.pause(Duration::from_secs(3600));
        s.buf().extend_from_slice(b"2");
        let body = s.into_body(&rx);
        tx.send(true).unwrap();
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"1");
    }
}
