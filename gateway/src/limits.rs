//! Limits of the front door: rate limits (governor), the MessagePack guard, and the knobs of the
//! HTTP server and WebSocket gateway.
//!
//! Rate limits are keyed by the client's address ([`crate::http::client_ip`]: the peer, or what
//! a trusted proxy forwards for; IPv6 per /64): handshakes, registrations and logins per address,
//! and failed logins per (account, address) — so a stranger cannot lock a player out, and a
//! brute-forcer from one address is slowed to a trickle. With Redis (sessions in Redis) the buckets live there and
//! every instance of every world counts against the same ones ([`SharedBuckets`], a GCRA in one
//! Lua script on Redis's clock); otherwise, and while Redis does not answer, in this process
//! (governor; stale keys pruned every minute). Over a limit the answer is `429 rate_limited` with
//! `Retry-After`.

use crate::client_addr::{TrustedProxies, limit_key};
use crate::error::ApiError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use loh_commands::{ClientFrame, FrameError, decode_client};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How much each limiter allows: a burst, then one more every `per`.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    pub burst: u32,
    pub per: Duration,
}

/// The governor quota of a [`Rate`].
pub fn rate_quota(rate: Rate) -> Quota {
    rate.quota()
}

impl Rate {
    pub(crate) fn quota(self) -> Quota {
        let burst = NonZeroU32::new(self.burst.max(1)).expect("nonzero");
        Quota::with_period(self.per.max(Duration::from_millis(1)))
            .expect("a positive period")
            .allow_burst(burst)
    }
}

/// Every limit of the game server.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Login attempts per IP.
    pub login_per_ip: Rate,
    /// Failed logins per (account, IP).
    pub login_failures: Rate,
    /// WebSocket handshakes per IP.
    pub handshake_per_ip: Rate,
    /// Commands per connection, before they reach the tick (excess: `Rejected rate_limited`).
    pub commands_per_conn: Rate,
    /// Time to send a request's headers; slower connections are closed.
    pub header_timeout: Duration,
    /// Time to send a request's body.
    pub body_timeout: Duration,
    /// Largest request body.
    pub max_body: usize,
    /// Registrations per client address.
    pub register_per_ip: Rate,
    /// Concurrent TCP connections (upgraded WebSockets included).
    pub max_connections: usize,
    /// Concurrent TCP connections from one address.
    pub max_connections_per_ip: usize,
    /// Time a client has to send `Hello`.
    pub hello_timeout: Duration,
    /// The server pings this often.
    pub ping_interval: Duration,
    /// A connection silent this long (no frame, no pong) is closed.
    pub idle_timeout: Duration,
    /// A write that does not finish in this time closes the connection.
    pub write_timeout: Duration,
    /// Frames queued per connection; a client that stops reading is disconnected past this.
    pub outbound_queue: usize,
    /// Logins and registrations that may wait for a password-hashing slot; past it: `503 busy`.
    pub hash_queue: usize,
    /// Each viewer's interest: other players shown, bytes of events per tick.
    pub view: loh_tick_writer::fanout::ViewLimits,
    /// Commands the tick writer takes into one tick; the rest wait for the next.
    pub max_commands_per_tick: usize,
    /// Proxies whose `X-Forwarded-For` names the client (none by default).
    pub trusted_proxies: TrustedProxies,
    /// Requests per client address, any route (none on the game server, whose routes have their
    /// own limits; the query API has one).
    pub requests_per_ip: Option<Rate>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            login_per_ip: Rate {
                burst: 10,
                per: Duration::from_secs(2),
            },
            login_failures: Rate {
                burst: 5,
                per: Duration::from_secs(30),
            },
            handshake_per_ip: Rate {
                burst: 20,
                per: Duration::from_millis(500),
            },
            commands_per_conn: Rate {
                burst: 40,
                per: Duration::from_millis(50),
            },
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            max_body: 16 * 1024,
            register_per_ip: Rate {
                burst: 20,
                per: Duration::from_secs(3),
            },
            max_connections: 10_000,
            max_connections_per_ip: 64,
            hello_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(10),
            outbound_queue: loh_tick_writer::tick::OUTBOUND_QUEUE,
            hash_queue: crate::auth::HASH_QUEUE,
            view: loh_tick_writer::fanout::ViewLimits::default(),
            max_commands_per_tick: loh_tick_writer::tick::DEFAULT_MAX_COMMANDS_PER_TICK,
            trusted_proxies: TrustedProxies::default(),
            requests_per_ip: None,
        }
    }
}

impl Limits {
    /// The limits of a query API: its HTTP knobs, and `requests_per_ip` (reads are cheap but not
    /// free: one address must not take the server's whole time).
    pub fn query_api(trusted_proxies: TrustedProxies, requests_per_ip: Option<Rate>) -> Limits {
        Limits {
            max_connections: 4_096,
            max_connections_per_ip: 64,
            trusted_proxies,
            requests_per_ip,
            ..Limits::default()
        }
    }
}

/// The keyed rate limiters.
#[derive(Clone)]
pub struct RateLimits {
    login_ip: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    login_failures: Arc<DefaultKeyedRateLimiter<(String, IpAddr)>>,
    handshake_ip: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    register_ip: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    /// The buckets in Redis, shared by every instance; the limiters above only while it fails.
    shared: Option<SharedBuckets>,
    rates: [Rate; 4],
}

/// Rate-limit buckets in Redis, `{prefix}:rl:{limit}:{key}`: a generic cell rate algorithm
/// (a burst, then one cell every period), decided atomically by one script on Redis's own clock,
/// so that instances with different clocks agree.
#[derive(Clone)]
pub struct SharedBuckets {
    conn: redis::aio::ConnectionManager,
    prefix: String,
    script: Arc<redis::Script>,
}

/// KEYS[1] the bucket; ARGV[1] the period (µs), ARGV[2] the burst. Returns 0 (taken) or the
/// wait in µs. The key holds the theoretical arrival time and expires when the bucket is full.
const GCRA: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local period = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + period
local wait = new_tat - now - burst * period
if wait > 0 then return wait end
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil((new_tat - now) / 1000))
return 0
"#;

impl SharedBuckets {
    pub fn new(conn: redis::aio::ConnectionManager, prefix: &str) -> SharedBuckets {
        SharedBuckets {
            conn,
            prefix: prefix.to_owned(),
            script: Arc::new(redis::Script::new(GCRA)),
        }
    }

    /// Takes one cell of bucket `key` of `limit`, which allows `rate`.
    pub async fn take(
        &self,
        limit: &str,
        key: &str,
        rate: Rate,
    ) -> redis::RedisResult<Result<(), TooMany>> {
        let period = rate.per.max(Duration::from_millis(1)).as_micros() as i64;
        let wait: i64 = self
            .script
            .key(format!("{}:rl:{limit}:{key}", self.prefix))
            .arg(period)
            .arg(rate.burst.max(1))
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(if wait > 0 {
            Err(TooMany {
                retry_after: Duration::from_micros(wait as u64),
            })
        } else {
            Ok(())
        })
    }
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RateLimits(..)")
    }
}

/// `429 rate_limited` with `Retry-After` (whole seconds, at least 1).
#[derive(Debug, Clone)]
pub struct TooMany {
    pub retry_after: Duration,
}

impl IntoResponse for TooMany {
    fn into_response(self) -> Response {
        let secs = self.retry_after.as_secs_f64().ceil().max(1.0) as u64;
        let mut res = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many requests; retry later",
        )
        .into_response();
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        res
    }
}

fn check<K: std::hash::Hash + Eq + Clone>(
    limiter: &DefaultKeyedRateLimiter<K>,
    key: &K,
) -> Result<(), TooMany> {
    limiter.check_key(key).map_err(|not_until| TooMany {
        retry_after: not_until.wait_time_from(DefaultClock::default().now()),
    })
}

impl RateLimits {
    pub fn new(limits: &Limits) -> RateLimits {
        RateLimits {
            login_ip: Arc::new(RateLimiter::keyed(limits.login_per_ip.quota())),
            login_failures: Arc::new(RateLimiter::keyed(limits.login_failures.quota())),
            handshake_ip: Arc::new(RateLimiter::keyed(limits.handshake_per_ip.quota())),
            register_ip: Arc::new(RateLimiter::keyed(limits.register_per_ip.quota())),
            shared: None,
            rates: [
                limits.login_per_ip,
                limits.login_failures,
                limits.handshake_per_ip,
                limits.register_per_ip,
            ],
        }
    }

    /// Keeps the buckets in Redis (`shared`), shared by every instance.
    pub fn shared(mut self, shared: Option<SharedBuckets>) -> RateLimits {
        self.shared = shared;
        self
    }

    /// Takes a cell of `limit`'s bucket for `key` in Redis; `None` without Redis or when it
    /// fails (then this process's limiter decides).
    async fn take_shared(&self, limit: &str, key: &str, rate: Rate) -> Option<Result<(), TooMany>> {
        let shared = self.shared.as_ref()?;
        match shared.take(limit, key, rate).await {
            Ok(taken) => Some(taken),
            Err(e) => {
                tracing::warn!(error = %e, limit, "shared rate limit unavailable; limiting in process");
                None
            }
        }
    }

    /// One login attempt from `ip`.
    pub async fn login(&self, ip: IpAddr) -> Result<(), TooMany> {
        let ip = limit_key(ip);
        match self
            .take_shared("login", &ip.to_string(), self.rates[0])
            .await
        {
            Some(taken) => taken,
            None => check(&self.login_ip, &ip),
        }
    }

    /// Whether (account, ip) may try again: a failed attempt costs one cell, and the check is
    /// made before the password is verified.
    pub async fn login_failure_budget(&self, account: &str, ip: IpAddr) -> Result<(), TooMany> {
        // A probe of one cell that is given back only by time: every attempt counts, which at
        // 5 per 30 s per address never bothers the real player from their own address.
        let ip = limit_key(ip);
        let shared_key = format!("{account}|{ip}");
        match self
            .take_shared("login_fail", &shared_key, self.rates[1])
            .await
        {
            Some(taken) => taken,
            None => check(&self.login_failures, &(account.to_owned(), ip)),
        }
    }

    /// One registration from `ip`.
    pub async fn register(&self, ip: IpAddr) -> Result<(), TooMany> {
        let ip = limit_key(ip);
        match self
            .take_shared("register", &ip.to_string(), self.rates[3])
            .await
        {
            Some(taken) => taken,
            None => check(&self.register_ip, &ip),
        }
    }

    /// One WebSocket handshake from `ip`.
    pub async fn handshake(&self, ip: IpAddr) -> Result<(), TooMany> {
        let ip = limit_key(ip);
        match self
            .take_shared("handshake", &ip.to_string(), self.rates[2])
            .await
        {
            Some(taken) => taken,
            None => check(&self.handshake_ip, &ip),
        }
    }

    /// Keys tracked (all limiters).
    pub fn len(&self) -> usize {
        self.login_ip.len()
            + self.login_failures.len()
            + self.handshake_ip.len()
            + self.register_ip.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets keys whose buckets are full again.
    pub fn prune(&self) {
        self.login_ip.retain_recent();
        self.login_failures.retain_recent();
        self.handshake_ip.retain_recent();
        self.register_ip.retain_recent();
        self.register_ip.shrink_to_fit();
        self.login_ip.shrink_to_fit();
        self.login_failures.shrink_to_fit();
        self.handshake_ip.shrink_to_fit();
    }

    /// Prunes every minute until `cancel`.
    pub fn spawn_pruner(&self, cancel: CancellationToken) {
        let limits = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = every.tick() => limits.prune(),
                }
            }
        });
    }
}

pub use loh_commands::guard::{MAX_COLLECTION, MAX_DEPTH, check_msgpack};

/// Decodes a client frame: size first, then structure, then the value. Never panics.
pub fn decode_frame(bytes: &[u8]) -> Result<ClientFrame, FrameError> {
    decode_client(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use loh_commands::{Command, encode_client};

    #[test]
    fn real_frames_pass_the_guard() {
        let frame = ClientFrame::Command {
            seq: 1,
            cmd: Command::Say { text: "hi".into() },
        };
        assert_eq!(decode_frame(&encode_client(&frame)).unwrap(), frame);
    }

    #[test]
    fn an_array_claiming_four_billion_elements_is_refused_before_decoding() {
        let bytes = [0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0];
        assert!(matches!(
            check_msgpack(&bytes),
            Err(FrameError::Malformed(_))
        ));
        let map = [0xdf, 0xff, 0xff, 0xff, 0xff];
        assert!(check_msgpack(&map).is_err());
    }

    #[test]
    fn a_thousand_deep_nesting_is_refused() {
        let mut bytes = vec![0x91; 1000];
        bytes.push(0xc0);
        assert!(check_msgpack(&bytes).is_err());
        let mut ok = vec![0x91; MAX_DEPTH - 1];
        ok.push(0xc0);
        assert!(check_msgpack(&ok).is_ok());
    }

    #[test]
    fn truncated_and_trailing_input_is_refused() {
        for bytes in [
            &[0xa5, b'a'][..],
            &[0xc0, 0xc0],
            &[0xcd, 0x01],
            &[],
            &[0xdb, 0xff],
        ] {
            assert!(check_msgpack(bytes).is_err(), "{bytes:02x?}");
        }
    }
}
