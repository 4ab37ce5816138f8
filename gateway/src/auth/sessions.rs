//! Sessions: refresh-token families, their signing keys, request nonces and the single-session
//! lock — in Redis (shared by every instance), or in process for the embedded mode.
//!
//! A session is a refresh-token family. Its record holds the player, the SHA-256 of the current
//! refresh token, and the current and previous HMAC request-signing keys with their key ids.
//! Refreshing rotates the token (and the signing key) atomically (a Lua script in Redis); a
//! presented token that was already spent revokes the whole family. The record expires at the
//! family's absolute lifetime, which rotation does not extend. Logout deletes the record; every
//! access token names its session, and a token whose session is gone is refused.
//!
//! Redis keys, under a configurable prefix `p`: `p:sess:<sid>` (hash), `p:spent:<sid>` (set of
//! spent token hashes, expiring with its family), `p:nonce:<kid>:<nonce>`, `p:lock:<player>`.
//!
//! In SQL, a rotation locks its family's row before reading it (its first statement is a write),
//! so two uses of one token are serialised: on SQLite the second waits for the write lock (busy
//! timeout) instead of failing "database is locked", and on either database it then sees the token
//! spent and revokes the family, as the Redis script does. Spent tokens of families that are gone
//! (expired, logged out, revoked) are pruned by [`SessionStore::prune`], which logins and rotations
//! run at most once a minute.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::StreamExt;
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// A family lives this long at most, however often it is refreshed.
pub const REFRESH_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// The single-session lock expires this long after its last renewal.
pub const LOCK_TTL: Duration = Duration::from_secs(30);
/// Seen nonces are remembered this long (longer than the ±300 s window on both sides).
pub const NONCE_TTL: Duration = Duration::from_secs(660);
/// Logins and rotations prune dead families and their spent tokens at most this often.
pub const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// A store that failed; the caller answers `500` (or `503`) and retries later.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("corrupt session record: {0}")]
    Corrupt(&'static str),
}

pub type Result<T, E = SessionError> = std::result::Result<T, E>;

/// What a client gets when a session starts or rotates.
#[derive(Debug, Clone)]
pub struct Issued {
    pub sid: String,
    pub player_id: Uuid,
    pub refresh_token: String,
    pub key_id: String,
    pub signing_key: Vec<u8>,
    /// The family's absolute end of life, in Unix seconds (what the browser's CSRF token and
    /// cookie expire with).
    pub expires_at: i64,
}

/// The outcome of presenting a refresh token.
#[derive(Debug, Clone)]
pub enum Rotation {
    /// The token was current; here is the next one.
    Rotated(Issued),
    /// The token was already spent: the whole family is now revoked.
    Reused,
    /// Unknown, malformed, expired or revoked.
    Invalid,
}

/// The session store.
#[derive(Clone)]
pub struct SessionStore {
    backend: Backend,
    refresh_ttl: Duration,
    lock_ttl: Duration,
    /// With Redis: the client for the takeover channel's subscriber ([`SessionStore::takeovers`]).
    client: Option<redis::Client>,
    /// When [`SessionStore::prune`] last ran from a login or rotation (Unix µs).
    last_prune_us: Arc<std::sync::atomic::AtomicI64>,
}

impl std::fmt::Debug for SessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.backend {
            Backend::Redis { prefix, .. } => write!(f, "SessionStore(redis, {prefix})"),
            Backend::Local(_) => f.write_str("SessionStore(local)"),
            Backend::Sql { .. } => f.write_str("SessionStore(sql)"),
        }
    }
}

#[derive(Clone)]
enum Backend {
    Redis {
        conn: ConnectionManager,
        prefix: String,
    },
    Local(Arc<Mutex<Local>>),
    /// Families in the database (`auth_sessions`), nonces and locks in process.
    Sql {
        pool: sqlx::AnyPool,
        mem: Arc<Mutex<Local>>,
    },
}

#[derive(Default)]
struct Local {
    sessions: HashMap<String, LocalSession>,
    nonces: HashMap<String, Instant>,
    locks: HashMap<Uuid, (String, Instant)>,
}

struct LocalSession {
    player_id: Uuid,
    current: String,
    spent: HashSet<String>,
    keys: Keys,
    expires: Instant,
}

#[derive(Clone)]
struct Keys {
    kid: String,
    key: Vec<u8>,
    prev: Option<(String, Vec<u8>)>,
}

const ROTATE: &str = r#"
local cur = redis.call('HGET', KEYS[1], 'cur')
if not cur then return {'invalid'} end
if cur == ARGV[1] then
  local ttl = redis.call('PTTL', KEYS[1])
  redis.call('SADD', KEYS[2], cur)
  if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
  local kid = redis.call('HGET', KEYS[1], 'kid')
  local key = redis.call('HGET', KEYS[1], 'key')
  redis.call('HSET', KEYS[1], 'cur', ARGV[2], 'pkid', kid, 'pkey', key, 'kid', ARGV[3], 'key', ARGV[4])
  return {'ok', redis.call('HGET', KEYS[1], 'pid'), tostring(ttl)}
end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then
  redis.call('DEL', KEYS[1], KEYS[2])
  return {'reused'}
end
return {'invalid'}
"#;

const RENEW: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"#;

const RELEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"#;

fn random_b64(n: usize) -> (Vec<u8>, String) {
    let bytes: Vec<u8> = (0..n).map(|_| rand::random::<u8>()).collect();
    let text = URL_SAFE_NO_PAD.encode(&bytes);
    (bytes, text)
}

fn now_secs() -> i64 {
    loh_tick_writer::tick::now_us() / 1_000_000
}

fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Splits `<sid>.<secret>`; `None` when malformed.
fn split_token(token: &str) -> Option<(&str, &str)> {
    let (sid, secret) = token.split_once('.')?;
    let ok = sid.len() == 32
        && sid.bytes().all(|b| b.is_ascii_hexdigit())
        && (20..=64).contains(&secret.len());
    ok.then_some((sid, secret))
}

/// The session id inside a key id `<sid>.<generation>`.
pub fn sid_of_kid(kid: &str) -> Option<&str> {
    let (sid, generation) = kid.split_once('.')?;
    (sid.len() == 32
        && sid.bytes().all(|b| b.is_ascii_hexdigit())
        && !generation.is_empty()
        && generation.len() <= 10
        && generation.bytes().all(|b| b.is_ascii_digit()))
    .then_some(sid)
}

/// The session id of a refresh token, when well formed.
pub fn sid_of_refresh(token: &str) -> Option<&str> {
    split_token(token).map(|(sid, _)| sid)
}

fn next_kid(kid: &str) -> String {
    let (sid, generation) = kid.split_once('.').unwrap_or((kid, "0"));
    let n: u64 = generation.parse().unwrap_or(0);
    format!("{sid}.{}", n + 1)
}

impl SessionStore {
    /// An in-process store (embedded mode, one instance).
    pub fn local() -> SessionStore {
        SessionStore {
            backend: Backend::Local(Arc::default()),
            refresh_ttl: REFRESH_TTL,
            lock_ttl: LOCK_TTL,
            client: None,
            last_prune_us: Arc::default(),
        }
    }

    /// Families in the database (survive a restart), the rest in process: the embedded mode.
    pub fn sql(pool: sqlx::AnyPool) -> SessionStore {
        SessionStore {
            backend: Backend::Sql {
                pool,
                mem: Arc::default(),
            },
            refresh_ttl: REFRESH_TTL,
            lock_ttl: LOCK_TTL,
            client: None,
            last_prune_us: Arc::default(),
        }
    }

    /// The Redis connection and key prefix, when sessions live in Redis (the rate limits share
    /// them, so every instance counts against the same buckets).
    pub fn redis_conn(&self) -> Option<(ConnectionManager, String)> {
        match &self.backend {
            Backend::Redis { conn, prefix } => Some((conn.clone(), prefix.clone())),
            _ => None,
        }
    }

    /// The Redis client (for a subscriber), connection and key prefix, when sessions live in
    /// Redis: the cross-world social bus rides on them ([`crate::social`]).
    pub fn redis_bus(&self) -> Option<(redis::Client, ConnectionManager, String)> {
        match (&self.client, &self.backend) {
            (Some(client), Backend::Redis { conn, prefix }) => {
                Some((client.clone(), conn.clone(), prefix.clone()))
            }
            _ => None,
        }
    }

    /// Follows the takeovers published by [`SessionStore::take_lock`] on every instance (with
    /// Redis), calling `taken(player, new owner)` for each, until `cancel`; resubscribes after a
    /// lost connection. Without Redis there is nothing to follow and it returns at once.
    pub async fn takeovers(&self, cancel: CancellationToken, taken: impl Fn(Uuid, &str)) {
        let (Some(client), Backend::Redis { prefix, .. }) = (&self.client, &self.backend) else {
            return;
        };
        let channel = format!("{prefix}:takeover");
        while !cancel.is_cancelled() {
            let follow = async {
                let mut pubsub = client.get_async_pubsub().await?;
                pubsub.subscribe(&channel).await?;
                let mut messages = pubsub.into_on_message();
                while let Some(msg) = messages.next().await {
                    let payload: String = msg.get_payload()?;
                    if let Some((player, owner)) = payload.split_once(' ')
                        && let Ok(player) = player.parse()
                    {
                        taken(player, owner);
                    }
                }
                Ok::<(), redis::RedisError>(())
            };
            tokio::select! {
                _ = cancel.cancelled() => return,
                result = follow => {
                    if let Err(e) = result {
                        tracing::warn!(error = %e, "following session takeovers; retrying");
                    }
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        }
    }

    /// A Redis store; every key starts with `prefix:`.
    pub async fn redis(url: &str, prefix: &str) -> Result<SessionStore> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(3)))
            .set_response_timeout(Some(Duration::from_secs(3)))
            .set_number_of_retries(2);
        let conn = ConnectionManager::new_with_config(client.clone(), config).await?;
        Ok(SessionStore {
            backend: Backend::Redis {
                conn,
                prefix: prefix.to_owned(),
            },
            refresh_ttl: REFRESH_TTL,
            lock_ttl: LOCK_TTL,
            client: Some(client),
            last_prune_us: Arc::default(),
        })
    }

    /// Sets the absolute lifetime of refresh-token families.
    pub fn with_refresh_ttl(mut self, ttl: Duration) -> SessionStore {
        self.refresh_ttl = ttl;
        self
    }

    pub fn refresh_ttl(&self) -> Duration {
        self.refresh_ttl
    }

    pub fn lock_ttl(&self) -> Duration {
        self.lock_ttl
    }

    /// Starts a new family for `player_id`.
    pub async fn create(&self, player_id: Uuid) -> Result<Issued> {
        let sid = Uuid::new_v4().simple().to_string();
        let (_, secret) = random_b64(32);
        let (key, key_b64) = random_b64(32);
        let kid = format!("{sid}.1");
        self.maybe_prune().await;
        let issued = Issued {
            refresh_token: format!("{sid}.{secret}"),
            sid: sid.clone(),
            player_id,
            key_id: kid.clone(),
            signing_key: key.clone(),
            expires_at: now_secs() + self.refresh_ttl.as_secs() as i64,
        };
        match &self.backend {
            Backend::Redis { conn, prefix } => {
                let mut conn = conn.clone();
                let k = format!("{prefix}:sess:{sid}");
                let _: () = redis::pipe()
                    .atomic()
                    .hset_multiple(
                        &k,
                        &[
                            ("pid", player_id.to_string()),
                            ("cur", hash_secret(&secret)),
                            ("kid", kid),
                            ("key", key_b64),
                        ],
                    )
                    .ignore()
                    .pexpire(&k, self.refresh_ttl.as_millis() as i64)
                    .ignore()
                    .query_async(&mut conn)
                    .await?;
            }
            Backend::Sql { pool, .. } => {
                let now = loh_tick_writer::tick::now_us();
                sqlx::query(
                    "INSERT INTO auth_sessions (sid, player_id, current_hash, kid, signing_key, expires_at_us)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&sid)
                .bind(player_id.to_string())
                .bind(hash_secret(&secret))
                .bind(&kid)
                .bind(&key_b64)
                .bind(now + self.refresh_ttl.as_micros() as i64)
                .execute(pool)
                .await?;
            }
            Backend::Local(local) => {
                let mut local = local.lock().expect("session store lock");
                let now = Instant::now();
                local.sessions.retain(|_, s| s.expires > now);
                local.sessions.insert(
                    sid,
                    LocalSession {
                        player_id,
                        current: hash_secret(&secret),
                        spent: HashSet::new(),
                        keys: Keys {
                            kid,
                            key,
                            prev: None,
                        },
                        expires: now + self.refresh_ttl,
                    },
                );
            }
        }
        Ok(issued)
    }

    /// Presents a refresh token: rotates it, or revokes the family when it was already spent.
    pub async fn rotate(&self, refresh_token: &str) -> Result<Rotation> {
        let Some((sid, secret)) = split_token(refresh_token) else {
            return Ok(Rotation::Invalid);
        };
        let presented = hash_secret(secret);
        let (_, next_secret) = random_b64(32);
        let (key, key_b64) = random_b64(32);
        self.maybe_prune().await;
        let mut issued = Issued {
            sid: sid.to_owned(),
            player_id: Uuid::nil(),
            refresh_token: format!("{sid}.{next_secret}"),
            key_id: String::new(),
            signing_key: key.clone(),
            expires_at: 0,
        };
        match &self.backend {
            Backend::Redis { conn, prefix } => {
                let mut conn = conn.clone();
                let k = format!("{prefix}:sess:{sid}");
                let kid: Option<String> = conn.hget(&k, "kid").await?;
                let Some(kid) = kid else {
                    return Ok(Rotation::Invalid);
                };
                issued.key_id = next_kid(&kid);
                let answer: Vec<String> = redis::Script::new(ROTATE)
                    .key(&k)
                    .key(format!("{prefix}:spent:{sid}"))
                    .arg(&presented)
                    .arg(hash_secret(&next_secret))
                    .arg(&issued.key_id)
                    .arg(key_b64)
                    .invoke_async(&mut conn)
                    .await?;
                match answer.first().map(String::as_str) {
                    Some("ok") => {
                        let pid = answer.get(1).ok_or(SessionError::Corrupt("pid"))?;
                        issued.player_id = pid.parse().map_err(|_| SessionError::Corrupt("pid"))?;
                        let ttl_ms: i64 = answer
                            .get(2)
                            .and_then(|t| t.parse().ok())
                            .ok_or(SessionError::Corrupt("ttl"))?;
                        issued.expires_at = now_secs() + ttl_ms.max(0) / 1000;
                        Ok(Rotation::Rotated(issued))
                    }
                    Some("reused") => Ok(Rotation::Reused),
                    _ => Ok(Rotation::Invalid),
                }
            }
            Backend::Sql { pool, .. } => {
                let now = loh_tick_writer::tick::now_us();
                let mut tx = pool.begin().await?;
                // A write first: it takes SQLite's write lock at once (waiting out the tick's
                // commit with the busy timeout; a read first would make the later write fail
                // "database is locked") and locks the row in PostgreSQL, so a concurrent use
                // of the same token waits here and then finds it spent.
                sqlx::query(
                    "UPDATE auth_sessions SET expires_at_us = expires_at_us WHERE sid = $1",
                )
                .bind(sid)
                .execute(&mut *tx)
                .await?;
                let row: Option<(String, String, String, i64)> = sqlx::query_as(
                    "SELECT player_id, current_hash, kid, expires_at_us FROM auth_sessions
                     WHERE sid = $1 AND expires_at_us > $2",
                )
                .bind(sid)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((pid, current, kid, expires_at_us)) = row else {
                    return Ok(Rotation::Invalid);
                };
                issued.expires_at = expires_at_us / 1_000_000;
                if current == presented {
                    issued.key_id = next_kid(&kid);
                    let updated = sqlx::query(
                        "UPDATE auth_sessions SET current_hash = $1, prev_kid = kid,
                         prev_key = signing_key, kid = $2, signing_key = $3
                         WHERE sid = $4 AND current_hash = $5",
                    )
                    .bind(hash_secret(&next_secret))
                    .bind(&issued.key_id)
                    .bind(&key_b64)
                    .bind(sid)
                    .bind(&presented)
                    .execute(&mut *tx)
                    .await?;
                    if updated.rows_affected() != 1 {
                        return Ok(Rotation::Invalid);
                    }
                    sqlx::query("INSERT INTO auth_spent_tokens (token_hash, sid) VALUES ($1, $2)")
                        .bind(&presented)
                        .bind(sid)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    issued.player_id = pid.parse().map_err(|_| SessionError::Corrupt("pid"))?;
                    return Ok(Rotation::Rotated(issued));
                }
                let spent: Option<(String,)> = sqlx::query_as(
                    "SELECT sid FROM auth_spent_tokens WHERE token_hash = $1 AND sid = $2",
                )
                .bind(&presented)
                .bind(sid)
                .fetch_optional(&mut *tx)
                .await?;
                if spent.is_none() {
                    return Ok(Rotation::Invalid);
                }
                sqlx::query("DELETE FROM auth_sessions WHERE sid = $1")
                    .bind(sid)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM auth_spent_tokens WHERE sid = $1")
                    .bind(sid)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(Rotation::Reused)
            }
            Backend::Local(local) => {
                let mut local = local.lock().expect("session store lock");
                let now = Instant::now();
                let Some(s) = local.sessions.get_mut(sid).filter(|s| s.expires > now) else {
                    return Ok(Rotation::Invalid);
                };
                if s.current == presented {
                    let old = std::mem::replace(&mut s.current, hash_secret(&next_secret));
                    s.spent.insert(old);
                    issued.key_id = next_kid(&s.keys.kid);
                    let prev = (s.keys.kid.clone(), s.keys.key.clone());
                    s.keys = Keys {
                        kid: issued.key_id.clone(),
                        key,
                        prev: Some(prev),
                    };
                    issued.player_id = s.player_id;
                    issued.expires_at =
                        now_secs() + s.expires.saturating_duration_since(now).as_secs() as i64;
                    Ok(Rotation::Rotated(issued))
                } else if s.spent.contains(&presented) {
                    local.sessions.remove(sid);
                    Ok(Rotation::Reused)
                } else {
                    Ok(Rotation::Invalid)
                }
            }
        }
    }

    /// Runs [`SessionStore::prune`] when it has not run for [`PRUNE_EVERY`]; a failure is logged
    /// (the next login or rotation tries again), never the caller's.
    async fn maybe_prune(&self) {
        use std::sync::atomic::Ordering;
        let now = loh_tick_writer::tick::now_us();
        let last = self.last_prune_us.load(Ordering::Relaxed);
        if now - last < PRUNE_EVERY.as_micros() as i64
            || self
                .last_prune_us
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        if let Err(e) = self.prune().await {
            tracing::warn!(error = %e, "pruning expired sessions and spent refresh tokens");
        }
    }

    /// Deletes the families past their lifetime and every spent refresh token whose family is gone
    /// (expired, logged out or revoked); returns how many spent tokens went. In Redis both expire
    /// by themselves (the spent set takes its family's TTL at every rotation): nothing to do.
    pub async fn prune(&self) -> Result<u64> {
        match &self.backend {
            Backend::Redis { .. } => Ok(0),
            Backend::Sql { pool, .. } => {
                sqlx::query("DELETE FROM auth_sessions WHERE expires_at_us <= $1")
                    .bind(loh_tick_writer::tick::now_us())
                    .execute(pool)
                    .await?;
                let gone = sqlx::query(
                    "DELETE FROM auth_spent_tokens WHERE NOT EXISTS
                     (SELECT 1 FROM auth_sessions s WHERE s.sid = auth_spent_tokens.sid)",
                )
                .execute(pool)
                .await?;
                Ok(gone.rows_affected())
            }
            Backend::Local(local) => {
                let mut local = local.lock().expect("session store lock");
                let now = Instant::now();
                let mut gone = 0;
                local.sessions.retain(|_, s| {
                    let live = s.expires > now;
                    if !live {
                        gone += s.spent.len() as u64;
                    }
                    live
                });
                Ok(gone)
            }
        }
    }

    /// Ends a session: its refresh token and every access token naming it stop working.
    pub async fn revoke(&self, sid: &str) -> Result<()> {
        match &self.backend {
            Backend::Redis { conn, prefix } => {
                let mut conn = conn.clone();
                let _: () = conn
                    .del(&[
                        format!("{prefix}:sess:{sid}"),
                        format!("{prefix}:spent:{sid}"),
                    ])
                    .await?;
            }
            Backend::Sql { pool, .. } => {
                sqlx::query("DELETE FROM auth_sessions WHERE sid = $1")
                    .bind(sid)
                    .execute(pool)
                    .await?;
                sqlx::query("DELETE FROM auth_spent_tokens WHERE sid = $1")
                    .bind(sid)
                    .execute(pool)
                    .await?;
            }
            Backend::Local(local) => {
                local
                    .lock()
                    .expect("session store lock")
                    .sessions
                    .remove(sid);
            }
        }
        Ok(())
    }

    /// Whether Redis answers `PING` (sessions in Redis); `None` when sessions live elsewhere (the
    /// accounts database or this process), which `/healthz` checks on its own.
    pub async fn ping(&self) -> Option<bool> {
        match &self.backend {
            Backend::Redis { conn, .. } => {
                let mut conn = conn.clone();
                let pong: redis::RedisResult<String> =
                    redis::cmd("PING").query_async(&mut conn).await;
                Some(pong.is_ok())
            }
            Backend::Sql { .. } | Backend::Local(_) => None,
        }
    }

    /// Whether the session exists (not logged out, not revoked, not past its lifetime).
    pub async fn is_live(&self, sid: &str) -> Result<bool> {
        match &self.backend {
            Backend::Redis { conn, prefix } => {
                let mut conn = conn.clone();
                Ok(conn.exists(format!("{prefix}:sess:{sid}")).await?)
            }
            Backend::Sql { pool, .. } => {
                let row: Option<(String,)> = sqlx::query_as(
                    "SELECT sid FROM auth_sessions WHERE sid = $1 AND expires_at_us > $2",
                )
                .bind(sid)
                .bind(loh_tick_writer::tick::now_us())
                .fetch_optional(pool)
                .await?;
                Ok(row.is_some())
            }
            Backend::Local(local) => {
                let local = local.lock().expect("session store lock");
                Ok(local
                    .sessions
                    .get(sid)
                    .is_some_and(|s| s.expires > Instant::now()))
            }
        }
    }

    /// The request-signing key named `kid` (the current one or the one before the last
    /// rotation), with its session id.
    pub async fn signing_key(&self, kid: &str) -> Result<Option<(String, Vec<u8>)>> {
        let Some(sid) = sid_of_kid(kid) else {
            return Ok(None);
        };
        match &self.backend {
            Backend::Redis { conn, prefix } => {
                let mut conn = conn.clone();
                let fields: Vec<Option<String>> = redis::cmd("HMGET")
                    .arg(format!("{prefix}:sess:{sid}"))
                    .arg(&["kid", "key", "pkid", "pkey"])
                    .query_async(&mut conn)
                    .await?;
                let get = |i: usize| fields.get(i).cloned().flatten();
                let key = if get(0).as_deref() == Some(kid) {
                    get(1)
                } else if get(2).as_deref() == Some(kid) {
                    get(3)
                } else {
                    None
                };
                Ok(key
                    .and_then(|k| URL_SAFE_NO_PAD.decode(k).ok())
                    .map(|k| (sid.to_owned(), k)))
            }
            Backend::Sql { pool, .. } => {
                type Row = (String, String, Option<String>, Option<String>);
                let row: Option<Row> = sqlx::query_as(
                    "SELECT kid, signing_key, prev_kid, prev_key FROM auth_sessions
                     WHERE sid = $1 AND expires_at_us > $2",
                )
                .bind(sid)
                .bind(loh_tick_writer::tick::now_us())
                .fetch_optional(pool)
                .await?;
                let key = row.and_then(|(k, key, pk, pkey)| {
                    if k == kid {
                        Some(key)
                    } else if pk.as_deref() == Some(kid) {
                        pkey
                    } else {
                        None
                    }
                });
                Ok(key
                    .and_then(|k| URL_SAFE_NO_PAD.decode(k).ok())
                    .map(|k| (sid.to_owned(), k)))
            }
            Backend::Local(local) => {
                let local = local.lock().expect("session store lock");
                let Some(s) = local
                    .sessions
                    .get(sid)
                    .filter(|s| s.expires > Instant::now())
                else {
                    return Ok(None);
                };
                let key = if s.keys.kid == kid {
                    Some(s.keys.key.clone())
                } else {
                    s.keys
                        .prev
                        .as_ref()
                        .filter(|(k, _)| k == kid)
                        .map(|(_, key)| key.clone())
                };
                Ok(key.map(|k| (sid.to_owned(), k)))
            }
        }
    }

    /// Records a request nonce; `false` when it was seen before (a replay).
    pub async fn use_nonce(&self, kid: &str, nonce: &str) -> Result<bool> {
        match &self.backend {
            Backend::Redis { conn, prefix } => {
                let mut conn = conn.clone();
                let set: Option<String> = redis::cmd("SET")
                    .arg(format!("{prefix}:nonce:{kid}:{nonce}"))
                    .arg(1)
                    .arg("NX")
                    .arg("PX")
                    .arg(NONCE_TTL.as_millis() as u64)
                    .query_async(&mut conn)
                    .await?;
                Ok(set.is_some())
            }
            Backend::Local(local) | Backend::Sql { mem: local, .. } => {
                let mut local = local.lock().expect("session store lock");
                let now = Instant::now();
                if local.nonces.len() > 100_000 {
                    local.nonces.retain(|_, until| *until > now);
                }
                let key = format!("{kid}:{nonce}");
                if local.nonces.get(&key).is_some_and(|until| *until > now) {
                    return Ok(false);
                }
                local.nonces.insert(key, now + NONCE_TTL);
                Ok(true)
            }
        }
    }

    /// Takes the player's single-session lock for `owner`, taking it over from any other
    /// holder. With Redis the takeover is published on `{prefix}:takeover`, and the instance
    /// holding the older connection, in any world, closes it at once
    /// ([`SessionStore::takeovers`]); otherwise it notices at its next renewal.
    pub async fn take_lock(&self, player_id: Uuid, owner: &str) -> Result<()> {
        match &self.backend {
            Backend::Redis { conn, prefix } => {
                let mut conn = conn.clone();
                let _: () = redis::pipe()
                    .atomic()
                    .cmd("SET")
                    .arg(format!("{prefix}:lock:{player_id}"))
                    .arg(owner)
                    .arg("PX")
                    .arg(self.lock_ttl.as_millis() as u64)
                    .ignore()
                    .cmd("PUBLISH")
                    .arg(format!("{prefix}:takeover"))
                    .arg(format!("{player_id} {owner}"))
                    .ignore()
                    .query_async(&mut conn)
                    .await?;
            }
            Backend::Local(local) | Backend::Sql { mem: local, .. } => {
                local.lock().expect("session store lock").locks.insert(
                    player_id,
                    (owner.to_owned(), Instant::now() + self.lock_ttl),
                );
            }
        }
        Ok(())
    }

    /// Extends the lock; `false` when `owner` no longer holds it (taken over, or expired).
    pub async fn renew_lock(&self, player_id: Uuid, owner: &str) -> Result<bool> {
        match &self.backend {
            Backend::Redis { conn, prefix } => {
                let mut conn = conn.clone();
                let renewed: i64 = redis::Script::new(RENEW)
                    .key(format!("{prefix}:lock:{player_id}"))
                    .arg(owner)
                    .arg(self.lock_ttl.as_millis() as u64)
                    .invoke_async(&mut conn)
                    .await?;
                Ok(renewed == 1)
            }
            Backend::Local(local) | Backend::Sql { mem: local, .. } => {
                let mut local = local.lock().expect("session store lock");
                let now = Instant::now();
                match local.locks.get_mut(&player_id) {
                    Some((held, until)) if held == owner && *until > now => {
                        *until = now + self.lock_ttl;
                        Ok(true)
                    }
                    _ => Ok(false),
                }
            }
        }
    }

    /// Releases the lock if `owner` still holds it.
    pub async fn release_lock(&self, player_id: Uuid, owner: &str) -> Result<()> {
        match &self.backend {
            Backend::Redis { conn, prefix } => {
                let mut conn = conn.clone();
                let _: i64 = redis::Script::new(RELEASE)
                    .key(format!("{prefix}:lock:{player_id}"))
                    .arg(owner)
                    .invoke_async(&mut conn)
                    .await?;
            }
            Backend::Local(local) | Backend::Sql { mem: local, .. } => {
                let mut local = local.lock().expect("session store lock");
                if local
                    .locks
                    .get(&player_id)
                    .is_some_and(|(held, _)| held == owner)
                {
                    local.locks.remove(&player_id);
                }
            }
        }
        Ok(())
    }

    /// The current holder of the player's lock (tests and diagnostics).
    pub async fn lock_holder(&self, player_id: Uuid) -> Result<Option<String>> {
        match &self.backend {
            Backend::Redis { conn, prefix } => {
                let mut conn = conn.clone();
                Ok(conn.get(format!("{prefix}:lock:{player_id}")).await?)
            }
            Backend::Local(local) | Backend::Sql { mem: local, .. } => {
                let local = local.lock().expect("session store lock");
                Ok(local
                    .locks
                    .get(&player_id)
                    .filter(|(_, until)| *until > Instant::now())
                    .map(|(held, _)| held.clone()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_spent_refresh_token_revokes_the_family_in_the_local_store() {
        let store = SessionStore::local();
        let first = store.create(Uuid::new_v4()).await.unwrap();
        let Rotation::Rotated(second) = store.rotate(&first.refresh_token).await.unwrap() else {
            panic!("the current token rotates");
        };
        assert_eq!(second.key_id, format!("{}.2", first.sid));
        assert!(store.signing_key(&first.key_id).await.unwrap().is_some());
        assert!(matches!(
            store.rotate(&first.refresh_token).await.unwrap(),
            Rotation::Reused
        ));
        assert!(!store.is_live(&first.sid).await.unwrap());
        assert!(matches!(
            store.rotate(&second.refresh_token).await.unwrap(),
            Rotation::Invalid
        ));
    }

    #[test]
    fn key_ids_and_refresh_tokens_are_parsed_strictly() {
        let sid = "0123456789abcdef0123456789abcdef";
        assert_eq!(sid_of_kid(&format!("{sid}.3")), Some(sid));
        assert_eq!(sid_of_kid(&format!("{sid}.x")), None);
        assert_eq!(sid_of_kid("short.1"), None);
        assert_eq!(split_token("nodot"), None);
        assert_eq!(next_kid(&format!("{sid}.9")), format!("{sid}.10"));
    }
}
