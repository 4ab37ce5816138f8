//! A Redis cache of the analysts' hourly economy tables over closed time ranges.
//!
//! Where it pays: an hourly table (`/v1/economy/flows`, `/trades`, `/xp`) over a range that ends
//! in the past is an aggregate over many rows that never changes again once every event before
//! the range's end is in the read model — and dashboards ask for the same past ranges over and
//! over, from every query-API process. Such an answer is kept in Redis (shared by the processes)
//! for [`TTL`]; an open range (no `to`, or events before `to` still unapplied) is always computed.
//!
//! "Every event before `to` is applied" holds when the oldest event the economy projector has not
//! applied occurred at or after `to` (the tick writer stamps events in commit order), or, when it
//! has applied everything, once `to` is [`SETTLE`] in the past (a tick stamped before `to` may
//! still be committing). Leaderboards are not cached here: their pages come from the in-process
//! snapshot ([`crate::boards`]), which is faster than a Redis round trip, and carry ETags.
//!
//! The cache is an optimisation only: a Redis failure is logged and the answer computed.

use crate::error::ApiError;
use crate::metrics::HttpMetrics;
use crate::ranks::{connect, key_prefix};
use loh_events::EventStore;
use loh_projections::ReadDb;
use loh_projections::economy::Economy;
use redis::aio::ConnectionManager;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a cached answer is kept.
pub const TTL: Duration = Duration::from_secs(3600);

/// How long after `to` a caught-up read model counts as final for ranges ending at `to`.
pub const SETTLE: Duration = Duration::from_secs(60);

/// The Redis response cache. Cheap to clone.
#[derive(Clone)]
pub struct ResponseCache {
    conn: ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl ResponseCache {
    /// Connects to `url`; every key starts with `prefix:cache:`.
    pub async fn connect(url: &str, prefix: &str) -> redis::RedisResult<ResponseCache> {
        // A cache must not hold answers up: a short timeout, one retry.
        Ok(ResponseCache {
            conn: connect(url, Duration::from_secs(1), 1).await?,
            prefix: key_prefix(prefix),
        })
    }

    fn key(&self, q: &EconomyQuery<'_>, to: i64) -> String {
        format!(
            "{}:cache:{}:economy:{}:{}:{to}:{}",
            self.prefix,
            env!("CARGO_PKG_VERSION"),
            q.endpoint,
            q.from.map_or_else(|| "-".to_owned(), |f| f.to_string()),
            q.item.unwrap_or("*"),
        )
    }

    async fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        let mut conn = self.conn.clone();
        let found: redis::RedisResult<Option<Vec<u8>>> =
            redis::cmd("GET").arg(key).query_async(&mut conn).await;
        match found {
            Ok(Some(bytes)) => serde_json::from_slice(&bytes).ok(),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "response cache: GET failed");
                None
            }
        }
    }

    async fn put<T: Serialize>(&self, key: &str, table: &T) {
        let Ok(bytes) = serde_json::to_vec(table) else {
            return;
        };
        let mut conn = self.conn.clone();
        let stored: redis::RedisResult<()> = redis::cmd("SET")
            .arg(key)
            .arg(bytes)
            .arg("EX")
            .arg(TTL.as_secs())
            .query_async(&mut conn)
            .await;
        if let Err(e) = stored {
            tracing::warn!(error = %e, "response cache: SET failed");
        }
    }
}

/// What an economy answer is asked for: the endpoint and its range.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EconomyQuery<'a> {
    /// `flows`, `trades` or `xp`.
    pub endpoint: &'a str,
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// The item (or skill) filter.
    pub item: Option<&'a str>,
}

/// Where the economy answers come from and where their lookups are counted.
pub(crate) struct Sources<'a> {
    pub read: &'a ReadDb,
    pub store: &'a dyn EventStore,
    pub http: &'a HttpMetrics,
}

/// The economy table asked for by `q`: from `cache` when the range is closed and final, else
/// from `compute` (stored in the cache when final).
pub(crate) async fn economy_table<T, F, Fut>(
    cache: Option<&ResponseCache>,
    sources: Sources<'_>,
    q: EconomyQuery<'_>,
    compute: F,
) -> Result<T, ApiError>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    let (Some(cache), Some(to)) = (cache, q.to) else {
        return compute().await;
    };
    let http = sources.http;
    if !settled_before(sources.read, sources.store, to).await? {
        http.cache_lookup("bypass");
        return compute().await;
    }
    let key = cache.key(&q, to);
    if let Some(table) = cache.get(&key).await {
        http.cache_lookup("hit");
        return Ok(table);
    }
    http.cache_lookup("miss");
    let table = compute().await?;
    cache.put(&key, &table).await;
    Ok(table)
}

/// Whether every event that occurred before Unix second `to` is in the economy read model.
async fn settled_before(read: &ReadDb, store: &dyn EventStore, to: i64) -> Result<bool, ApiError> {
    let to_us = to.saturating_mul(1_000_000);
    let checkpoint = read.checkpoint(Economy::NAME).await?;
    let oldest_unapplied = store.read_from(checkpoint + 1, 1).await.map_err(|e| {
        tracing::warn!(error = %e, "reading the event store");
        ApiError::Unavailable
    })?;
    Ok(match oldest_unapplied.first() {
        Some(event) => event.occurred_at_us >= to_us,
        None => {
            let now_us = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_micros() as i64);
            now_us >= to_us.saturating_add(SETTLE.as_micros() as i64)
        }
    })
}
