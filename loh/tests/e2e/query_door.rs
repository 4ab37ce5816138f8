//! The query API behind the front door's hardened HTTP loop, as `loh up` serves it: a client that
//! never finishes its headers is closed, one address cannot hold every connection, and one
//! address's request flood is answered 429 while others are served.

use crate::process::{loh, start};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A TCP connection to `to` from the loopback address `from`.
async fn connect_from(from: [u8; 4], to: SocketAddr) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    socket.connect(to).await.unwrap()
}

/// Whether the server closes `conn` (read 0 or an error) within `within`.
async fn closed_within(conn: &mut tokio::net::TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 256];
    matches!(
        tokio::time::timeout(within, conn.read(&mut buf)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

/// `GET path` over `conn`; the status line's code.
async fn status_of(conn: &mut tokio::net::TcpStream, path: &str) -> Option<u16> {
    let request = format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n");
    conn.write_all(request.as_bytes()).await.ok()?;
    let mut buf = [0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf))
        .await
        .ok()?
        .ok()?;
    std::str::from_utf8(&buf[..n])
        .ok()?
        .split(' ')
        .nth(1)?
        .parse()
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_query_api_closes_slow_headers_caps_an_address_and_limits_its_requests() {
    let dir = tempfile::tempdir().unwrap();
    let game = start(loh(), dir.path(), &["--query-requests-per-second", "5"]).await;
    let query = game.query;

    // Slow headers: half a request line, then nothing; the header timeout (10 s) closes it.
    let slow = async {
        let mut conn = connect_from([127, 0, 0, 2], query).await;
        conn.write_all(b"GET /healthz HTTP/1.1\r\nhost:")
            .await
            .unwrap();
        closed_within(&mut conn, Duration::from_secs(20)).await
    };

    // One address holds its 64 connections; the 65th is closed unanswered, another address is
    // served.
    let capped = async {
        let mut held = Vec::new();
        for _ in 0..64 {
            held.push(connect_from([127, 0, 0, 3], query).await);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut extra = connect_from([127, 0, 0, 3], query).await;
        let refused = status_of(&mut extra, "/healthz").await.is_none();
        let mut other = connect_from([127, 0, 0, 4], query).await;
        let served = status_of(&mut other, "/healthz").await;
        drop(held);
        (refused, served)
    };

    // 5 requests a second with a burst of 20: 40 at once from one address meet 429s; another
    // address is still served.
    let flood = async {
        let http = |ip: &str| {
            reqwest::Client::builder()
                .local_address(ip.parse::<IpAddr>().unwrap())
                .build()
                .unwrap()
        };
        let flooder = http("127.0.0.5");
        let mut limited = 0;
        for _ in 0..40 {
            let res = flooder
                .get(format!("http://{query}/v1/worlds"))
                .send()
                .await
                .unwrap();
            if res.status() == 429 {
                assert!(res.headers().contains_key("retry-after"));
                let body: serde_json::Value = res.json().await.unwrap();
                assert_eq!(body["error"]["code"], "rate_limited");
                limited += 1;
            }
        }
        let other = http("127.0.0.6")
            .get(format!("http://{query}/v1/worlds"))
            .send()
            .await
            .unwrap()
            .status();
        (limited, other.as_u16())
    };

    let (slow_closed, (refused, served), (limited, other)) = tokio::join!(slow, capped, flood);
    assert!(
        slow_closed,
        "a connection that never finished its headers stayed open"
    );
    assert!(refused, "a 65th connection from one address was served");
    assert_eq!(served, Some(200), "another address was refused");
    assert!(limited >= 15, "only {limited} of 40 requests were limited");
    assert_eq!(other, 200, "another address was limited by the flood");

    let metrics = reqwest::get(format!("http://{query}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |name: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    assert!(
        value("loh_http_requests_limited_total") >= 15.0,
        "{metrics}"
    );
    assert!(
        value("loh_connections_closed_total{reason=\"address_limit\"}") >= 1.0,
        "{metrics}"
    );
}
