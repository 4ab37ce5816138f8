//! The event vocabulary, the envelope, the codec, the hash chain and the event store.
//!
//! This crate owns what an event *is* and how it is kept: append-only, gapless per shard,
//! hash-chained, with one fenced sequencer per shard. It must not depend on axum or on game rules.
//!
//! # Layout
//! - [`body`]: the event vocabulary ([`EventBody`]).
//! - [`codec`]: stored bytes ⇄ bodies, with upcasting of old schema versions.
//! - [`envelope`]: [`NewEvent`], [`StoredEvent`], the canonical bytes and [`ChainVerifier`].
//! - [`store`]: the [`EventStore`] trait.
//! - [`value`]: what each event mints and burns (the ledger's rules, written once).
//! - [`pg`]: the PostgreSQL store; [`sqlite`]: the embedded SQLite store.

pub mod body;
pub mod codec;
pub mod envelope;
#[cfg(feature = "store")]
pub mod pg;
#[cfg(feature = "store")]
pub mod sqlite;
pub mod store;
pub mod value;

pub use body::{
    AttackStyle, EquipSlot, EventBody, GroundItem, ItemQty, Skill, Target, WORLD_STREAM,
    player_stream,
};
pub use envelope::{
    ChainBreak, ChainVerifier, EncodedBody, GENESIS_HASH, Hash, NewEvent, StoredEvent,
};
#[cfg(feature = "store")]
pub use pg::PgEventStore;
#[cfg(feature = "store")]
pub use sqlite::SqliteEventStore;
pub use store::{
    AppendBatch, Appended, Checkpoint, EventStore, Head, JournalEntry, Lease, Outcome,
};

/// Errors of the event store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The lease's epoch is stale: another writer took the shard. The caller must stop writing
    /// (a zombie writer); retrying cannot succeed.
    #[error("fenced: the shard's epoch moved on (another writer holds the lease)")]
    Fenced,
    /// A uniqueness rule was broken (stream version taken, partly stored batch). Not retryable
    /// with the same batch.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A stored or given value could not be encoded or decoded.
    #[error("codec: {0}")]
    Codec(String),
    /// The database failed; transient errors may be retried with the same batch (idempotent).
    #[cfg(feature = "store")]
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[cfg(feature = "store")]
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl Error {
    pub(crate) fn codec(e: impl std::fmt::Display) -> Error {
        Error::Codec(e.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
