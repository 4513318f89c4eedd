//! The signal that stops a long-running binary: Ctrl-C, or SIGTERM where there is one. Public so
//! `bedrock-sim` and `gateway-local` (which already depends on this crate) stop alike.

/// Resolves at Ctrl-C or SIGTERM (Ctrl-C alone where SIGTERM cannot be listened for).
pub async fn stop_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    {
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
        return;
    }
    let _ = ctrl_c.await;
}
