//! `bedrock-sim --port 4010 [--host 127.0.0.1] [--config file.json] [--threads N]`

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow::{Context, bail};
use bedrock_sim::{SimConfig, Simulator, stop_signal};

struct Args {
    host: IpAddr,
    port: u16,
    config: Option<PathBuf>,
    threads: Option<usize>,
}

const USAGE: &str = "usage: bedrock-sim [--port 4010] [--host 127.0.0.1] [--config file.json] [--threads N]\n\
config file also from env BEDROCK_SIM_CONFIG; RUST_LOG for logs";

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        host: IpAddr::from([127, 0, 0, 1]),
        port: 4010,
        config: None,
        threads: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .with_context(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--port" | "-p" => args.port = value()?.parse().context("--port")?,
            "--host" => args.host = value()?.parse().context("--host")?,
            "--config" | "-c" => args.config = Some(PathBuf::from(value()?)),
            "--threads" => args.threads = Some(value()?.parse().context("--threads")?),
            "--help" | "-h" => bail!("{USAGE}"),
            other => bail!("unknown argument {other}\n{USAGE}"),
        }
    }
    Ok(args)
}

#[allow(clippy::print_stdout)]
fn announce(url: &str) {
    println!("bedrock-sim listening on {url}");
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = parse_args()?;
    let config = match &args.config {
        Some(path) => SimConfig::from_file(path)?,
        None => SimConfig::from_env()?,
    };
    let runtime = match args.threads {
        Some(1) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
        Some(n) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n.max(1))
            .enable_all()
            .build()?,
        None => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?,
    };
    runtime.block_on(async move {
        let sim = Simulator::bind(SocketAddr::new(args.host, args.port), config).await?;
        announce(&sim.endpoint_url());
        stop_signal().await;
        sim.shutdown().await?;
        Ok(())
    })
}
