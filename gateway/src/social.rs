//! The cross-world social bus (issue 14): Redis pub/sub between the worlds' tick writers.
//!
//! Every world publishes on one channel, `{prefix}:social`, the committed social events its
//! writer hands out (`loh_tick_writer::social`: presence, and private messages to players not
//! in that world) and the world-wide broadcasts of `loh broadcast` ([`broadcast`]); every world
//! subscribes to it and passes what it hears to its writer's intake, which delivers each message
//! to its players at most once (dedupe by id) and ignores its own.
//!
//! **Redis down.** Publishing never waits on the tick: the writer's outbox is a bounded queue
//! (full: dropped and counted, `loh_social_dropped`), and a publish that fails is logged and
//! dropped, not retried — a private message to another world, or a presence change, is lost,
//! like a chat line in a lag spike; the sender's world still journaled it. The subscriber
//! resubscribes every second until Redis answers again; messages published meanwhile are not
//! replayed (pub/sub keeps nothing). Same-world social does not touch Redis and goes on.
//! Without Redis (the embedded `loh up`, one world) none of this runs.

use futures::StreamExt;
use loh_tick_writer::social::SocialMessage;
use loh_tick_writer::tick::Intake;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How many committed social messages may wait for Redis before new ones are dropped.
pub const OUTBOX: usize = 4096;

/// The channel every world publishes and subscribes to.
pub fn channel(prefix: &str) -> String {
    format!("{prefix}:social")
}

/// A publisher on the social channel from outside a world (`loh broadcast`, tests).
pub struct Bus {
    conn: ConnectionManager,
    prefix: String,
}

impl Bus {
    /// Connects to Redis at `url`; `prefix` is the worlds' shared Redis prefix.
    pub async fn connect(url: &str, prefix: &str) -> redis::RedisResult<Bus> {
        let conn = ConnectionManager::new(redis::Client::open(url)?).await?;
        Ok(Bus {
            conn,
            prefix: prefix.to_owned(),
        })
    }

    /// Publishes a world-wide system message ([`broadcast`]).
    pub async fn broadcast(&mut self, text: &str) -> redis::RedisResult<()> {
        broadcast(&mut self.conn, &self.prefix, text).await
    }

    /// Publishes `message` as a world would.
    pub async fn publish(&mut self, message: &SocialMessage) -> redis::RedisResult<()> {
        publish(&mut self.conn, &self.prefix, message).await
    }
}

/// Publishes a world-wide system message: every player of every world that follows `prefix`
/// gets `Broadcast{text}` once.
pub async fn broadcast(
    conn: &mut ConnectionManager,
    prefix: &str,
    text: &str,
) -> redis::RedisResult<()> {
    let message = SocialMessage::Broadcast {
        id: uuid::Uuid::new_v4(),
        text: text.to_owned(),
    };
    publish(conn, prefix, &message).await
}

/// Publishes one message on the social channel.
pub async fn publish(
    conn: &mut ConnectionManager,
    prefix: &str,
    message: &SocialMessage,
) -> redis::RedisResult<()> {
    conn.publish::<_, _, ()>(channel(prefix), message.encode())
        .await
}

/// Starts the bus of one world: publishes what `outbox` yields and hands what the channel
/// carries to `intake`, until `cancel`.
pub fn spawn(
    client: redis::Client,
    conn: ConnectionManager,
    prefix: String,
    intake: mpsc::Sender<Intake>,
    outbox: mpsc::Receiver<SocialMessage>,
    cancel: CancellationToken,
) {
    tokio::spawn(publisher(conn, prefix.clone(), outbox, cancel.clone()));
    tokio::spawn(subscriber(client, prefix, intake, cancel));
}

async fn publisher(
    mut conn: ConnectionManager,
    prefix: String,
    mut outbox: mpsc::Receiver<SocialMessage>,
    cancel: CancellationToken,
) {
    loop {
        let message = tokio::select! {
            _ = cancel.cancelled() => return,
            m = outbox.recv() => match m {
                Some(m) => m,
                None => return,
            },
        };
        if let Err(error) = publish(&mut conn, &prefix, &message).await {
            tracing::warn!(%error, "a cross-world social message was not published; dropped");
        }
    }
}

async fn subscriber(
    client: redis::Client,
    prefix: String,
    intake: mpsc::Sender<Intake>,
    cancel: CancellationToken,
) {
    let channel = channel(&prefix);
    while !cancel.is_cancelled() {
        let follow = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            let mut messages = pubsub.into_on_message();
            while let Some(msg) = messages.next().await {
                let Some(message) = SocialMessage::decode(msg.get_payload_bytes()) else {
                    continue;
                };
                if intake.send(Intake::Social(message)).await.is_err() {
                    return Ok(()); // the tick loop stopped
                }
            }
            Ok::<(), redis::RedisError>(())
        };
        tokio::select! {
            _ = cancel.cancelled() => return,
            result = follow => {
                if let Err(e) = result {
                    tracing::warn!(error = %e, "following the cross-world social channel; retrying");
                }
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
}
