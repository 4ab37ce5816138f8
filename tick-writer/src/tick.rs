//! The tick loop: the single writer of a shard.
//!
//! Commands arrive on an intake queue; every tick the loop decides them in a fixed order
//! (input: spawns, presence, then commands by player and seq; then the world's phases NPCs →
//! players → combat → flush), appends all the tick's events and its command
//! journal in one batch and one COMMIT, and only then answers `Accepted`/`Rejected` and sends
//! each player the `TickUpdate` they may see.

use crate::auth::tokens::SigningKey;
use crate::metrics::TickMetrics;
use crate::world::phases::PHASES;
use crate::world::view::ViewIndex;
use crate::world::{World, chebyshev};
use loh_commands::{Command, ServerFrame};
use loh_events::{
    AppendBatch, Checkpoint, EventBody, EventStore, Head, JournalEntry, Lease, NewEvent, Outcome,
};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use uuid::Uuid;

/// Players see events of other players within this many tiles.
pub const VIEW_DISTANCE: u32 = crate::world::social::VIEW_DISTANCE;
/// Outcomes remembered per player to answer a repeated seq with its original outcome.
const REMEMBERED_OUTCOMES: usize = 64;
/// Frames buffered per connection; a client that stops reading is disconnected past this.
pub const OUTBOUND_QUEUE: usize = 256;
/// Commands a player may have decided per tick; the rest are `Rejected` with `rate_limited`.
pub const ACTIONS_PER_TICK: usize = 8;
/// Appends retried this many times on transient errors before the writer gives up.
const APPEND_ATTEMPTS: u32 = 8;

/// The player id under which a tick's inputs other than commands are journaled, with
/// `seq` = the tick, so the journal alone replays the world (`loh replay resimulate`).
pub const TICK_INPUTS_PLAYER: Uuid = Uuid::nil();

/// A tick's inputs other than commands: players entering for the first time (decided in id
/// order) and sessions opened (`true`) or closed, in arrival order. Journaled as MessagePack
/// under [`TICK_INPUTS_PLAYER`], ahead of the tick's commands.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TickInputs {
    pub spawns: Vec<Uuid>,
    pub presence: Vec<(Uuid, bool)>,
}

/// Ticks between signed checkpoints of the chain (one a minute at 400 ms).
pub const CHECKPOINT_EVERY_TICKS: u64 = 150;

/// What a checkpoint's signature covers: the chain's hash at a position of a shard.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CheckpointClaims {
    pub shard: String,
    pub position: u64,
    /// The event's hash, lowercase hex.
    pub hash: String,
}

/// Signs `(shard, head)` with the server's RSA key: a compact JWS (RS256, header `kid`).
pub fn sign_checkpoint(key: &SigningKey, shard: &str, head: Head) -> Result<String, String> {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(key.kid().to_owned());
    let claims = CheckpointClaims {
        shard: shard.to_owned(),
        position: head.position,
        hash: hex::encode(head.hash),
    };
    let encoding = jsonwebtoken::EncodingKey::from_rsa_pem(key.private_pem().as_bytes())
        .map_err(|e| e.to_string())?;
    jsonwebtoken::encode(&header, &claims, &encoding).map_err(|e| e.to_string())
}

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
        outbound: mpsc::Sender<ServerFrame>,
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
}

/// The handle the gateway uses to reach the tick loop.
#[derive(Clone, Debug)]
pub struct TickHandle {
    pub intake: mpsc::Sender<Intake>,
    pub tick: Arc<AtomicU64>,
    pub tick_ms: u32,
}

impl TickHandle {
    pub fn current_tick(&self) -> u64 {
        self.tick.load(Ordering::Relaxed)
    }
}

/// Why the writer stopped.
#[derive(Debug, thiserror::Error)]
pub enum TickError {
    /// Another writer took the shard; this one must not write again.
    #[error("fenced out by another writer")]
    Fenced,
    /// The store kept failing; nothing of the failed tick was acknowledged. Restart the process:
    /// the world is rebuilt from what committed.
    #[error("event store: {0}")]
    Store(#[from] loh_events::Error),
}

struct Session {
    conn_id: u64,
    outbound: mpsc::Sender<ServerFrame>,
}

struct Pending {
    player_id: Uuid,
    seq: u64,
    cmd: Command,
    received_at_us: i64,
}

/// An answer to send once the tick commits.
struct Answer {
    player_id: Uuid,
    frame: ServerFrame,
}

/// The tick writer of one shard.
pub struct TickWriter {
    store: Arc<dyn EventStore>,
    lease: Lease,
    world: World,
    tick: u64,
    pacing: Pacing,
    last_seq: HashMap<Uuid, u64>,
    outcomes: HashMap<Uuid, VecDeque<(u64, ServerFrame)>>,
    sessions: HashMap<Uuid, Session>,
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
}

impl TickWriter {
    /// Takes the shard's lease and rebuilds the world from the store.
    pub async fn start(
        store: Arc<dyn EventStore>,
        world: World,
        pacing: Pacing,
        metrics: TickMetrics,
    ) -> Result<TickWriter, TickError> {
        let lease = store.acquire().await?;
        let mut world = world;
        let mut tick = 0;
        let mut from = 1;
        loop {
            let batch = store.read_from(from, 5_000).await?;
            let Some(last) = batch.last() else { break };
            from = last.position + 1;
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
        let last_seq: HashMap<Uuid, u64> = store.last_seqs().await?.into_iter().collect();
        let head = store.head().await?;
        info!(
            shard = store.shard(),
            epoch = lease.epoch,
            head = head.position,
            tick,
            "world rebuilt from the store"
        );
        let (head_tx, _) = watch::channel(head.position);
        Ok(TickWriter {
            store,
            lease,
            world,
            tick,
            pacing,
            last_seq,
            outcomes: HashMap::new(),
            sessions: HashMap::new(),
            pending: Vec::new(),
            spawns: Vec::new(),
            presence: Vec::new(),
            tick_counter: Arc::new(AtomicU64::new(tick)),
            head_tx,
            metrics,
            committed: head,
            checkpointed: head.position,
            checkpoints: None,
        })
    }

    /// Signs a checkpoint of the chain with `key` every `every_ticks` ticks (when the head
    /// moved), for `loh replay verify`.
    pub fn with_checkpoints(mut self, key: SigningKey, every_ticks: u64) -> TickWriter {
        self.checkpoints = Some((key, every_ticks.max(1)));
        self
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
        let signed = tokio::task::spawn_blocking(move || sign_checkpoint(&key, &shard, head)).await;
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
                    info!(tick = self.tick, "tick writer stopped");
                    return Ok(());
                }
                msg = intake.recv() => match msg {
                    Some(msg) => self.take(msg),
                    None => return Ok(()),
                },
                _ = tokio::time::sleep_until(deadline) => {
                    last_tick = tokio::time::Instant::now();
                    self.run_tick().await?;
                }
            }
        }
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
        }
    }

    /// Takes one intake message between ticks.
    pub fn take(&mut self, msg: Intake) {
        match msg {
            Intake::Connect {
                player_id,
                conn_id,
                outbound,
                reply,
            } => {
                if self.world.player(player_id).is_none() && !self.spawns.contains(&player_id) {
                    self.spawns.push(player_id);
                }
                self.presence.push((player_id, true));
                // One live session per player: the new connection takes over.
                self.sessions
                    .insert(player_id, Session { conn_id, outbound });
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
        }
    }

    /// Decides everything queued, commits it as one batch, then answers.
    pub async fn run_tick(&mut self) -> Result<(), TickError> {
        let started = Instant::now();
        self.tick += 1;
        let tick = self.tick;
        let now_us = now_us();
        self.world.begin_tick(tick);

        let mut batch = AppendBatch::default();
        let mut answers = Vec::new();

        // Phase: input. New players enter first, in id order.
        let mut spawns = std::mem::take(&mut self.spawns);
        spawns.sort();
        let presence = std::mem::take(&mut self.presence);
        if !spawns.is_empty() || !presence.is_empty() {
            let inputs = TickInputs {
                spawns: spawns.clone(),
                presence: presence.clone(),
            };
            batch.journal.push(JournalEntry {
                command_id: derive_id(&[
                    b"inputs",
                    self.store.shard().as_bytes(),
                    &tick.to_be_bytes(),
                ]),
                tick,
                player_id: TICK_INPUTS_PLAYER,
                seq: tick,
                command: rmp_serde::to_vec_named(&inputs).expect("inputs always encode"),
                outcome: Outcome::Accepted,
                received_at_us: now_us,
            });
        }
        for player_id in spawns {
            let cause = derive_id(&[b"spawn", player_id.as_bytes()]);
            for body in self.world.spawn(player_id) {
                self.push_event(&mut batch, tick, now_us, cause, body);
            }
        }
        // Sessions opened and closed, in arrival order (friends see it; a trade is cancelled).
        for (player_id, online) in presence {
            let cause = derive_id(&[b"presence", player_id.as_bytes(), &tick.to_be_bytes()]);
            for body in self.world.presence(player_id, online) {
                self.push_event(&mut batch, tick, now_us, cause, body);
            }
        }

        // Phase: players. Commands in a fixed order: by player, then seq.
        let mut pending = std::mem::take(&mut self.pending);
        pending.sort_by_key(|p| (p.player_id, p.seq));
        let mut spent: HashMap<Uuid, usize> = HashMap::new();
        for p in pending {
            // The per-player action budget: past it, a command is refused unjournaled, so the
            // same seq can be sent again in a later tick.
            let used = spent.entry(p.player_id).or_default();
            *used += 1;
            if *used > ACTIONS_PER_TICK {
                self.metrics.rate_limited.inc();
                answers.push(Answer {
                    player_id: p.player_id,
                    frame: ServerFrame::Rejected {
                        seq: p.seq,
                        tick,
                        code: "rate_limited".into(),
                        message: format!("more than {ACTIONS_PER_TICK} commands in one tick"),
                    },
                });
                continue;
            }
            self.decide_one(&mut batch, &mut answers, tick, now_us, p);
        }

        // The world's phases after input: NPCs → players → combat → flush.
        for phase in PHASES {
            self.world.run_phase(phase, &mut |world, cause, body| {
                push_new(&mut batch, world, tick, now_us, cause, body.clone());
            });
        }

        let events_in_tick = batch.events.len();
        if !batch.events.is_empty() || !batch.journal.is_empty() {
            let appended = self.append(batch).await?;
            self.committed = appended.head;
            let _ = self.head_tx.send(appended.head.position);
            self.metrics.events_appended.inc_by(events_in_tick as u64);
            self.send_updates(tick, answers, &appended.events);
        } else {
            self.send_updates(tick, answers, &[]);
        }
        self.tick_counter.store(tick, Ordering::Relaxed);
        if self
            .checkpoints
            .as_ref()
            .is_some_and(|(_, every)| tick.is_multiple_of(*every))
        {
            self.checkpoint().await;
        }
        self.metrics
            .tick_seconds
            .observe(started.elapsed().as_secs_f64());
        Ok(())
    }

    fn decide_one(
        &mut self,
        batch: &mut AppendBatch,
        answers: &mut Vec<Answer>,
        tick: u64,
        now_us: i64,
        p: Pending,
    ) {
        let last = self.last_seq.get(&p.player_id).copied().unwrap_or(0);
        if p.seq <= last {
            let frame = self
                .outcomes
                .get(&p.player_id)
                .and_then(|q| q.iter().find(|(s, _)| *s == p.seq))
                .map(|(_, f)| f.clone())
                .unwrap_or_else(|| ServerFrame::Rejected {
                    seq: p.seq,
                    tick,
                    code: "duplicate_seq".into(),
                    message: format!("seq {} is not above the last decided seq {last}", p.seq),
                });
            self.metrics.duplicates.inc();
            answers.push(Answer {
                player_id: p.player_id,
                frame,
            });
            return;
        }
        let command_id = derive_id(&[
            self.store.shard().as_bytes(),
            p.player_id.as_bytes(),
            &p.seq.to_be_bytes(),
        ]);
        let mut rng = self.world.rng_for(command_id);
        let (outcome, frame) = match self.world.decide(p.player_id, &p.cmd, &mut rng) {
            Ok(bodies) => {
                for body in bodies {
                    self.push_event(batch, tick, now_us, command_id, body);
                }
                self.metrics.accepted.inc();
                (
                    Outcome::Accepted,
                    ServerFrame::Accepted { seq: p.seq, tick },
                )
            }
            Err(r) => {
                self.metrics.rejected.inc();
                (
                    Outcome::Rejected {
                        code: r.code.to_owned(),
                        message: r.message.clone(),
                    },
                    ServerFrame::Rejected {
                        seq: p.seq,
                        tick,
                        code: r.code.to_owned(),
                        message: r.message,
                    },
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
        let remembered = self.outcomes.entry(p.player_id).or_default();
        if remembered.len() == REMEMBERED_OUTCOMES {
            remembered.pop_front();
        }
        remembered.push_back((p.seq, frame.clone()));
        answers.push(Answer {
            player_id: p.player_id,
            frame,
        });
    }

    fn push_event(
        &mut self,
        batch: &mut AppendBatch,
        tick: u64,
        now_us: i64,
        cause: Uuid,
        body: EventBody,
    ) {
        push_new(batch, &self.world, tick, now_us, cause, body.clone());
        self.world.apply(&body);
    }

    async fn append(&self, batch: AppendBatch) -> Result<loh_events::Appended, TickError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.store.append(self.lease, batch.clone()).await {
                Ok(appended) => return Ok(appended),
                Err(loh_events::Error::Fenced) => return Err(TickError::Fenced),
                Err(e) if attempt < APPEND_ATTEMPTS => {
                    warn!(error = %e, attempt, "append failed; retrying the same batch");
                    tokio::time::sleep(Duration::from_millis(50 << attempt.min(6))).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Sends answers and each player's view of the tick, after the commit.
    fn send_updates(
        &mut self,
        tick: u64,
        answers: Vec<Answer>,
        events: &[loh_events::StoredEvent],
    ) {
        let mut dead = Vec::new();
        for a in answers {
            if let Some(s) = self.sessions.get(&a.player_id)
                && s.outbound.try_send(a.frame).is_err()
            {
                dead.push(a.player_id);
            }
        }
        // Each event, the tile it happens on and its wire form, built once and shared by every
        // frame that shows it.
        let bodies: Vec<EventBody> = events.iter().filter_map(|e| e.body().ok()).collect();
        let values: Vec<Arc<rmpv::Value>> = bodies.iter().map(|b| Arc::new(to_wire(b))).collect();
        // Items private to their owner until now, found and encoded once for every viewer.
        let appearing: Vec<(&loh_events::GroundItem, Arc<rmpv::Value>)> = self
            .world
            .ground_items_turning_public()
            .map(|g| (g, Arc::new(ground_item_appeared(g))))
            .collect();
        let mut index = ViewIndex::new(bodies.iter().map(|b| (b, self.world.event_tile(b))));
        let mut seen = Vec::new();
        for (viewer, session) in &self.sessions {
            let Some(v) = self.world.player(*viewer) else {
                continue;
            };
            index.visible(&self.world, *viewer, v, &bodies, &mut seen);
            let mut visible: Vec<Arc<rmpv::Value>> = seen
                .iter()
                .map(|&i| {
                    let redacted = (!index.is_plain(i))
                        .then(|| self.world.redacted_for(*viewer, &bodies[i]))
                        .flatten();
                    match redacted {
                        Some(redacted) => Arc::new(to_wire(&redacted)),
                        None => values[i].clone(),
                    }
                })
                .collect();
            // Items private to their owner until now appear to everyone else around.
            visible.extend(
                appearing
                    .iter()
                    .filter(|(g, _)| {
                        g.owner != Some(*viewer) && chebyshev(v.x, v.y, g.x, g.y) <= VIEW_DISTANCE
                    })
                    .map(|(_, value)| value.clone()),
            );
            if session
                .outbound
                .try_send(ServerFrame::TickUpdate {
                    tick,
                    events: visible,
                })
                .is_err()
            {
                dead.push(*viewer);
            }
        }
        for id in dead {
            // A client that stops reading is dropped; its socket closes when the queue does.
            if self.sessions.remove(&id).is_some() {
                self.presence.push((id, false));
                self.metrics.slow_disconnects.inc();
            }
        }
        self.metrics.sessions.set(self.sessions.len() as i64);
    }
}

/// The view-only `GroundItemAppeared` frame event: a ground item others may now see. Not a
/// stored fact (the drop, with its `public_at`, is), so it is built here and not in the store.
fn ground_item_appeared(g: &loh_events::GroundItem) -> rmpv::Value {
    let inner = json_to_msgpack(serde_json::to_value(g).expect("ground items always encode"));
    rmpv::Value::Map(vec![("GroundItemAppeared".into(), inner)])
}

/// Adds `body` to the batch as the next event of its stream (the world has not applied it yet).
pub fn push_new(
    batch: &mut AppendBatch,
    world: &World,
    tick: u64,
    now_us: i64,
    cause: Uuid,
    body: EventBody,
) {
    let index = batch.events.len() as u64;
    batch.events.push(NewEvent {
        event_id: derive_id(&[cause.as_bytes(), &index.to_be_bytes(), &tick.to_be_bytes()]),
        stream_id: body.stream_id(),
        stream_version: world.stream_version(&body) + 1,
        tick,
        correlation_id: cause,
        causation_id: Some(cause),
        occurred_at_us: now_us,
        body,
    });
}

/// An event body as an externally tagged MessagePack map, for `TickUpdate`.
pub fn to_wire(body: &EventBody) -> rmpv::Value {
    json_to_msgpack(serde_json::to_value(body).expect("bodies always encode"))
}

fn json_to_msgpack(v: serde_json::Value) -> rmpv::Value {
    use serde_json::Value as J;
    match v {
        J::Null => rmpv::Value::Nil,
        J::Bool(b) => b.into(),
        J::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into(),
            (None, Some(u)) => u.into(),
            _ => n.as_f64().unwrap_or_default().into(),
        },
        J::String(s) => s.into(),
        J::Array(a) => rmpv::Value::Array(a.into_iter().map(json_to_msgpack).collect()),
        J::Object(m) => rmpv::Value::Map(
            m.into_iter()
                .map(|(k, v)| (k.into(), json_to_msgpack(v)))
                .collect(),
        ),
    }
}

/// A deterministic UUID from its parts (SHA-256, version 8).
pub fn derive_id(parts: &[&[u8]]) -> Uuid {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u32).to_be_bytes());
        h.update(p);
    }
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::new_v8(bytes)
}

/// Microseconds since the Unix epoch.
pub fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}
