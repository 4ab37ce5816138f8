//! Read models: pure folds over the event log, and the runner that keeps them up to date.
//!
//! A [`Projection`] turns one event into backend-agnostic row operations ([`RowOp`]); it reads no
//! state and does no I/O, so the same fold serves live updates and rebuilds. The [`Projector`]
//! applies those operations to the read database ([`ReadDb`], PostgreSQL or the embedded SQLite
//! file) strictly in position order, writing the read-model rows and the projection's checkpoint
//! in the same transaction (ARCHITECTURE.md, invariant 8). An event at or below the checkpoint is
//! a no-op; a gap is filled from the event store, the source of truth (invariant 1).
//!
//! This crate must not depend on tick-writer internals: it sees only `loh-events` and the
//! JetStream definitions of `loh-nats`.
//!
//! Each read model's module holds its tables, its fold and its typed read queries (the query API
//! reads through them and never names a table).
//!
//! # Layout
//! - [`fold`] — the [`Projection`] trait, [`RowOp`], [`Value`], [`TableDef`].
//! - [`player_position`] — the `player_position` read model (position and last chat line).
//! - [`holdings`] — inventory, bank and equipment.
//! - [`wallet`] — coins and their ledger.
//! - [`skills`] — XP, levels and the leaderboards ([`skills::Board`]).
//! - [`economy`] — mints, burns, trade volume and XP per hour, for analysts.
//! - [`profile`] — profile, online status and trade history.
//! - [`player_names`] — players' display names (the accounts', read for the query API).
//! - [`membership`] — membership tier, paid-through time, debt and purchase history.
//! - [`flows`] — what each event does to items, once for every read model that counts them.
//! - [`db`] — [`ReadDb`], the read database (SQL for row operations, checkpoints, reads).
//! - `select` — the SQL of read queries whose conditions depend on their arguments.
//! - [`runner`] — [`Projector`]: catch-up, the embedded and the NATS sources, [`Source`], and
//!   [`runner::run_all`], a world's projectors on one consumer.
//! - [`partition`] — hot models consumed by several projectors, split by player.
//! - [`rebuild`] — refolding a read model from position 0 into shadow tables, then a swap.
//! - [`status`] — [`ProjectorStatus`] (checkpoint, head, lag) and [`ProjectionMetrics`].
//! - [`views`] — the analysts' SQL views over the read-model tables.

pub mod db;
pub mod economy;
pub mod flows;
pub mod fold;
pub mod holdings;
pub mod membership;
pub mod partition;
pub mod player_names;
pub mod player_position;
pub mod profile;
pub mod rebuild;
pub mod runner;
mod select;
pub mod skills;
pub mod status;
pub mod views;
pub mod wallet;

use std::sync::Arc;

pub use db::{Backend, ReadDb};
pub use fold::{Projection, RowOp, TableDef, Value};
pub use player_position::{PlayerPosition, PlayerPositionRow};
pub use runner::{NatsOptions, Projector, RunnerConfig, Source};
pub use status::{ProjectionMetrics, ProjectorStatus};

/// Errors of the projection runner and the read database.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The read database failed. Transient failures (connection lost, serialisation, busy) may be
    /// retried: the runner restarts from its committed checkpoint, nothing is half-applied.
    #[error("read database: {0}")]
    Database(#[from] sqlx::Error),
    /// Running the migrations failed; the read database is unusable until fixed.
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The event store failed (reading a gap or the head). Retry later.
    #[error("event store: {0}")]
    Store(#[from] loh_events::Error),
    /// JetStream could not be reached or refused the consumer. Retry later; the read model stays
    /// correct (it can catch up from the store alone).
    #[error("jetstream: {0}")]
    Nats(String),
    /// The event store does not hold an event the runner needs (a hole in the log, or a message
    /// from a different log). Not retryable: an operator must look.
    #[error("missing event at position {0} in the event store")]
    MissingEvent(u64),
    /// No projection has this name.
    #[error("unknown projection {0:?}")]
    UnknownProjection(String),
    /// A read model row or a configuration value is not what this build expects.
    #[error("invalid: {0}")]
    Invalid(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every read model of this build, in a stable order.
pub fn all() -> Vec<Arc<dyn Projection>> {
    vec![
        Arc::new(PlayerPosition),
        Arc::new(holdings::Holdings),
        Arc::new(wallet::Wallet),
        Arc::new(skills::Skills),
        Arc::new(economy::Economy),
        Arc::new(profile::Profile),
        Arc::new(membership::Membership),
    ]
}

/// Every projector to run: each read model, the [`partition::splittable`] ones split into
/// `partitions`, after arranging their checkpoints in `db` for that ([`partition::arrange`]).
pub async fn arrange(
    db: &ReadDb,
    store: &dyn loh_events::EventStore,
    partitions: u32,
) -> Result<Vec<Arc<dyn Projection>>> {
    let mut runners = Vec::new();
    for model in all() {
        partition::arrange(db, store, &model, partitions, 1_000).await?;
        runners.extend(partition::Partition::split(model, partitions));
    }
    Ok(runners)
}

/// The read model called `name`.
pub fn by_name(name: &str) -> Result<Arc<dyn Projection>> {
    all()
        .into_iter()
        .find(|p| p.name() == name)
        .ok_or_else(|| Error::UnknownProjection(name.to_owned()))
}

/// The names of every read model of this build.
pub fn names() -> Vec<&'static str> {
    all().iter().map(|p| p.name()).collect()
}
