//! `gatewayctl`: administration of the gateway's keys, limits and budgets, and usage reports,
//! against the state table of a deployed stack (ordinary AWS credentials) or the local
//! emulator (`AWS_ENDPOINT_URL`). `gatewayctl help` lists the commands.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sdk = gateway_aws::sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let mut out = std::io::stdout().lock();
    // GATEWAY_KEY_SEAL_SECRET_ID (the stack's KeySealSecretArn output) reads the seal key
    // from Secrets Manager, as the API function does.
    let env = |k: &str| std::env::var(k).ok();
    let result = match gateway_aws::secrets::secret_env(&sdk, &env).await {
        Ok(secrets) => gatewayctl::run(&args, secrets.over(env), client, &mut out).await,
        Err(error) => Err(error.into()),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // The CLI's one place that talks to a human on stderr.
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "gatewayctl: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
