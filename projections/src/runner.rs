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
//! delays the read model.

use crate::db::ReadDb;
use crate::fold::Projection;
use crate::status::{ProjectionMetrics, ProjectorStatus};
use crate::{Error, Result};
use async_nats::jetstream::{self, AckKind, consumer::pull};
use futures::{FutureExt, StreamExt};
use loh_events::{EventStore, StoredEvent};
use loh_nats::EventStreamDef;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

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
    Nats {
        jetstream: jetstream::Context,
        stream: EventStreamDef,
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
    /// Metrics go to an unregistered [`ProjectionMetrics`] until [`Projector::with_metrics`].
    pub fn new(projection: Arc<dyn Projection>, db: ReadDb, store: Arc<dyn EventStore>) -> Self {
        Projector {
            projection,
            db,
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

    /// The read database.
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
                Source::Nats { jetstream, stream } => {
                    self.run_nats(jetstream, stream, &cancel).await
                }
                Source::Embedded { .. } | Source::Poll => self.run_store(&mut head, &cancel).await,
            };
            match outcome {
                Ok(()) => return Ok(()),
                Err(e) if is_transient(&e) => {
                    tracing::warn!(projector = self.name(), error = %e, "projector failed; retrying");
                    tokio::select! {
                        _ = cancel.cancelled() => return Ok(()),
                        _ = tokio::time::sleep(self.config.retry_delay) => {}
                    }
                }
                Err(e) => {
                    tracing::error!(projector = self.name(), error = %e, "projector stopped");
                    return Err(e);
                }
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

    /// NATS source: a durable pull consumer; each batch of messages is applied (gaps filled from
    /// the store) and committed, then acknowledged.
    async fn run_nats(
        &self,
        js: &jetstream::Context,
        def: &EventStreamDef,
        cancel: &CancellationToken,
    ) -> Result<()> {
        let mut checkpoint = self.db.ensure_checkpoint(self.name(), self.model()).await?;
        // The store is the source of truth: start from it, then follow the fan-out.
        self.catch_up_from(&mut checkpoint, cancel).await?;
        if cancel.is_cancelled() {
            return Ok(());
        }
        let stream = def.ensure(js).await.map_err(nats_err)?;
        let durable = self.durable_name();
        let options = &self.config.nats;
        let consumer: jetstream::consumer::PullConsumer = stream
            .get_or_create_consumer(
                &durable,
                pull::Config {
                    durable_name: Some(durable.clone()),
                    description: Some(format!("loh projector {}", self.name())),
                    deliver_policy: jetstream::consumer::DeliverPolicy::All,
                    ack_policy: jetstream::consumer::AckPolicy::Explicit,
                    ack_wait: options.ack_wait,
                    max_ack_pending: options.max_ack_pending,
                    filter_subject: def.all_subjects(),
                    ..Default::default()
                },
            )
            .await
            .map_err(nats_err)?;
        let mut messages = consumer
            .stream()
            .max_messages_per_batch(self.config.batch_size.max(1))
            .heartbeat(options.heartbeat)
            .expires(options.expires)
            .messages()
            .await
            .map_err(nats_err)?;
        tracing::info!(projector = self.name(), consumer = %durable, checkpoint, "following JetStream");

        let mut last_poll = Instant::now();
        let mut last_status = None;
        let mut errors = 0u32;
        loop {
            let first = tokio::select! {
                biased;
                _ = cancel.cancelled() => return Ok(()),
                next = tokio::time::timeout(self.config.poll_interval, messages.next()) => next,
            };
            let mut batch = Vec::new();
            match first {
                Err(_idle) => {}
                Ok(None) => return Err(Error::Nats("the consumer's message stream ended".into())),
                Ok(Some(Err(e))) => {
                    errors += 1;
                    tracing::warn!(projector = self.name(), error = %e, "JetStream pull error");
                    if errors >= 3 {
                        return Err(nats_err(e));
                    }
                }
                Ok(Some(Ok(message))) => {
                    errors = 0;
                    batch.push(message);
                    // Take whatever else is already buffered, up to a batch.
                    while batch.len() < self.config.batch_size {
                        match messages.next().now_or_never() {
                            Some(Some(Ok(message))) => batch.push(message),
                            _ => break,
                        }
                    }
                }
            }
            if !batch.is_empty() {
                self.handle_messages(&mut checkpoint, batch, cancel).await?;
            }
            if batch_is_idle_or_due(&mut last_poll, self.config.poll_interval) {
                // A lost final message leaves no later one to reveal the gap: ask the store.
                self.catch_up_from(&mut checkpoint, cancel).await?;
            }
            self.observe_throttled(&mut last_status).await;
        }
    }

    /// Applies a batch of JetStream messages, then acks those now covered by the checkpoint.
    async fn handle_messages(
        &self,
        checkpoint: &mut u64,
        batch: Vec<jetstream::Message>,
        cancel: &CancellationToken,
    ) -> Result<()> {
        let mut pending = BTreeMap::new();
        let mut received = Vec::with_capacity(batch.len());
        for message in batch {
            match serde_json::from_slice::<StoredEvent>(&message.payload) {
                Ok(event) if event.shard == self.store.shard() => {
                    if event.position > *checkpoint {
                        pending.insert(event.position, event.clone());
                    }
                    received.push((event.position, message));
                }
                Ok(event) => {
                    tracing::warn!(projector = self.name(), shard = %event.shard, "message of another shard; terminated");
                    term(&message).await;
                }
                Err(e) => {
                    tracing::warn!(projector = self.name(), error = %e, "undecodable message; terminated");
                    term(&message).await;
                }
            }
        }
        if let Some(&target) = pending.keys().next_back() {
            let gap = target - *checkpoint - pending.len() as u64;
            if gap > self.config.batch_size as u64 {
                // A long gap (a purged or recreated stream): stream it from the store in batches.
                self.catch_up_from(checkpoint, cancel).await?;
            } else {
                let events = self.fill_gaps(*checkpoint, target, pending).await?;
                self.apply(checkpoint, events).await?;
            }
        }
        for (position, message) in received {
            let kind = if position <= *checkpoint {
                AckKind::Ack
            } else {
                // Not applied (the checkpoint moved under us): let JetStream try again later.
                AckKind::Nak(Some(self.config.poll_interval))
            };
            if let Err(e) = message.ack_with(kind).await {
                // The message comes back after ack_wait and is then a no-op.
                tracing::debug!(projector = self.name(), error = %e, "ack failed");
            }
        }
        Ok(())
    }

    /// The events `checkpoint + 1 ..= target`: from `pending` where present, from the store for
    /// the holes.
    async fn fill_gaps(
        &self,
        checkpoint: u64,
        target: u64,
        mut pending: BTreeMap<u64, StoredEvent>,
    ) -> Result<Vec<StoredEvent>> {
        let mut events = Vec::with_capacity((target - checkpoint) as usize);
        let mut next = checkpoint + 1;
        while next <= target {
            if let Some(event) = pending.remove(&next) {
                events.push(event);
                next += 1;
                continue;
            }
            let until = pending
                .range(next..)
                .next()
                .map(|(p, _)| *p)
                .unwrap_or(target + 1);
            while next < until {
                let want = (until - next) as usize;
                let read = self.store.read_from(next, want).await?;
                let before = next;
                for event in read {
                    if event.position != next || next >= until {
                        break;
                    }
                    events.push(event);
                    next += 1;
                }
                if next == before {
                    return Err(Error::MissingEvent(next));
                }
                self.metrics.gap_filled(self.name(), next - before);
                tracing::debug!(
                    projector = self.name(),
                    from = before,
                    to = next - 1,
                    "filled a gap from the store"
                );
            }
        }
        Ok(events)
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
        let fresh: Vec<StoredEvent> = events
            .into_iter()
            .filter(|e| e.position > *checkpoint)
            .collect();
        for chunk in fresh.chunks(self.config.batch_size.max(1)) {
            if chunk[0].position != *checkpoint + 1 {
                return Err(Error::MissingEvent(*checkpoint + 1));
            }
            for pair in chunk.windows(2) {
                if pair[1].position != pair[0].position + 1 {
                    return Err(Error::MissingEvent(pair[0].position + 1));
                }
            }
            let mut ops = Vec::new();
            for event in chunk {
                ops.extend(self.projection.apply(event)?);
            }
            let new = chunk[chunk.len() - 1].position;
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

/// The durable consumer name of projector `name` unless configured otherwise
/// ([`NatsOptions::durable_name`]): `proj_<name>`.
pub fn durable_name(name: &str) -> String {
    format!("proj_{name}")
}

fn batch_is_idle_or_due(last_poll: &mut Instant, every: Duration) -> bool {
    if last_poll.elapsed() >= every {
        *last_poll = Instant::now();
        true
    } else {
        false
    }
}

async fn wait_changed(
    head: Option<&mut watch::Receiver<u64>>,
) -> Result<(), watch::error::RecvError> {
    match head {
        Some(head) => head.changed().await,
        None => std::future::pending().await,
    }
}

async fn term(message: &jetstream::Message) {
    if let Err(e) = message.ack_with(AckKind::Term).await {
        tracing::debug!(error = %e, "term failed");
    }
}

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

/// The projectors to run for `partitions`: arranges the checkpoints ([`crate::arrange`]) and
/// removes the JetStream consumers of projectors that no longer run. Run each with
/// [`Projector::run`].
pub async fn projectors(
    read_db: &ReadDb,
    store: &Arc<dyn EventStore>,
    source: &Source,
    metrics: &ProjectionMetrics,
    partitions: u32,
) -> Result<Vec<Projector>> {
    let projectors = crate::arrange(read_db, store.as_ref(), partitions).await?;
    if let Source::Nats { jetstream, stream } = source {
        let keep: Vec<String> = projectors.iter().map(|p| durable_name(p.name())).collect();
        drop_stale_consumers(jetstream, stream, &keep).await;
    }
    Ok(projectors
        .into_iter()
        .map(|projection| {
            Projector::new(projection, read_db.clone(), store.clone()).with_metrics(metrics.clone())
        })
        .collect())
}

/// Deletes the durable consumers of projectors that no longer run (another number of
/// partitions), so that they hold no messages back. Failing is harmless (logged).
async fn drop_stale_consumers(
    js: &async_nats::jetstream::Context,
    def: &loh_nats::EventStreamDef,
    keep: &[String],
) {
    use futures::TryStreamExt;
    let models: Vec<String> = crate::names().iter().map(|m| durable_name(m)).collect();
    let result: std::result::Result<(), Box<dyn std::error::Error + Send + Sync>> = async {
        let stream = def.ensure(js).await?;
        let names: Vec<String> = stream.consumer_names().try_collect().await?;
        for name in names {
            let ours = models.iter().any(|m| name.starts_with(m.as_str()));
            if ours && !keep.contains(&name) {
                stream.delete_consumer(&name).await?;
                tracing::info!(consumer = %name, "deleted the consumer of a projector that no longer runs");
            }
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        tracing::warn!(error = %e, "could not list or delete stale projector consumers");
    }
}
