//! An HTTP function (API Gateway / Function URL in AWS): its axum router under a local listener.

use super::StopSignal;
use crate::StackError;
use axum::serve::ListenerExt;
use std::net::SocketAddr;
use tokio::task::JoinHandle;

/// Binds `addr` and serves `router` until `stop`; returns the bound address (port 0 picks one).
pub async fn serve(
    function: &str,
    router: axum::Router,
    addr: SocketAddr,
    stop: StopSignal,
) -> Result<(SocketAddr, JoinHandle<()>), StackError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| StackError::Listen {
            function: function.to_owned(),
            addr,
            message: e.to_string(),
        })?;
    let bound = listener.local_addr().map_err(|e| StackError::Listen {
        function: function.to_owned(),
        addr,
        message: e.to_string(),
    })?;
    let name = function.to_owned();
    let handle = tokio::spawn(async move {
        // Without TCP_NODELAY a streamed response's second segment waits for the client's
        // delayed ACK (~40 ms).
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(stop.stopped())
            .await;
        if let Err(error) = served {
            tracing::error!(function = %name, %error, "listener failed");
        }
    });
    Ok((bound, handle))
}
