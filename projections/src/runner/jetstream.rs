//! The JetStream source of the runner (feature `nats`): a durable pull consumer per projector,
//! acked (one ack per batch, ack policy `all`) only once its events are committed, with gaps
//! filled from the store. Without the feature a build (the offline replay tools) links no NATS
//! client.

use super::{Projector, durable_name, nats_err};
use crate::{Error, Result};
use async_nats::jetstream::{self, AckKind, consumer::pull};
use futures::{FutureExt, StreamExt};
use loh_events::StoredEvent;
use loh_nats::EventStreamDef;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

impl Projector {
    /// NATS source: a durable pull consumer; each batch of messages is applied (gaps filled from
    /// the store) and committed, then acknowledged.
    pub(super) async fn run_nats(
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
        let config = pull::Config {
            durable_name: Some(durable.clone()),
            description: Some(format!("loh projector {}", self.name())),
            deliver_policy: jetstream::consumer::DeliverPolicy::All,
            // One ack per applied batch covers every message before it.
            ack_policy: jetstream::consumer::AckPolicy::All,
            ack_wait: options.ack_wait,
            max_ack_pending: options.max_ack_pending,
            filter_subject: def.all_subjects(),
            ..Default::default()
        };
        let mut consumer: jetstream::consumer::PullConsumer = stream
            .get_or_create_consumer(&durable, config.clone())
            .await
            .map_err(nats_err)?;
        if consumer.cached_info().config.ack_policy != jetstream::consumer::AckPolicy::All {
            // A consumer made by an earlier version acked every message (`explicit`); JetStream
            // cannot change a consumer's ack policy, so it is made again. What it redelivers is
            // at or below the checkpoint and skipped.
            stream.delete_consumer(&durable).await.map_err(nats_err)?;
            consumer = stream.create_consumer(config).await.map_err(nats_err)?;
            tracing::info!(projector = self.name(), consumer = %durable, "consumer made again with ack policy all");
        }
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
            let before = checkpoint;
            if !batch.is_empty() {
                self.handle_messages(&mut checkpoint, batch, cancel).await?;
            }
            if store_poll_due(
                &mut last_poll,
                self.config.poll_interval,
                checkpoint > before,
            ) {
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
        // Ack policy `all`: one ack of the covered message latest in the stream acks every one
        // delivered before it. One not applied (the checkpoint moved under us) is given back
        // for JetStream to try again later; should that ack cover it anyway, the store fills
        // the gap it leaves.
        let mut last_covered: Option<(u64, jetstream::Message)> = None;
        for (position, message) in received {
            if position > *checkpoint {
                ack(&message, AckKind::Nak(Some(self.config.poll_interval))).await;
                continue;
            }
            let Ok(sequence) = message.info().map(|info| info.stream_sequence) else {
                ack(&message, AckKind::Ack).await;
                continue;
            };
            if last_covered.as_ref().is_none_or(|(s, _)| sequence > *s) {
                last_covered = Some((sequence, message));
            }
        }
        if let Some((_, message)) = last_covered {
            ack(&message, AckKind::Ack).await;
        }
        Ok(())
    }

    /// The events `checkpoint + 1 ..= target`: from `pending` where present, from the store for
    /// the holes.
    pub(super) async fn fill_gaps(
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
}

async fn term(message: &jetstream::Message) {
    ack(message, AckKind::Term).await;
}

/// Sends `kind` for `message`; a failed ack is harmless (the message comes back after
/// `ack_wait` and is then a no-op).
pub(super) async fn ack(message: &jetstream::Message, kind: AckKind) {
    if let Err(e) = message.ack_with(kind).await {
        tracing::debug!(error = %e, "ack failed");
    }
}

/// Deletes the durable consumers of projectors that no longer run (another number of
/// partitions), so that they hold no messages back. Failing is harmless (logged).
pub(super) async fn drop_stale_consumers(
    js: &jetstream::Context,
    def: &EventStreamDef,
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

/// Whether to ask the store for what JetStream has not brought: after `every` with nothing new
/// received (`received_new` restarts the wait). While new events keep arriving a gap shows
/// itself at the next one, and reading the store then would only fetch what is on its way.
pub(super) fn store_poll_due(last_poll: &mut Instant, every: Duration, received_new: bool) -> bool {
    if received_new {
        *last_poll = Instant::now();
        false
    } else if last_poll.elapsed() >= every {
        *last_poll = Instant::now();
        true
    } else {
        false
    }
}
