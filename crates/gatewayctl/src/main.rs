//! `gatewayctl`: administration of the gateway's keys, limits and budgets, and usage reports,
//! against the state table of a deployed stack (ordinary AWS credentials) or the local
//! emulator (`AWS_ENDPOINT_URL`). `gatewayctl help` lists the commands.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sdk = gateway_aws::sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let mut out = std::io::stdout().lock();
    match gatewayctl::run(&args, |k| std::env::var(k).ok(), client, &mut out).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // The CLI's one place that talks to a human on stderr.
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "gatewayctl: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
