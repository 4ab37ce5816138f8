//! Every projector of a world on one JetStream consumer (feature `nats`): a reader receives each
//! message once, decodes the event and its body once and hands the same batch to every projector;
//! each projector applies it against its own checkpoint, exactly as one following its own
//! consumer would (gaps filled from the store, a lost message found by polling the store). The
//! consumer is acked (ack policy `all`) up to the lowest checkpoint of the group, so a restart
//! is redelivered at most what some read model has not committed.
//!
//! Six read models on six consumers had NATS deliver, and the process decode, every event six
//! times: half of the two cores under a 2,500-player crowd (`docs/BENCHMARKS.md`).

use super::jetstream::{ack, store_poll_due};
use super::{Decoded, Projector, is_transient, nats_err};
use crate::{Error, Result};
use async_nats::jetstream::{self, AckKind, consumer::pull};
use futures::{FutureExt, StreamExt};
use loh_events::{EventBody, StoredEvent};
use loh_nats::EventStreamDef;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// The durable consumer of a world's projectors run together ([`super::run_all`]).
pub const GROUP_DURABLE: &str = "projections";

/// Batches queued for a projector before the reader waits for it.
const FEED_DEPTH: usize = 8;

/// An event as received, with its body decoded once for every read model (`None` when this build
/// cannot decode it: each projector then decodes it itself and stops on the error, as alone).
#[derive(Debug)]
struct Received {
    event: StoredEvent,
    body: Option<EventBody>,
}

/// A batch of events, in position order, shared by every projector of the group.
type Batch = Arc<[Received]>;

/// Runs `projectors` (one world's, all configured alike) on one durable consumer of `def` until
/// `cancel`. The first lasting error of any of them (or of the reader) stops the group and is
/// returned.
pub(super) async fn run(
    projectors: Vec<Projector>,
    js: jetstream::Context,
    def: EventStreamDef,
    cancel: CancellationToken,
) -> Result<()> {
    let Some(first) = projectors.first() else {
        return Ok(());
    };
    let cancel = cancel.child_token();
    let wake = Arc::new(Notify::new());
    let mut reader = Reader {
        js,
        def,
        shard: first.store.shard().to_owned(),
        config: first.config.clone(),
        feeds: Vec::new(),
        floors: Vec::new(),
        wake: wake.clone(),
    };
    let mut tasks = JoinSet::new();
    for projector in projectors {
        let (feed, batches) = mpsc::channel(FEED_DEPTH);
        let (committed, floor) = watch::channel(0);
        reader.feeds.push(feed);
        reader.floors.push(floor);
        let (wake, cancel) = (wake.clone(), cancel.clone());
        tasks.spawn(async move { projector.run_fed(batches, committed, wake, cancel).await });
    }
    let reader_cancel = cancel.clone();
    tasks.spawn(async move { reader.run(reader_cancel).await });
    super::join_all(tasks, &cancel).await
}

/// Receives the consumer's messages and feeds every projector of the group.
struct Reader {
    js: jetstream::Context,
    def: EventStreamDef,
    shard: String,
    config: super::RunnerConfig,
    feeds: Vec<mpsc::Sender<Batch>>,
    /// Each projector's committed checkpoint.
    floors: Vec<watch::Receiver<u64>>,
    /// Woken when a projector commits.
    wake: Arc<Notify>,
}

impl Reader {
    /// Follows the consumer until `cancel`; transient failures are retried (the projectors keep
    /// polling the store meanwhile).
    async fn run(mut self, cancel: CancellationToken) -> Result<()> {
        loop {
            match self.follow(&cancel).await {
                Ok(()) => return Ok(()),
                Err(e) if is_transient(&e) => {
                    tracing::warn!(shard = %self.shard, error = %e, "projections' consumer failed; retrying");
                    tokio::select! {
                        _ = cancel.cancelled() => return Ok(()),
                        _ = tokio::time::sleep(self.config.retry_delay) => {}
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn follow(&mut self, cancel: &CancellationToken) -> Result<()> {
        let stream = self.def.ensure(&self.js).await.map_err(nats_err)?;
        let options = &self.config.nats;
        let batch_size = self.config.batch_size.max(1);
        let durable = options
            .durable_name
            .clone()
            .unwrap_or_else(|| GROUP_DURABLE.to_owned());
        let config = pull::Config {
            durable_name: Some(durable.clone()),
            description: Some("loh projections".to_owned()),
            // A new consumer starts at the stream's end: every projector has caught up from the
            // store, and what it misses in between is a gap the store fills.
            deliver_policy: jetstream::consumer::DeliverPolicy::New,
            // One ack covers every message before it.
            ack_policy: jetstream::consumer::AckPolicy::All,
            ack_wait: options.ack_wait,
            max_ack_pending: options.max_ack_pending,
            filter_subject: self.def.all_subjects(),
            ..Default::default()
        };
        let consumer: jetstream::consumer::PullConsumer = stream
            .get_or_create_consumer(&durable, config)
            .await
            .map_err(nats_err)?;
        let mut messages = consumer
            .stream()
            .max_messages_per_batch(batch_size)
            .heartbeat(options.heartbeat)
            .expires(options.expires)
            .messages()
            .await
            .map_err(nats_err)?;
        tracing::info!(shard = %self.shard, consumer = %durable, projectors = self.feeds.len(), "following JetStream");

        // Delivered messages not yet acked, in delivery order, by position.
        let mut unacked: VecDeque<(u64, jetstream::Message)> = VecDeque::new();
        let mut errors = 0u32;
        loop {
            let first = tokio::select! {
                biased;
                _ = cancel.cancelled() => return Ok(()),
                _ = self.wake.notified() => {
                    self.ack_committed(&mut unacked).await;
                    continue;
                }
                next = tokio::time::timeout(self.config.poll_interval, messages.next()) => next,
            };
            let mut received = Vec::new();
            match first {
                Err(_idle) => {}
                Ok(None) => return Err(Error::Nats("the consumer's message stream ended".into())),
                Ok(Some(Err(e))) => {
                    errors += 1;
                    tracing::warn!(shard = %self.shard, error = %e, "JetStream pull error");
                    if errors >= 3 {
                        return Err(nats_err(e));
                    }
                }
                Ok(Some(Ok(message))) => {
                    errors = 0;
                    received.push(message);
                    // Take whatever else is already buffered, up to a batch.
                    while received.len() < batch_size {
                        match messages.next().now_or_never() {
                            Some(Some(Ok(message))) => received.push(message),
                            _ => break,
                        }
                    }
                }
            }
            let batch = self.decode(received, &mut unacked).await;
            if !batch.is_empty() {
                let batch: Batch = batch.into();
                for feed in &self.feeds {
                    tokio::select! {
                        biased;
                        _ = cancel.cancelled() => return Ok(()),
                        sent = feed.send(batch.clone()) => {
                            if sent.is_err() {
                                // A projector ended; the group stops with its reason.
                                return Ok(());
                            }
                        }
                    }
                }
            }
            self.ack_committed(&mut unacked).await;
        }
    }

    /// The events of `messages` in position order (each once), their bodies decoded; a message
    /// that is not an event of this world is terminated. The others join `unacked`.
    async fn decode(
        &self,
        messages: Vec<jetstream::Message>,
        unacked: &mut VecDeque<(u64, jetstream::Message)>,
    ) -> Vec<Received> {
        let mut batch = Vec::with_capacity(messages.len());
        for message in messages {
            match serde_json::from_slice::<StoredEvent>(&message.payload) {
                Ok(event) if event.shard == self.shard => {
                    let body = event.body().ok();
                    unacked.push_back((event.position, message));
                    batch.push(Received { event, body });
                }
                Ok(event) => {
                    tracing::warn!(shard = %self.shard, other = %event.shard, "message of another shard; terminated");
                    ack(&message, AckKind::Term).await;
                }
                Err(e) => {
                    tracing::warn!(shard = %self.shard, error = %e, "undecodable message; terminated");
                    ack(&message, AckKind::Term).await;
                }
            }
        }
        batch.sort_by_key(|r| r.event.position);
        batch.dedup_by_key(|r| r.event.position);
        batch
    }

    /// Acks (one ack, ack policy `all`) the delivered messages every projector has committed.
    async fn ack_committed(&self, unacked: &mut VecDeque<(u64, jetstream::Message)>) {
        let floor = self.floors.iter().map(|f| *f.borrow()).min().unwrap_or(0);
        let mut last = None;
        while unacked
            .front()
            .is_some_and(|(position, _)| *position <= floor)
        {
            last = unacked.pop_front();
        }
        if let Some((_, message)) = last {
            ack(&message, AckKind::Ack).await;
        }
    }
}

impl Projector {
    /// Runs this projector on the batches of a group's reader until `cancel` (or the reader is
    /// gone), publishing each committed checkpoint on `committed` and waking the reader to ack.
    /// Transient failures are logged and retried from the committed checkpoint.
    async fn run_fed(
        &self,
        mut batches: mpsc::Receiver<Batch>,
        committed: watch::Sender<u64>,
        wake: Arc<Notify>,
        cancel: CancellationToken,
    ) -> Result<()> {
        loop {
            let outcome = self
                .follow_fed(&mut batches, &committed, &wake, &cancel)
                .await;
            if let Some(done) = self.settle(outcome, &cancel).await {
                return done;
            }
        }
    }

    async fn follow_fed(
        &self,
        batches: &mut mpsc::Receiver<Batch>,
        committed: &watch::Sender<u64>,
        wake: &Notify,
        cancel: &CancellationToken,
    ) -> Result<()> {
        let publish = |checkpoint: u64| {
            if committed.send_if_modified(|c| std::mem::replace(c, checkpoint) != checkpoint) {
                wake.notify_one();
            }
        };
        let mut checkpoint = self.db.ensure_checkpoint(self.name(), self.model()).await?;
        // The store is the source of truth: start from it, then follow the reader.
        self.catch_up_from(&mut checkpoint, cancel).await?;
        publish(checkpoint);
        let mut last_poll = Instant::now();
        let mut last_status = None;
        loop {
            let before = checkpoint;
            let next = tokio::select! {
                biased;
                _ = cancel.cancelled() => return Ok(()),
                next = tokio::time::timeout(self.config.poll_interval, batches.recv()) => next,
            };
            match next {
                // The reader is gone; the group stops with its reason.
                Ok(None) => return Ok(()),
                Ok(Some(batch)) => {
                    let mut taken = vec![batch];
                    let mut events = taken[0].len();
                    while events < self.config.batch_size {
                        let Ok(more) = batches.try_recv() else { break };
                        events += more.len();
                        taken.push(more);
                    }
                    self.apply_received(&mut checkpoint, &taken, cancel).await?;
                }
                Err(_idle) => {}
            }
            if store_poll_due(
                &mut last_poll,
                self.config.poll_interval,
                checkpoint > before,
            ) {
                // A lost final message leaves no later one to reveal the gap: ask the store.
                self.catch_up_from(&mut checkpoint, cancel).await?;
            }
            publish(checkpoint);
            self.observe_throttled(&mut last_status).await;
        }
    }

    /// Applies the events of `batches` after the checkpoint, filling gaps from the store.
    async fn apply_received(
        &self,
        checkpoint: &mut u64,
        batches: &[Batch],
        cancel: &CancellationToken,
    ) -> Result<()> {
        let mut fresh: Vec<Decoded<'_>> = batches
            .iter()
            .flat_map(|batch| batch.iter())
            .filter(|r| r.event.position > *checkpoint)
            .map(|r| (&r.event, r.body.as_ref()))
            .collect();
        fresh.sort_by_key(|(e, _)| e.position);
        fresh.dedup_by_key(|(e, _)| e.position);
        let Some(&(last, _)) = fresh.last() else {
            return Ok(());
        };
        let target = last.position;
        let missing = target - *checkpoint - fresh.len() as u64;
        if missing == 0 {
            self.apply_decoded(checkpoint, &fresh).await
        } else if missing > self.config.batch_size as u64 {
            // A long gap (a purged or recreated stream): stream it from the store in batches.
            self.catch_up_from(checkpoint, cancel).await
        } else {
            let pending = fresh
                .iter()
                .map(|(e, _)| (e.position, (*e).clone()))
                .collect();
            let events = self.fill_gaps(*checkpoint, target, pending).await?;
            self.apply(checkpoint, events).await
        }
    }
}
