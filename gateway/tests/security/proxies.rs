//! Client addresses behind proxies: only a trusted proxy's `X-Forwarded-For` is believed, and
//! IPv6 clients are limited per /64.

use crate::helpers::*;
use loh_gateway::client_addr::TrustedProxies;
use serde_json::json;
use std::net::IpAddr;

/// Tries `n` logins with a wrong password, from `local` (a loopback address of this machine)
/// with `X-Forwarded-For: forwarded`; returns how many were answered 429. An address has a
/// burst of 5 failed logins of one account (then one per 30 s).
async fn limited_logins(server: &Server, local: IpAddr, forwarded: &str, n: usize) -> usize {
    let http = reqwest::Client::builder()
        .local_address(local)
        .build()
        .unwrap();
    let mut limited = 0;
    for _ in 0..n {
        let res = http
            .post(server.url("/v1/auth/login"))
            .header("x-forwarded-for", forwarded)
            .json(&json!({"username": "ghost", "password": "wrong password"}))
            .send()
            .await
            .unwrap();
        match res.status().as_u16() {
            401 => {}
            429 => limited += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    limited
}

fn behind(proxies: &[&str]) -> loh_gateway::limits::Limits {
    loh_gateway::limits::Limits {
        trusted_proxies: TrustedProxies::parse(proxies).unwrap(),
        ..test_limits()
    }
}

#[tokio::test]
async fn a_forwarded_for_header_from_an_untrusted_peer_buys_no_fresh_login_budget() {
    // 127.0.0.1 is the trusted proxy; 127.0.0.2 is a client that sends the header itself.
    let server = Server::start_with(behind(&["127.0.0.1"])).await;
    let client: IpAddr = "127.0.0.2".parse().unwrap();
    let mut limited = 0;
    for i in 0..3 {
        limited += limited_logins(&server, client, &format!("198.51.100.{i}"), 5).await;
    }
    // 15 attempts from one address whatever it claims: its burst of 5, then refused.
    assert!(limited >= 9, "only {limited} of 15 were limited");
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_it_forwards_for_has_its_own_budget() {
    let server = Server::start_with(behind(&["127.0.0.1"])).await;
    let proxy: IpAddr = "127.0.0.1".parse().unwrap();
    // The client wrote an address of its own to the left; the proxy appended the real one.
    let limited = limited_logins(&server, proxy, "6.6.6.6, 198.51.100.7", 10).await;
    assert!(limited >= 4, "the forwarded client was never limited");
    // Another client behind the same proxy is not limited by the first one's attempts.
    assert_eq!(limited_logins(&server, proxy, "198.51.100.8", 3).await, 0);
    // The first is still limited, whatever it writes to the left.
    assert_eq!(
        limited_logins(&server, proxy, "7.7.7.7, 198.51.100.7", 3).await,
        3
    );
}

#[tokio::test]
async fn an_ipv6_client_is_limited_per_64_not_per_address() {
    let server = Server::start_with(behind(&["127.0.0.1"])).await;
    let proxy: IpAddr = "127.0.0.1".parse().unwrap();
    assert!(limited_logins(&server, proxy, "2001:db8:1:2::1", 10).await >= 4);
    // Another address of the same /64 shares its budget...
    assert_eq!(
        limited_logins(&server, proxy, "2001:db8:1:2:ffff::9", 3).await,
        3
    );
    // ...and the next /64 has its own.
    assert_eq!(
        limited_logins(&server, proxy, "2001:db8:1:3::1", 3).await,
        0
    );
}

#[tokio::test]
async fn without_trusted_proxies_the_header_is_ignored() {
    let server = Server::start().await;
    let local: IpAddr = "127.0.0.1".parse().unwrap();
    let mut limited = 0;
    for i in 0..3 {
        limited += limited_logins(&server, local, &format!("203.0.113.{i}"), 5).await;
    }
    assert!(limited >= 9, "only {limited} of 15 were limited");
}
