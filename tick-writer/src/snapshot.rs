//! Snapshots of the world, so that start-up folds only the tail of the log.
//!
//! **Writing.** Every `every_ticks` ticks, or sooner once `every_events` events have been
//! committed since the last snapshot, after the tick's COMMIT, the writer clones its world
//! (the only part on the tick's path, a few milliseconds for thousands of players) and hands the
//! clone to a background task that saves it ([`loh_world::image`]), hashes it, signs
//! `{shard, position, hash, tick, state}` like a checkpoint and stores it in one INSERT
//! ([`EventStore::put_snapshot`]), then prunes all but the newest [`SNAPSHOTS_KEPT`]. One save is
//! in flight at a time; a tick that finds one still running skips its turn. A process killed
//! mid-save leaves no row, or a whole one: the INSERT is one transaction.
//!
//! **Loading** ([`rebuild`]). The newest snapshot is taken if the log holds its hash at its
//! position, its bytes hash to its state hash, the signature is the writer's key's over exactly
//! those, and the state restores (same format version, same content); otherwise it is refused
//! with a log line and the next older one is tried. The world is that state with the events
//! after the snapshot's position folded in; with no snapshot left, the whole log is folded from
//! position 1, as without snapshots.

use crate::metrics::TickMetrics;
use crate::tick::TickError;
use loh_auth::{SigningKey, SnapshotClaims, check_snapshot, sign_snapshot};
use loh_events::{EventStore, Head, Snapshot, newest_snapshot};
use loh_world::World;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Instant;
use tokio::task::JoinHandle;
use tracing::{info, warn};

/// Ticks between snapshots by default: a minute at 400 ms. A snapshot of 2,500 players costs
/// the tick ~2 ms (the clone) and ~6 ms off it as first measured; in a 2,500-bot crowd sharing
/// two cores with its services the clone took 12–17 ms and the save 23–46 ms (the writer's
/// `snapshot written` log line). A busy world writes ~600,000 events a minute, which start-up
/// folds in ~5 s (`loh bench restart`, docs/BENCHMARKS.md).
pub const DEFAULT_SNAPSHOT_EVERY_TICKS: u64 = 150;
/// Events between snapshots by default, whichever of ticks and events comes first: ~2 s of
/// start-up fold. A crowd whose ticks run slow writes more events per minute than the tick
/// count assumes: spread over 5,000 players folded 660,000 events after an outage (issue 11).
pub const DEFAULT_SNAPSHOT_EVERY_EVENTS: u64 = 250_000;
/// Snapshots kept per shard; older ones are deleted after each new one.
pub const SNAPSHOTS_KEPT: usize = 3;

/// How a writer saves and loads snapshots.
#[derive(Clone)]
pub struct SnapshotPolicy {
    /// Signs new snapshots; its public half checks stored ones.
    pub key: SigningKey,
    /// Ticks between snapshots; `0` turns snapshots off (none written, none loaded).
    pub every_ticks: u64,
    /// Events committed since the last snapshot that make one due before its tick (`0`: by
    /// ticks alone).
    pub every_events: u64,
}

impl SnapshotPolicy {
    /// A snapshot every `every_ticks` ticks, or every [`DEFAULT_SNAPSHOT_EVERY_EVENTS`] events
    /// if sooner.
    pub fn every(key: SigningKey, every_ticks: u64) -> SnapshotPolicy {
        SnapshotPolicy {
            key,
            every_ticks,
            every_events: DEFAULT_SNAPSHOT_EVERY_EVENTS,
        }
    }
}

impl std::fmt::Debug for SnapshotPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotPolicy")
            .field("key", &self.key.kid())
            .field("every_ticks", &self.every_ticks)
            .field("every_events", &self.every_events)
            .finish()
    }
}

/// What start-up folded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rebuilt {
    /// The position of the snapshot started from, if any.
    pub snapshot: Option<u64>,
    /// Events folded after it (or from position 1).
    pub folded: u64,
    /// Snapshots refused on the way.
    pub refused: usize,
}

/// The world as the store has it: the newest valid snapshot (when `policy` is on) with the tail
/// folded in, or `fresh` with every committed event applied; and the last tick used (by an
/// event, a journaled command or the snapshot).
pub async fn rebuild(
    store: &dyn EventStore,
    fresh: World,
    policy: Option<&SnapshotPolicy>,
) -> Result<(World, u64, Rebuilt), TickError> {
    let (mut world, mut tick, mut from, mut rebuilt) = (fresh.clone(), 0, 1, Rebuilt::default());
    if let Some(policy) = policy.filter(|p| p.every_ticks > 0) {
        let public = loh_auth::checkpoint::public_key(policy.key.public_pem())
            .map_err(|e| TickError::Store(loh_events::Error::Codec(e)))?;
        let shard = store.shard().to_owned();
        let accept = |s: &Snapshot, _: &loh_events::StoredEvent| -> Result<World, String> {
            let claims = SnapshotClaims::new(&shard, s.position, &s.hash, s.tick, &s.state_hash);
            check_snapshot(&s.signature, &claims, &public)
                .map_err(|e| format!("bad signature: {e}"))?;
            let world = fresh.restored(&s.state).map_err(|e| e.to_string())?;
            if world.tick() != s.tick {
                return Err(format!(
                    "its state is at tick {}, its row says {}",
                    world.tick(),
                    s.tick
                ));
            }
            Ok(world)
        };
        let (found, refused) = newest_snapshot(store, accept)
            .await
            .map_err(TickError::Store)?;
        for (position, why) in &refused {
            warn!(position, %why, "snapshot refused; trying an older one");
        }
        rebuilt.refused = refused.len();
        if let Some(found) = found {
            info!(
                position = found.position,
                tick = found.tick,
                "world loaded from a snapshot"
            );
            world = found.value;
            tick = found.tick;
            from = found.position + 1;
            rebuilt.snapshot = Some(found.position);
        } else if !refused.is_empty() {
            warn!("no snapshot matches the log; folding it from position 1");
        }
    }
    loop {
        let batch = store.read_from(from, 5_000).await?;
        let Some(last) = batch.last() else { break };
        from = last.position + 1;
        rebuilt.folded += batch.len() as u64;
        for event in &batch {
            world.set_tick(event.tick);
            world.apply(&event.body()?);
            tick = tick.max(event.tick);
        }
    }
    // Ticks that journaled commands but appended no event (all rejected) come after the last
    // event's tick: numbering resumes after them, so no tick number is used twice.
    loop {
        let rows = store.read_journal(tick + 1, 1_000).await?;
        match rows.iter().map(|r| r.tick).max() {
            Some(t) => tick = t,
            None => break,
        }
    }
    world.begin_tick(tick);
    Ok((world, tick, rebuilt))
}

/// The writer's side: when the next snapshot is due and the one in flight.
pub(crate) struct SnapshotWriter {
    policy: SnapshotPolicy,
    /// The head of the last snapshot written (or found at start).
    last_position: u64,
    in_flight: Option<JoinHandle<()>>,
    metrics: TickMetrics,
}

impl SnapshotWriter {
    pub(crate) fn new(
        policy: SnapshotPolicy,
        last_position: u64,
        metrics: TickMetrics,
    ) -> SnapshotWriter {
        SnapshotWriter {
            policy,
            last_position,
            in_flight: None,
            metrics,
        }
    }

    pub(crate) fn policy(&self) -> &SnapshotPolicy {
        &self.policy
    }

    /// Whether tick `tick`, committed up to `head`, should snapshot: its number is a multiple
    /// of `every_ticks`, or `every_events` events have been committed since the last snapshot
    /// and none is being saved (the next tick asks again).
    pub(crate) fn due(&self, tick: u64, head: u64) -> bool {
        let SnapshotPolicy {
            every_ticks,
            every_events,
            ..
        } = self.policy;
        if every_ticks == 0 {
            return false;
        }
        tick.is_multiple_of(every_ticks)
            || (every_events > 0
                && head.saturating_sub(self.last_position) >= every_events
                && !self.saving())
    }

    fn saving(&self) -> bool {
        self.in_flight.as_ref().is_some_and(|h| !h.is_finished())
    }

    /// Starts saving `world` (committed up to `head`) in the background, unless the head has
    /// not moved since the last snapshot or a save is still running.
    pub(crate) fn start(&mut self, store: Arc<dyn EventStore>, world: &World, head: Head) {
        if head.position == 0 || head.position <= self.last_position {
            return;
        }
        if self.saving() {
            warn!(
                position = head.position,
                "the previous snapshot is still being written; skipping this one"
            );
            self.metrics.snapshots_skipped.inc();
            return;
        }
        let cloning = Instant::now();
        let world = world.clone();
        let clone_ms = cloning.elapsed().as_secs_f64() * 1e3;
        self.metrics.snapshot_clone_seconds.observe(clone_ms / 1e3);
        let metrics = self.metrics.clone();
        let key = self.policy.key.clone();
        self.last_position = head.position;
        self.in_flight = Some(tokio::spawn(async move {
            let tick = world.tick();
            let shard = store.shard().to_owned();
            let saving = Instant::now();
            let made = tokio::task::spawn_blocking(move || {
                let state = world.image();
                let state_hash: [u8; 32] = Sha256::digest(&state).into();
                let claims =
                    SnapshotClaims::new(&shard, head.position, &head.hash, tick, &state_hash);
                sign_snapshot(&key, &claims).map(|signature| Snapshot {
                    position: head.position,
                    hash: head.hash,
                    tick,
                    state,
                    state_hash,
                    signature,
                    created_at_us: crate::tick::now_us(),
                })
            })
            .await;
            let snapshot = match made {
                Ok(Ok(s)) => s,
                Ok(Err(error)) => {
                    metrics.snapshot_failures.inc();
                    return warn!(%error, "snapshot not signed");
                }
                Err(error) => {
                    metrics.snapshot_failures.inc();
                    return warn!(%error, "snapshot not made");
                }
            };
            let save_ms = saving.elapsed().as_secs_f64() * 1e3;
            let bytes = snapshot.state.len();
            match store.put_snapshot(&snapshot).await {
                Ok(()) => {
                    metrics.snapshots_written.inc();
                    metrics
                        .snapshot_position
                        .set(i64::try_from(head.position).unwrap_or(i64::MAX));
                    metrics
                        .snapshot_bytes
                        .set(i64::try_from(bytes).unwrap_or(i64::MAX));
                    metrics
                        .snapshot_seconds
                        .observe(saving.elapsed().as_secs_f64());
                    info!(
                        position = head.position,
                        tick,
                        bytes,
                        clone_ms,
                        save_ms,
                        total_ms = saving.elapsed().as_secs_f64() * 1e3,
                        "snapshot written"
                    );
                    if let Err(error) = store.prune_snapshots(SNAPSHOTS_KEPT).await {
                        warn!(%error, "old snapshots not pruned");
                    }
                }
                Err(error) => {
                    metrics.snapshot_failures.inc();
                    warn!(%error, position = head.position, "snapshot not written");
                }
            }
        }));
    }

    /// Waits for the snapshot in flight, if any.
    pub(crate) async fn finish(&mut self) {
        if let Some(h) = self.in_flight.take() {
            let _ = h.await;
        }
    }
}
