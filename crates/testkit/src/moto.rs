//! Starts the moto server once per test binary.

use crate::local_sdk_config;
use aws_config::SdkConfig;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A running moto server.
pub struct Moto {
    endpoint_url: String,
    // Held so the watchdog shell (and with it moto) lives as long as the test binary: when this
    // process exits, the pipe closes, `read` returns and the shell kills moto. No orphan servers.
    _watchdog: Option<Child>,
}

static MOTO: OnceLock<Moto> = OnceLock::new();

/// The moto server for this test binary, started on first use.
///
/// `MOTO_ENDPOINT` set: use that server (e.g. the offline stack's) instead of starting one.
pub fn moto() -> &'static Moto {
    crate::capture_logs();
    MOTO.get_or_init(|| match std::env::var("MOTO_ENDPOINT") {
        Ok(url) if !url.is_empty() => Moto {
            endpoint_url: url,
            _watchdog: None,
        },
        _ => Moto::start(),
    })
}

impl Moto {
    fn start() -> Self {
        let binary = moto_binary();
        let port = free_port();
        let script = format!(
            "'{}' -H 127.0.0.1 -p {port} >/dev/null 2>&1 & pid=$!; read _; kill $pid 2>/dev/null",
            binary.display()
        );
        let mut watchdog = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("testkit: cannot spawn sh to run the moto server");
        // Keep the write end open for the life of the process (leaked on purpose: see `_watchdog`).
        if let Some(stdin) = watchdog.stdin.take() {
            std::mem::forget(stdin);
        }
        let endpoint_url = format!("http://127.0.0.1:{port}");
        wait_until_ready(port, &mut watchdog);
        Moto {
            endpoint_url,
            _watchdog: Some(watchdog),
        }
    }

    pub fn endpoint_url(&self) -> &str {
        &self.endpoint_url
    }

    pub fn sdk_config(&self) -> SdkConfig {
        local_sdk_config(&self.endpoint_url)
    }

    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk_config())
    }

    pub fn dynamodb_streams(&self) -> aws_sdk_dynamodbstreams::Client {
        aws_sdk_dynamodbstreams::Client::new(&self.sdk_config())
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk_config())
    }

    pub fn sns(&self) -> aws_sdk_sns::Client {
        aws_sdk_sns::Client::new(&self.sdk_config())
    }
}

/// `MOTO_SERVER_BIN`, else the project venv's moto with atomic DynamoDB requests
/// (`.venv/bin/gateway-moto-server`, made by `scripts/setup.sh` from `scripts/moto_server.py`).
fn moto_binary() -> PathBuf {
    if let Ok(path) = std::env::var("MOTO_SERVER_BIN") {
        return PathBuf::from(path);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let venv = root.join(".venv/bin/gateway-moto-server");
    if venv.exists() {
        return venv;
    }
    panic!(
        "testkit: the moto server is not installed ({} is missing). \
         Run `bash scripts/setup.sh` (or `make test`, which runs it) to install it.",
        venv.display()
    );
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("testkit: cannot bind a free port");
    listener
        .local_addr()
        .expect("testkit: no local address")
        .port()
}

/// Polls until moto answers HTTP, or fails with what went wrong.
fn wait_until_ready(port: u16, watchdog: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = watchdog.try_wait() {
            panic!("testkit: the moto server exited at start ({status})");
        }
        if answers_http(port) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("testkit: the moto server did not answer on port {port} within 30 s");
}

fn answers_http(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = "GET /moto-api/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut status_line = String::new();
    BufReader::new(stream).read_line(&mut status_line).is_ok() && status_line.starts_with("HTTP/1.")
}
