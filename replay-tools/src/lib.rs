//! The investigator's tools over the event store (`loh replay …`).
//!
//! Reads the store directly — PostgreSQL, or the embedded SQLite file — and needs no network
//! service. Must not depend on the network roles.
//!
//! # Layout
//! - [`verify`]: walk the hash chain from genesis; report the first break or "intact".

use loh_events::{ChainBreak, ChainVerifier, EventStore};
use std::fmt;

/// Events read per batch.
const BATCH: usize = 5_000;
/// Progress is reported every this many events.
const PROGRESS_EVERY: u64 = 100_000;

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
