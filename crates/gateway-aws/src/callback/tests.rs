//! The callback client against a real socket on 127.0.0.1: what it refuses never opens a
//! connection (the receiver counts accepted connections), what it allows goes only to the
//! vetted address, and redirects are reported, not followed.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use gateway::jobs::{CallbackSender, DeliveryError};
use gateway::webhook::{CallbackPolicy, Resolver};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Mutex;

use super::HttpCallbackSender;

/// A one-trick HTTP/1.1 server: counts connections, records requests, answers one fixed
/// status line and extra headers (or never answers, for timeouts).
struct Receiver {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Receiver {
    async fn start(status: u16, extra_headers: &'static str) -> Self {
        Self::start_with(Some((status, extra_headers))).await
    }

    async fn silent() -> Self {
        Self::start_with(None).await
    }

    async fn start_with(answer: Option<(u16, &'static str)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (count, seen) = (connections.clone(), requests.clone());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let seen = seen.clone();
                tokio::spawn(async move {
                    let request = read_request(&mut socket).await;
                    seen.lock().await.push(request);
                    let Some((status, headers)) = answer else {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        return;
                    };
                    let reply = format!(
                        "HTTP/1.1 {status} X\r\n{headers}content-length: 0\r\nconnection: close\r\n\r\n"
                    );
                    let _ = socket.write_all(reply.as_bytes()).await;
                });
            }
        });
        Self {
            addr,
            connections,
            requests,
        }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// Reads the head and a `content-length` body.
async fn read_request(socket: &mut tokio::net::TcpStream) -> String {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(read) = socket.read(&mut chunk).await {
        if read == 0 {
            break;
        }
        buffer.extend_from_slice(&chunk[..read]);
        let text = String::from_utf8_lossy(&buffer).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_owned())
                })
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if buffer.len() >= end + 4 + length {
                return text;
            }
        }
    }
    String::from_utf8_lossy(&buffer).to_string()
}

/// Fixed answers per name, counting lookups; names it does not know fail like NXDOMAIN.
#[derive(Default, Clone)]
struct StaticResolver {
    answers: HashMap<String, Vec<Vec<IpAddr>>>,
    lookups: Arc<AtomicUsize>,
}

impl StaticResolver {
    /// `answers[i]` is the reply to the i-th lookup of `name` (the last one repeats), so a
    /// rebinding DNS server can be played.
    fn with(mut self, name: &str, answers: &[&[&str]]) -> Self {
        let answers = answers
            .iter()
            .map(|ips| ips.iter().map(|ip| ip.parse().unwrap()).collect())
            .collect();
        self.answers.insert(name.to_owned(), answers);
        self
    }
}

impl Resolver for StaticResolver {
    fn resolve(
        &self,
        host: &str,
        port: u16,
    ) -> impl Future<Output = io::Result<Vec<SocketAddr>>> + Send {
        let n = self.lookups.fetch_add(1, Ordering::SeqCst);
        let answer = self.answers.get(host).map(|answers| {
            let ips = &answers[n.min(answers.len() - 1)];
            ips.iter()
                .map(|ip| SocketAddr::new(*ip, port))
                .collect::<Vec<_>>()
        });
        async move { answer.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such host")) }
    }
}

fn headers() -> Vec<(&'static str, String)> {
    vec![
        ("webhook-id", "job-1".to_owned()),
        ("webhook-timestamp", "1".to_owned()),
        ("webhook-signature", "v1,AAAA".to_owned()),
        ("content-type", "application/json".to_owned()),
    ]
}

/// The deployed policy, except that plain http is allowed so that a refusal below is about
/// the address (the receiver listens on http).
fn strict() -> CallbackPolicy {
    CallbackPolicy {
        allow_http: true,
        ..CallbackPolicy::default()
    }
}

fn local_dev() -> CallbackPolicy {
    CallbackPolicy {
        allow_http: true,
        allow_private: true,
        allowed_hosts: None,
    }
}

#[tokio::test]
async fn hostile_callback_urls_are_refused_without_any_connection() {
    let receiver = Receiver::start(200, "").await;
    let port = receiver.addr.port();
    let resolver = StaticResolver::default()
        .with("localtest.me", &[&["127.0.0.1"]])
        .with("internal.example.com", &[&["10.1.2.3"]])
        .with("metadata.example.com", &[&["169.254.169.254"]])
        .with("rebind.example.com", &[&["93.184.216.34", "127.0.0.1"]])
        .with("v6-loopback.example.com", &[&["::1"]])
        .with("mapped.example.com", &[&["::ffff:127.0.0.1"]])
        .with("cgnat.example.com", &[&["100.64.0.7"]])
        .with("aws-v6-metadata.example.com", &[&["fd00:ec2::254"]]);
    let sender = HttpCallbackSender::with_resolver(resolver.clone());
    let hostile = [
        // Loopback in every spelling the WHATWG parser normalises to 127.0.0.1.
        format!("http://127.0.0.1:{port}/cb"),
        format!("http://127.1:{port}/cb"),
        format!("http://0x7f000001:{port}/cb"),
        format!("http://2130706433:{port}/cb"),
        format!("http://0177.0.0.1:{port}/cb"),
        format!("http://%31%32%37.0.0.1:{port}/cb"),
        format!("http://127.000.000.001:{port}/cb"),
        format!("http://0.0.0.0:{port}/cb"),
        // IPv6 loopback and IPv4 embedded in IPv6.
        format!("http://[::1]:{port}/cb"),
        format!("http://[::ffff:127.0.0.1]:{port}/cb"),
        format!("http://[::ffff:7f00:1]:{port}/cb"),
        format!("http://[::127.0.0.1]:{port}/cb"),
        format!("http://[64:ff9b::7f00:1]:{port}/cb"),
        format!("http://[2002:7f00:1::]:{port}/cb"),
        // Private, link-local, CGNAT and cloud metadata.
        "http://10.0.0.1/cb".to_owned(),
        "http://172.16.0.1/cb".to_owned(),
        "http://192.168.1.1/cb".to_owned(),
        "http://100.64.0.1/cb".to_owned(),
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/".to_owned(),
        "http://[fd00:ec2::254]/latest/meta-data/".to_owned(),
        "http://[fe80::1]/cb".to_owned(),
        "http://[fc00::1]/cb".to_owned(),
        // Names whose DNS answers are private (one bad answer is enough).
        format!("http://localtest.me:{port}/cb"),
        "http://internal.example.com/cb".to_owned(),
        "http://metadata.example.com/latest/meta-data/".to_owned(),
        format!("http://rebind.example.com:{port}/cb"),
        format!("http://v6-loopback.example.com:{port}/cb"),
        format!("http://mapped.example.com:{port}/cb"),
        "http://cgnat.example.com/cb".to_owned(),
        "http://aws-v6-metadata.example.com/latest/meta-data/".to_owned(),
        // Not http(s), or hiding the host behind credentials.
        "file:///etc/passwd".to_owned(),
        format!("gopher://127.0.0.1:{port}/_x"),
        format!("ftp://127.0.0.1:{port}/cb"),
        "https://user:pass@example.com/cb".to_owned(),
    ];
    assert!(hostile.len() >= 20);
    for url in &hostile {
        let result = sender.post(url, &strict(), &headers(), b"{}").await;
        match result {
            Err(DeliveryError::Refused(e)) => assert!(!e.is_retryable(), "{url}: {e}"),
            other => panic!("{url} was not refused: {other:?}"),
        }
    }
    // https only in the deployed policy: the same receiver over http is refused too.
    let public_http = sender
        .post(
            "http://93.184.216.34/cb",
            &CallbackPolicy::default(),
            &headers(),
            b"{}",
        )
        .await;
    assert!(matches!(public_http, Err(DeliveryError::Refused(_))));
    // Allow-listed hosts only, when a source has a list.
    let listed = CallbackPolicy {
        allowed_hosts: Some(vec!["hooks.example.com".into()]),
        ..strict()
    };
    let elsewhere = sender
        .post("http://93.184.216.34/cb", &listed, &headers(), b"{}")
        .await;
    assert!(matches!(elsewhere, Err(DeliveryError::Refused(_))));

    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        receiver.connections(),
        0,
        "a refused callback must not connect"
    );
    // Each name was looked up once; IP literals never.
    assert_eq!(resolver.lookups.load(Ordering::SeqCst), 8);
}

#[tokio::test]
async fn a_redirect_is_reported_and_never_followed() {
    let second = Receiver::start(200, "").await;
    let to_metadata = Receiver::start(
        302,
        "location: http://169.254.169.254/latest/meta-data/\r\n",
    )
    .await;
    let to_local: &'static str = Box::leak(
        format!(
            "location: http://127.0.0.1:{}/stolen\r\n",
            second.addr.port()
        )
        .into_boxed_str(),
    );
    let to_second = Receiver::start(307, to_local).await;
    let sender = HttpCallbackSender::new().with_timeout(Duration::from_secs(5));

    for (receiver, status) in [(&to_metadata, 302), (&to_second, 307)] {
        let url = format!("http://127.0.0.1:{}/cb", receiver.addr.port());
        let result = sender.post(&url, &local_dev(), &headers(), b"{}").await;
        assert_eq!(result.unwrap(), status);
        assert_eq!(receiver.connections(), 1);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(second.connections(), 0, "the redirect target was contacted");
}

#[tokio::test]
async fn the_vetted_answer_is_the_one_connected_to_without_a_second_lookup() {
    let receiver = Receiver::start(204, "").await;
    // First answer loopback (allowed in this local policy), every later one the metadata
    // address: a client that resolved again would be refused or reach elsewhere.
    let resolver =
        StaticResolver::default().with("receiver.test", &[&["127.0.0.1"], &["169.254.169.254"]]);
    let sender = HttpCallbackSender::with_resolver(resolver.clone());
    let url = format!(
        "http://receiver.test:{}/hooks/result?token=t0k3n",
        receiver.addr.port()
    );
    let status = sender
        .post(
            &url,
            &local_dev(),
            &headers(),
            br#"{"type":"job.succeeded"}"#,
        )
        .await
        .unwrap();
    assert_eq!(status, 204);
    assert_eq!(resolver.lookups.load(Ordering::SeqCst), 1);

    let requests = receiver.requests.lock().await;
    let request = requests[0].to_ascii_lowercase();
    assert!(
        request.starts_with("post /hooks/result?token=t0k3n http/1.1"),
        "{request}"
    );
    assert!(
        request.contains(&format!("host: receiver.test:{}", receiver.addr.port())),
        "{request}"
    );
    for header in [
        "webhook-id: job-1",
        "webhook-timestamp: 1",
        "webhook-signature: v1,aaaa",
        "content-type: application/json",
    ] {
        assert!(request.contains(header), "{header} missing: {request}");
    }
    assert!(request.ends_with(r#"{"type":"job.succeeded"}"#));
}

#[tokio::test]
async fn statuses_come_back_as_they_are_and_silence_is_a_timeout() {
    let sender = HttpCallbackSender::new();
    for status in [200, 410, 500] {
        let receiver = Receiver::start(status, "").await;
        let url = format!("http://127.0.0.1:{}/", receiver.addr.port());
        assert_eq!(
            sender
                .post(&url, &local_dev(), &headers(), b"{}")
                .await
                .unwrap(),
            status
        );
    }
    let silent = Receiver::silent().await;
    let url = format!("http://127.0.0.1:{}/?secret=s3cr3t", silent.addr.port());
    let impatient = HttpCallbackSender::new().with_timeout(Duration::from_millis(300));
    let result = impatient.post(&url, &local_dev(), &headers(), b"{}").await;
    assert!(matches!(result, Err(DeliveryError::Timeout)), "{result:?}");

    // Nothing listens here: a transport error, retryable, and its text has no URL in it.
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://127.0.0.1:{}/?secret=s3cr3t", closed.port());
    let error = sender
        .post(&url, &local_dev(), &headers(), b"{}")
        .await
        .unwrap_err();
    assert!(
        error.is_retryable() && matches!(error, DeliveryError::Transport(_)),
        "{error:?}"
    );
    assert!(!error.to_string().contains("s3cr3t"), "{error}");

    // A host nobody can resolve: retryable, it may exist later.
    let nx = HttpCallbackSender::with_resolver(StaticResolver::default());
    let error = nx
        .post("http://nowhere.test/", &local_dev(), &headers(), b"{}")
        .await
        .unwrap_err();
    assert!(
        error.is_retryable() && error.code() == "callback_resolution_failed",
        "{error:?}"
    );
}
