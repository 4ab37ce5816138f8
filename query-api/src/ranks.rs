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
//! are rebuildable: before a board is read, the index copies the rows changed since `at` (every
//! change raises `reached_position`); a checkpoint behind `at` (a fresh or rebuilt read database)
//! resets the board. A per-row Lua script never replaces a newer member with an older one, so
//! racing query-API processes converge.
//!
//! Requests do not go to Redis one by one: each query-API process reads a board's set whole, in
//! order, into its in-process snapshot ([`crate::boards`]) when the checkpoint moved, and answers
//! pages, rank lookups and around-me from memory. A Redis round trip per rank lookup served 0.29 ×
//! a bare axum endpoint on the benchmark machine, the snapshot 0.6 (docs/BENCHMARKS.md).

use crate::v1::{Board, Key};
use crate::{ApiError, AppState};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use sqlx::Row;
use std::sync::LazyLock;
use std::time::Duration;

const SET_MEMBER: &str = r"
local old = redis.call('HGET', KEYS[2], ARGV[1])
if old and old > ARGV[3] then return 0 end
if old then redis.call('ZREM', KEYS[1], old) end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
";

/// The script, hashed once (`EVALSHA` sends the hash; Redis loads a script it lacks).
static SET_MEMBER_SCRIPT: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(SET_MEMBER));

/// The Redis rank index. Cheap to clone.
#[derive(Clone)]
pub struct RankIndex {
    conn: ConnectionManager,
    prefix: String,
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

/// A managed connection to the Redis at `url`, answering within `response_timeout`.
pub(crate) async fn connect(
    url: &str,
    response_timeout: Duration,
    retries: usize,
) -> redis::RedisResult<ConnectionManager> {
    let client = redis::Client::open(url)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(3)))
        .set_response_timeout(Some(response_timeout))
        .set_number_of_retries(retries);
    ConnectionManager::new_with_config(client, config).await
}

/// The prefix of every key: `prefix`, or `loh` when empty.
pub(crate) fn key_prefix(prefix: &str) -> String {
    if prefix.is_empty() {
        "loh".into()
    } else {
        prefix.to_owned()
    }
}

fn redis_err(e: redis::RedisError) -> ApiError {
    tracing::warn!(error = %e, "Redis rank index failed");
    ApiError::Unavailable
}

impl RankIndex {
    /// Connects to `url`; every key starts with `prefix:`.
    pub async fn connect(url: &str, prefix: &str) -> redis::RedisResult<RankIndex> {
        Ok(RankIndex {
            conn: connect(url, Duration::from_secs(3), 2).await?,
            prefix: key_prefix(prefix),
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

    /// Brings the board's set up to the skills checkpoint.
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

    /// The whole board from its sorted set, best first (rank = place in the set), after bringing
    /// the set up to the skills checkpoint; with the checkpoint the set reflects. Read in one
    /// `MULTI`, so the checkpoint and the members agree.
    pub(crate) async fn board(
        &self,
        state: &AppState,
        board: &Board,
    ) -> Result<(u64, Vec<Key>), ApiError> {
        self.sync_now(state, board).await?;
        let (z, _, at_key) = self.keys(board);
        let mut conn = self.conn.clone();
        let (at, rows): (Option<i64>, Vec<(String, f64)>) = redis::pipe()
            .atomic()
            .cmd("GET")
            .arg(&at_key)
            .cmd("ZRANGE")
            .arg(&z)
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query_async(&mut conn)
            .await
            .map_err(redis_err)?;
        let entries = rows
            .iter()
            .enumerate()
            .filter_map(|(i, (member, score))| decode(member, *score, i as i64 + 1))
            .collect();
        Ok((at.unwrap_or(0).max(0) as u64, entries))
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
            player: uuid::Uuid::nil().to_string(),
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
