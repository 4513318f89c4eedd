//! The processes under test: start (optionally pinned to a CPU with `taskset`), wait until they
//! answer, read their peak RSS and CPU time from `/proc`, stop. Their output goes to log files so
//! a failure can be explained.

use anyhow::{Context, bail};
use http::Method;
use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A port free at the time of asking (the kernel's choice), for a child to bind.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub fn localhost(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// `one(0)`, `one(1)`, … for `repeats` fresh starts of the processes, in turn; an error names
/// the one that failed (`{label} 2/3`).
pub async fn repeat<T, F: Future<Output = anyhow::Result<T>>>(
    repeats: usize,
    label: &str,
    mut one: impl FnMut(usize) -> F,
) -> anyhow::Result<Vec<T>> {
    let mut runs = Vec::with_capacity(repeats);
    for index in 0..repeats {
        runs.push(
            one(index)
                .await
                .with_context(|| format!("{label} {}/{repeats}", index + 1))?,
        );
    }
    Ok(runs)
}

/// bedrock-sim on a free port with one worker thread, answering.
pub async fn start_sim(
    sim_bin: &Path,
    name: &str,
    cpu: Option<usize>,
    log_dir: &Path,
) -> anyhow::Result<(Proc, SocketAddr)> {
    let sim_addr = localhost(free_port()?);
    let mut sim_cmd = Command::new(sim_bin);
    sim_cmd.args(["--port", &sim_addr.port().to_string(), "--threads", "1"]);
    let mut sim = Proc::spawn(name, sim_cmd, cpu, log_dir)?;
    sim.wait_http(sim_addr, "/_sim/health", Duration::from_secs(10))
        .await?;
    Ok((sim, sim_addr))
}

/// A child process that is killed when dropped.
pub struct Proc {
    pub name: String,
    pub child: std::process::Child,
    pub log: PathBuf,
}

impl Proc {
    /// Starts `command` with stdout and stderr to `<log_dir>/<name>.log`, pinned to `cpu` when
    /// given (`taskset` execs the program, so the pid is the program's own).
    pub fn spawn(
        name: &str,
        mut command: Command,
        cpu: Option<usize>,
        log_dir: &Path,
    ) -> anyhow::Result<Proc> {
        let log = log_dir.join(format!("{name}.log"));
        let out = File::create(&log).with_context(|| format!("create {}", log.display()))?;
        let err = out.try_clone()?;
        if let Some(cpu) = cpu {
            let program = command.get_program().to_owned();
            let mut pinned = Command::new("taskset");
            pinned.arg("-c").arg(cpu.to_string()).arg(program);
            pinned.args(command.get_args());
            for (key, value) in command.get_envs() {
                match value {
                    Some(v) => pinned.env(key, v),
                    None => pinned.env_remove(key),
                };
            }
            command = pinned;
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("start {name} ({:?})", command.get_program()))?;
        Ok(Proc {
            name: name.to_owned(),
            child,
            log,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last lines of the child's output, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// Error if the child has already exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "{} exited ({status}); its output:\n{}",
                self.name,
                self.log_tail()
            );
        }
        Ok(())
    }

    /// Polls `GET path` until it answers 2xx (within `timeout`).
    pub async fn wait_http(
        &mut self,
        addr: SocketAddr,
        path: &str,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            self.check_alive()?;
            if crate::client::call_ok(addr, Method::GET, path, "")
                .await
                .is_ok()
            {
                return Ok(());
            }
            if started.elapsed() > timeout {
                bail!(
                    "{} did not answer GET http://{addr}{path} within {timeout:?}; its output:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Peak resident set size so far (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> anyhow::Result<u64> {
        peak_rss_kib(self.pid())
    }

    /// User + system CPU time so far, all threads.
    pub fn cpu_time(&self) -> anyhow::Result<Duration> {
        cpu_time(self.pid())
    }

    pub fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        // Already gone is fine; a zombie is reaped by wait.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn peak_rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no VmHWM in /proc/{pid}/status"))
}

pub fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may contain spaces) start at field 3 (state).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    // utime and stime are fields 14 and 15 of the whole line, 11 and 12 after the state field.
    let (Some(utime), Some(stime)) = (ticks(11), ticks(12)) else {
        bail!("cannot parse /proc/{pid}/stat");
    };
    Ok(Duration::from_secs_f64(
        (utime + stime) as f64 / clock_ticks_per_second(),
    ))
}

/// `sysconf(_SC_CLK_TCK)` without libc: `getconf`, else Linux's universal 100.
fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|t: &f64| *t > 0.0)
            .unwrap_or(100.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_rss_and_cpu() {
        let pid = std::process::id();
        assert!(peak_rss_kib(pid).unwrap() > 0);
        cpu_time(pid).unwrap();
    }
}
