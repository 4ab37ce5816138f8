//! The event-store trait shared by the Postgres and embedded SQLite implementations.

use crate::{Hash, NewEvent, Result, StoredEvent};
use async_trait::async_trait;
use uuid::Uuid;

/// The sequencer lease of one shard. Taking it bumps the shard's epoch; an append carrying an
/// older epoch is refused by the database ([`crate::Error::Fenced`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub epoch: i64,
}

/// The last committed position of a shard and its hash (`0` and the genesis hash when empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub position: u64,
    pub hash: Hash,
}

/// How a command was decided; stored in the command journal.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Outcome {
    Accepted,
    Rejected { code: String, message: String },
}

/// One command as the tick writer received and decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    /// Unique id of the command; events it caused carry it as correlation id.
    pub command_id: Uuid,
    pub tick: u64,
    pub player_id: Uuid,
    /// The client's sequence number; `(player_id, seq)` is unique.
    pub seq: u64,
    /// The command as received, MessagePack bytes.
    pub command: Vec<u8>,
    pub outcome: Outcome,
    /// Wall-clock time the command was received, microseconds since the Unix epoch.
    pub received_at_us: i64,
}

/// What one tick commits: its events and its journal, in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppendBatch {
    pub events: Vec<NewEvent>,
    pub journal: Vec<JournalEntry>,
}

/// The result of an append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The stored events, with positions and hashes, in order.
    pub events: Vec<StoredEvent>,
    /// The shard head after the append.
    pub head: Head,
    /// True when every event id was already stored, so nothing new was written.
    pub already_stored: bool,
}

/// A signature over the chain at one position, written now and then by the tick writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub position: u64,
    /// The hash of the event at `position`.
    pub hash: Hash,
    /// A compact JWS (RS256, header `kid`) over `{shard, position, hash}` (hash in hex).
    pub signature: String,
    /// Wall-clock time it was written, microseconds since the Unix epoch.
    pub created_at_us: i64,
}

/// A world as its game server last announced it (`GET /v1/worlds`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WorldEntry {
    /// The world's shard.
    pub shard: String,
    /// Where clients connect to play in it (the game server's public address).
    pub address: String,
    /// Whether only members may play in it.
    pub members: bool,
    /// Players with a live session in it.
    pub population: u64,
    /// `false` once its server stopped on purpose.
    pub open: bool,
    /// When it was announced, microseconds since the Unix epoch.
    pub updated_at_us: i64,
}

/// A saved world, written now and then by the tick writer so that start-up folds only the tail.
/// Derived data: whoever loads one checks it against the log (`hash` at `position`), its
/// `state_hash` and its signature before trusting it.
#[derive(Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The last event folded into the state.
    pub position: u64,
    /// The hash of the event at `position`.
    pub hash: Hash,
    /// The tick the state is at (at or after the tick of the event at `position`).
    pub tick: u64,
    /// The world's saved form (`loh_world::image`).
    pub state: Vec<u8>,
    /// SHA-256 of `state`.
    pub state_hash: Hash,
    /// A compact JWS (RS256, header `kid`) over `{shard, position, hash, tick, state}` (hashes
    /// in hex).
    pub signature: String,
    /// Wall-clock time it was written, microseconds since the Unix epoch.
    pub created_at_us: i64,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("position", &self.position)
            .field("tick", &self.tick)
            .field("state_bytes", &self.state.len())
            .finish_non_exhaustive()
    }
}

/// An append-only, hash-chained, gapless event log for one shard plus its command journal.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// The shard this store writes and reads.
    fn shard(&self) -> &str;

    /// Takes the shard's sequencer lease, fencing out any previous holder.
    async fn acquire(&self) -> Result<Lease>;

    /// Appends a tick's events and journal in one transaction and one COMMIT.
    ///
    /// Positions continue gaplessly from the head, in commit order. If every event id is already
    /// stored the call returns the stored events with `already_stored` and writes nothing; if only
    /// some are, it fails with [`crate::Error::Conflict`]. Journal entries already stored for the
    /// same `(player_id, seq)` are skipped.
    async fn append(&self, lease: Lease, batch: AppendBatch) -> Result<Appended>;

    /// The current head.
    async fn head(&self) -> Result<Head>;

    /// Up to `limit` events with `position >= from`, in position order.
    async fn read_from(&self, from: u64, limit: usize) -> Result<Vec<StoredEvent>>;

    /// Up to `limit` events of `stream_id` with `stream_version >= from_version`, in order.
    async fn read_stream(
        &self,
        stream_id: &str,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>>;

    /// Up to `limit` journal entries with `tick >= from_tick`, ordered by tick then insertion.
    async fn read_journal(&self, from_tick: u64, limit: usize) -> Result<Vec<JournalEntry>>;

    /// The highest decided seq of every player that has a journal entry.
    async fn last_seqs(&self) -> Result<Vec<(Uuid, u64)>>;

    /// Stores a signed checkpoint; one already stored at the same position is kept.
    async fn put_checkpoint(&self, checkpoint: &Checkpoint) -> Result<()>;

    /// Every checkpoint of the shard, by position.
    async fn checkpoints(&self) -> Result<Vec<Checkpoint>>;

    /// Stores a snapshot whole, in one statement (a process killed meanwhile leaves none); one
    /// already stored at the same position is kept.
    async fn put_snapshot(&self, snapshot: &Snapshot) -> Result<()>;

    /// The positions of the shard's snapshots, newest first.
    async fn snapshot_positions(&self) -> Result<Vec<u64>>;

    /// The snapshot at `position`, if there is one.
    async fn snapshot(&self, position: u64) -> Result<Option<Snapshot>>;

    /// Deletes all but the newest `keep` snapshots; returns how many went.
    async fn prune_snapshots(&self, keep: usize) -> Result<u64>;

    /// Records `entry` as this shard's line of the world list (its `shard` is this store's),
    /// replacing the previous one.
    async fn announce(&self, entry: &WorldEntry) -> Result<()>;

    /// The world list: every world that ever announced itself, by shard.
    async fn worlds(&self) -> Result<Vec<WorldEntry>>;

    /// The world `player_id`'s character lives in: this shard if it lived nowhere yet (it
    /// is claimed for this shard now, at `now_us`), else the one that claimed it first.
    async fn character_home(&self, player_id: Uuid, now_us: i64) -> Result<String>;

    /// Up to `limit` hops in flight to this shard (departed, not arrived), in the order their
    /// departures committed ([`crate::hop`]). An append holding a hop's `CharacterArrived`
    /// marks it arrived in the same transaction, and one holding a `CharacterDeparted` writes
    /// it and moves the character's home ([`EventStore::character_home`]) to the destination.
    async fn arriving_hops(&self, limit: usize) -> Result<Vec<crate::hop::Hop>>;
}

/// A snapshot that matched the log, and what the caller made of it.
#[derive(Debug)]
pub struct Found<T> {
    pub position: u64,
    pub tick: u64,
    pub value: T,
}

/// The newest snapshot of `store` that matches the log and that `accept` takes (checks its
/// signature and decodes its state, say; it is handed the event at the snapshot's position too),
/// and every newer one refused, with why.
///
/// A snapshot matches the log when the log holds an event at its position with its hash, and
/// its bytes hash to its `state_hash` (so a torn or altered row is refused). Each snapshot is
/// read only when the newer ones were refused.
pub async fn newest_snapshot<T>(
    store: &dyn EventStore,
    mut accept: impl FnMut(&Snapshot, &StoredEvent) -> std::result::Result<T, String>,
) -> Result<(Option<Found<T>>, Vec<(u64, String)>)> {
    use sha2::{Digest, Sha256};
    let mut refused = Vec::new();
    for position in store.snapshot_positions().await? {
        let Some(snapshot) = store.snapshot(position).await? else {
            continue;
        };
        let at = store.read_from(position, 1).await?;
        let why = match at.first() {
            Some(e) if e.position != position => {
                Some("the log has no event at its position".into())
            }
            None => Some("the log has no event at its position".to_owned()),
            Some(e) if e.hash != snapshot.hash => Some(format!(
                "the log's hash at its position is {}, the snapshot's {}",
                hex::encode(e.hash),
                hex::encode(snapshot.hash)
            )),
            Some(e) if snapshot.tick < e.tick => Some(format!(
                "its tick {} is before its event's {}",
                snapshot.tick, e.tick
            )),
            Some(_) if <[u8; 32]>::from(Sha256::digest(&snapshot.state)) != snapshot.state_hash => {
                Some("its state does not hash to its state hash".into())
            }
            Some(_) => None,
        };
        if let Some(why) = why {
            refused.push((position, why));
            continue;
        }
        match accept(&snapshot, &at[0]) {
            Ok(value) => {
                return Ok((
                    Some(Found {
                        position,
                        tick: snapshot.tick,
                        value,
                    }),
                    refused,
                ));
            }
            Err(why) => refused.push((position, why)),
        }
    }
    Ok((None, refused))
}

/// `items` cut for multi-row statements: chunks of `max` rows, then the rest in falling powers
/// of two (with `max` 128, a rest of 100 is 64 + 32 + 4). A statement's text depends on its row
/// count, and a connection keeps each text it prepared, so a store or a projector that binds
/// batches of any size prepares at most a handful of shapes, each once.
pub fn statement_chunks<T>(items: &[T], max: usize) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    statement_sizes(items.len(), max).map(move |size| {
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        chunk
    })
}

/// `ids` cut for `IN (…)` lookups: chunks of at most `max`, each padded to a power of two by
/// repeating its last id (a repeat in an `IN` list changes nothing). Each length of list is
/// another statement text, which every connection prepares and keeps; padded, lookups of any
/// size share at most `log2(max) + 1` of them, one query for each `max` ids.
pub fn lookup_chunks<T: Clone>(ids: &[T], max: usize) -> impl Iterator<Item = Vec<T>> + '_ {
    assert!(max > 0, "a lookup holds at least one id");
    ids.chunks(max).map(move |chunk| {
        let mut padded = chunk.to_vec();
        let last = chunk[chunk.len() - 1].clone();
        padded.resize(chunk.len().next_power_of_two().min(max), last);
        padded
    })
}

/// The sizes of [`statement_chunks`]' chunks of `n` items.
pub fn statement_sizes(mut n: usize, max: usize) -> impl Iterator<Item = usize> {
    assert!(max > 0, "a statement holds at least one row");
    std::iter::from_fn(move || {
        let size = match n {
            0 => return None,
            n if n >= max => max,
            n => 1 << n.ilog2(),
        };
        n -= size;
        Some(size)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn lookups_of_any_size_share_a_few_list_lengths_and_keep_every_id() {
        let mut lengths = BTreeSet::new();
        for n in 1..=600u32 {
            let ids: Vec<u32> = (0..n).collect();
            let chunks: Vec<Vec<u32>> = lookup_chunks(&ids, 128).collect();
            assert_eq!(chunks.len(), (n as usize).div_ceil(128), "n={n}");
            let mut seen = Vec::new();
            for chunk in &chunks {
                lengths.insert(chunk.len());
                // Only the chunk's last id repeats.
                let distinct: BTreeSet<u32> = chunk.iter().copied().collect();
                let last = chunk[chunk.len() - 1];
                assert!(chunk.iter().skip(distinct.len()).all(|&id| id == last));
                seen.extend(distinct);
            }
            assert_eq!(seen, ids, "n={n}");
        }
        assert_eq!(
            lengths.into_iter().collect::<Vec<_>>(),
            [1, 2, 4, 8, 16, 32, 64, 128]
        );
    }
}
