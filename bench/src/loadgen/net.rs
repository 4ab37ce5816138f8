//! The network side of a bot: the target (loopback only), each bot's own loopback source address,
//! its HTTP client and its WebSocket, both bound to that address.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// A bot's WebSocket (plain TCP: the target is on this machine).
pub type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

/// How long one HTTP request or WebSocket handshake may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a target was refused.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The URL is not `http://HOST:PORT` (or `ws://`) with a literal IPv4 host or `localhost`.
    #[error("--url {0:?} is not http://HOST:PORT with an IPv4 host")]
    Malformed(String),
    /// The host is outside 127.0.0.0/8: the load generator only loads this machine.
    #[error("--url {0:?} is not in 127.0.0.0/8: loh loadgen only loads a server on this machine")]
    NotLoopback(String),
}

/// The game server under load: a loopback address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub addr: SocketAddr,
}

impl Target {
    /// Parses `http://HOST:PORT[/]` (or `ws://…`); the host must be in 127.0.0.0/8 (or
    /// `localhost`, read as 127.0.0.1).
    pub fn parse(url: &str) -> Result<Target, TargetError> {
        let malformed = || TargetError::Malformed(url.to_owned());
        let rest = ["http://", "ws://"]
            .iter()
            .find_map(|scheme| url.strip_prefix(scheme))
            .ok_or_else(malformed)?;
        let authority = rest.split('/').next().unwrap_or_default();
        let (host, port) = authority.rsplit_once(':').ok_or_else(malformed)?;
        let port: u16 = port.parse().map_err(|_| malformed())?;
        let ip = match host {
            "localhost" => Ipv4Addr::LOCALHOST,
            literal => literal.parse::<Ipv4Addr>().map_err(|_| {
                if literal.parse::<IpAddr>().is_ok() || !literal.is_empty() {
                    TargetError::NotLoopback(url.to_owned())
                } else {
                    malformed()
                }
            })?,
        };
        if !ip.is_loopback() {
            return Err(TargetError::NotLoopback(url.to_owned()));
        }
        Ok(Target {
            addr: SocketAddr::new(IpAddr::V4(ip), port),
        })
    }

    /// `http://HOST:PORT` followed by `path`.
    pub fn http(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// Bot `n`'s own source address: 127.(1 + n/65025).(n/255 % 255).(n % 255 + 1). Never
/// 127.0.0.1 and never shared, so the server's per-address limits see one player each.
pub fn source_ip(n: usize) -> Ipv4Addr {
    let second = 1 + n / 65_025;
    assert!(second <= 255, "at most {} bots", 255 * 65_025);
    Ipv4Addr::new(
        127,
        second as u8,
        (n / 255 % 255) as u8,
        (n % 255 + 1) as u8,
    )
}

/// An HTTP client whose connections leave from `ip` (and never through a proxy).
pub fn http_client(ip: Ipv4Addr) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(ip))
        .no_proxy()
        .timeout(REQUEST_TIMEOUT)
        .build()
}

/// The bots' WebSocket settings. tungstenite zero-fills `read_buffer_size` bytes before every
/// read of the socket (one that finds nothing included); at its default of 128 KiB that was 26%
/// of the load generator's CPU in a 2,500-bot spread, on the cores the server under test uses.
/// A larger frame still arrives whole: the buffer grows to hold it.
pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(READ_BUFFER)
}

/// Bytes a bot reads from its socket at a time: a spread's `TickUpdate` is about 3.5 KiB.
const READ_BUFFER: usize = 8 * 1024;

/// Opens the game WebSocket from `ip`: a TCP socket bound to `ip:0`, connected to the target,
/// upgraded at `/v1/ws`.
pub async fn connect_ws(ip: Ipv4Addr, target: Target) -> anyhow::Result<Ws> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(IpAddr::V4(ip), 0))?;
    let stream = tokio::time::timeout(REQUEST_TIMEOUT, socket.connect(target.addr)).await??;
    stream.set_nodelay(true)?;
    let request = format!("ws://{}/v1/ws", target.addr);
    let (ws, _) = tokio::time::timeout(
        REQUEST_TIMEOUT,
        tokio_tungstenite::client_async_with_config(request, stream, Some(ws_config())),
    )
    .await??;
    Ok(ws)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_bot_has_its_own_loopback_address_and_none_is_127_0_0_1() {
        let ips: HashSet<_> = (0..70_000).map(source_ip).collect();
        assert_eq!(ips.len(), 70_000);
        assert!(ips.iter().all(|ip| ip.is_loopback()));
        assert!(!ips.contains(&Ipv4Addr::LOCALHOST));
        assert_eq!(source_ip(0), Ipv4Addr::new(127, 1, 0, 1));
        assert_eq!(source_ip(255), Ipv4Addr::new(127, 1, 1, 1));
    }

    #[test]
    fn only_loopback_targets_are_accepted() {
        for ok in [
            "http://127.0.0.1:7777",
            "http://127.9.8.7:1/",
            "ws://localhost:7777",
        ] {
            assert!(Target::parse(ok).is_ok(), "{ok}");
        }
        for far in [
            "http://10.0.0.1:7777",
            "http://example.com:80",
            "http://[::1]:7777",
        ] {
            assert!(
                matches!(Target::parse(far), Err(TargetError::NotLoopback(_))),
                "{far}"
            );
        }
        for bad in ["127.0.0.1:7777", "http://127.0.0.1", "http://127.0.0.1:x"] {
            assert!(
                matches!(Target::parse(bad), Err(TargetError::Malformed(_))),
                "{bad}"
            );
        }
    }
}
