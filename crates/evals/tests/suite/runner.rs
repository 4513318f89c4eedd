//! The runner's own contract, against a bare HTTP endpoint that records what it receives:
//! cases run in parallel but never more than `--concurrency` at once, each request carries the
//! key and `Cache-Control: no-store`, and results come back in the suite's order.

use evals::case::{Case, Expect, Method, Suite};
use evals::run::Runner;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Mutex;

struct Seen {
    in_flight: AtomicUsize,
    most: AtomicUsize,
    heads: Mutex<Vec<String>>,
}

/// Answers every request after 300 ms (long enough that a bounded batch overlaps) with a task-route body naming its path.
async fn endpoint() -> (String, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Seen {
        in_flight: AtomicUsize::new(0),
        most: AtomicUsize::new(0),
        heads: Mutex::new(Vec::new()),
    });
    let state = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let seen = Arc::clone(&state);
            tokio::spawn(async move {
                let now = seen.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                seen.most.fetch_max(now, Ordering::SeqCst);
                let mut buffer = vec![0u8; 16 * 1024];
                let mut read = 0;
                // The head, then the body Content-Length announces.
                let head_end = loop {
                    read += socket.read(&mut buffer[read..]).await.unwrap();
                    if let Some(end) = buffer[..read].windows(4).position(|w| w == b"\r\n\r\n") {
                        break end + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buffer[..head_end]).to_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().unwrap());
                while read < head_end + length {
                    read += socket.read(&mut buffer[read..]).await.unwrap();
                }
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                seen.heads.lock().await.push(head);
                tokio::time::sleep(Duration::from_millis(300)).await;
                seen.in_flight.fetch_sub(1, Ordering::SeqCst);
                let body = if path.contains("huge") {
                    // Past the runner's 4 MiB response bound.
                    format!(r#"{{"text":"{}"}}"#, "x".repeat(5 * 1024 * 1024))
                } else {
                    format!(r#"{{"text":"answer of {path}","usage":{{"outputTokens":3}}}}"#)
                };
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-gateway-cost: 0.000010\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    (url, seen)
}

fn suite(cases: usize) -> Suite {
    Suite {
        name: "contract".into(),
        source: "contract.json".into(),
        cases: (0..cases)
            .map(|i| Case {
                id: format!("case-{i}"),
                description: None,
                method: Method::Post,
                route: format!("/api/c{i}"),
                request: Some(serde_json::json!({"prompt": "x"})),
                headers: BTreeMap::new(),
                expect: Expect {
                    contains: vec![format!("answer of /api/c{i}")],
                    max_cost_usd: Some(0.00001),
                    max_tokens: Some(3),
                    ..Expect::default()
                },
                judge: None,
            })
            .collect(),
    }
}

#[tokio::test]
async fn cases_run_in_parallel_within_the_bound_with_the_key_and_no_store() {
    let (url, seen) = endpoint().await;
    let runner = Runner::new(&url, Some("gwk_test".into()), 3, Duration::from_secs(10)).unwrap();
    let report = runner.run(&[suite(9)]).await;

    let ids: Vec<&str> = report.cases.iter().map(|c| c.id.as_str()).collect();
    let expected: Vec<String> = (0..9).map(|i| format!("case-{i}")).collect();
    assert_eq!(ids, expected, "results in the suite's order");
    assert!(report.cases.iter().all(|c| c.passed), "{:#?}", report.cases);
    assert_eq!(
        seen.most.load(Ordering::SeqCst),
        3,
        "at most --concurrency at once, and that many"
    );
    for head in seen.heads.lock().await.iter() {
        assert!(head.contains("authorization: bearer gwk_test"), "{head}");
        assert!(head.contains("cache-control: no-store"), "{head}");
    }
}

#[tokio::test]
async fn an_oversized_response_fails_its_case_without_being_read_whole() {
    let (url, _) = endpoint().await;
    let runner = Runner::new(&url, None, 1, Duration::from_secs(10)).unwrap();
    let mut one = suite(1);
    one.cases[0].route = "/api/huge".into();
    let report = runner.run(&[one]).await;
    let case = &report.cases[0];
    assert!(!case.passed);
    assert!(
        case.reasons[0].contains("is over 4194304 bytes"),
        "{:?}",
        case.reasons
    );
}
