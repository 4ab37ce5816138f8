//! The relay: committed events to JetStream, in position order.
//!
//! PostgreSQL is the source of truth (ARCHITECTURE.md, invariant 1); the relay copies a shard's
//! log into the shard's JetStream stream ([`crate::EventStreamDef`]) in the message format
//! documented in `loh_nats`. It keeps no state of its own: on start, and after any error, it asks
//! JetStream what it last holds ([`crate::EventStreamDef::tail`]) and continues from the next
//! position. So it can be killed at any point, run in its own process, or restarted after a NATS
//! outage without skipping or repeating an event.
//!
//! # How it publishes
//! - Reads `batch_size` events from the store and encodes them, publishes them all without
//!   waiting (pipelined), then awaits the acks of the batch before (in order) while it reads and
//!   encodes the next one: at most two batches are in flight, and JetStream always has work. An
//!   event counts as relayed when JetStream acked it ([`Relay::progress`]); a duplicate ack (the
//!   `Nats-Msg-Id` was already stored) is fine.
//! - Every publish carries an ordering guard: the first after a resume
//!   `Nats-Expected-Last-Sequence` = the stream's last sequence, each later one
//!   `Nats-Expected-Last-Msg-Id` = the previous event's id. JetStream refuses a message that
//!   would not directly follow its predecessor, so even two relays racing on one stream (or the
//!   still-buffered publishes of a killed one) cannot reorder, skip or double positions; a
//!   refusal is an error like any other: back off, re-derive, resume.
//! - Between batches it waits for the tick writer's `head` watch (bumped after each commit) or
//!   a poll interval, whichever comes first; without a watch it polls.
//! - Errors (store, NATS) are retried with exponential backoff. Only a stream that contradicts
//!   the store ([`Error::Diverged`], [`Error::ForeignMessage`]) stops the relay: an operator
//!   must delete or repair the stream.
//!
//! # Layout
//! - [`Relay`], [`RelayConfig`], [`RelayMetrics`], [`Error`].

use crate::{EventStreamDef, encode_event};
use async_nats::header::{NATS_EXPECTED_LAST_MESSAGE_ID, NATS_EXPECTED_LAST_SEQUENCE};
use async_nats::jetstream::context::{PublishAckFuture, PublishErrorKind};
use async_nats::jetstream::{self, message::PublishMessage};
use loh_events::{EventStore, StoredEvent};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, error, info, info_span, warn};
use uuid::Uuid;

/// Errors of the relay. [`Relay::run`] retries the transient ones itself and returns only the
/// fatal ones ([`Error::is_fatal`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The event store failed; transient, retried with backoff.
    #[error("event store: {0}")]
    Store(#[from] loh_events::Error),
    /// JetStream could not be reached or refused a request; transient, retried with backoff.
    #[error("jetstream: {0}")]
    JetStream(String),
    /// A publish failed or was refused (timeout, broken connection, ordering guard); transient:
    /// the relay re-derives its position from JetStream and resumes.
    #[error("publish of position {position}: {reason}")]
    Publish { position: u64, reason: String },
    /// The stream's last message names an event the store does not hold at that position: the
    /// stream belongs to another history (or the store lost events). Fatal: delete the stream
    /// (it is replaceable) or restore the store.
    #[error(
        "the stream's last event is {in_stream} at position {position}, the store holds {in_store:?} there"
    )]
    Diverged {
        position: u64,
        in_stream: Uuid,
        in_store: Option<Uuid>,
    },
    /// The stream's last message is not a relayed event; something else publishes on the shard's
    /// subjects. Fatal.
    #[error("the stream holds a message that is not a relayed event: {0}")]
    ForeignMessage(String),
}

impl Error {
    /// True when retrying cannot help and [`Relay::run`] returns the error.
    pub fn is_fatal(&self) -> bool {
        matches!(self, Error::Diverged { .. } | Error::ForeignMessage(_))
    }
}

impl From<crate::Error> for Error {
    fn from(e: crate::Error) -> Self {
        match e {
            crate::Error::Decode(m) => Error::ForeignMessage(m),
            other => Error::JetStream(other.to_string()),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The largest [`RelayConfig::batch_size`] used.
pub const MAX_BATCH_SIZE: usize = 2_000;

/// Tuning of a [`Relay`].
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Events read and published per batch. At most two batches are in flight, so this is capped
    /// at [`MAX_BATCH_SIZE`] (twice that stays below the JetStream context's default
    /// `max_ack_inflight` of 5,000; a context built with less must not be given more than half).
    pub batch_size: usize,
    /// How often the store is polled when no `head` notification arrives.
    pub poll_interval: Duration,
    /// First wait after an error; doubled after each further error.
    pub min_backoff: Duration,
    /// Longest wait after an error.
    pub max_backoff: Duration,
    /// How often, at most, the store's head is read for the lag gauge.
    pub head_refresh: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            batch_size: 1_000,
            poll_interval: Duration::from_millis(250),
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            head_refresh: Duration::from_secs(1),
        }
    }
}

/// The relay's Prometheus metrics.
#[derive(Clone, Debug, Default)]
pub struct RelayMetrics {
    /// Events JetStream acknowledged as newly stored.
    pub published: Counter,
    /// Events JetStream acknowledged as duplicates (already stored).
    pub duplicates: Counter,
    /// Times the relay resumed after an error.
    pub restarts: Counter,
    /// Store head minus the last position JetStream acknowledged.
    pub lag: Gauge,
    /// The last position JetStream acknowledged.
    pub position: Gauge,
}

impl RelayMetrics {
    /// Registers every metric under the `loh_relay` prefix. For several relays in one registry,
    /// give each a `sub_registry_with_label`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "loh_relay_events_published",
            "Events JetStream acknowledged as newly stored",
            self.published.clone(),
        );
        registry.register(
            "loh_relay_duplicates",
            "Events JetStream acknowledged as already stored",
            self.duplicates.clone(),
        );
        registry.register(
            "loh_relay_restarts",
            "Times the relay resumed from JetStream after an error",
            self.restarts.clone(),
        );
        registry.register(
            "loh_relay_lag_events",
            "Store head minus the last position JetStream acknowledged",
            self.lag.clone(),
        );
        registry.register(
            "loh_relay_position",
            "The last position JetStream acknowledged",
            self.position.clone(),
        );
    }
}

/// Streams one shard's committed events from the store to its JetStream stream.
pub struct Relay {
    store: Arc<dyn EventStore>,
    js: jetstream::Context,
    def: EventStreamDef,
    config: RelayConfig,
    metrics: RelayMetrics,
    progress: watch::Sender<u64>,
}

/// A batch read from the store and encoded: (position, event id, message), in order.
#[derive(Debug, Default)]
struct Prepared {
    messages: Vec<(u64, Uuid, crate::EncodedEvent)>,
}

impl Prepared {
    fn len(&self) -> usize {
        self.messages.len()
    }

    fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    fn last_position(&self) -> Option<u64> {
        self.messages.last().map(|(p, _, _)| *p)
    }
}

/// The guard of the next publish: what the stream must hold last for it to be stored.
#[derive(Debug, Clone, Copy)]
enum Guard {
    Sequence(u64),
    MsgId(Uuid),
}

impl Relay {
    /// A relay from `store` to the stream `def` (created if missing), with default tuning and
    /// metrics of its own.
    pub fn new(store: Arc<dyn EventStore>, js: jetstream::Context, def: EventStreamDef) -> Relay {
        Relay {
            store,
            js,
            def,
            config: RelayConfig::default(),
            metrics: RelayMetrics::default(),
            progress: watch::Sender::new(0),
        }
    }

    /// Replaces the tuning.
    pub fn with_config(mut self, config: RelayConfig) -> Relay {
        self.config = config;
        self
    }

    /// Reports into `metrics` (register them with [`RelayMetrics::register`]).
    pub fn with_metrics(mut self, metrics: RelayMetrics) -> Relay {
        self.metrics = metrics;
        self
    }

    /// The last position JetStream acknowledged (or found at a resume), updated as the relay
    /// runs; `0` before the first resume.
    pub fn progress(&self) -> watch::Receiver<u64> {
        self.progress.subscribe()
    }

    /// The stream this relay publishes to.
    pub fn stream(&self) -> &EventStreamDef {
        &self.def
    }

    /// Relays until `cancel` fires (then `Ok`) or a fatal error ([`Error::is_fatal`]).
    ///
    /// `head` is the tick writer's watch of the committed head (`Some(rx)` or just `rx`); pass
    /// `None` to poll only, e.g. in a process of its own. Transient errors are logged and retried
    /// with backoff, each time resuming from what JetStream holds. Cancellation drops in-flight
    /// publishes; JetStream keeps whatever it stored and the next run resumes after it.
    pub async fn run(
        self,
        head: impl Into<Option<watch::Receiver<u64>>>,
        cancel: CancellationToken,
    ) -> Result<()> {
        let mut head = head.into();
        let span = info_span!("relay", stream = %self.def.name, shard = %self.store.shard());
        async move {
            let mut backoff = self.config.min_backoff;
            loop {
                let outcome = tokio::select! {
                    _ = cancel.cancelled() => return Ok(()),
                    r = self.session(&mut head, &mut backoff) => r,
                };
                match outcome {
                    Ok(()) => return Ok(()),
                    Err(e) if e.is_fatal() => {
                        error!(error = %e, "relay stopped");
                        return Err(e);
                    }
                    Err(e) => {
                        self.metrics.restarts.inc();
                        warn!(error = %e, retry_in = ?backoff, "relay interrupted; will resume from what JetStream holds");
                        tokio::select! {
                            _ = cancel.cancelled() => return Ok(()),
                            _ = tokio::time::sleep(backoff) => {}
                        }
                        backoff = (backoff * 2).min(self.config.max_backoff);
                    }
                }
            }
        }
        .instrument(span)
        .await
    }

    /// One resume: derive the position from JetStream, then relay until an error.
    async fn session(
        &self,
        head: &mut Option<watch::Receiver<u64>>,
        backoff: &mut Duration,
    ) -> Result<()> {
        self.def.ensure(&self.js).await?;
        let tail = self.def.tail(&self.js).await?;
        let mut pos = tail.position();
        if let Some(last) = tail.last_event {
            let at = self.store.read_from(last.position, 1).await?;
            let in_store = at
                .first()
                .filter(|e| e.position == last.position)
                .map(|e| e.event_id);
            if in_store != Some(last.event_id) {
                return Err(Error::Diverged {
                    position: last.position,
                    in_stream: last.event_id,
                    in_store,
                });
            }
        }
        // The first publish is guarded by the stream's sequence, which the server always keeps;
        // its last message id is only rebuilt from the dedupe window after a server restart.
        let mut guard = Guard::Sequence(tail.last_sequence);
        info!(
            position = pos,
            last_sequence = tail.last_sequence,
            "relay resuming after what JetStream holds"
        );
        self.metrics.position.set(to_gauge(pos));
        self.progress.send_replace(pos);

        let mut known_head = pos;
        // The last position published (acked or not).
        let mut published = pos;
        let mut head_read_at: Option<Instant> = None;
        let mut prefetched = Prepared::default();
        // The acks of the batch published last; awaited after the next batch is published, so
        // JetStream always has a batch to work on (at most two batches in flight).
        let mut in_flight: Option<Vec<(u64, PublishAckFuture)>> = None;
        loop {
            if let Some(rx) = head.as_mut() {
                known_head = known_head.max(*rx.borrow_and_update());
            }
            if head_read_at.is_none_or(|t| t.elapsed() >= self.config.head_refresh) {
                known_head = known_head.max(self.store.head().await?.position);
                head_read_at = Some(Instant::now());
            }
            // A prefetched batch read before the watch was marked seen may miss a commit, so an
            // empty one is read again.
            let batch = if prefetched.is_empty() {
                self.prepare(published + 1).await?
            } else {
                std::mem::take(&mut prefetched)
            };
            let Some(last) = batch.last_position() else {
                if let Some(acks) = in_flight.take() {
                    self.await_acks(acks, &mut pos, known_head).await?;
                    continue;
                }
                self.metrics
                    .lag
                    .set(to_gauge(known_head.saturating_sub(pos)));
                self.wait_for_more(head).await;
                continue;
            };
            known_head = known_head.max(last);
            let events = batch.len();
            let acks = self.publish_batch(batch, &mut guard).await?;
            published = last;
            let previous = in_flight.replace(acks);
            // Await the previous batch's acks, and read and encode the next batch, while
            // JetStream stores this one.
            let (acked, next) = tokio::join!(
                async {
                    match previous {
                        Some(acks) => self.await_acks(acks, &mut pos, known_head).await,
                        None => Ok(()),
                    }
                },
                self.prepare(last + 1)
            );
            acked?;
            *backoff = self.config.min_backoff;
            debug!(acked = pos, published = last, events, "batch published");
            prefetched = next?;
        }
    }

    /// Reads up to `batch_size` events from `from` (cut at any hole) and encodes them, on the
    /// blocking pool so the encoding overlaps the acks of the batch before.
    async fn prepare(&self, from: u64) -> Result<Prepared> {
        let events = contiguous(
            self.store
                .read_from(from, self.config.batch_size.clamp(1, MAX_BATCH_SIZE))
                .await?,
            from,
        );
        if events.is_empty() {
            return Ok(Prepared::default());
        }
        let def = self.def.clone();
        tokio::task::spawn_blocking(move || {
            events
                .iter()
                .map(|e| Ok((e.position, e.event_id, encode_event(&def, e)?)))
                .collect::<Result<Vec<_>>>()
                .map(|messages| Prepared { messages })
        })
        .await
        .map_err(|e| Error::JetStream(format!("encoding task: {e}")))?
    }

    /// Publishes `batch` without waiting for acks, each guarded by its predecessor.
    async fn publish_batch(
        &self,
        batch: Prepared,
        guard: &mut Guard,
    ) -> Result<Vec<(u64, PublishAckFuture)>> {
        let mut acks = Vec::with_capacity(batch.len());
        for (position, event_id, message) in batch.messages {
            let mut headers = message.headers;
            match *guard {
                Guard::Sequence(seq) => {
                    headers.insert(NATS_EXPECTED_LAST_SEQUENCE, seq.to_string());
                }
                Guard::MsgId(id) => {
                    headers.insert(NATS_EXPECTED_LAST_MESSAGE_ID, id.to_string());
                }
            }
            let ack = self
                .js
                .send_publish(
                    message.subject,
                    PublishMessage::build()
                        .payload(message.payload)
                        .headers(headers),
                )
                .await
                .map_err(|e| Error::Publish {
                    position,
                    reason: e.to_string(),
                })?;
            *guard = Guard::MsgId(event_id);
            acks.push((position, ack));
        }
        Ok(acks)
    }

    /// Awaits the acks in order, advancing `pos` (and progress and metrics) with each.
    async fn await_acks(
        &self,
        acks: Vec<(u64, PublishAckFuture)>,
        pos: &mut u64,
        known_head: u64,
    ) -> Result<()> {
        for (position, ack) in acks {
            let ack = ack.await.map_err(|e| Error::Publish {
                position,
                reason: match e.kind() {
                    PublishErrorKind::WrongLastMessageId | PublishErrorKind::WrongLastSequence => {
                        format!("the stream moved on under the relay (another publisher?): {e}")
                    }
                    _ => e.to_string(),
                },
            })?;
            if ack.duplicate {
                self.metrics.duplicates.inc();
            } else {
                self.metrics.published.inc();
            }
            *pos = position;
        }
        self.metrics.position.set(to_gauge(*pos));
        self.metrics
            .lag
            .set(to_gauge(known_head.saturating_sub(*pos)));
        self.progress.send_replace(*pos);
        Ok(())
    }

    /// Waits for a `head` change or the poll interval. A closed watch falls back to polling.
    async fn wait_for_more(&self, head: &mut Option<watch::Receiver<u64>>) {
        let poll = tokio::time::sleep(self.config.poll_interval);
        match head.as_mut() {
            Some(rx) => {
                tokio::select! {
                    changed = rx.changed() => {
                        if changed.is_err() {
                            debug!("head watch closed; polling only");
                            *head = None;
                        }
                    }
                    _ = poll => {}
                }
            }
            None => poll.await,
        }
    }
}

/// The leading run of `batch` that continues gaplessly from `from`. Positions are gapless by
/// invariant; should a read ever show a hole, the relay waits for it rather than skip it.
fn contiguous(mut batch: Vec<StoredEvent>, from: u64) -> Vec<StoredEvent> {
    let run = batch
        .iter()
        .zip(from..)
        .take_while(|(e, expected)| e.position == *expected)
        .count();
    if run < batch.len() {
        warn!(
            expected = from + run as u64,
            found = batch[run].position,
            "the store's read skips a position; waiting for it"
        );
        batch.truncate(run);
    }
    batch
}

fn to_gauge(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use loh_events::{EventBody, GENESIS_HASH, NewEvent};

    fn event(position: u64) -> StoredEvent {
        let player_id = Uuid::new_v4();
        let new = NewEvent {
            event_id: Uuid::new_v4(),
            stream_id: loh_events::player_stream(player_id),
            stream_version: 1,
            tick: 1,
            correlation_id: Uuid::new_v4(),
            causation_id: None,
            occurred_at_us: 0,
            body: EventBody::PlayerSpawned {
                player_id,
                x: 0,
                y: 0,
            },
        };
        StoredEvent::seal("w", position, GENESIS_HASH, &new).expect("seal")
    }

    fn positions(batch: &[StoredEvent]) -> Vec<u64> {
        batch.iter().map(|e| e.position).collect()
    }

    #[test]
    fn a_read_is_cut_at_the_first_hole() {
        let batch = vec![event(5), event(6), event(8), event(9)];
        assert_eq!(positions(&contiguous(batch, 5)), vec![5, 6]);
    }

    #[test]
    fn a_read_that_does_not_start_at_the_next_position_is_not_published() {
        assert!(contiguous(vec![event(7), event(8)], 6).is_empty());
        assert_eq!(
            positions(&contiguous(vec![event(6), event(7)], 6)),
            vec![6, 7]
        );
    }

    #[test]
    fn only_a_stream_contradicting_the_store_is_fatal() {
        assert!(
            Error::Diverged {
                position: 1,
                in_stream: Uuid::nil(),
                in_store: None
            }
            .is_fatal()
        );
        assert!(Error::ForeignMessage("x".into()).is_fatal());
        assert!(!Error::JetStream("down".into()).is_fatal());
        assert!(
            !Error::Publish {
                position: 1,
                reason: "timeout".into()
            }
            .is_fatal()
        );
    }
}
