//! Leaderboard ranks in Redis sorted sets, kept in step with the skills read model.
//!
//! One sorted set per board (`<prefix>:lb:<board>:z`) holds every player as the member
//! `<reached position, 20 digits>:<player id>` with the score `-(level · 2³² + xp)`: ascending
//! order is the leaderboard's order (level, then XP, descending; then who got there first; then
//! the player id), so `ZRANK` is the rank and `ZRANGE` the neighbourhood. A hash
//! (`<prefix>:lb:<board>:m`) maps each player to their member, and `<prefix>:lb:<board>:at` is
//! the skills checkpoint the set reflects.
//!
//! The sets are derived from the skills read model (itself folded from the events), so they are
//! rebuildable: before a board is read, the index copies the standings changed since `at`
//! ([`loh_projections::skills::changed_after`]: every change raises `reached_position`); a checkpoint behind `at` (a fresh or rebuilt read database)
//! resets the board. A per-row Lua script never replaces a newer member with an older one, so
//! racing query-API processes converge.
//!
//! Requests do not go to Redis one by one: each query-API process reads a board's set whole, in
//! order, into its in-process snapshot (the `boards` module) when the checkpoint moved, and answers
//! pages, rank lookups and around-me from memory. A Redis round trip per rank lookup served 0.29 ×
//! a bare axum endpoint on the benchmark machine, the snapshot 0.6 (docs/BENCHMARKS.md).

use crate::error::ApiError;
use loh_projections::ReadDb;
use loh_projections::skills::{self, Board, Skills, Standing};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
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

fn member(s: &Standing) -> String {
    format!("{:020}:{}", s.reached_position.max(0), s.player_id)
}

fn score(s: &Standing) -> f64 {
    -(s.level as f64 * SHIFT + s.xp as f64)
}

fn decode(member: &str, score: f64, rank: i64) -> Option<Standing> {
    let (reached, player) = member.split_once(':')?;
    let value = -score;
    let level = (value / SHIFT).floor();
    Some(Standing {
        rank,
        player_id: player.parse().ok()?,
        level: level as i64,
        xp: (value - level * SHIFT) as i64,
        reached_position: reached.parse().ok()?,
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
    /// Whether Redis answers `PING` (`/healthz`).
    pub async fn ping(&self) -> bool {
        let mut conn = self.conn.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .is_ok()
    }

    /// Connects to `url`; every key starts with `prefix:`.
    pub async fn connect(url: &str, prefix: &str) -> redis::RedisResult<RankIndex> {
        Ok(RankIndex {
            conn: connect(url, Duration::from_secs(3), 2).await?,
            prefix: key_prefix(prefix),
        })
    }

    fn keys(&self, board: Board) -> (String, String, String) {
        let base = format!("{}:lb:{}", self.prefix, board.name());
        (
            format!("{base}:z"),
            format!("{base}:m"),
            format!("{base}:at"),
        )
    }

    /// Brings the board's set up to the skills checkpoint.
    async fn sync_now(&self, read: &ReadDb, board: Board) -> Result<(), ApiError> {
        let (z, m, at_key) = self.keys(board);
        let mut conn = self.conn.clone();
        let checkpoint = read.checkpoint(Skills::NAME).await? as i64;
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
        let changed = skills::changed_after(read, board, at).await?;
        let script = &*SET_MEMBER_SCRIPT;
        for standing in &changed {
            let _: i64 = script
                .key(&z)
                .key(&m)
                .arg(standing.player_id.to_string())
                .arg(score(standing))
                .arg(member(standing))
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
        read: &ReadDb,
        board: Board,
    ) -> Result<(u64, Vec<Standing>), ApiError> {
        self.sync_now(read, board).await?;
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
        let key = Standing {
            level: 2_277,
            xp: 2_200_000_000,
            reached_position: 42,
            player_id: uuid::Uuid::nil(),
            rank: 7,
        };
        assert_eq!(decode(&member(&key), score(&key), 7), Some(key.clone()));
        let later = Standing {
            reached_position: 43,
            ..key.clone()
        };
        let more_xp = Standing {
            xp: key.xp + 1,
            reached_position: 99,
            ..key.clone()
        };
        // Lower score first; equal scores by member (reached position, then player).
        assert!(score(&more_xp) < score(&key));
        assert!(score(&key) == score(&later) && member(&key) < member(&later));
    }
}
