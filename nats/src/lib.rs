//! JetStream definitions for the event fan-out, and helpers to declare them.
//!
//! PostgreSQL is the source of truth; this stream is a replaceable fan-out path. The relay
//! publishes each event to `<prefix>.<stream_id>` with `Nats-Msg-Id` = event id and the
//! [`POSITION_HEADER`]; projectors read it through durable pull consumers.
//!
//! # Layout
//! - `streams/events.json`: the stream's definition (storage, retention, dedupe window).
//! - `nats-server.conf`: the server configuration used by `docker-compose.yml`.
//! - [`EventStreamDef`]: the stream's name and subject prefix, and [`EventStreamDef::ensure`].

use async_nats::jetstream::{self, stream};

/// Header carrying the event's position in the shard's log.
pub const POSITION_HEADER: &str = "Loh-Position";

/// The stream definition shipped in `streams/events.json`.
pub const EVENTS_STREAM_JSON: &str = include_str!("../streams/events.json");

/// Errors of declaring or reaching JetStream.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The shipped definition does not parse; a build defect.
    #[error("stream definition: {0}")]
    Definition(#[from] serde_json::Error),
    /// JetStream refused or could not be reached; retry later.
    #[error("jetstream: {0}")]
    JetStream(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The event stream of one shard: its JetStream name and subject prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventStreamDef {
    /// JetStream stream name, e.g. `LOH_EVENTS_WORLD1`.
    pub name: String,
    /// Subject prefix, e.g. `loh.events.world1`; events go to `<prefix>.<stream_id>`.
    pub subject_prefix: String,
}

impl EventStreamDef {
    /// The definition for `shard` (names derived from it; `[A-Za-z0-9_-]` are kept).
    pub fn for_shard(shard: &str) -> EventStreamDef {
        let token: String = shard
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        EventStreamDef {
            name: format!("LOH_EVENTS_{}", token.to_ascii_uppercase().replace('-', "_")),
            subject_prefix: format!("loh.events.{token}"),
        }
    }

    /// The subject of an event of `stream_id`.
    pub fn subject(&self, stream_id: &str) -> String {
        format!("{}.{}", self.subject_prefix, stream_id)
    }

    /// The wildcard covering every event of the shard.
    pub fn all_subjects(&self) -> String {
        format!("{}.>", self.subject_prefix)
    }

    /// The JetStream config: `streams/events.json` with this name and subjects.
    pub fn config(&self) -> Result<stream::Config> {
        let mut config: stream::Config = serde_json::from_str(EVENTS_STREAM_JSON)?;
        config.name = self.name.clone();
        config.subjects = vec![self.all_subjects()];
        Ok(config)
    }

    /// Creates the stream if missing (an existing stream is left as it is) and returns it.
    pub async fn ensure(&self, js: &jetstream::Context) -> Result<stream::Stream> {
        js.get_or_create_stream(self.config()?)
            .await
            .map_err(|e| Error::JetStream(e.to_string()))
    }
}
