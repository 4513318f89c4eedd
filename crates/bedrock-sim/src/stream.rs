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

    /// The bytes appended after this call are sent `delay` after those before it (a zero delay
    /// still marks the boundary: a held stream holds back what follows its last one).
    pub(crate) fn pause(&mut self, delay: Duration) {
        if !self.current.is_empty() {
            let bytes = self.current.split().freeze();
            self.parts.push((self.pending_delay, bytes));
            self.pending_delay = Duration::ZERO;
        }
        self.pending_delay = self.pending_delay.saturating_add(delay);
    }

    /// Every byte, in order, ignoring delays (for tests of the event sequence).
    #[cfg(test)]
    pub(crate) fn into_bytes(mut self) -> Bytes {
        let mut all = BytesMut::new();
        for (_, part) in self.parts.drain(..) {
            all.extend_from_slice(&part);
        }
        all.extend_from_slice(&self.current);
        all.freeze()
    }

    /// A body: one buffer when nothing waits, else a stream that sleeps between segments and
    /// ends early when the simulator shuts down. While `hold` is true when the body is made,
    /// the last segment (the last delta and what follows it) waits until `hold` turns false, so
    /// a test can see what reached the client before the model finished.
    pub(crate) fn into_body(
        mut self,
        shutdown: &watch::Receiver<bool>,
        hold: &watch::Receiver<bool>,
    ) -> Body {
        if !self.current.is_empty() {
            let bytes = self.current.split().freeze();
            self.parts.push((self.pending_delay, bytes));
        }
        let held = *hold.borrow() && self.parts.len() > 1;
        if !held && self.parts.iter().all(|(d, _)| d.is_zero()) {
            return match self.parts.len() {
                0 => Body::empty(),
                1 => Body::from(self.parts.swap_remove(0).1),
                _ => Body::from(
                    self.parts
                        .into_iter()
                        .fold(BytesMut::new(), |mut all, (_, part)| {
                            all.extend_from_slice(&part);
                            all
                        })
                        .freeze(),
                ),
            };
        }
        let last = self.parts.len().saturating_sub(1);
        let hold = held.then(|| hold.clone());
        let state = (self.parts.into_iter().enumerate(), shutdown.clone(), hold);
        let stream = futures_util::stream::unfold(
            state,
            move |(mut parts, mut shutdown, mut hold)| async move {
                let (i, (delay, bytes)) = parts.next()?;
                if !delay.is_zero() && !sleep_unless_shutdown(delay, &mut shutdown).await {
                    return None;
                }
                if i == last
                    && let Some(hold) = hold.as_mut()
                {
                    tokio::select! {
                        _ = hold.wait_for(|held| !*held) => {}
                        _ = shutdown.wait_for(|stop| *stop) => return None,
                    }
                }
                Some((Ok::<Bytes, Infallible>(bytes), (parts, shutdown, hold)))
            },
        );
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
    async fn a_held_body_sends_all_but_its_last_segment_until_released() {
        let (_stop, shutdown) = watch::channel(false);
        let (hold_tx, hold) = watch::channel(true);
        let mut s = Segments::new();
        s.buf().extend_from_slice(b"first");
        s.pause(Duration::ZERO);
        s.buf().extend_from_slice(b"last");
        let mut body = s.into_body(&shutdown, &hold);
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(&first[..], b"first");
        // The last segment waits for the release, however long: release, then it comes.
        let rest = tokio::spawn(async move { body.collect().await.unwrap().to_bytes() });
        tokio::task::yield_now().await;
        assert!(!rest.is_finished());
        hold_tx.send(false).unwrap();
        assert_eq!(&rest.await.unwrap()[..], b"last");
    }

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
        let (_, free) = watch::channel(false);
        let bytes = s.into_body(&rx, &free).collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"abcde");
        assert!(start.elapsed() >= Duration::from_millis(30));
    }

    #[tokio::test]
    async fn no_delay_is_one_buffer_and_shutdown_cuts_streams() {
        let (tx, rx) = watch::channel(false);
        let (_, free) = watch::channel(false);
        let mut s = Segments::new();
        s.buf().extend_from_slice(b"xyz");
        s.pause(Duration::ZERO);
        s.buf().extend_from_slice(b"w");
        let bytes = s.into_body(&rx, &free).collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"xyzw");
        let mut s = Segments::new();
        s.buf().extend_from_slice(b"xyz");
        let bytes = s.into_body(&rx, &free).collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"xyz");

        let mut s = Segments::new();
        s.buf().extend_from_slice(b"1");
        s.pause(Duration::from_secs(3600));
        s.buf().extend_from_slice(b"2");
        let body = s.into_body(&rx, &free);
        tx.send(true).unwrap();
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"1");
    }
}
