//! `gateway-local`: the whole suite offline in one process (see the library docs for why).
//! Starts moto and bedrock-sim, creates the resources of `template.yaml`, hosts every function
//! as its event sources would invoke it, prints the URLs and a curl example per flow, and stops
//! everything it started on Ctrl-C or SIGTERM.

use anyhow::{Context, bail};
use bedrock_sim::stop_signal;
use local_stack::{LocalStack, MotoSource, Options, default_template};
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

const USAGE: &str = "usage: gateway-local [--api-port 8080] [--webhook-port 8081] [--moto-port 5000] \
[--bedrock-port 4010] [--callback-port 8082] [--moto-endpoint URL] [--template template.yaml] [--param Name=Value]... [--no-topic-taps]

  --api-port, --webhook-port   where the API and webhook functions listen (0: any free port)
  --moto-port                  where the started moto server listens
  --moto-endpoint URL          use a running, empty moto server instead of starting one
  --bedrock-port               where the Bedrock simulator listens (BEDROCK_SIM_CONFIG scripts faults)
  --template PATH              the SAM template whose resources and environments are used
  --param Name=Value           override a template parameter's Default (repeatable)
  --callback-port              where the callback receiver listens (default 8082; 0: any free port)
  --no-topic-taps              do not log what the SNS topics publish
  --no-local-defaults          do not supply the demo WEBHOOK_CONFIG, callback secret and local
                               callback flags the template leaves to the deployment

Each function's environment is the template's. Variables the template leaves empty
(GATEWAY_CONFIG, WEBHOOK_CONFIG, ...) or does not declare (WORKER_CONCURRENCY, ENRICHMENT_CONFIG,
...) are taken from this shell's environment, else from the offline run's local defaults.
Logs: RUST_LOG (default info), LOG_FORMAT=json for JSON lines.";

fn localhost(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// `None` when help was asked for.
fn parse_args() -> anyhow::Result<Option<Options>> {
    let mut options = Options::ephemeral();
    options.template = default_template();
    options.api_addr = localhost(8080);
    options.webhook_addr = localhost(8081);
    options.bedrock_addr = localhost(4010);
    options.topic_taps = true;
    options.callback_inbox_addr = Some(localhost(8082));
    let mut moto_port: u16 = 5000;
    let mut moto_endpoint = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .with_context(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--api-port" => options.api_addr = localhost(value()?.parse().context("--api-port")?),
            "--webhook-port" => {
                options.webhook_addr = localhost(value()?.parse().context("--webhook-port")?)
            }
            "--bedrock-port" => {
                options.bedrock_addr = localhost(value()?.parse().context("--bedrock-port")?)
            }
            "--moto-port" => moto_port = value()?.parse().context("--moto-port")?,
            "--moto-endpoint" => moto_endpoint = Some(value()?),
            "--template" => options.template = PathBuf::from(value()?),
            "--param" => {
                let pair = value()?;
                let (name, value) = pair
                    .split_once('=')
                    .with_context(|| format!("--param takes Name=Value, got {pair}"))?;
                options.parameters.push((name.to_owned(), value.to_owned()));
            }
            "--callback-port" => {
                options.callback_inbox_addr =
                    Some(localhost(value()?.parse().context("--callback-port")?));
            }
            "--no-topic-taps" => options.topic_taps = false,
            "--no-local-defaults" => options.local_defaults = false,
            "--help" | "-h" => return Ok(None),
            other => bail!("unknown argument {other}\n{USAGE}"),
        }
    }
    options.moto = match moto_endpoint {
        Some(url) => MotoSource::External(url),
        None => MotoSource::Start {
            binary: None,
            port: moto_port,
            log: PathBuf::from("target/gateway-local/moto.log"),
        },
    };
    options.fallback_env = Arc::new(|name| std::env::var(name).ok());
    Ok(Some(options))
}

/// Human-readable logs unless `LOG_FORMAT=json` (the functions' own default is JSON).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = if std::env::var("LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.with_target(false).try_init()
    };
}

// The summary is this CLI's output: it goes to stdout, the logs to stderr.
#[allow(clippy::print_stdout)]
fn announce(stack: &LocalStack) {
    println!("{}", local_stack::summary::summary(stack));
}

async fn run() -> anyhow::Result<()> {
    let Some(options) = parse_args()? else {
        eprintln!("{USAGE}");
        return Ok(());
    };
    let stack = LocalStack::start(options)
        .await
        .context("gateway-local did not start")?;
    announce(&stack);
    stop_signal().await;
    tracing::info!("stopping: finishing in-flight batches, then bedrock-sim and moto");
    stack.stop().await;
    tracing::info!("stopped");
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}
