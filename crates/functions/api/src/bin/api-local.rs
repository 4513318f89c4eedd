//! The same router as the Lambda function, under a plain TCP listener: for the offline run,
//! benchmarks and manual testing. `API_LISTEN` (default 127.0.0.1:8080) says where.

use api::{AppState, router};
use axum::serve::ListenerExt;

// mimalloc: fewer cycles per allocation than glibc's malloc on the request path (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    gateway_aws::telemetry::init();
    let sdk = gateway_aws::sdk_config().await;
    let app = router(AppState::from_env(&sdk, |k| std::env::var(k).ok())?);
    let listen = std::env::var("API_LISTEN").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    tracing::info!(address = %listener.local_addr()?, "api listening");
    // Without TCP_NODELAY a response's second segment waits for the client's delayed ACK
    // (~40 ms), which distorts streamed responses.
    axum::serve(
        listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        }),
        app,
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
