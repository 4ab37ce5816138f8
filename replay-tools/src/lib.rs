//! The investigator's tools over the event store (`loh replay …`).
//!
//! Reads the store directly — PostgreSQL, or the embedded SQLite file — and needs no network
//! service: it links the pure world (`loh-world`, whose tick step re-simulation runs), the read
//! models' pure folds (`loh-projections`, for `diff`) and the checkpoint signatures
//! (`loh-auth`), but never the tick writer or the gateway (`.ci/run` checks it).
//!
//! # Layout
//! - [`verify`](mod@verify): walk the hash chain and the signed checkpoints; report the first
//!   break or "intact".
//! - [`timeline`]: every command and event touching a player, as a table, JSON or CSV.
//! - [`state`]: a player's holdings, skills and position at a tick or time.
//! - [`scan`]: anomaly rules with evidence positions; [`worlds`]: the same across worlds (a
//!   character in two worlds at once, hops matched, value conserved with hops in flight).
//! - [`resimulate`]: re-run the journal through the world and compare byte for byte.
//! - [`snapshot`]: the newest valid snapshot, for `state` and `resimulate` to start from.
//! - [`bundle`]: the evidence bundle of `export`, and its offline check.
//! - [`diff`](mod@diff): a live read model against the same model refolded from the events.
//! - [`log`]: reading the whole log and journal; [`time`]: RFC 3339 times.

pub mod bundle;
pub mod diff;
pub mod log;
pub mod resimulate;
pub mod scan;
pub mod snapshot;
pub mod state;
pub mod time;
pub mod timeline;
pub mod verify;
pub mod worlds;

pub use verify::{Problem, VerifyReport, verify, verify_signed};
/// Progress is reported every this many events (the caller's display throttles itself).
pub const PROGRESS_EVERY: u64 = 1_000;

/// Errors of the replay tools.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store failed or held undecodable bytes; the command exits non-zero.
    #[error(transparent)]
    Store(#[from] loh_events::Error),
    /// An argument or a stored input could not be understood; fix the argument.
    #[error("{0}")]
    Input(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A journaled command from its MessagePack bytes.
pub fn decode_command(bytes: &[u8]) -> Result<loh_commands::Command, String> {
    rmp_serde::from_slice(bytes).map_err(|e| format!("undecodable command: {e}"))
}
