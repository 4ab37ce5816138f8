//! The SQL schema, in order, never edited once released.
//!
//! `postgres/` holds the PostgreSQL migrations and `sqlite/` the embedded store's; the same
//! numbers mean the same tables in both. Files are numbered by area:
//! `0001` events, shard heads and the command journal; `0002` accounts; `0003` projections;
//! `0004` auth sessions (used when no Redis is configured); `0005` read models; `0006`
//! checkpoints; `0007` Stripe events (the payment inbox); `0008` snapshots of the world; `0009` where
//! characters live and the world list; `0010` read models of several worlds in one database
//! (projection checkpoints keyed by world); `0011` the outbox of world hops; `0012` the log and the
//! journal partitioned by world, `0013` the journal's keys, `0014` the log's keys on each world's
//! partition and `0015` the journal as one row per tick (PostgreSQL only). `build.rs` makes cargo
//! rebuild the crate when a migration is added or edited.
//!
//! # Layout
//! - [`scratch`]: create and drop scratch databases (benchmarks, tests).

pub mod scratch;

use sqlx::migrate::Migrator;

/// Migrations for PostgreSQL (`loh migrate`, and every role on start).
pub static POSTGRES: Migrator = sqlx::migrate!("./postgres");

/// Migrations for the embedded SQLite database of `loh up`.
pub static SQLITE: Migrator = sqlx::migrate!("./sqlite");
