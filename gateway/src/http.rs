//! The HTTP/1 server loop: hyper with a header-read timeout (axum 0.8's `serve` sets none, so a
//! slow-header client could hold a connection forever), a cap on header bytes, on concurrent
//! connections and on concurrent connections per address, the client's address for rate limits
//! (the peer, or what a trusted proxy forwards: [`crate::client_addr`]), an optional limit of
//! requests per address, upgrades for the WebSocket, and graceful shutdown (each open connection
//! finishes its request, then closes). The game server and the query API are both served by it.
//!
//! Addresses are limited under [`limit_key`]: IPv4 per address, IPv6 per /64. A trusted proxy is
//! not held to the per-address connection cap (its connections carry many clients); the clients
//! behind it are limited per request under the address it forwards for.
//!
//! A connection's place under both caps is a [`ConnSlot`] put in every request's extensions: the
//! WebSocket handler keeps a clone for the life of the upgraded socket, so upgraded connections
//! count against the limits as long as they live (hyper's connection future ends at the upgrade).

use crate::client_addr::{TrustedProxies, limit_key};
use crate::limits::{Limits, Rate, TooMany};
use crate::metrics::{Close, ConnMetrics};
use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::{DefaultKeyedRateLimiter, RateLimiter};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

/// Largest request head (start line and headers).
const MAX_HEAD: usize = 16 * 1024;

/// A connection's place under the server's and its address's connection caps; freed when the
/// last clone drops.
#[derive(Clone, Debug)]
pub struct ConnSlot(#[allow(dead_code)] Arc<SlotInner>);

#[derive(Debug)]
struct SlotInner {
    _permit: OwnedSemaphorePermit,
    ip: IpAddr,
    per_ip: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for SlotInner {
    fn drop(&mut self) {
        let mut map = self.per_ip.lock().expect("per-address connection counts");
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// Takes a place for a connection from `ip` (counted under its [`limit_key`]), or says which cap
/// refused it. `max_per_ip` is `usize::MAX` for a trusted proxy.
fn take_slot(
    permits: &Arc<Semaphore>,
    per_ip: &Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
    max_per_ip: usize,
) -> Result<ConnSlot, Close> {
    let permit = permits
        .clone()
        .try_acquire_owned()
        .map_err(|_| Close::connection_limit)?;
    let ip = limit_key(ip);
    let mut map = per_ip.lock().expect("per-address connection counts");
    let n = map.entry(ip).or_default();
    if *n >= max_per_ip {
        return Err(Close::address_limit);
    }
    *n += 1;
    drop(map);
    Ok(ConnSlot(Arc::new(SlotInner {
        _permit: permit,
        ip,
        per_ip: per_ip.clone(),
    })))
}

/// The client address of a request, as [`serve`] found it (the peer, or what a trusted proxy
/// forwards for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// What every request passes before the routes: its client address found and put in its
/// extensions, and the per-address request limit.
#[derive(Clone)]
struct Door {
    trusted: Arc<TrustedProxies>,
    requests: Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>,
    metrics: ConnMetrics,
}

impl Door {
    fn new(limits: &Limits, metrics: &ConnMetrics) -> Door {
        Door {
            trusted: Arc::new(limits.trusted_proxies.clone()),
            requests: limits
                .requests_per_ip
                .map(|rate: Rate| Arc::new(RateLimiter::keyed(rate.quota()))),
            metrics: metrics.clone(),
        }
    }

    async fn pass(self, peer: IpAddr, mut request: Request, next: Next) -> Response {
        let client = self.trusted.client(peer, request.headers());
        if let Some(limiter) = &self.requests
            && let Err(not_until) = limiter.check_key(&limit_key(client))
        {
            self.metrics.request_limited();
            let now = governor::clock::Clock::now(&governor::clock::DefaultClock::default());
            return TooMany {
                retry_after: not_until.wait_time_from(now),
            }
            .into_response();
        }
        request.extensions_mut().insert(ClientIp(client));
        next.run(request).await
    }

    /// Forgets the request limiter's full buckets every minute until `cancel`.
    fn spawn_pruner(&self, cancel: CancellationToken) {
        let Some(limiter) = self.requests.clone() else {
            return;
        };
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = every.tick() => {
                        limiter.retain_recent();
                        limiter.shrink_to_fit();
                    }
                }
            }
        });
    }
}

/// Serves `app` on `listener` until `cancel`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &Limits,
    metrics: &ConnMetrics,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let per_ip = Arc::new(Mutex::new(HashMap::new()));
    let max_per_ip = limits.max_connections_per_ip.max(1);
    let header_timeout = limits.header_timeout;
    let door = Door::new(limits, metrics);
    door.spawn_pruner(cancel.clone());
    loop {
        let (stream, peer) = tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let cap = if door.trusted.trusts(peer.ip()) {
            usize::MAX
        } else {
            max_per_ip
        };
        let slot = match take_slot(&permits, &per_ip, peer.ip(), cap) {
            Ok(slot) => slot,
            Err(reason) => {
                metrics.closed(reason);
                drop(stream);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let door = door.clone();
        let service = app
            .clone()
            .layer(axum::Extension(ConnectInfo(peer)))
            .layer(axum::Extension(slot.clone()))
            .layer(axum::middleware::from_fn(
                move |request: Request, next: Next| door.clone().pass(peer.ip(), request, next),
            ));
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .max_buf_size(MAX_HEAD);
        let conn = builder
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
            .with_upgrades();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let mut conn = std::pin::pin!(conn);
            let result = tokio::select! {
                result = conn.as_mut() => result,
                _ = cancel.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
            drop(slot);
        });
    }
    Ok(())
}

/// The connection slot put in every request by [`serve`].
pub fn slot(parts: &axum::http::Extensions) -> Option<ConnSlot> {
    parts.get::<ConnSlot>().cloned()
}

/// The peer address put in every request by [`serve`].
pub fn peer(parts: &axum::http::Extensions) -> Option<SocketAddr> {
    parts.get::<ConnectInfo<SocketAddr>>().map(|c| c.0)
}

/// The client address [`serve`] found for the request (the peer, or what a trusted proxy
/// forwards for); the unspecified address outside [`serve`].
pub fn client_ip(parts: &axum::http::Extensions) -> IpAddr {
    parts.get::<ClientIp>().map_or_else(
        || peer(parts).map_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), |a| a.ip()),
        |c| c.0,
    )
}
