//! The projection runner: applies events in position order, exactly once in effect.
//!
//! Every batch of events is one transaction that moves the checkpoint from `c` to `c + n` and
//! writes the read-model rows; the checkpoint update is conditional on the old value, so a second
//! runner or a rebuild cannot make an event count twice. Events at or below the checkpoint are
//! no-ops (acknowledged); a gap is filled from the event store before anything after it applies.
//!
//! Two sources wake the runner: a durable JetStream pull consumer ([`Source::Nats`]) or, in the
//! embedded mode, the committed head of the store published on a `watch` channel
//! ([`Source::Embedded`]). Both also poll the store, so a lost message or a missed wake-up only
//! delays the read model. A process runs its world's projectors together ([`run_all`]): on
//! JetStream they share one consumer, and each event is received and decoded once for all.

use crate::db::ReadDb;
use crate::fold::Projection;
use crate::status::{ProjectionMetrics, ProjectorStatus};
use crate::{Error, Result};
use loh_events::{EventBody, EventStore, StoredEvent};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

#[cfg(feature = "nats")]
mod group;
#[cfg(feature = "nats")]
mod jetstream;

#[cfg(feature = "nats")]
pub use group::GROUP_DURABLE;

/// An event and, when it was decoded already, its body.
type Decoded<'a> = (&'a StoredEvent, Option<&'a EventBody>);

/// Tuning of a [`Projector`].
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Most events applied in one transaction (and asked of the store or JetStream at once).
    pub batch_size: usize,
    /// How often the runner checks the store's head when nothing woke it.
    pub poll_interval: Duration,
    /// How long the runner waits before retrying after a transient failure.
    pub retry_delay: Duration,
    /// JetStream consumer settings.
    pub nats: NatsOptions,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            batch_size: 500,
            poll_interval: Duration::from_secs(2),
            retry_delay: Duration::from_secs(1),
            nats: NatsOptions::default(),
        }
    }
}

/// Settings of the durable JetStream consumer of a projector.
#[derive(Debug, Clone)]
pub struct NatsOptions {
    /// The durable consumer's name; `proj_<projection name>` when `None`.
    pub durable_name: Option<String>,
    /// How long JetStream waits for an ack before redelivering.
    pub ack_wait: Duration,
    /// Most messages delivered and not yet acknowledged.
    pub max_ack_pending: i64,
    /// Idle heartbeat of the pull requests.
    pub heartbeat: Duration,
    /// Expiry of each pull request.
    pub expires: Duration,
}

impl Default for NatsOptions {
    fn default() -> Self {
        NatsOptions {
            durable_name: None,
            ack_wait: Duration::from_secs(30),
            max_ack_pending: 20_000,
            heartbeat: Duration::from_secs(5),
            expires: Duration::from_secs(30),
        }
    }
}

/// Where a projector learns that new events were committed.
// Built once per run; the size of the NATS variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Source {
    /// A durable JetStream pull consumer on the shard's event stream (deliver all, explicit
    /// ack; messages are acked only once their effects are committed).
    #[cfg(feature = "nats")]
    Nats {
        jetstream: async_nats::jetstream::Context,
        stream: loh_nats::EventStreamDef,
    },
    /// Embedded mode: the committed head of the store, published by the tick writer.
    Embedded { head: watch::Receiver<u64> },
    /// No notifications: poll the store every [`RunnerConfig::poll_interval`].
    Poll,
}

/// Keeps one read model up to date.
#[derive(Clone)]
pub struct Projector {
    projection: Arc<dyn Projection>,
    db: ReadDb,
    store: Arc<dyn EventStore>,
    metrics: ProjectionMetrics,
    config: RunnerConfig,
}

impl std::fmt::Debug for Projector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Projector")
            .field("projection", &self.projection.name())
            .field("shard", &self.store.shard())
            .field("config", &self.config)
            .finish()
    }
}

impl Projector {
    /// A projector of `projection` writing to `db`, reading gaps and rebuilds from `store`.
    /// Its checkpoint is that of `store`'s world (`db` is scoped to it, [`ReadDb::in_world`]).
    /// Metrics go to an unregistered [`ProjectionMetrics`] until [`Projector::with_metrics`].
    pub fn new(projection: Arc<dyn Projection>, db: ReadDb, store: Arc<dyn EventStore>) -> Self {
        Projector {
            projection,
            db: db.in_world(store.shard()),
            store,
            metrics: ProjectionMetrics::default(),
            config: RunnerConfig::default(),
        }
    }

    /// Reports into `metrics` (a clone of the registered ones).
    pub fn with_metrics(mut self, metrics: ProjectionMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Uses `config`.
    pub fn with_config(mut self, config: RunnerConfig) -> Self {
        self.config = config;
        self
    }

    /// The projection's name.
    pub fn name(&self) -> &'static str {
        self.projection.name()
    }

    /// The read model it writes: the projection's name, or the model it is a partition of.
    pub fn model(&self) -> &'static str {
        self.projection
            .partition_of()
            .unwrap_or(self.projection.name())
    }

    /// The projection.
    pub fn projection(&self) -> &Arc<dyn Projection> {
        &self.projection
    }

    /// The read database, scoped to the store's world.
    pub fn db(&self) -> &ReadDb {
        &self.db
    }

    /// The event store.
    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    /// The metrics it reports into.
    pub fn metrics(&self) -> &ProjectionMetrics {
        &self.metrics
    }

    /// The configuration.
    pub fn config(&self) -> &RunnerConfig {
        &self.config
    }

    /// The durable consumer name of this projector.
    pub fn durable_name(&self) -> String {
        self.config
            .nats
            .durable_name
            .clone()
            .unwrap_or_else(|| durable_name(self.projection.name()))
    }

    /// The current checkpoint, head and lag; also recorded in the metrics.
    pub async fn status(&self) -> Result<ProjectorStatus> {
        let status = crate::status::status(&self.db, &*self.store, self.name()).await?;
        self.metrics.observe(&status);
        Ok(status)
    }

    /// Applies every committed event after the checkpoint, from the store, and returns the new
    /// checkpoint.
    pub async fn catch_up(&self) -> Result<u64> {
        let mut checkpoint = self.db.ensure_checkpoint(self.name(), self.model()).await?;
        self.catch_up_from(&mut checkpoint, &CancellationToken::new())
            .await?;
        Ok(checkpoint)
    }

    /// Runs until `cancel`: follows `source`, committing each batch (and so the checkpoint) as
    /// it goes; on cancel it finishes the batch in hand, commits and returns `Ok`. Transient
    /// failures (database, store, JetStream) are logged and retried after
    /// [`RunnerConfig::retry_delay`]; only lasting ones ([`Error::MissingEvent`], an event this
    /// build cannot decode, a bad table definition) end the run with `Err`.
    pub async fn run(&self, source: Source, cancel: CancellationToken) -> Result<()> {
        let mut head = match &source {
            Source::Embedded { head } => Some(head.clone()),
            _ => None,
        };
        loop {
            let outcome = match &source {
                #[cfg(feature = "nats")]
                Source::Nats { jetstream, stream } => {
                    self.run_nats(jetstream, stream, &cancel).await
                }
                Source::Embedded { .. } | Source::Poll => self.run_store(&mut head, &cancel).await,
            };
            if let Some(done) = self.settle(outcome, &cancel).await {
                return done;
            }
        }
    }

    /// How a run ends after `outcome`: `Some` of it, or `None` to run again after a transient
    /// failure (logged, then [`RunnerConfig::retry_delay`] waited out unless `cancel` comes).
    async fn settle(&self, outcome: Result<()>, cancel: &CancellationToken) -> Option<Result<()>> {
        match outcome {
            Ok(()) => Some(Ok(())),
            Err(e) if is_transient(&e) => {
                tracing::warn!(projector = self.name(), error = %e, "projector failed; retrying");
                tokio::select! {
                    _ = cancel.cancelled() => Some(Ok(())),
                    _ = tokio::time::sleep(self.config.retry_delay) => None,
                }
            }
            Err(e) => {
                tracing::error!(projector = self.name(), error = %e, "projector stopped");
                Some(Err(e))
            }
        }
    }

    /// Embedded (and polling) source: catch up from the store whenever the head moves.
    async fn run_store(
        &self,
        head: &mut Option<watch::Receiver<u64>>,
        cancel: &CancellationToken,
    ) -> Result<()> {
        let mut checkpoint = self.db.ensure_checkpoint(self.name(), self.model()).await?;
        let mut last_status = None;
        loop {
            self.catch_up_from(&mut checkpoint, cancel).await?;
            self.observe_throttled(&mut last_status).await;
            if cancel.is_cancelled() {
                return Ok(());
            }
            // Wait for a new head, the poll timer or cancellation.
            loop {
                let woken_by_head = tokio::select! {
                    biased;
                    _ = cancel.cancelled() => return Ok(()),
                    changed = wait_changed(head.as_mut()) => {
                        if changed.is_err() {
                            // The tick writer is gone; keep polling.
                            *head = None;
                        }
                        true
                    }
                    _ = tokio::time::sleep(self.config.poll_interval) => false,
                };
                let known = head.as_ref().map(|h| *h.borrow()).unwrap_or(0);
                if !woken_by_head || known > checkpoint || head.is_none() {
                    break;
                }
            }
        }
    }

    /// Reads and applies batches from the store until it has nothing after the checkpoint (or
    /// `cancel`).
    async fn catch_up_from(&self, checkpoint: &mut u64, cancel: &CancellationToken) -> Result<()> {
        let batch = self.config.batch_size.max(1);
        while !cancel.is_cancelled() {
            let events = self.store.read_from(*checkpoint + 1, batch).await?;
            let Some(last) = events.last() else { break };
            let last = last.position;
            if events[0].position != *checkpoint + 1 {
                return Err(Error::MissingEvent(*checkpoint + 1));
            }
            let full = events.len() == batch;
            self.apply(checkpoint, events).await?;
            if !full || *checkpoint < last {
                break;
            }
        }
        Ok(())
    }

    /// Applies `events` (contiguous from `checkpoint + 1`, repeats allowed) in transactions of at
    /// most a batch, moving `checkpoint` as each commits. If another writer moved the checkpoint,
    /// reloads it and stops; the caller's next catch-up continues from there.
    async fn apply(&self, checkpoint: &mut u64, events: Vec<StoredEvent>) -> Result<()> {
        let events: Vec<Decoded<'_>> = events.iter().map(|event| (event, None)).collect();
        self.apply_decoded(checkpoint, &events).await
    }

    /// [`Projector::apply`] of events whose bodies may be decoded already (one decode serves
    /// every read model of a process); an event without one is decoded here.
    async fn apply_decoded(&self, checkpoint: &mut u64, events: &[Decoded<'_>]) -> Result<()> {
        let fresh: Vec<Decoded<'_>> = events
            .iter()
            .filter(|(e, _)| e.position > *checkpoint)
            .copied()
            .collect();
        for chunk in fresh.chunks(self.config.batch_size.max(1)) {
            if chunk[0].0.position != *checkpoint + 1 {
                return Err(Error::MissingEvent(*checkpoint + 1));
            }
            for pair in chunk.windows(2) {
                if pair[1].0.position != pair[0].0.position + 1 {
                    return Err(Error::MissingEvent(pair[0].0.position + 1));
                }
            }
            let mut ops = Vec::new();
            for &(event, body) in chunk {
                ops.extend(match body {
                    Some(body) => self.projection.fold(event, body)?,
                    None => self.projection.apply(event)?,
                });
            }
            let new = chunk[chunk.len() - 1].0.position;
            if self
                .db
                .commit_batch(self.name(), *checkpoint, new, &ops)
                .await?
            {
                *checkpoint = new;
                self.metrics.committed(self.name(), chunk.len() as u64, new);
            } else {
                let moved = self.db.ensure_checkpoint(self.name(), self.model()).await?;
                tracing::info!(
                    projector = self.name(),
                    expected = *checkpoint,
                    found = moved,
                    "checkpoint moved by another writer; reloaded"
                );
                *checkpoint = moved;
                return Ok(());
            }
        }
        Ok(())
    }

    /// Refreshes the lag metrics at most once a second.
    async fn observe_throttled(&self, last: &mut Option<Instant>) {
        if last.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
            return;
        }
        *last = Some(Instant::now());
        if let Err(e) = self.status().await {
            tracing::debug!(projector = self.name(), error = %e, "status failed");
        }
    }
}

/// Runs `projectors` (one world's, as [`projectors`] gives them) until `cancel`. With
/// [`Source::Nats`] they share one durable consumer ([`GROUP_DURABLE`] unless
/// [`NatsOptions::durable_name`] says otherwise): each event is delivered, and its body decoded,
/// once for all of them, and each applies it against its own checkpoint. With the other sources
/// each runs as [`Projector::run`]. The first lasting error stops them all and is returned.
pub async fn run_all(
    projectors: Vec<Projector>,
    source: Source,
    cancel: CancellationToken,
) -> Result<()> {
    match source {
        #[cfg(feature = "nats")]
        Source::Nats { jetstream, stream } => {
            group::run(projectors, jetstream, stream, cancel).await
        }
        source => {
            let cancel = cancel.child_token();
            let mut tasks = JoinSet::new();
            for projector in projectors {
                let (source, cancel) = (source.clone(), cancel.clone());
                tasks.spawn(async move { projector.run(source, cancel).await });
            }
            join_all(tasks, &cancel).await
        }
    }
}

/// Waits for every task of a group; the first error cancels the others (`cancel`) and is
/// returned, a panic is resumed.
async fn join_all(mut tasks: JoinSet<Result<()>>, cancel: &CancellationToken) -> Result<()> {
    let mut outcome = Ok(());
    while let Some(done) = tasks.join_next().await {
        let result = match done {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(Error::Invalid(format!("a projector's task ended: {e}"))),
        };
        if let Err(e) = result {
            cancel.cancel();
            outcome = outcome.and(Err(e));
        }
    }
    outcome
}

/// The durable consumer name of projector `name` unless configured otherwise
/// ([`NatsOptions::durable_name`]): `proj_<name>`.
pub fn durable_name(name: &str) -> String {
    format!("proj_{name}")
}

async fn wait_changed(
    head: Option<&mut watch::Receiver<u64>>,
) -> Result<(), watch::error::RecvError> {
    match head {
        Some(head) => head.changed().await,
        None => std::future::pending().await,
    }
}

#[cfg(feature = "nats")]
fn nats_err(e: impl std::fmt::Display) -> Error {
    Error::Nats(e.to_string())
}

/// Whether retrying later may succeed.
fn is_transient(e: &Error) -> bool {
    match e {
        Error::Database(_) | Error::Nats(_) => true,
        Error::Store(loh_events::Error::Database(_)) => true,
        Error::Store(_)
        | Error::Migrate(_)
        | Error::MissingEvent(_)
        | Error::UnknownProjection(_)
        | Error::Invalid(_) => false,
    }
}

/// The projectors of `store`'s world to run for `partitions`: adopts the checkpoints that have
/// no world ([`ReadDb::adopt_legacy_checkpoints`]), arranges the world's checkpoints
/// ([`crate::arrange`]) and removes the JetStream consumers of single projectors (an earlier
/// version ran each on its own). Run them together with [`run_all`]. Several worlds projecting into one read database each call this
/// with their own store and source.
pub async fn projectors(
    read_db: &ReadDb,
    store: &Arc<dyn EventStore>,
    source: &Source,
    metrics: &ProjectionMetrics,
    partitions: u32,
) -> Result<Vec<Projector>> {
    let world_db = read_db.in_world(store.shard());
    world_db.adopt_legacy_checkpoints().await?;
    let projectors = crate::arrange(&world_db, store.as_ref(), partitions).await?;
    #[cfg(feature = "nats")]
    if let Source::Nats { jetstream, stream } = source {
        // They run together on one consumer ([`run_all`]).
        jetstream::drop_stale_consumers(jetstream, stream, &[GROUP_DURABLE.to_owned()]).await;
    }
    #[cfg(not(feature = "nats"))]
    let _ = source;
    Ok(projectors
        .into_iter()
        .map(|projection| {
            Projector::new(projection, read_db.clone(), store.clone()).with_metrics(metrics.clone())
        })
        .collect())
}
