//! Leaderboard ranks in Redis sorted sets, kept in step with the skills read model.
//!
//! One sorted set per board (`<prefix>:lb:<board>:z`) holds every player as the member
//! `<reached position, 20 digits>:<player id>` with the score `-(level · 2³² + xp)`: ascending
//! order is the leaderboard's order (level, then XP, descending; then who got there first; then
//! the player id), so `ZRANK` is the rank and `ZRANGE` the neighbourhood. A hash
//! (`<prefix>:lb:<board>:m`) maps each player to their member, and `<prefix>:lb:<board>:at` is
//! the skills checkpoint the set reflects.
//!
//! The sets are derived from the read-model tables (themselves folded from the events), so they
//! are rebuildable: before answering, the index copies the rows changed since `at` (every change
//! raises `reached_position`); a checkpoint behind `at` (a fresh or rebuilt read database) resets
//! the board. A per-row Lua script never replaces a newer member with an older one, so racing
//! query-API processes converge.

use crate::v1::{Board, Key};
use crate::{ApiError, AppState};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use sqlx::Row;
use std::sync::LazyLock;
use std::time::Duration;
use uuid::Uuid;

const SET_MEMBER: &str = r"
local old = redis.call('HGET', KEYS[2], ARGV[1])
if old and old > ARGV[3] then return 0 end
if old then redis.call('ZREM', KEYS[1], old) end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
";

/// The member, 0-based rank and score of a player (`KEYS[1]` the set, `KEYS[2]` the hash).
const LOOKUP: &str = r"
local m = redis.call('HGET', KEYS[2], ARGV[1])
if not m then return false end
local r = redis.call('ZRANK', KEYS[1], m)
local s = redis.call('ZSCORE', KEYS[1], m)
if not r then return false end
return {m, r, s}
";

/// The scripts, hashed once (`EVALSHA` sends the hash; Redis loads a script it lacks).
static LOOKUP_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(LOOKUP));
static SET_MEMBER_SCRIPT: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(SET_MEMBER));

/// How long a board's set is used before the checkpoint is checked again.
const SYNC_EVERY: Duration = Duration::from_millis(500);

/// The Redis rank index. Cheap to clone.
#[derive(Clone)]
pub struct RankIndex {
    conn: ConnectionManager,
    prefix: String,
    /// When each board was last brought up to date by this process.
    synced: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>>,
}

impl std::fmt::Debug for RankIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RankIndex")
            .field("prefix", &self.prefix)
            .finish()
    }
}

const SHIFT: f64 = 4_294_967_296.0;

fn member(key: &Key) -> String {
    format!("{:020}:{}", key.reached.max(0), key.player)
}

fn score(key: &Key) -> f64 {
    -(key.level as f64 * SHIFT + key.xp as f64)
}

fn decode(member: &str, score: f64, rank: i64) -> Option<Key> {
    let (reached, player) = member.split_once(':')?;
    let value = -score;
    let level = (value / SHIFT).floor();
    Some(Key {
        level: level as i64,
        xp: (value - level * SHIFT) as i64,
        reached: reached.parse().ok()?,
        player: player.to_owned(),
        rank,
    })
}

fn redis_err(e: redis::RedisError) -> ApiError {
    tracing::warn!(error = %e, "Redis rank index failed");
    ApiError::Unavailable
}

impl RankIndex {
    /// Connects to `url`; every key starts with `prefix:`.
    pub async fn connect(url: &str, prefix: &str) -> redis::RedisResult<RankIndex> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(3)))
            .set_response_timeout(Some(Duration::from_secs(3)))
            .set_number_of_retries(2);
        let conn = ConnectionManager::new_with_config(client, config).await?;
        Ok(RankIndex {
            conn,
            synced: Default::default(),
            prefix: if prefix.is_empty() {
                "loh".into()
            } else {
                prefix.to_owned()
            },
        })
    }

    fn keys(&self, board: &Board) -> (String, String, String) {
        let base = format!("{}:lb:{}", self.prefix, board.name());
        (
            format!("{base}:z"),
            format!("{base}:m"),
            format!("{base}:at"),
        )
    }

    /// Brings the board's set up to the skills checkpoint, unless this process did so less than
    /// 500 ms ago.
    pub async fn sync(&self, state: &AppState, board: &Board) -> Result<(), ApiError> {
        let fresh = self
            .synced
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&board.name())
            .is_some_and(|t| t.elapsed() < SYNC_EVERY);
        if fresh {
            return Ok(());
        }
        self.sync_now(state, board).await?;
        self.synced
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(board.name(), std::time::Instant::now());
        Ok(())
    }

    async fn sync_now(&self, state: &AppState, board: &Board) -> Result<(), ApiError> {
        let (z, m, at_key) = self.keys(board);
        let mut conn = self.conn.clone();
        let checkpoint = state.read.checkpoint("skills").await? as i64;
        let at: Option<i64> = redis::cmd("GET")
            .arg(&at_key)
            .query_async(&mut conn)
            .await
            .map_err(redis_err)?;
        let mut at = at.unwrap_or(-1);
        if at == checkpoint {
            return Ok(());
        }
        if at > checkpoint {
            // The read database went back (rebuilt elsewhere, or fresh): start over.
            redis::cmd("DEL")
                .arg(&z)
                .arg(&m)
                .arg(&at_key)
                .query_async::<()>(&mut conn)
                .await
                .map_err(redis_err)?;
            at = -1;
        }
        let mut q = board.select();
        q.push(" AND reached_position > ").int(at);
        let rows = q.fetch(state).await?;
        let script = &*SET_MEMBER_SCRIPT;
        for r in &rows {
            let key = Key {
                player: r.try_get("player_id").map_err(ApiError::from)?,
                level: r.try_get("lvl").map_err(ApiError::from)?,
                xp: r.try_get("xp").map_err(ApiError::from)?,
                reached: r.try_get("reached").map_err(ApiError::from)?,
                rank: 0,
            };
            let _: i64 = script
                .key(&z)
                .key(&m)
                .arg(&key.player)
                .arg(score(&key))
                .arg(member(&key))
                .invoke_async(&mut conn)
                .await
                .map_err(redis_err)?;
        }
        // Only ever forward: a slower sync must not move `at` back.
        let _: () = redis::Script::new(
            "local at = tonumber(redis.call('GET', KEYS[1]) or '-1') \
             if tonumber(ARGV[1]) > at then redis.call('SET', KEYS[1], ARGV[1]) end",
        )
        .key(&at_key)
        .arg(checkpoint)
        .invoke_async(&mut conn)
        .await
        .map_err(redis_err)?;
        Ok(())
    }

    /// The player's entry with its rank, or `None` when not on the board.
    pub(crate) async fn entry(
        &self,
        state: &AppState,
        board: &Board,
        player_id: Uuid,
    ) -> Result<Option<Key>, ApiError> {
        self.sync(state, board).await?;
        let (z, m, _) = self.keys(board);
        let mut conn = self.conn.clone();
        let found: Option<(String, i64, f64)> = LOOKUP_SCRIPT
            .key(&z)
            .key(&m)
            .arg(player_id.to_string())
            .invoke_async(&mut conn)
            .await
            .map_err(redis_err)?;
        Ok(found.and_then(|(member, rank, score)| decode(&member, score, rank + 1)))
    }

    /// The entries ranked `from..=to` (1-based).
    pub(crate) async fn range(
        &self,
        board: &Board,
        from: i64,
        to: i64,
    ) -> Result<Vec<Key>, ApiError> {
        let (z, _, _) = self.keys(board);
        let mut conn = self.conn.clone();
        let from = from.max(1);
        if to < from {
            return Ok(Vec::new());
        }
        let rows: Vec<(String, f64)> = redis::cmd("ZRANGE")
            .arg(&z)
            .arg(from - 1)
            .arg(to - 1)
            .arg("WITHSCORES")
            .query_async(&mut conn)
            .await
            .map_err(redis_err)?;
        Ok(rows
            .iter()
            .enumerate()
            .filter_map(|(i, (m, s))| decode(m, *s, from + i as i64))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_and_score_decode_to_the_same_key_and_sort_like_the_leaderboard() {
        let key = Key {
            level: 2_277,
            xp: 2_200_000_000,
            reached: 42,
            player: Uuid::nil().to_string(),
            rank: 7,
        };
        assert_eq!(decode(&member(&key), score(&key), 7), Some(key.clone()));
        let later = Key {
            reached: 43,
            ..key.clone()
        };
        let more_xp = Key {
            xp: key.xp + 1,
            reached: 99,
            ..key.clone()
        };
        // Lower score first; equal scores by member (reached position, then player).
        assert!(score(&more_xp) < score(&key));
        assert!(score(&key) == score(&later) && member(&key) < member(&later));
    }
}
