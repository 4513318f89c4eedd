//! Catching network calls during init, two ways:
//! - the sentinel: a TCP listener every AWS endpoint variable points to; it counts connections
//!   and forwards them to the Bedrock simulator, so invocations still work and the count shows
//!   exactly when the function first reached out;
//! - a socket census: the function's open sockets (from `/proc/<pid>/fd` and `/proc/<pid>/net`)
//!   and where each is connected, which also sees calls to endpoints no variable covers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::net::{TcpListener, TcpStream};

/// Starts the sentinel; the counter is shared so callers can reset and read it.
pub async fn start(
    forward_to: SocketAddr,
    count: Arc<AtomicU64>,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                if let Ok(mut outbound) = TcpStream::connect(forward_to).await {
                    let _ = inbound.set_nodelay(true);
                    let _ = outbound.set_nodelay(true);
                    // Ends when either side closes.
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    Ok((addr, task))
}

/// One of the process's inet sockets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Socket {
    pub proto: &'static str,
    pub remote: String,
    pub remote_port: u16,
}

/// The process's TCP and UDP sockets with their remote ends (port 0: not connected).
pub fn sockets_of(pid: u32) -> anyhow::Result<Vec<Socket>> {
    let mut inodes = std::collections::HashSet::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd"))? {
        // A descriptor closed while listing is simply skipped.
        let Ok(entry) = entry else { continue };
        if let Ok(target) = std::fs::read_link(entry.path())
            && let Some(inode) = target
                .to_str()
                .and_then(|t| t.strip_prefix("socket:["))
                .and_then(|t| t.strip_suffix(']'))
        {
            inodes.insert(inode.to_owned());
        }
    }
    let mut sockets = Vec::new();
    for proto in ["tcp", "tcp6", "udp", "udp6"] {
        let table = std::fs::read_to_string(format!("/proc/{pid}/net/{proto}")).unwrap_or_default();
        sockets.extend(parse_table(proto, &table, |inode| inodes.contains(inode)));
    }
    Ok(sockets)
}

fn parse_table(proto: &'static str, table: &str, owned: impl Fn(&str) -> bool) -> Vec<Socket> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let remote = *fields.get(2)?;
            let inode = *fields.get(9)?;
            if !owned(inode) {
                return None;
            }
            let (ip_hex, port_hex) = remote.split_once(':')?;
            let remote_port = u16::from_str_radix(port_hex, 16).ok()?;
            Some(Socket {
                proto,
                remote: format!("{}:{remote_port}", decode_ip(ip_hex)),
                remote_port,
            })
        })
        .collect()
}

/// IPv4 as the kernel prints it (little-endian hex); IPv6 left as hex.
fn decode_ip(hex: &str) -> String {
    if hex.len() == 8
        && let Ok(v) = u32::from_str_radix(hex, 16)
    {
        return std::net::Ipv4Addr::from(v.swap_bytes()).to_string();
    }
    hex.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_net_tcp() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 20 4 30 10 -1\n\
   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 99 1 0000000000000000 100 0 0 10 0\n";
        let sockets = parse_table("tcp", table, |i| i == "4242");
        assert_eq!(
            sockets,
            vec![Socket {
                proto: "tcp",
                remote: "127.0.0.1:54321".into(),
                remote_port: 54321
            }]
        );
    }

    #[test]
    fn sees_own_connected_socket() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let _client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let sockets = sockets_of(std::process::id()).unwrap();
        assert!(sockets.iter().any(|s| s.remote_port == port), "{sockets:?}");
    }
}
