//! An in-process snapshot of each leaderboard, so that public leaderboard reads (pages, rank
//! lookups, around-me) cost no database round trip.
//!
//! A snapshot is the whole board in leaderboard order, tagged with the skills checkpoint it
//! reflects: read from the board's Redis sorted set when Redis is configured ([`crate::ranks`],
//! the rank index the query-API processes share), else in one query of the skills read model
//! ([`loh_projections::skills::leaderboard`]). A
//! request uses the snapshot while it is younger than the refresh interval (500 ms by default,
//! about one 400 ms tick); after that the next request checks the checkpoint and reloads the
//! board only if it moved. One reload runs at a time; other requests keep using the previous
//! snapshot meanwhile.

use crate::error::ApiError;
use crate::ranks::RankIndex;
use loh_projections::ReadDb;
use loh_projections::skills::{self, Board, Skills, Standing};
use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// One board, in order, as of a checkpoint.
#[derive(Debug)]
pub struct Snapshot {
    /// The skills checkpoint read before the rows: every event up to here is reflected.
    pub at: u64,
    /// Entries best first; `rank` is the index + 1.
    pub(crate) entries: Vec<Standing>,
    /// Player id → index in `entries`.
    index: HashMap<Uuid, usize>,
    loaded: Instant,
    /// Pages already rendered to JSON from this snapshot, by `limit` and cursor (bounded).
    rendered: Mutex<HashMap<(i64, Option<String>), axum::body::Bytes>>,
}

/// The most rendered pages a snapshot keeps.
const RENDERED_PAGES: usize = 1024;

impl Snapshot {
    /// The page rendered earlier for `limit` and `cursor`, or `render()`'s, remembered.
    pub(crate) fn rendered<E>(
        &self,
        limit: i64,
        cursor: Option<&str>,
        render: impl FnOnce() -> Result<axum::body::Bytes, E>,
    ) -> Result<axum::body::Bytes, E> {
        let key = (limit, cursor.map(str::to_owned));
        if let Some(b) = self
            .rendered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(b.clone());
        }
        let bytes = render()?;
        let mut pages = self.rendered.lock().unwrap_or_else(|e| e.into_inner());
        if pages.len() < RENDERED_PAGES {
            pages.insert(key, bytes.clone());
        }
        Ok(bytes)
    }

    /// The entry of `player`, if on the board.
    pub(crate) fn entry(&self, player: Uuid) -> Option<&Standing> {
        self.index.get(&player).map(|i| &self.entries[*i])
    }

    /// The entries after `after` (the whole board from the top without it), at most `limit`.
    pub(crate) fn page(&self, after: Option<&Standing>, limit: usize) -> &[Standing] {
        let start = match after {
            None => 0,
            Some(k) => self
                .entries
                .partition_point(|e| e.board_order(k) != Ordering::Greater),
        };
        let end = (start + limit).min(self.entries.len());
        &self.entries[start.min(end)..end]
    }

    /// Ranks `from..=to` (1-based), clamped.
    pub(crate) fn ranks(&self, from: i64, to: i64) -> &[Standing] {
        let from = (from.max(1) - 1) as usize;
        let to = (to.max(0) as usize).min(self.entries.len());
        &self.entries[from.min(to)..to]
    }
}

/// The snapshots of every board.
#[derive(Debug)]
pub struct BoardCache {
    refresh: Duration,
    boards: Mutex<HashMap<Board, Arc<Snapshot>>>,
    reload: tokio::sync::Mutex<()>,
}

impl Default for BoardCache {
    fn default() -> Self {
        BoardCache::new(Duration::from_millis(500))
    }
}

impl BoardCache {
    /// Snapshots at most `refresh` old (plus the time of one reload).
    pub fn new(refresh: Duration) -> BoardCache {
        BoardCache {
            refresh,
            boards: Mutex::new(HashMap::new()),
            reload: tokio::sync::Mutex::new(()),
        }
    }

    fn cached(&self, board: Board) -> Option<Arc<Snapshot>> {
        self.boards
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&board)
            .cloned()
    }

    fn store(&self, board: Board, snapshot: Arc<Snapshot>) {
        self.boards
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(board, snapshot);
    }

    /// The board's snapshot, reloaded first if stale and the checkpoint moved: from the Redis
    /// sorted set of `ranks` when given, else from the read database `read`.
    pub async fn snapshot(
        &self,
        read: &ReadDb,
        ranks: Option<&RankIndex>,
        board: Board,
    ) -> Result<Arc<Snapshot>, ApiError> {
        if let Some(s) = self.cached(board)
            && s.loaded.elapsed() < self.refresh
        {
            return Ok(s);
        }
        let previous = self.cached(board);
        let _reloading = match (&previous, self.reload.try_lock()) {
            (_, Ok(guard)) => guard,
            // Someone else reloads: use what we have, or wait for theirs.
            (Some(s), Err(_)) => return Ok(s.clone()),
            (None, Err(_)) => self.reload.lock().await,
        };
        if let Some(s) = self.cached(board)
            && s.loaded.elapsed() < self.refresh
        {
            return Ok(s);
        }
        let at = read.checkpoint(Skills::NAME).await?;
        if let Some(s) = self.cached(board)
            && s.at == at
        {
            let fresh = Arc::new(Snapshot {
                at,
                entries: s.entries.clone(),
                index: s.index.clone(),
                loaded: Instant::now(),
                rendered: Mutex::new(s.rendered.lock().unwrap_or_else(|e| e.into_inner()).clone()),
            });
            self.store(board, fresh.clone());
            return Ok(fresh);
        }
        // With Redis, the board comes from its sorted set (the rank index every query-API
        // process shares); without, from the skills tables.
        let (at, entries) = match ranks {
            Some(ranks) => ranks.board(read, board).await?,
            None => (at, skills::leaderboard(read, board).await?),
        };
        let index = entries
            .iter()
            .enumerate()
            .map(|(i, standing)| (standing.player_id, i))
            .collect();
        let snapshot = Arc::new(Snapshot {
            at,
            entries,
            index,
            loaded: Instant::now(),
            rendered: Mutex::new(HashMap::new()),
        });
        self.store(board, snapshot.clone());
        Ok(snapshot)
    }
}
