//! The event vocabulary, the envelope, the codec, the hash chain and the event store.
//!
//! This crate owns what an event *is* and how it is kept: append-only, gapless per shard,
//! hash-chained, with one fenced sequencer per shard. It must not depend on axum or on game rules.
//!
//! # Layout
//! - [`body`]: the event vocabulary ([`EventBody`]).
//! - [`codec`]: stored bytes ⇄ bodies, with upcasting of old schema versions.
//! - [`envelope`]: [`NewEvent`], [`StoredEvent`], the canonical bytes and [`ChainVerifier`].
//! - [`store`]: the [`EventStore`] trait, finding the newest snapshot that matches the log, and
//!   cutting rows into few statement shapes ([`store::statement_chunks`]).
//! - [`value`]: what each event mints and burns (the ledger's rules, written once).
//! - [`hop`]: what travels with a character between worlds, and the store's hand-off record.
//! - [`pg`]: the PostgreSQL store; [`sqlite`]: the embedded SQLite store.

pub mod body;
pub mod codec;
pub mod envelope;
pub mod hop;
#[cfg(feature = "store")]
pub mod pg;
#[cfg(feature = "store")]
pub mod sqlite;
pub mod store;
pub mod value;

pub use body::{
    AttackStyle, EquipSlot, EventBody, GroundItem, ItemQty, Skill, SlotQty, Target, Tier, Tile,
    WORLD_STREAM, player_stream,
};
pub use envelope::{
    ChainBreak, ChainVerifier, EncodedBody, GENESIS_HASH, Hash, NewEvent, StoredEvent,
};
#[cfg(feature = "store")]
pub use pg::PgEventStore;
#[cfg(feature = "store")]
pub use sqlite::SqliteEventStore;
pub use store::{
    AppendBatch, Appended, Checkpoint, EventStore, Found, Head, JournalEntry, Lease, Outcome,
    Snapshot, WorldEntry, newest_snapshot,
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

/// Runs an append to its end in a task of its own, whatever happens to the caller. A caller may
/// stop waiting (the tick writer gives the store two seconds); dropping an append's future would
/// abandon its transaction halfway, and the pooled connection would keep the transaction — and
/// with it SQLite's write lock, or PostgreSQL's lock on the shard row — until it happened to be
/// used again, so that every other writer waited on it ("database is locked", seen with a full
/// disk). In its own task the append commits or rolls back, and its connection is clean.
#[cfg(feature = "store")]
pub(crate) async fn to_the_end<T: Send + 'static>(
    append: impl std::future::Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    match tokio::spawn(append).await {
        Ok(done) => done,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// The stored events an append found under its batch's ids, when they are the batch's own
/// events (an idempotent retry); [`Error::Conflict`] when they differ. Event ids need not commit
/// to their content (a log's ids may be its ticks and indexes), so a retry is told from a
/// different batch by what was stored. `stored` is in position order, like the batch.
#[cfg(feature = "store")]
pub(crate) fn the_batch_itself(
    stored: Vec<StoredEvent>,
    batch: &[NewEvent],
) -> Result<Vec<StoredEvent>> {
    for (s, b) in stored.iter().zip(batch) {
        // Sealed where it is stored, the batch's event must be the stored one, hash and all.
        let same = StoredEvent::seal(&s.shard, s.position, s.prev_hash, b)
            .is_ok_and(|sealed| sealed == *s);
        if !same {
            return Err(Error::Conflict(format!(
                "event {} is stored at position {} with other content than the batch's",
                b.event_id, s.position
            )));
        }
    }
    Ok(stored)
}

impl Error {
    pub(crate) fn codec(e: impl std::fmt::Display) -> Error {
        Error::Codec(e.to_string())
    }

    /// Whether the same request may succeed later: a lost connection, a full pool, a
    /// serialization failure or a server shutting down. A value the store cannot encode, a
    /// broken rule or a fenced lease is not transient: retrying the same batch fails the same way.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Fenced | Error::Conflict(_) | Error::Codec(_) => false,
            #[cfg(feature = "store")]
            Error::Database(e) => database_error_is_transient(e),
            #[cfg(feature = "store")]
            Error::Migrate(_) => false,
        }
    }
}

/// SQLSTATE classes that say "try again": 08 connection, 40 transaction rollback (serialization,
/// deadlock), 53 insufficient resources, 57 operator intervention, 58 system error. SQLite's
/// busy and locked codes (5, 6) too. Every I/O, pool or protocol failure is transient.
#[cfg(feature = "store")]
fn database_error_is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => match db.code() {
            Some(code) => {
                let code = code.as_ref();
                ["08", "40", "53", "57", "58"]
                    .iter()
                    .any(|c| code.starts_with(c))
                    || matches!(code, "5" | "6" | "261" | "262" | "517")
            }
            None => true,
        },
        sqlx::Error::Encode(_)
        | sqlx::Error::Decode(_)
        | sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::TypeNotFound { .. }
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::RowNotFound
        | sqlx::Error::Configuration(_)
        | sqlx::Error::InvalidArgument(_) => false,
        _ => true,
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
