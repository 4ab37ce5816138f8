//! The investigator's tools over the event store (`loh replay …`).
//!
//! Reads the store directly — PostgreSQL, or the embedded SQLite file — and needs no network
//! service: it links the world's pure rules (`loh-tick-writer`'s `world`) but never starts a
//! gateway, relay or bus. Must not depend on the network roles.
//!
//! # Layout
//! - [`verify`]: walk the hash chain from genesis; report the first break or "intact".
//! - [`timeline`]: every command and event touching a player, as a table, JSON or CSV.
//! - [`state`]: a player's holdings, skills and position at a tick or time.
//! - [`scan`]: anomaly rules with evidence positions.
//! - [`resimulate`]: re-run the journal through the world and compare byte for byte.
//! - [`log`]: reading the whole log and journal; [`time`]: RFC 3339 times.

pub mod log;
pub mod resimulate;
pub mod scan;
pub mod state;
pub mod time;
pub mod timeline;

use loh_events::{ChainBreak, ChainVerifier, EventStore};
use std::fmt;

use log::BATCH;
/// Progress is reported every this many events.
pub const PROGRESS_EVERY: u64 = 100_000;

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

/// What a walk of the chain found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyReport {
    /// Every event from position 1 to `count` chains correctly.
    Intact { count: u64, head_hash: [u8; 32] },
    /// The first problem, after `verified` good events.
    Broken { verified: u64, problem: ChainBreak },
}

impl VerifyReport {
    pub fn is_intact(&self) -> bool {
        matches!(self, VerifyReport::Intact { .. })
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyReport::Intact { count, head_hash } => write!(
                f,
                "intact: {count} events, head hash {}",
                hex::encode(head_hash)
            ),
            VerifyReport::Broken { verified, problem } => {
                let what = match problem {
                    ChainBreak::HashMismatch { position } => format!(
                        "position {position}: the stored hash does not match the event's bytes (tampered)"
                    ),
                    ChainBreak::BrokenLink { position } => {
                        format!("position {position}: prev_hash is not the previous event's hash")
                    }
                    ChainBreak::Gap { expected, found } => {
                        format!("position {expected} is missing (next found: {found})")
                    }
                };
                write!(f, "BROKEN at {what}; {verified} events before it verified")
            }
        }
    }
}

/// Walks the whole chain of `store`'s shard from genesis, calling `progress` now and then with
/// the number of events verified so far.
pub async fn verify(
    store: &dyn EventStore,
    mut progress: impl FnMut(u64),
) -> loh_events::Result<VerifyReport> {
    let mut verifier = ChainVerifier::new();
    let mut from = 1;
    loop {
        let batch = store.read_from(from, BATCH).await?;
        let Some(last) = batch.last() else { break };
        from = last.position + 1;
        for event in &batch {
            if let Err(problem) = verifier.check(event) {
                return Ok(VerifyReport::Broken {
                    verified: verifier.checked(),
                    problem,
                });
            }
            if verifier.checked().is_multiple_of(PROGRESS_EVERY) {
                progress(verifier.checked());
            }
        }
    }
    Ok(VerifyReport::Intact {
        count: verifier.checked(),
        head_hash: verifier.head_hash(),
    })
}
