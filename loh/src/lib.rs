//! The `loh` binary's library: its command line, its one typed configuration, and the
//! composition of the roles.
//!
//! Logic lives in the role crates; this crate only wires them: which store, which bus, which
//! addresses, which keys. [`config`] reads every flag and environment variable once into typed
//! structs (secrets in `secrecy` types); [`app`] starts roles from them (all in one process for
//! `loh up`, or one per process) and is what the end-to-end tests drive, binding to port 0.
//! [`cli`] only parses and dispatches; each subcommand family has its own module.
//!
//! # Layout
//! - [`cli`] — the top-level command line (`Cli`, `Command`) and its dispatch.
//! - [`config`] — the one typed configuration: every flag and environment variable, the
//!   resolved `Settings` and `Backing`; secrets in `SecretString`.
//! - [`app`] — starting the roles on the embedded store or on the real services.
//! - [`roles`] — `loh up`, `loh tick-writer`, `loh query-api`: run roles until shutdown.
//! - [`projections`] — `loh projections run|rebuild|status`.
//! - [`replay`] — `loh replay …`: the investigator's tools.
//! - [`migrate`] — `loh migrate`.
//! - [`bench`](mod@bench) — `loh bench …`: the benchmarks.
//! - [`loadgen`] — `loh loadgen`: real WebSocket bots against a server on this machine.
//! - [`chaos`] — `loh chaos`: the kill campaign (SIGKILL under load, restart, check the log).
//! - [`analyst_token`] — `loh analyst-token`.
//! - [`broadcast`] — `loh broadcast`: a world-wide system message.
//! - [`health`] — `/healthz` and `/metrics` of a process without another HTTP server.
//! - [`shutdown`] — the signal that stops every role of the process gracefully.
//! - [`embedded`] — the data folder of `loh up`.
//! - [`progress`] — progress of long-running commands on a terminal, quiet in scripts.

pub mod analyst_token;
pub mod app;
pub mod bench;
pub mod broadcast;
pub mod chaos;
pub mod cli;
pub mod config;
pub mod embedded;
pub mod health;
pub mod loadgen;
pub mod migrate;
pub mod progress;
pub mod projections;
pub mod replay;
pub mod roles;
pub mod shutdown;

/// Logs to stderr, filtered by `RUST_LOG` (default `info`, but PostgreSQL's notices — "table
/// … does not exist, skipping" from every scratch table a rebuild comparison drops — at `warn`).
/// A line that cannot be written (stderr
/// is a file on a full disk, a closed pipe) is dropped: the subscriber's default reports such a
/// failure with `eprint!`, which panics when stderr itself fails, and took the whole process down
/// with a full disk (`loh chaos --disk-mib`).
pub fn telemetry() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx::postgres::notice=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .log_internal_errors(false)
        .try_init();
}
