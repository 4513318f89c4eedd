//! Command line, defaults for the full and quick runs, and where the binaries are.

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};

pub const USAGE: &str = "\
usage: gateway-bench [COMMAND] [OPTIONS]

commands (default: all):
  all              overhead, controls-on, lambda-stream, cold start, size and worker, one report
  overhead         direct vs gateway latency and time to first byte, c = 1, 16, 64
  cold-start       exec → first Runtime API poll, first invocation, RSS, no-network check
  size             release zip size per Lambda function binary (x86_64)
  worker           jobs/s through the worker binary vs the emulator's own ceiling
  soak             --jobs jobs from three producers through the worker binary under faults
                   and kills (--worker-instances: its largest count)
  controls-on      AUTH_MODE=api_keys, a key with limits and budgets, response cache missed,
                   state table in moto: direct vs gateway, CPU, DynamoDB calls per request
  lambda-stream    streamed routes through Lambda's response-streaming protocol (Function URL
                   mode) vs the local listener and the simulator direct: TTFB, whole stream, CPU
  list-functions   print the Lambda function binaries of crates/functions/*, one per line

options:
  --quick                 smoke check: few requests, 2 runs; under a minute with debug builds
  --repeats N             overhead runs (full: 5)
  --requests N            measured requests per converse phase (full: 5000)
  --stream-requests N     measured requests per converse-stream phase (full: 300)
  --concurrency LIST      comma-separated (default 1,16,64)
  --controls-requests N   measured requests per controls-on phase (full: 300; moto is slow)
  --cold-starts N         cold starts (full: 20)
  --warm-invocations N    warm invocations after each cold start (full: 500)
  --bin-dir DIR           where bedrock-sim, api-local and api are (default: this binary's dir)
  --lambda-bin PATH       the Lambda binary to cold-start (default: <bin-dir>/api)
  --root DIR              the workspace (default: found from the current directory)
  --jobs N                jobs per worker phase (full: 200)
  --worker-instances LIST worker instances (event source lanes), comma-separated (full: 1,4)
  --worker-repeats N      worker runs per instance count (full: 3)
  --worker-bin PATH       the worker Lambda binary (default: <bin-dir>/worker)
  --pin SIM,API           pin the simulator and the gateway to these CPUs with taskset
  --features-note TEXT    free text naming the gateway features that were on
  --out FILE              also write the report there";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    All,
    Overhead,
    ColdStart,
    Size,
    Worker,
    Soak,
    LambdaStream,
    ControlsOn,
    ListFunctions,
}

#[derive(Debug, Clone)]
pub struct Args {
    pub command: Command,
    pub quick: bool,
    pub repeats: usize,
    pub requests: usize,
    pub stream_requests: usize,
    pub controls_requests: usize,
    pub concurrency: Vec<usize>,
    pub cold_starts: usize,
    pub warm_invocations: usize,
    pub jobs: usize,
    pub worker_instances: Vec<usize>,
    pub worker_repeats: usize,
    pub worker_bin: PathBuf,
    pub bin_dir: PathBuf,
    pub lambda_bin: PathBuf,
    pub root: PathBuf,
    pub pin: Option<(usize, usize)>,
    pub features_note: Option<String>,
    pub out: Option<PathBuf>,
    pub command_line: String,
}

impl Args {
    /// A sibling binary, or an error saying how to build it.
    pub fn binary(&self, name: &str) -> anyhow::Result<PathBuf> {
        existing(&self.bin_dir.join(name))
    }
}

pub fn existing(path: &Path) -> anyhow::Result<PathBuf> {
    if path.is_file() {
        return Ok(path.to_owned());
    }
    bail!(
        "{} not found: build it first (`cargo build -p api -p bedrock-sim --bins`, add `--release` for a full run; \
         `cargo test --workspace` builds the debug ones), or pass --bin-dir / --lambda-bin",
        path.display()
    )
}

/// A comma-separated list of numbers, each at least 1.
fn list(flag: &str, value: Option<String>) -> anyhow::Result<Vec<usize>> {
    let value = value.with_context(|| format!("{flag} needs a value"))?;
    value
        .split(',')
        .map(|c| number(flag, Some(c.trim().to_owned())))
        .collect()
}

fn number(flag: &str, value: Option<String>) -> anyhow::Result<usize> {
    let value = value.with_context(|| format!("{flag} needs a value"))?;
    let n: usize = value
        .parse()
        .with_context(|| format!("{flag}: `{value}` is not a number"))?;
    if n == 0 {
        bail!("{flag} must be at least 1");
    }
    Ok(n)
}

/// The workspace root: the nearest ancestor of the current directory whose Cargo.toml has a
/// `[workspace]`, else the one this crate was built in.
fn find_root() -> PathBuf {
    let built_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let Ok(cwd) = std::env::current_dir() else {
        return built_in;
    };
    cwd.ancestors()
        .find(|dir| {
            std::fs::read_to_string(dir.join("Cargo.toml"))
                .map(|t| t.contains("[workspace]"))
                .unwrap_or(false)
        })
        .map(Path::to_owned)
        .unwrap_or(built_in)
}

pub fn parse(raw: impl Iterator<Item = String>) -> anyhow::Result<Args> {
    let raw: Vec<String> = raw.collect();
    let mut it = raw.iter().cloned();
    let mut command = Command::All;
    let mut quick = false;
    let mut repeats = None;
    let mut requests = None;
    let mut stream_requests = None;
    let mut controls_requests = None;
    let mut concurrency = vec![1, 16, 64];
    let mut cold_starts = None;
    let mut warm = None;
    let mut jobs = None;
    let mut worker_instances = None;
    let mut worker_repeats = None;
    let mut worker_bin = None;
    let mut bin_dir = None;
    let mut lambda_bin = None;
    let mut root = None;
    let mut pin = None;
    let mut features_note = None;
    let mut out = None;
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "all" => command = Command::All,
            "overhead" => command = Command::Overhead,
            "cold-start" => command = Command::ColdStart,
            "size" => command = Command::Size,
            "worker" => command = Command::Worker,
            "soak" => command = Command::Soak,
            "lambda-stream" => command = Command::LambdaStream,
            "controls-on" => command = Command::ControlsOn,
            "list-functions" => command = Command::ListFunctions,
            "--quick" => quick = true,
            "--repeats" => repeats = Some(number(&arg, it.next())?),
            "--requests" => requests = Some(number(&arg, it.next())?),
            "--stream-requests" => stream_requests = Some(number(&arg, it.next())?),
            "--controls-requests" => controls_requests = Some(number(&arg, it.next())?),
            "--cold-starts" => cold_starts = Some(number(&arg, it.next())?),
            "--warm-invocations" => warm = Some(number(&arg, it.next())?),
            "--jobs" => jobs = Some(number(&arg, it.next())?),
            "--worker-repeats" => worker_repeats = Some(number(&arg, it.next())?),
            "--worker-instances" => worker_instances = Some(list(&arg, it.next())?),
            "--worker-bin" => {
                worker_bin = Some(PathBuf::from(
                    it.next().context("--worker-bin needs a value")?,
                ))
            }
            "--concurrency" => {
                concurrency = list(&arg, it.next())?;
            }
            "--bin-dir" => {
                bin_dir = Some(PathBuf::from(it.next().context("--bin-dir needs a value")?))
            }
            "--lambda-bin" => {
                lambda_bin = Some(PathBuf::from(
                    it.next().context("--lambda-bin needs a value")?,
                ))
            }
            "--root" => root = Some(PathBuf::from(it.next().context("--root needs a value")?)),
            "--pin" => {
                let value = it.next().context("--pin needs SIM,API")?;
                let (sim, api) = value
                    .split_once(',')
                    .context("--pin needs SIM,API, e.g. 0,1")?;
                pin = Some((
                    sim.trim().parse().context("--pin: simulator CPU")?,
                    api.trim().parse().context("--pin: gateway CPU")?,
                ));
            }
            "--features-note" => {
                features_note = Some(it.next().context("--features-note needs a value")?)
            }
            "--out" => out = Some(PathBuf::from(it.next().context("--out needs a value")?)),
            "--help" | "-h" => bail!("help requested"),
            other => bail!("unknown argument `{other}`"),
        }
    }
    let bin_dir = match bin_dir {
        Some(dir) => dir,
        None => std::env::current_exe()
            .context("cannot find this binary's directory; pass --bin-dir")?
            .parent()
            .map(Path::to_owned)
            .context("this binary has no directory; pass --bin-dir")?,
    };
    let pick = |set: Option<usize>, full: usize, quick_value: usize| {
        set.unwrap_or(if quick { quick_value } else { full })
    };
    Ok(Args {
        command,
        quick,
        repeats: pick(repeats, 5, 2),
        requests: pick(requests, 5000, 200),
        stream_requests: pick(stream_requests, 300, 40),
        controls_requests: pick(controls_requests, 300, 20),
        concurrency,
        cold_starts: pick(cold_starts, 20, 2),
        warm_invocations: pick(warm, 500, 10),
        jobs: pick(jobs, 200, 20),
        worker_instances: worker_instances.unwrap_or_else(
            || {
                if quick { vec![1] } else { vec![1, 4] }
            },
        ),
        worker_repeats: pick(worker_repeats, 3, 1),
        worker_bin: worker_bin.unwrap_or_else(|| bin_dir.join("worker")),
        lambda_bin: lambda_bin.unwrap_or_else(|| bin_dir.join("api")),
        bin_dir,
        root: root.unwrap_or_else(find_root),
        pin,
        features_note,
        out,
        command_line: std::iter::once("gateway-bench".to_owned())
            .chain(raw)
            .collect::<Vec<_>>()
            .join(" "),
    })
}

/// CPU model and count, from /proc and the scheduler.
pub fn machine() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    format!("{cpus} × {model}")
}

/// The 1-minute load average: how busy the shared machine was.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> anyhow::Result<Args> {
        parse(s.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn quick_and_full_defaults() {
        let full = args("").unwrap();
        assert_eq!(
            (full.command, full.repeats, full.requests),
            (Command::All, 5, 5000)
        );
        assert_eq!(full.concurrency, [1, 16, 64]);
        let quick = args("--quick --repeats 3").unwrap();
        assert_eq!(
            (quick.repeats, quick.requests, quick.cold_starts),
            (3, 200, 2)
        );
    }

    #[test]
    fn options() {
        let a = args("overhead --concurrency 2,8 --pin 0,1 --bin-dir /x").unwrap();
        assert_eq!(a.command, Command::Overhead);
        assert_eq!(a.concurrency, [2, 8]);
        assert_eq!(a.pin, Some((0, 1)));
        assert_eq!(a.lambda_bin, PathBuf::from("/x/api"));
        assert_eq!(a.worker_bin, PathBuf::from("/x/worker"));
        let w = args("worker --jobs 50 --worker-instances 2,3 --worker-repeats 2").unwrap();
        assert_eq!(
            (
                w.command,
                w.jobs,
                w.worker_instances.clone(),
                w.worker_repeats
            ),
            (Command::Worker, 50, vec![2, 3], 2)
        );
        let c = args("controls-on --controls-requests 5").unwrap();
        assert_eq!((c.command, c.controls_requests), (Command::ControlsOn, 5));
        assert_eq!(args("--quick").unwrap().controls_requests, 20);
        assert_eq!(args("--quick").unwrap().worker_instances, [1]);
        assert_eq!(args("").unwrap().worker_instances, [1, 4]);
        assert!(args("--worker-instances 1,0").is_err());
        assert!(args("--repeats 0").is_err());
        assert!(args("--bogus").is_err());
        assert!(args("--pin 1").is_err());
    }
}
