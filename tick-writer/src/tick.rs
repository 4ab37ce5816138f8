//! The tick loop: the single writer of a shard.
//!
//! Commands arrive on an intake queue; every tick the loop decides them in a fixed order
//! (input: spawns, presence, then commands by player and seq; then the world's phases NPCs →
//! players → combat → flush), appends all the tick's events and its command
//! journal in one batch and one COMMIT, and only then answers `Accepted`/`Rejected` and sends
//! each player the `TickUpdate` they may see.

use crate::fanout::{Interest, Names, TickView, ViewLimits, encode_event};
use crate::metrics::TickMetrics;
use crate::payments::{PAYMENTS_PER_TICK, PaymentInbox};
use crate::snapshot::{Rebuilt, SnapshotPolicy, SnapshotWriter, rebuild};
use crate::social::{Recent, SocialMessage};
use bytes::Bytes;
use loh_auth::{CheckpointClaims, SigningKey, sign_checkpoint};
use loh_commands::{
    Command, RejectionCode, ServerFrame, check_seq, check_seq_after, encode_server,
};
use loh_events::{
    AppendBatch, Checkpoint, EventBody, EventStore, Head, JournalEntry, Lease, Outcome,
};
use loh_world::World;
use loh_world::step::{
    EventIds, StepCommand, TICK_INPUTS_PLAYER, TickInputs, command_id, inputs_id, step,
};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use uuid::Uuid;

/// Players see events of other players within this many tiles.
pub const VIEW_DISTANCE: u32 = loh_world::social::VIEW_DISTANCE;
/// Outcomes remembered per player to answer a repeated seq with its original outcome.
const REMEMBERED_OUTCOMES: usize = 64;

/// A decided command's outcome as remembered for a repeat of its seq: 24 bytes for the
/// accepted (most of them), where the whole answer frame took about four times that, in each of
/// a connected player's [`REMEMBERED_OUTCOMES`] places.
struct Remembered {
    seq: u64,
    tick: u64,
    rejection: Option<Box<(RejectionCode, Box<str>)>>,
}

impl Remembered {
    /// The answer it was sent as.
    fn frame(&self) -> ServerFrame {
        let (seq, tick) = (self.seq, self.tick);
        match &self.rejection {
            None => ServerFrame::Accepted { seq, tick },
            Some(rejected) => ServerFrame::Rejected {
                seq,
                tick,
                code: rejected.0.as_str().into(),
                message: rejected.1.to_string(),
            },
        }
    }
}

/// Frames buffered per connection; a client that stops reading is disconnected past this.
pub const OUTBOUND_QUEUE: usize = 256;
pub use loh_world::step::ACTIONS_PER_TICK;
/// Chat lines (`Say`, `PrivateMessage`) a player may send in one tick; more are `rate_limited`.
pub const CHAT_PER_TICK: usize = 2;
/// Commands one tick takes from the intake by default
/// ([`TickWriter::with_max_commands_per_tick`]). Past it, the intake's next commands wait for
/// the next tick, in order: a world that fell behind (a stall, a burst of arrivals) catches up
/// over several ticks of bounded size instead of one tick of everything, whose append could
/// outgrow [`STORE_PATIENCE`] and turn a slow tick into an outage. Twice the busiest load
/// measured (5,000 players, one command each per tick).
pub const DEFAULT_MAX_COMMANDS_PER_TICK: usize = 10_000;
/// How long a tick waits for the store — every attempt of its append, or the check that the
/// store is back after an outage — before its commands are answered `server_busy` and nothing
/// of it is kept (the writer keeps running, and resumes by itself when the store answers).
pub const STORE_PATIENCE: Duration = Duration::from_secs(2);

/// How long the world's rebuild from the store after an outage may run before it is abandoned
/// and started again (it goes on across ticks, each waiting for it up to [`STORE_PATIENCE`]):
/// long enough for a log folded without a snapshot (about 118,000 events a second on
/// PostgreSQL, `docs/BENCHMARKS.md`), short enough that a connection hung mid-read is given up.
pub const REBUILD_PATIENCE: Duration = Duration::from_secs(600);

/// The world, tick, last seqs and head a rebuild from the store gives back.
type Resumed = (World, u64, HashMap<Uuid, u64>, Head);

/// A read of the store for the tick, bounded by [`STORE_PATIENCE`] like the append: a store that
/// does not answer (PostgreSQL down: the pool waits 30 s for a connection) must not hold the
/// tick. The error says why, for the log.
async fn patiently<T, E: std::fmt::Display>(
    read: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(STORE_PATIENCE, read).await {
        Ok(read) => read.map_err(|e| e.to_string()),
        Err(_) => Err(format!("no answer within {STORE_PATIENCE:?}")),
    }
}

/// Hops in flight to this world taken into one tick as arrivals, at most.
pub const ARRIVALS_PER_TICK: usize = 64;
/// A world whose server has not announced itself for this long is not a hop destination.
const WORLD_SILENT_US: i64 = 15_000_000;

/// Ticks between signed checkpoints of the chain (one a minute at 400 ms).
pub const CHECKPOINT_EVERY_TICKS: u64 = 150;

/// How ticks are paced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pacing {
    /// A tick every `tick_ms`, strictly.
    Fixed { tick_ms: u32 },
    /// Offline play: a tick as soon as a command waits and `floor_ms` passed, at the latest
    /// after `max_ms`.
    Flexible { floor_ms: u32, max_ms: u32 },
}

impl Pacing {
    pub fn tick_ms(&self) -> u32 {
        match *self {
            Pacing::Fixed { tick_ms } => tick_ms,
            Pacing::Flexible { max_ms, .. } => max_ms,
        }
    }
}

/// A server frame as sent on the socket: MessagePack, encoded once by the tick loop (decode
/// with [`loh_commands::decode_server`]).
pub type Frame = Bytes;

/// What the gateway learns when a player connects.
#[derive(Debug, Clone, Copy)]
pub struct Joined {
    pub tick: u64,
    pub last_seq: u64,
}

/// A message to the tick loop.
#[derive(Debug)]
pub enum Intake {
    /// A player's connection opened; a previous connection of the same player is taken over.
    Connect {
        player_id: Uuid,
        conn_id: u64,
        /// The player's display name, shown to others in `PlayerSeen` (none: not shown).
        name: Option<Arc<str>>,
        /// The connection's queue of frames.
        outbound: mpsc::Sender<Frame>,
        reply: oneshot::Sender<Joined>,
    },
    /// A connection closed.
    Disconnect { player_id: Uuid, conn_id: u64 },
    /// A command to decide in the next tick.
    Command {
        player_id: Uuid,
        seq: u64,
        cmd: Command,
        received_at_us: i64,
    },
    /// A social message from another world ([`crate::social`]): delivered at once to the
    /// players here it is for, at most once.
    Social(SocialMessage),
}

/// The handle the gateway uses to reach the tick loop.
#[derive(Clone, Debug)]
pub struct TickHandle {
    pub intake: mpsc::Sender<Intake>,
    pub tick: Arc<AtomicU64>,
    pub tick_ms: u32,
    /// False while the writer's event store does not answer (an outage), true again once the
    /// world is rebuilt from it.
    pub store_up: Arc<AtomicBool>,
}

impl TickHandle {
    pub fn current_tick(&self) -> u64 {
        self.tick.load(Ordering::Relaxed)
    }

    /// Whether the writer's event store answered its last tick ([`TickHandle::store_up`]).
    pub fn store_is_up(&self) -> bool {
        self.store_up.load(Ordering::Relaxed)
    }
}

/// Why the writer stopped.
#[derive(Debug, thiserror::Error)]
pub enum TickError {
    /// Another writer took the shard; this one must not write again.
    #[error("fenced out by another writer")]
    Fenced,
    /// The store failed at start-up (an outage during a tick is not an error: its commands are
    /// answered `server_busy` and the writer resumes by itself).
    #[error("event store: {0}")]
    Store(#[from] loh_events::Error),
}

/// What became of a tick's append.
enum Appended {
    Committed(loh_events::Appended),
    /// The store refused the batch itself (not an outage): nothing of it committed.
    Refused(loh_events::Error),
    /// The store did not answer within [`STORE_PATIENCE`] (an outage): the batch may or may not
    /// have committed; the store will say once it is back.
    Unavailable(String),
}

struct Session {
    conn_id: u64,
    outbound: mpsc::Sender<Frame>,
    /// The other players this viewer is shown.
    interest: Interest,
}

struct Pending {
    player_id: Uuid,
    seq: u64,
    cmd: Command,
    received_at_us: i64,
}

/// A command's place among the tick's answers.
enum Slot {
    /// Answered before the step (over the per-tick budget).
    Answered(Answer),
    /// A seq at or below the last decided one (the `u64`): answered with its original outcome.
    Repeated(Pending, u64),
    /// Decided by the step.
    Decided,
}

/// An answer to send once the tick commits.
struct Answer {
    player_id: Uuid,
    frame: ServerFrame,
    /// When the gateway received the command answered (microseconds since the Unix epoch).
    received_at_us: i64,
}

/// The tick writer of one shard.
pub struct TickWriter {
    store: Arc<dyn EventStore>,
    lease: Lease,
    world: World,
    /// The world before any event: what a refused tick rebuilds from.
    pristine: World,
    tick: u64,
    pacing: Pacing,
    last_seq: HashMap<Uuid, u64>,
    /// Commands one tick takes from the intake, at most ([`DEFAULT_MAX_COMMANDS_PER_TICK`]).
    max_commands: usize,
    outcomes: HashMap<Uuid, VecDeque<Remembered>>,
    sessions: HashMap<Uuid, Session>,
    /// The display names of the players with a session.
    names: Names,
    pending: Vec<Pending>,
    spawns: Vec<Uuid>,
    /// Sessions opened (`true`) or closed since the last tick, in arrival order.
    presence: Vec<(Uuid, bool)>,
    tick_counter: Arc<AtomicU64>,
    head_tx: watch::Sender<u64>,
    metrics: TickMetrics,
    /// The committed head, and the position of the last signed checkpoint.
    committed: Head,
    checkpointed: u64,
    /// The key and interval of signed checkpoints, if the writer makes them.
    checkpoints: Option<(SigningKey, u64)>,
    /// The bounds of each viewer's interest.
    view: ViewLimits,
    /// Stripe events waiting for the world, if this writer takes payments.
    inbox: Option<Arc<dyn PaymentInbox>>,
    /// Snapshots of the world: how often, and the one being written ([`crate::snapshot`]).
    snapshots: Option<SnapshotWriter>,
    /// What start-up folded.
    rebuilt: Rebuilt,
    /// The world may hold a tick the store did not take: it must be rebuilt from the store
    /// before the next tick is decided ([`TickWriter::resume`]).
    stale: bool,
    /// The rebuild from the store under way after an outage, and when it began: on a long log it
    /// takes longer than [`STORE_PATIENCE`], so the writer waits for it a tick at a time instead
    /// of starting it over ([`TickWriter::resume`]).
    rebuilding: Option<(Instant, tokio::task::JoinHandle<Result<Resumed, TickError>>)>,
    /// Whether the store answered the last tick (shared with [`TickHandle::store_up`]).
    store_up: Arc<AtomicBool>,
    /// The addresses of the other worlds, as last read for a tick with a `HopWorld`.
    world_addresses: HashMap<String, String>,
    /// Where committed social events go for the other worlds ([`crate::social`]); none: one
    /// world alone.
    social_out: Option<mpsc::Sender<SocialMessage>>,
    /// The social messages from other worlds delivered lately.
    social_seen: Recent,
}

impl TickWriter {
    /// Takes the shard's lease and rebuilds the world from the store, folding the whole log.
    pub async fn start(
        store: Arc<dyn EventStore>,
        world: World,
        pacing: Pacing,
        metrics: TickMetrics,
    ) -> Result<TickWriter, TickError> {
        Self::start_with(store, world, pacing, metrics, None).await
    }

    /// Takes the shard's lease and rebuilds the world from the newest valid snapshot and the
    /// log after it (or the whole log when there is none), and writes a snapshot every
    /// `policy.every_ticks` ticks from then on ([`crate::snapshot`]; `0`: neither).
    pub async fn start_with_snapshots(
        store: Arc<dyn EventStore>,
        world: World,
        pacing: Pacing,
        metrics: TickMetrics,
        policy: SnapshotPolicy,
    ) -> Result<TickWriter, TickError> {
        Self::start_with(store, world, pacing, metrics, Some(policy)).await
    }

    async fn start_with(
        store: Arc<dyn EventStore>,
        world: World,
        pacing: Pacing,
        metrics: TickMetrics,
        policy: Option<SnapshotPolicy>,
    ) -> Result<TickWriter, TickError> {
        let lease = store.acquire().await?;
        let mut world = world;
        world.set_event_ids(event_ids(&*store).await?);
        let pristine = world.clone();
        let started = Instant::now();
        let (world, tick, rebuilt) = rebuild(&*store, world, policy.as_ref()).await?;
        let last_seq: HashMap<Uuid, u64> = store.last_seqs().await?.into_iter().collect();
        let head = store.head().await?;
        info!(
            shard = store.shard(),
            epoch = lease.epoch,
            head = head.position,
            tick,
            snapshot = rebuilt.snapshot,
            folded = rebuilt.folded,
            refused_snapshots = rebuilt.refused,
            seconds = started.elapsed().as_secs_f64(),
            "world rebuilt from the store"
        );
        metrics.snapshots_refused.inc_by(rebuilt.refused as u64);
        if let Some(position) = rebuilt.snapshot {
            metrics
                .snapshot_position
                .set(i64::try_from(position).unwrap_or(i64::MAX));
        }
        let snapshots = policy
            .filter(|p| p.every_ticks > 0)
            .map(|p| SnapshotWriter::new(p, rebuilt.snapshot.unwrap_or(0), metrics.clone()));
        let (head_tx, _) = watch::channel(head.position);
        metrics.store_up.set(1);
        Ok(TickWriter {
            store,
            lease,
            world,
            pristine,
            tick,
            pacing,
            last_seq,
            max_commands: DEFAULT_MAX_COMMANDS_PER_TICK,
            outcomes: HashMap::new(),
            sessions: HashMap::new(),
            names: Names::default(),
            pending: Vec::new(),
            spawns: Vec::new(),
            presence: Vec::new(),
            tick_counter: Arc::new(AtomicU64::new(tick)),
            head_tx,
            metrics,
            committed: head,
            checkpointed: head.position,
            checkpoints: None,
            view: ViewLimits::default(),
            inbox: None,
            snapshots,
            rebuilt,
            stale: false,
            rebuilding: None,
            store_up: Arc::new(AtomicBool::new(true)),
            world_addresses: HashMap::new(),
            social_out: None,
            social_seen: Recent::default(),
        })
    }

    /// What start-up folded: the snapshot started from, events folded, snapshots refused.
    pub fn rebuilt(&self) -> Rebuilt {
        self.rebuilt
    }

    /// Starts writing a snapshot of the committed world now, in the background (tests, the
    /// restart benchmark); [`TickWriter::finish_snapshot`] waits for it. Nothing without
    /// snapshots on.
    pub fn snapshot_now(&mut self) {
        if let Some(s) = &mut self.snapshots {
            s.start(self.store.clone(), &self.world, self.committed);
        }
    }

    /// Waits for the snapshot being written, if any.
    pub async fn finish_snapshot(&mut self) {
        if let Some(s) = &mut self.snapshots {
            s.finish().await;
        }
    }

    /// Signs a checkpoint of the chain with `key` every `every_ticks` ticks (when the head
    /// moved), for `loh replay verify`.
    pub fn with_checkpoints(mut self, key: SigningKey, every_ticks: u64) -> TickWriter {
        self.checkpoints = Some((key, every_ticks.max(1)));
        self
    }

    /// Takes at most `max` commands (at least 1) from the intake into one tick; the rest wait,
    /// in order, for the next ([`DEFAULT_MAX_COMMANDS_PER_TICK`]).
    pub fn with_max_commands_per_tick(mut self, max: usize) -> TickWriter {
        self.max_commands = max.max(1);
        self
    }

    /// Bounds each viewer's interest by `view` (other players, bytes per tick).
    pub fn with_view_limits(mut self, view: ViewLimits) -> TickWriter {
        self.view = view.clamped();
        self
    }

    /// Sends every committed social event other worlds may need to `out` ([`crate::social`]).
    /// A full or closed outbox drops the message (cross-world social is best effort; this
    /// world's own is not touched).
    pub fn with_social(mut self, out: mpsc::Sender<SocialMessage>) -> TickWriter {
        self.social_out = Some(out);
        self
    }

    /// Takes the Stripe events waiting in `inbox` into each tick ([`crate::payments`]).
    pub fn with_payments(mut self, inbox: Arc<dyn PaymentInbox>) -> TickWriter {
        self.inbox = Some(inbox);
        self
    }

    /// The payments waiting for the world, and the ids of those it already applied (to mark).
    async fn waiting_payments(&self) -> (Vec<loh_world::payments::Payment>, Vec<String>) {
        let Some(inbox) = &self.inbox else {
            return (Vec::new(), Vec::new());
        };
        let waiting = match patiently(inbox.waiting(PAYMENTS_PER_TICK)).await {
            Ok(w) => w,
            Err(error) => {
                warn!(%error, "payment inbox not read; its payments wait for a later tick");
                return (Vec::new(), Vec::new());
            }
        };
        let mut seen = BTreeSet::new();
        let (mut fresh, mut applied) = (Vec::new(), Vec::new());
        for p in waiting {
            if !seen.insert(p.id.clone()) {
                continue;
            }
            if self.world.payment_applied(&p.id) {
                applied.push(p.id);
            } else {
                fresh.push(p);
            }
        }
        (fresh, applied)
    }

    /// The hops in flight to this world to take into this tick, and the spawns that may go with
    /// them: a player arriving is not spawned, and when the hops could not all be read (the
    /// store failed, or more wait than a tick takes) every spawn waits for a later tick, so a
    /// character in flight here is never spawned anew.
    async fn arrivals(&mut self, spawns: Vec<Uuid>) -> (Vec<loh_events::hop::Hop>, Vec<Uuid>) {
        let hops = match patiently(self.store.arriving_hops(ARRIVALS_PER_TICK)).await {
            Ok(hops) => hops,
            Err(error) => {
                warn!(%error, "hops in flight not read; arrivals and spawns wait for a later tick");
                self.spawns.extend(spawns);
                return (Vec::new(), Vec::new());
            }
        };
        let complete = hops.len() < ARRIVALS_PER_TICK;
        let arriving: BTreeSet<Uuid> = hops.iter().map(|h| h.player_id).collect();
        let spawns: Vec<Uuid> = spawns
            .into_iter()
            .filter(|p| !arriving.contains(p))
            .collect();
        let spawns = if complete {
            spawns
        } else {
            self.spawns.extend(spawns);
            Vec::new()
        };
        let hops = hops
            .into_iter()
            .filter(|h| {
                let applied = self.world.hop_applied(h.hop);
                if applied {
                    warn!(hop = %h.hop, "a hop in flight was already applied here; skipped");
                }
                !applied
            })
            .collect();
        (hops, spawns)
    }

    /// The other worlds a character may hop to now (open, and heard from within 15 s), by
    /// shard; their addresses are kept for the `Hop` frame. `None` when the list is unreadable.
    async fn hop_worlds(&mut self, shard: &str) -> Option<Vec<String>> {
        let worlds = match patiently(self.store.worlds()).await {
            Ok(worlds) => worlds,
            Err(error) => {
                warn!(%error, "world list not read; this tick's hops are refused server_busy");
                return None;
            }
        };
        let now = now_us();
        let open: Vec<_> = worlds
            .into_iter()
            .filter(|w| w.shard != shard && w.open && now - w.updated_at_us <= WORLD_SILENT_US)
            .collect();
        self.world_addresses = open
            .iter()
            .map(|w| (w.shard.clone(), w.address.clone()))
            .collect();
        Some(open.into_iter().map(|w| w.shard).collect())
    }

    /// After a commit: each character that departed is told where to connect (`Hop`) and its
    /// session here ends (the connection closes when its queue does).
    fn send_departed(&mut self, events: &[(Uuid, EventBody)]) {
        for (_, body) in events {
            let EventBody::CharacterDeparted { player_id, to, .. } = body else {
                continue;
            };
            if let Some(session) = self.sessions.remove(player_id) {
                let address = self.world_addresses.get(to).cloned().unwrap_or_default();
                let frame = ServerFrame::Hop {
                    world: to.clone(),
                    address,
                };
                let _ = session.outbound.try_send(encode_server(&frame).into());
                self.names.remove(player_id);
                self.outcomes.remove(player_id);
            }
        }
        self.metrics.sessions.set(self.sessions.len() as i64);
    }

    /// Hands the committed social events other worlds may need to the social outbox.
    fn publish_social(&mut self, events: &[(Uuid, EventBody)]) {
        let Some(out) = &self.social_out else {
            return;
        };
        let world = self.store.shard();
        for (event_id, body) in events {
            if !matches!(
                body,
                EventBody::PlayerPresence { .. } | EventBody::PrivateMessageSent { .. }
            ) {
                continue;
            }
            if !SocialMessage::goes_out(body, |p| self.world.player(p).is_some()) {
                continue;
            }
            let ask = match body {
                EventBody::PlayerPresence {
                    player_id,
                    online: true,
                } => self
                    .world
                    .player(*player_id)
                    .filter(|p| !p.friends.is_empty())
                    .map(|p| SocialMessage::Ask {
                        world: world.to_owned(),
                        id: Uuid::new_v4(),
                        player_id: *player_id,
                        friends: p.friends.iter().copied().collect(),
                    }),
                _ => None,
            };
            let message = SocialMessage::Event {
                world: world.to_owned(),
                event_id: *event_id,
                body: Box::new(body.clone()),
            };
            for message in std::iter::once(message).chain(ask) {
                if out.try_send(message).is_err() {
                    self.metrics.social_dropped.inc();
                }
            }
        }
    }

    /// Tells the world of `asker` which of `friends` are online here (connected, and online in
    /// the committed state).
    fn answer_ask(&mut self, asker: Uuid, friends: &[Uuid]) {
        let Some(out) = &self.social_out else {
            return;
        };
        for &friend in friends {
            let here = self.sessions.contains_key(&friend)
                && self.world.player(friend).is_some_and(|p| p.online);
            if !here {
                continue;
            }
            let message = SocialMessage::Here {
                world: self.store.shard().to_owned(),
                id: Uuid::new_v4(),
                to: asker,
                friend,
            };
            if out.try_send(message).is_err() {
                self.metrics.social_dropped.inc();
            }
        }
    }

    /// Delivers a social message from another world to the players here it is for, once.
    fn deliver_social(&mut self, message: SocialMessage) {
        if message.world() == Some(self.store.shard()) {
            return; // this world's own: its TickUpdate showed it
        }
        if !self.social_seen.first(message.id()) {
            self.metrics.social_repeated.inc();
            return;
        }
        let (frame, to): (ServerFrame, Vec<Uuid>) = match message {
            SocialMessage::Ask {
                player_id, friends, ..
            } => {
                self.answer_ask(player_id, &friends);
                return;
            }
            SocialMessage::Here {
                world, to, friend, ..
            } => {
                let listed = self
                    .world
                    .player(to)
                    .is_some_and(|p| p.online && p.friends.contains(&friend));
                let body = EventBody::PlayerPresence {
                    player_id: friend,
                    online: true,
                };
                (
                    social_frame(world, &body),
                    if listed { vec![to] } else { Vec::new() },
                )
            }
            SocialMessage::Broadcast { text, .. } => (
                ServerFrame::Broadcast { text },
                self.sessions.keys().copied().collect(),
            ),
            SocialMessage::Event { world, body, .. } => {
                let to = match &*body {
                    EventBody::PrivateMessageSent { player_id, to, .. } => {
                        if self.world.takes_messages_from(*to, *player_id) {
                            vec![*to]
                        } else {
                            Vec::new()
                        }
                    }
                    EventBody::PlayerPresence { player_id, .. } => self
                        .sessions
                        .keys()
                        .filter(|v| {
                            self.world
                                .player(**v)
                                .is_some_and(|p| p.friends.contains(player_id))
                        })
                        .copied()
                        .collect(),
                    _ => Vec::new(),
                };
                (social_frame(world, &body), to)
            }
        };
        if to.is_empty() {
            return;
        }
        let bytes: Frame = encode_server(&frame).into();
        for player_id in to {
            if let Some(session) = self.sessions.get(&player_id) {
                let _ = session.outbound.try_send(bytes.clone());
                self.metrics.social_delivered.inc();
            }
        }
    }

    /// Marks payments applied after their tick committed; a failure is logged (they are taken
    /// again, found applied and marked then).
    async fn mark_payments(&self, ids: Vec<String>) {
        if let (Some(inbox), false) = (&self.inbox, ids.is_empty())
            && let Err(error) = inbox.mark_applied(&ids, now_us()).await
        {
            warn!(%error, "payments not marked applied; they will be marked later");
        }
    }

    /// Signs and stores a checkpoint of the committed head, if it moved since the last one.
    /// A failure is logged, not fatal: the chain itself is intact.
    pub async fn checkpoint(&mut self) {
        let Some((key, _)) = &self.checkpoints else {
            return;
        };
        if self.committed.position <= self.checkpointed {
            return;
        }
        let (key, head, shard) = (key.clone(), self.committed, self.store.shard().to_owned());
        let claims = CheckpointClaims::new(&shard, head.position, &head.hash);
        let signed = tokio::task::spawn_blocking(move || sign_checkpoint(&key, &claims)).await;
        let stored = match signed {
            Ok(Ok(signature)) => {
                let checkpoint = Checkpoint {
                    position: head.position,
                    hash: head.hash,
                    signature,
                    created_at_us: now_us(),
                };
                self.store
                    .put_checkpoint(&checkpoint)
                    .await
                    .map_err(|e| e.to_string())
            }
            Ok(Err(e)) => Err(e),
            Err(e) => Err(e.to_string()),
        };
        match stored {
            Ok(()) => self.checkpointed = head.position,
            Err(error) => warn!(%error, position = head.position, "checkpoint not written"),
        }
    }

    /// A receiver of the committed head position, bumped after every commit.
    pub fn head(&self) -> watch::Receiver<u64> {
        self.head_tx.subscribe()
    }

    pub fn world(&self) -> &World {
        &self.world
    }

    /// Runs the loop until `cancel`; the tick in progress finishes and commits first.
    pub async fn run(
        mut self,
        mut intake: mpsc::Receiver<Intake>,
        cancel: CancellationToken,
    ) -> Result<(), TickError> {
        let mut last_tick = tokio::time::Instant::now();
        loop {
            let deadline = self.next_deadline(last_tick);
            tokio::select! {
                biased;
                _ = cancel.cancelled() => {
                    if !self.pending.is_empty() || !self.spawns.is_empty() {
                        self.run_tick().await?;
                    }
                    self.answer_busy_at_shutdown(&mut intake);
                    info!(tick = self.tick, "tick writer stopped");
                    return Ok(());
                }
                // A full tick leaves the rest of the intake (commands, and what came after them)
                // queued for the next; the gateway answers `server_busy` once the queue is full.
                msg = intake.recv(), if !self.tick_is_full() => match msg {
                    Some(msg) => self.take(msg),
                    None => return Ok(()),
                },
                _ = tokio::time::sleep_until(deadline) => {
                    last_tick = tokio::time::Instant::now();
                    if self.tick_is_full() {
                        self.metrics.full_ticks.inc();
                    }
                    self.run_tick().await?;
                }
            }
        }
    }

    /// Whether the coming tick holds its most commands, so the intake waits. Never while the
    /// store is down: every command is then answered `server_busy` at once, the whole intake
    /// with it.
    fn tick_is_full(&self) -> bool {
        !self.stale && self.pending.len() >= self.max_commands
    }

    fn next_deadline(&self, last_tick: tokio::time::Instant) -> tokio::time::Instant {
        match self.pacing {
            Pacing::Fixed { tick_ms } => last_tick + Duration::from_millis(tick_ms.into()),
            Pacing::Flexible { floor_ms, max_ms } => {
                let waiting = !self.pending.is_empty() || !self.spawns.is_empty();
                let ms = if waiting { floor_ms } else { max_ms };
                last_tick + Duration::from_millis(ms.into())
            }
        }
    }

    /// The handle for gateways; call before [`TickWriter::run`].
    pub fn handle(&self, intake: mpsc::Sender<Intake>) -> TickHandle {
        TickHandle {
            intake,
            tick: self.tick_counter.clone(),
            tick_ms: self.pacing.tick_ms(),
            store_up: self.store_up.clone(),
        }
    }

    /// Takes one intake message between ticks.
    pub fn take(&mut self, msg: Intake) {
        match msg {
            Intake::Connect {
                player_id,
                conn_id,
                name,
                outbound,
                reply,
            } => {
                match name {
                    Some(name) => self.names.insert(player_id, name),
                    None => self.names.remove(&player_id),
                };
                if self.world.player(player_id).is_none() && !self.spawns.contains(&player_id) {
                    self.spawns.push(player_id);
                }
                self.presence.push((player_id, true));
                // One live session per player: the new connection takes over.
                self.sessions.insert(
                    player_id,
                    Session {
                        conn_id,
                        outbound,
                        interest: Interest::default(),
                    },
                );
                self.metrics.sessions.set(self.sessions.len() as i64);
                let _ = reply.send(Joined {
                    tick: self.tick,
                    last_seq: self.last_seq.get(&player_id).copied().unwrap_or(0),
                });
            }
            Intake::Disconnect { player_id, conn_id } => {
                if self
                    .sessions
                    .get(&player_id)
                    .is_some_and(|s| s.conn_id == conn_id)
                {
                    self.sessions.remove(&player_id);
                    self.names.remove(&player_id);
                    // Outcomes are remembered for connected players only; after a reconnect,
                    // `Welcome.last_seq` says what was decided.
                    self.outcomes.remove(&player_id);
                    self.presence.push((player_id, false));
                    self.metrics.sessions.set(self.sessions.len() as i64);
                }
            }
            Intake::Command {
                player_id,
                seq,
                cmd,
                received_at_us,
            } => self.pending.push(Pending {
                player_id,
                seq,
                cmd,
                received_at_us,
            }),
            Intake::Social(message) => self.deliver_social(message),
        }
    }

    /// Decides everything queued through [`loh_world::step::step`], commits it as one batch,
    /// then answers.
    pub async fn run_tick(&mut self) -> Result<(), TickError> {
        let started = Instant::now();
        if self.stale && !self.resume().await {
            self.answer_busy_while_down();
            return Ok(());
        }
        self.tick += 1;
        let tick = self.tick;
        let now_us = now_us();
        let shard = self.store.shard().to_owned();

        let mut batch = AppendBatch::default();
        let mut answers = Vec::new();

        // Input: characters arriving from other worlds, new players in id order, then sessions
        // opened and closed in arrival order.
        let mut spawns = std::mem::take(&mut self.spawns);
        spawns.sort();
        let (arrivals, spawns) = self.arrivals(spawns).await;
        let mut presence = std::mem::take(&mut self.presence);
        // A character arriving with its session already open here is online from its arrival.
        for h in &arrivals {
            let online = (h.player_id, true);
            if self.sessions.contains_key(&h.player_id) && !presence.contains(&online) {
                presence.push(online);
            }
        }
        let hopping = self
            .pending
            .iter()
            .any(|p| matches!(p.cmd, Command::HopWorld { .. }));
        let worlds = if hopping {
            self.hop_worlds(&shard).await
        } else {
            None
        };
        let (payments, mut to_mark) = self.waiting_payments().await;
        let inputs = TickInputs {
            spawns,
            presence,
            payments,
            arrivals,
            worlds,
            rules: self.world.rules_to_adopt(),
        };
        if !inputs.is_empty() {
            batch.journal.push(JournalEntry {
                command_id: inputs_id(&shard, tick),
                tick,
                player_id: TICK_INPUTS_PLAYER,
                seq: tick,
                command: rmp_serde::to_vec_named(&inputs).expect("inputs always encode"),
                outcome: Outcome::Accepted,
                received_at_us: now_us,
            });
        }

        // Commands in a fixed order: by player, then seq. Over-budget and repeated seqs are
        // answered here, unjournaled, in their place in that order; the rest go to the step.
        let mut pending = std::mem::take(&mut self.pending);
        pending.sort_by_key(|p| (p.player_id, p.seq));
        let mut spent: HashMap<Uuid, (usize, usize)> = HashMap::new();
        let mut last_seq: HashMap<Uuid, u64> = HashMap::new();
        let mut slots = Vec::with_capacity(pending.len());
        let mut deciding: Vec<(Uuid, Pending)> = Vec::new();
        let refuse = |p: &Pending, code: RejectionCode, message: String| {
            Slot::Answered(Answer {
                player_id: p.player_id,
                received_at_us: p.received_at_us,
                frame: ServerFrame::Rejected {
                    seq: p.seq,
                    tick,
                    code: code.as_str().into(),
                    message,
                },
            })
        };
        for p in pending {
            // Bounds first: what the journal could not store, or the world should never see, is
            // refused unjournaled (the gateway checks the same; this holds for any intake).
            if let Err(e) = check_seq(p.seq).and_then(|()| p.cmd.check_bounds()) {
                self.metrics.out_of_bounds.inc();
                slots.push(refuse(&p, e.code(), e.to_string()));
                continue;
            }
            // The per-player action and chat budgets: past them, a command is refused
            // unjournaled, so the same seq can be sent again in a later tick.
            let (actions, chats) = spent.entry(p.player_id).or_default();
            *actions += 1;
            *chats += usize::from(p.cmd.is_chat());
            if *actions > ACTIONS_PER_TICK || (p.cmd.is_chat() && *chats > CHAT_PER_TICK) {
                self.metrics.rate_limited.inc();
                let message = if *actions > ACTIONS_PER_TICK {
                    format!("more than {ACTIONS_PER_TICK} commands in one tick")
                } else {
                    format!("more than {CHAT_PER_TICK} chat lines in one tick")
                };
                slots.push(refuse(&p, RejectionCode::RateLimited, message));
                continue;
            }
            let last = *last_seq
                .entry(p.player_id)
                .or_insert_with(|| self.last_seq.get(&p.player_id).copied().unwrap_or(0));
            if p.seq <= last {
                slots.push(Slot::Repeated(p, last));
                continue;
            }
            if let Err(e) = check_seq_after(p.seq, last) {
                self.metrics.out_of_bounds.inc();
                slots.push(refuse(&p, e.code(), e.to_string()));
                continue;
            }
            if matches!(p.cmd, Command::HopWorld { .. }) && inputs.worlds.is_none() {
                slots.push(refuse(
                    &p,
                    RejectionCode::ServerBusy,
                    "the world list could not be read; retry with the same seq".into(),
                ));
                continue;
            }
            last_seq.insert(p.player_id, p.seq);
            slots.push(Slot::Decided);
            deciding.push((command_id(&shard, p.player_id, p.seq), p));
        }
        let commands: Vec<StepCommand<'_>> = deciding
            .iter()
            .map(|(command_id, p)| StepCommand {
                command_id: *command_id,
                player_id: p.player_id,
                command: &p.cmd,
            })
            .collect();
        let out = step(&mut self.world, tick, now_us, &inputs, &commands);
        batch.events = out.events;
        let mut decided = deciding.into_iter().zip(out.decided);
        for slot in slots {
            match slot {
                Slot::Answered(answer) => answers.push(answer),
                Slot::Repeated(p, last) => answers.push(self.repeated(&p, tick, last)),
                Slot::Decided => {
                    let ((command_id, p), d) = decided.next().expect("one decision per command");
                    self.journal_outcome(&mut batch, &mut answers, tick, command_id, p, d.result);
                }
            }
        }

        let (events_in_tick, journaled) = (batch.events.len(), batch.journal.len());
        let decide = started.elapsed();
        self.metrics.decide_seconds.observe(decide.as_secs_f64());
        let mut append = Duration::ZERO;
        // The bodies to show come from the batch itself (nothing is decoded back from the
        // store); the events a departure or another world needs are set apart with their ids.
        let bodies: Vec<EventBody> = batch.events.iter().map(|e| e.body.clone()).collect();
        let notable: Vec<(Uuid, EventBody)> = batch
            .events
            .iter()
            .filter(|e| {
                matches!(
                    e.body,
                    EventBody::CharacterDeparted { .. }
                        | EventBody::PlayerPresence { .. }
                        | EventBody::PrivateMessageSent { .. }
                )
            })
            .map(|e| (e.event_id, e.body.clone()))
            .collect();
        let fanout = if !batch.events.is_empty() || !batch.journal.is_empty() {
            // The append runs on its own task while this one assembles every viewer's frame
            // from the tick's bodies; nothing is sent before the commit, and a batch that does
            // not commit takes its frames (and the interests they assumed) with it.
            let appending = tokio::spawn(append_patiently(self.store.clone(), self.lease, batch));
            let assembling = Instant::now();
            let assembled = self.assemble(tick, bodies);
            let assembly = assembling.elapsed();
            let (appended, took) = match appending.await {
                Ok(done) => done,
                Err(e) => match e.try_into_panic() {
                    Ok(panic) => std::panic::resume_unwind(panic),
                    // Only a runtime shutting down cancels it; whether it committed is the
                    // store's to say, as after an outage.
                    Err(e) => (Ok(Appended::Unavailable(e.to_string())), Duration::ZERO),
                },
            };
            append = took;
            let appended = match appended? {
                Appended::Committed(appended) => appended,
                Appended::Refused(error) => {
                    tracing::error!(%error, tick, "the store refused the tick's batch; rebuilding the world and answering its commands server_busy");
                    self.metrics.refused_ticks.inc();
                    self.set_aside(tick, inputs, answers);
                    self.resume().await;
                    return Ok(());
                }
                Appended::Unavailable(error) => {
                    warn!(%error, tick, "the store did not take the tick; its commands are answered server_busy and the world is rebuilt once the store answers");
                    self.metrics.unavailable_ticks.inc();
                    self.store_down();
                    self.set_aside(tick, inputs, answers);
                    return Ok(());
                }
            };
            self.metrics.append_seconds.observe(append.as_secs_f64());
            self.committed = appended.head;
            to_mark.extend(inputs.payments.iter().map(|p| p.id.clone()));
            self.metrics.events_appended.inc_by(events_in_tick as u64);
            let sending = Instant::now();
            self.deliver(answers, assembled);
            self.send_departed(&notable);
            self.publish_social(&notable);
            // The relay (store → JetStream) is woken after the players' frames are queued: its
            // read and publish would otherwise take the cores the sending is using.
            let _ = self.head_tx.send(appended.head.position);
            assembly + sending.elapsed()
        } else {
            let fanning = Instant::now();
            self.send_updates(tick, answers, bodies);
            fanning.elapsed()
        };
        self.metrics.fanout_seconds.observe(fanout.as_secs_f64());
        self.mark_payments(to_mark).await;
        self.tick_counter.store(tick, Ordering::Relaxed);
        if self
            .checkpoints
            .as_ref()
            .is_some_and(|(_, every)| tick.is_multiple_of(*every))
        {
            self.checkpoint().await;
        }
        if self
            .snapshots
            .as_ref()
            .is_some_and(|s| s.due(tick, self.committed.position))
        {
            self.snapshot_now();
        }
        let took = started.elapsed();
        self.metrics.tick_seconds.observe(took.as_secs_f64());
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        debug!(
            tick,
            ms = ms(took),
            decide_ms = ms(decide),
            append_ms = ms(append),
            fanout_ms = ms(fanout),
            events = events_in_tick,
            journaled,
            sessions = self.sessions.len(),
            "tick"
        );
        Ok(())
    }

    /// The answer to a seq at or below the last decided one: its original outcome while it is
    /// remembered, else `duplicate_seq`.
    fn repeated(&self, p: &Pending, tick: u64, last: u64) -> Answer {
        let frame = self
            .outcomes
            .get(&p.player_id)
            .and_then(|q| q.iter().find(|r| r.seq == p.seq))
            .map(Remembered::frame)
            .unwrap_or_else(|| ServerFrame::Rejected {
                seq: p.seq,
                tick,
                code: RejectionCode::DuplicateSeq.as_str().into(),
                message: format!("seq {} is not above the last decided seq {last}", p.seq),
            });
        self.metrics.duplicates.inc();
        Answer {
            player_id: p.player_id,
            frame,
            received_at_us: p.received_at_us,
        }
    }

    /// Journals a decided command, remembers its outcome and queues its answer.
    fn journal_outcome(
        &mut self,
        batch: &mut AppendBatch,
        answers: &mut Vec<Answer>,
        tick: u64,
        command_id: Uuid,
        p: Pending,
        result: Result<(), loh_world::Rejection>,
    ) {
        let (outcome, rejection) = match result {
            Ok(()) => {
                self.metrics.accepted.inc();
                (Outcome::Accepted, None)
            }
            Err(r) => {
                self.metrics.rejected.inc();
                let outcome = Outcome::Rejected {
                    code: r.code.as_str().to_owned(),
                    message: r.message.clone(),
                };
                (
                    outcome,
                    Some(Box::new((r.code, r.message.into_boxed_str()))),
                )
            }
        };
        batch.journal.push(JournalEntry {
            command_id,
            tick,
            player_id: p.player_id,
            seq: p.seq,
            command: rmp_serde::to_vec_named(&p.cmd).expect("commands always encode"),
            outcome,
            received_at_us: p.received_at_us,
        });
        self.last_seq.insert(p.player_id, p.seq);
        let remembered = Remembered {
            seq: p.seq,
            tick,
            rejection,
        };
        let frame = remembered.frame();
        if self.sessions.contains_key(&p.player_id) {
            let memory = self.outcomes.entry(p.player_id).or_default();
            if memory.len() == REMEMBERED_OUTCOMES {
                memory.pop_front();
            }
            memory.push_back(remembered);
        }
        answers.push(Answer {
            player_id: p.player_id,
            frame,
            received_at_us: p.received_at_us,
        });
    }

    /// The store did not answer: remembered as down (for `/healthz` and the metrics) and the
    /// world marked for a rebuild.
    fn store_down(&mut self) {
        self.stale = true;
        if self.store_up.swap(false, Ordering::Relaxed) {
            tracing::error!(
                shard = self.store.shard(),
                "event store unavailable; commands are answered server_busy until it is back"
            );
        }
        self.metrics.store_up.set(0);
    }

    /// After a tick the store did not take (refused, or an outage): nothing of it is kept. Its
    /// spawns and presence wait for the next tick, every command decided in it is answered
    /// `server_busy` (unjournaled: the same seq may be sent again, and if the tick did commit
    /// after all, the repeat is answered with its original outcome), and the world is marked for
    /// a rebuild from the store before anything else is decided.
    fn set_aside(&mut self, tick: u64, inputs: TickInputs, answers: Vec<Answer>) {
        self.stale = true;
        let mut spawns = inputs.spawns;
        spawns.append(&mut self.spawns);
        self.spawns = spawns;
        let mut presence = inputs.presence;
        presence.append(&mut self.presence);
        self.presence = presence;
        let answers = answers
            .into_iter()
            .map(|a| match a.frame {
                ServerFrame::Accepted { seq, .. } | ServerFrame::Rejected { seq, .. } => {
                    busy(a.player_id, seq, tick, a.received_at_us)
                }
                frame => Answer { frame, ..a },
            })
            .collect();
        // Nothing of the tick committed, and the world in memory is ahead of the store until it
        // is rebuilt: no view goes out (a `TickUpdate` follows a commit), only the answers.
        self.deliver(answers, Assembled::default());
    }

    /// While the store is down: every command waiting is answered `server_busy` (unjournaled,
    /// nothing kept), the tick does not advance; spawns and presence wait.
    fn answer_busy_while_down(&mut self) {
        let tick = self.tick;
        self.metrics.unavailable_ticks.inc();
        let answers = std::mem::take(&mut self.pending)
            .into_iter()
            .map(|p| busy(p.player_id, p.seq, tick, p.received_at_us))
            .collect();
        self.deliver(answers, Assembled::default());
    }

    /// At shutdown, after the last tick: the commands still waiting in the intake (behind a full
    /// tick, or sent during the last one) are answered `server_busy`, to be sent again with the
    /// same seq, instead of being dropped unanswered.
    fn answer_busy_at_shutdown(&mut self, intake: &mut mpsc::Receiver<Intake>) {
        let tick = self.tick;
        let mut answers = Vec::new();
        while let Ok(msg) = intake.try_recv() {
            if let Intake::Command {
                player_id,
                seq,
                received_at_us,
                ..
            } = msg
            {
                answers.push(busy(player_id, seq, tick, received_at_us));
            }
        }
        if !answers.is_empty() {
            self.deliver(answers, Assembled::default());
        }
    }

    /// Rebuilds the world, the tick and the last seqs from what the store committed; true when
    /// the writer may decide ticks again. The rebuild runs in a task of its own, waited for at
    /// most [`STORE_PATIENCE`] a call: one that takes longer (a long log since the last
    /// snapshot, a loaded machine) goes on, and a later call takes it up where it is — started
    /// over each time, it would never end. One still running after [`REBUILD_PATIENCE`] (a
    /// store that stopped answering mid-way) is abandoned and started again.
    async fn resume(&mut self) -> bool {
        if self
            .rebuilding
            .as_ref()
            .is_some_and(|(began, _)| began.elapsed() > REBUILD_PATIENCE)
            && let Some((_, task)) = self.rebuilding.take()
        {
            task.abort();
        }
        let (_, task) = self.rebuilding.get_or_insert_with(|| {
            let policy = self
                .snapshots
                .as_ref()
                .map(|s| SnapshotWriter::policy(s).clone());
            let store = self.store.clone();
            let pristine = self.pristine.clone();
            let task = tokio::spawn(async move {
                let (world, tick, _) = rebuild(&*store, pristine, policy.as_ref()).await?;
                let last_seq: HashMap<Uuid, u64> = store.last_seqs().await?.into_iter().collect();
                let head = store.head().await?;
                Ok::<_, TickError>((world, tick, last_seq, head))
            });
            (Instant::now(), task)
        });
        let Ok(joined) = tokio::time::timeout(STORE_PATIENCE, &mut *task).await else {
            debug!("the world is still being rebuilt from the store");
            self.store_down();
            return false;
        };
        self.rebuilding = None;
        let (world, tick, last_seq, head) = match joined {
            Ok(Ok(rebuilt)) => rebuilt,
            Ok(Err(error)) => {
                debug!(%error, "the store is not back yet");
                self.store_down();
                return false;
            }
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => {
                self.store_down();
                return false;
            }
        };
        self.world = world;
        // Ticks never go back: one that was set aside keeps its number.
        self.tick = self.tick.max(tick);
        self.last_seq = last_seq;
        // A spawn of a tick that committed after all (an ambiguous COMMIT) is not made twice.
        let world = &self.world;
        self.spawns.retain(|id| world.player(*id).is_none());
        // Outcomes of ticks that never committed were never decided: forget them.
        for (player, remembered) in &mut self.outcomes {
            let last = self.last_seq.get(player).copied().unwrap_or(0);
            remembered.retain(|r| r.seq <= last);
        }
        if head.position != self.committed.position {
            info!(
                position = head.position,
                "a tick answered server_busy had committed after all"
            );
        }
        self.committed = head;
        let _ = self.head_tx.send(head.position);
        self.stale = false;
        if !self.store_up.swap(true, Ordering::Relaxed) {
            info!(
                tick = self.tick,
                head = head.position,
                "event store back; world rebuilt from it"
            );
        }
        self.metrics.store_up.set(1);
        true
    }

    /// Sends answers and each player's view of the tick, after the commit ([`Self::assemble`],
    /// then [`Self::deliver`]).
    fn send_updates(&mut self, tick: u64, answers: Vec<Answer>, bodies: Vec<EventBody>) {
        let assembled = self.assemble(tick, bodies);
        self.deliver(answers, assembled);
    }

    /// Every viewer's frame of the tick whose events are `bodies`: each event is encoded once
    /// and each viewer's frame assembled from those bytes within its interest
    /// ([`crate::fanout`]). Nothing is sent and no session changes: each viewer's interest
    /// after its frame is kept beside it, for [`Self::deliver`] to adopt once the tick commits.
    fn assemble(&self, tick: u64, bodies: Vec<EventBody>) -> Assembled {
        let mut view = TickView::new(&self.world, tick, self.view, bodies).with_names(&self.names);
        let frames = self
            .sessions
            .iter()
            .map(|(viewer, session)| {
                let mut interest = session.interest.clone();
                let frame = view.frame_for(*viewer, &mut interest);
                (*viewer, interest, frame)
            })
            .collect();
        Assembled {
            frames,
            evictions: view.evictions,
        }
    }

    /// Sends the answers, then the assembled frames, adopting each viewer's new interest.
    fn deliver(&mut self, answers: Vec<Answer>, assembled: Assembled) {
        // Clients whose queue is full: they stopped reading. (A queue whose receiver is gone
        // belongs to a connection that is closing; its `Disconnect` is on the way.)
        let mut dead = Vec::new();
        let full = |sent: Result<(), mpsc::error::TrySendError<Frame>>| {
            matches!(sent, Err(mpsc::error::TrySendError::Full(_)))
        };
        let now = now_us();
        for a in answers {
            let Some(s) = self.sessions.get(&a.player_id) else {
                continue;
            };
            if full(s.outbound.try_send(encode_server(&a.frame).into())) {
                dead.push(a.player_id);
            } else if a.received_at_us > 0 {
                let waited = now.saturating_sub(a.received_at_us).max(0);
                self.metrics.answer_seconds.observe(waited as f64 / 1e6);
            }
        }
        for (viewer, interest, frame) in assembled.frames {
            let Some(session) = self.sessions.get_mut(&viewer) else {
                continue;
            };
            session.interest = interest;
            if let Some(frame) = frame
                && full(session.outbound.try_send(frame))
            {
                dead.push(viewer);
            }
        }
        self.metrics.view_evictions.inc_by(assembled.evictions);
        for id in dead {
            // A client that stops reading is dropped; its socket closes when the queue does.
            if self.sessions.remove(&id).is_some() {
                self.names.remove(&id);
                self.outcomes.remove(&id);
                self.presence.push((id, false));
                self.metrics.slow_disconnects.inc();
                warn!(player_id = %id, "dropped a client whose queue of frames is full");
            }
        }
        self.metrics.sessions.set(self.sessions.len() as i64);
    }
}

/// A tick's frames, assembled and not yet sent: per viewer, its interest once the frame is
/// sent and the frame (none for a viewer not in the world).
#[derive(Default)]
struct Assembled {
    frames: Vec<(Uuid, Interest, Option<Bytes>)>,
    evictions: u64,
}

/// Appends a tick's batch, and says how long that took: transient failures are retried with
/// the same batch (the store makes a repeat a no-op) for [`STORE_PATIENCE`] at most; a batch the
/// store refuses as such (a value it cannot encode, a broken rule) is not an outage and is not
/// retried.
async fn append_patiently(
    store: Arc<dyn EventStore>,
    lease: Lease,
    batch: AppendBatch,
) -> (Result<Appended, TickError>, Duration) {
    let started = Instant::now();
    let deadline = started + STORE_PATIENCE;
    let mut attempt = 0;
    let result = loop {
        attempt += 1;
        let left = deadline.saturating_duration_since(Instant::now());
        let tried = tokio::time::timeout(left, store.append(lease, batch.clone()));
        let Ok(result) = tried.await else {
            break Ok(Appended::Unavailable(format!(
                "no answer within {STORE_PATIENCE:?} ({attempt} attempts)"
            )));
        };
        let backoff = Duration::from_millis(50 << attempt.min(6));
        match result {
            Ok(appended) => break Ok(Appended::Committed(appended)),
            Err(loh_events::Error::Fenced) => break Err(TickError::Fenced),
            Err(e) if !e.is_transient() => break Ok(Appended::Refused(e)),
            Err(e) if Instant::now() + backoff < deadline => {
                warn!(error = %e, attempt, "append failed; retrying the same batch");
                tokio::time::sleep(backoff).await;
            }
            Err(e) => break Ok(Appended::Unavailable(e.to_string())),
        }
    };
    (result, started.elapsed())
}

/// `server_busy` for `seq`: nothing of it was kept; the same seq may be sent again.
fn busy(player_id: Uuid, seq: u64, tick: u64, received_at_us: i64) -> Answer {
    Answer {
        player_id,
        received_at_us,
        frame: ServerFrame::Rejected {
            seq,
            tick,
            code: RejectionCode::ServerBusy.as_str().into(),
            message: "the tick could not be stored; send it again with the same seq".into(),
        },
    }
}

/// How `store`'s log names its events: by its shard, unless it began before worlds shared a
/// database ([`EventIds::for_log`]).
async fn event_ids(store: &dyn EventStore) -> Result<EventIds, TickError> {
    let first = store.read_from(1, 1).await?.into_iter().next();
    Ok(EventIds::for_log(
        store.shard(),
        first.map(|e| (e.event_id, e.correlation_id, e.tick)),
    ))
}

/// Microseconds since the Unix epoch.
pub fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// The `Social` frame carrying `body` from `world`, encoded as the fan-out encodes events.
fn social_frame(world: String, body: &EventBody) -> ServerFrame {
    let event =
        rmpv::decode::read_value(&mut &encode_event(body)[..]).expect("an encoded event decodes");
    ServerFrame::Social {
        world,
        event: Arc::new(event),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_outcome_is_the_answer_it_was_sent_as() {
        let accepted = Remembered {
            seq: 7,
            tick: 3,
            rejection: None,
        };
        assert_eq!(accepted.frame(), ServerFrame::Accepted { seq: 7, tick: 3 });
        let rejected = Remembered {
            seq: 8,
            tick: 4,
            rejection: Some(Box::new((RejectionCode::NoMove, "already there".into()))),
        };
        assert_eq!(
            rejected.frame(),
            ServerFrame::Rejected {
                seq: 8,
                tick: 4,
                code: "no_move".into(),
                message: "already there".into(),
            }
        );
        // What each of a player's 64 places costs.
        assert_eq!(std::mem::size_of::<Remembered>(), 24);
    }
}
