//! `verify`: walks the hash chain from genesis and checks every signed checkpoint against it.

use crate::log::BATCH;
use crate::{Error, PROGRESS_EVERY, Result};
use loh_events::{ChainBreak, ChainVerifier, Checkpoint, EventStore};
use std::fmt;

/// The first thing found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The chain itself: a changed byte, a broken link or a gap.
    Chain(ChainBreak),
    /// A checkpoint's hash is not the chain's hash at its position: history was rewritten.
    CheckpointHash { position: u64 },
    /// A checkpoint's signature does not verify with the server's public key.
    CheckpointSignature { position: u64, reason: String },
    /// A checkpoint names a position past the end of the log: events were removed.
    CheckpointBeyondHead { position: u64 },
    /// An evidence bundle holds no signed checkpoint (and no signed anchor): its chain is
    /// consistent, but anyone could have made it, so it proves nothing.
    NoCheckpoint,
}

/// What a walk of the chain found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyReport {
    /// Every event from position 1 to `count` chains correctly and every checkpoint matches.
    Intact {
        count: u64,
        head_hash: [u8; 32],
        checkpoints: u64,
        /// Whether the checkpoints' signatures were checked (a public key was given).
        signatures_checked: bool,
        /// The events after the last checkpoint: they chain to it, but no signature covers them
        /// yet (a writer that rewrote them would go unseen until the next checkpoint).
        unsigned_tail: u64,
    },
    /// The first problem, after `verified` good events.
    Broken { verified: u64, problem: Problem },
}

impl VerifyReport {
    pub fn is_intact(&self) -> bool {
        matches!(self, VerifyReport::Intact { .. })
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyReport::Intact {
                count,
                head_hash,
                checkpoints,
                signatures_checked,
                unsigned_tail,
            } => {
                write!(
                    f,
                    "intact: {count} events, head hash {}; {checkpoints} checkpoints match{}",
                    hex::encode(head_hash),
                    if *signatures_checked {
                        " and their signatures verify"
                    } else {
                        " (signatures NOT checked: give the public key)"
                    }
                )?;
                if *unsigned_tail > 0 {
                    write!(
                        f,
                        "; the last {unsigned_tail} events are after the last checkpoint: \
                         chained, but no signature covers them yet"
                    )?;
                }
                Ok(())
            }
            VerifyReport::Broken { verified, problem } => {
                let what = match problem {
                    Problem::Chain(ChainBreak::HashMismatch { position }) => format!(
                        "position {position}: the stored hash does not match the event's bytes (tampered)"
                    ),
                    Problem::Chain(ChainBreak::BrokenLink { position }) => {
                        format!("position {position}: prev_hash is not the previous event's hash")
                    }
                    Problem::Chain(ChainBreak::Gap { expected, found }) => {
                        format!("position {expected} is missing (next found: {found})")
                    }
                    Problem::CheckpointHash { position } => format!(
                        "position {position}: the signed checkpoint's hash is not the chain's (history rewritten)"
                    ),
                    Problem::CheckpointSignature { position, reason } => {
                        format!("position {position}: the checkpoint's signature fails ({reason})")
                    }
                    Problem::CheckpointBeyondHead { position } => format!(
                        "position {position}: a checkpoint names an event the log no longer has (truncated)"
                    ),
                    Problem::NoCheckpoint => "the bundle holds no signed checkpoint: its chain is \
                        consistent but nothing proves the server wrote it"
                        .to_owned(),
                };
                write!(f, "BROKEN at {what}; {verified} events before it verified")
            }
        }
    }
}

/// Walks the chain without checking signatures (checkpoint hashes are still compared).
pub async fn verify(store: &dyn EventStore, progress: impl FnMut(u64)) -> Result<VerifyReport> {
    verify_signed(store, None, progress).await
}

/// Walks the whole chain of `store`'s shard from genesis and checks every checkpoint: its hash
/// against the chain, and its signature against `public_pem` (SPKI PEM) when given. Calls
/// `progress` now and then with the number of events verified so far.
pub async fn verify_signed(
    store: &dyn EventStore,
    public_pem: Option<&str>,
    mut progress: impl FnMut(u64),
) -> Result<VerifyReport> {
    let key = public_pem
        .map(|pem| loh_auth::checkpoint::public_key(pem).map_err(Error::Input))
        .transpose()?;
    let checkpoints = store.checkpoints().await?;
    let mut pending = checkpoints.iter().peekable();
    let mut verifier = ChainVerifier::new();
    let mut from = 1;
    loop {
        let batch = store.read_from(from, BATCH).await?;
        let Some(last) = batch.last() else { break };
        from = last.position + 1;
        for event in &batch {
            if let Err(problem) = verifier.check(event) {
                return Ok(broken(verifier.checked(), Problem::Chain(problem)));
            }
            while let Some(c) = pending.next_if(|c| c.position <= event.position) {
                if c.position < event.position || c.hash != event.hash {
                    return Ok(broken(
                        verifier.checked(),
                        Problem::CheckpointHash {
                            position: c.position,
                        },
                    ));
                }
                if let Some(key) = &key
                    && let Err(reason) = check_signature(store.shard(), c, key)
                {
                    let position = c.position;
                    return Ok(broken(
                        verifier.checked(),
                        Problem::CheckpointSignature { position, reason },
                    ));
                }
            }
            if verifier.checked().is_multiple_of(PROGRESS_EVERY) {
                progress(verifier.checked());
            }
        }
    }
    if let Some(c) = pending.next() {
        return Ok(broken(
            verifier.checked(),
            Problem::CheckpointBeyondHead {
                position: c.position,
            },
        ));
    }
    let last_signed = checkpoints.last().map_or(0, |c| c.position);
    Ok(VerifyReport::Intact {
        count: verifier.checked(),
        head_hash: verifier.head_hash(),
        checkpoints: checkpoints.len() as u64,
        signatures_checked: key.is_some(),
        unsigned_tail: verifier.checked().saturating_sub(last_signed),
    })
}

fn broken(verified: u64, problem: Problem) -> VerifyReport {
    VerifyReport::Broken { verified, problem }
}

/// Checks that `c.signature` is an RS256 JWS by `key` over exactly this shard, position and hash.
pub fn check_signature(
    shard: &str,
    c: &Checkpoint,
    key: &jsonwebtoken::DecodingKey,
) -> Result<(), String> {
    let expected = loh_auth::CheckpointClaims::new(shard, c.position, &c.hash);
    loh_auth::check_checkpoint(&c.signature, &expected, key)
}
