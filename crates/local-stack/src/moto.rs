//! Starts the moto server (the local DynamoDB, DynamoDB Streams, SQS and SNS) as a child process
//! that cannot outlive this one.
//!
//! moto runs under a small `sh` watchdog whose stdin is a pipe from this process: when this
//! process ends — cleanly, by a signal, or killed — the pipe closes, `read` returns and the
//! shell kills moto. The watchdog gets its own process group, so a Ctrl-C in the terminal
//! reaches only this process, which stops its pollers before it stops moto.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, Command};

#[derive(Debug)]
pub struct MotoServer {
    endpoint_url: String,
    log: PathBuf,
    watchdog: Child,
    pipe: Option<ChildStdin>,
}

/// Where moto is: `MOTO_SERVER_BIN`, else `.venv/bin/gateway-moto-server` (moto with atomic
/// DynamoDB requests, made by `scripts/setup.sh` from `scripts/moto_server.py`) in the current
/// directory or in this workspace.
pub fn find_binary() -> Result<PathBuf, String> {
    if let Ok(path) = std::env::var("MOTO_SERVER_BIN")
        && !path.is_empty()
    {
        return Ok(PathBuf::from(path));
    }
    let candidates = [
        PathBuf::from(".venv/bin/gateway-moto-server"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/gateway-moto-server"),
    ];
    candidates.iter().find(|p| p.exists()).cloned().ok_or_else(|| {
        "the moto server is not installed (.venv/bin/gateway-moto-server is missing): run `bash scripts/setup.sh` \
         (`make run` does it), or set MOTO_SERVER_BIN"
            .to_owned()
    })
}

fn quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

impl MotoServer {
    /// Starts moto on 127.0.0.1:`port` and waits until it answers (~0.5 s). Its output goes
    /// to `log`.
    pub async fn start(binary: &Path, port: u16, log: &Path) -> Result<Self, String> {
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let script = format!(
            "{} -H 127.0.0.1 -p {port} >{} 2>&1 & pid=$!; read _; kill $pid 2>/dev/null; wait $pid",
            quote(binary),
            quote(log)
        );
        let mut watchdog = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start sh to run moto: {e}"))?;
        let pipe = watchdog.stdin.take();
        let mut server = Self {
            endpoint_url: format!("http://127.0.0.1:{port}"),
            log: log.to_owned(),
            watchdog,
            pipe,
        };
        server.wait_until_ready(port).await?;
        Ok(server)
    }

    pub fn endpoint_url(&self) -> &str {
        &self.endpoint_url
    }

    pub fn log(&self) -> &Path {
        &self.log
    }

    async fn wait_until_ready(&mut self, port: u16) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.watchdog.try_wait() {
                return Err(format!(
                    "moto exited at start ({status}); see {}",
                    self.log.display()
                ));
            }
            if answers_http(port).await {
                // The port answers, but it may be another server that had it first.
                if let Ok(Some(status)) = self.watchdog.try_wait() {
                    return Err(format!(
                        "moto exited at start ({status}); see {}",
                        self.log.display()
                    ));
                }
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!(
            "moto did not answer on port {port} within 30 s; see {}",
            self.log.display()
        ))
    }

    /// Stops moto and waits for it (closing the pipe tells the watchdog to kill it).
    pub async fn stop(mut self) {
        self.pipe.take();
        if tokio::time::timeout(Duration::from_secs(5), self.watchdog.wait())
            .await
            .is_err()
        {
            let _ = self.watchdog.kill().await;
        }
    }
}

async fn answers_http(port: u16) -> bool {
    let Ok(Ok(mut stream)) = tokio::time::timeout(
        Duration::from_secs(1),
        tokio::net::TcpStream::connect(("127.0.0.1", port)),
    )
    .await
    else {
        return false;
    };
    let request = "GET /moto-api/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut head = [0u8; 8];
    matches!(
        tokio::time::timeout(Duration::from_secs(2), stream.read_exact(&mut head)).await,
        Ok(Ok(_))
    ) && head.starts_with(b"HTTP/1.")
}
