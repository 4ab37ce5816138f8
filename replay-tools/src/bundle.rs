//! `export <player> --out <dir>`: an evidence bundle that `verify --bundle` checks offline,
//! without the database; and that check.
//!
//! The bundle holds the contiguous stretch of the chain that covers every event touching the
//! player, anchored at a signed checkpoint (or genesis) before it and ending at one after it
//! when there is one, so each event's bytes are proven by the chain up to a signature:
//! - `manifest.json`: shard, player, range, anchor hash, the server's public key;
//! - `events.jsonl`: every event of the range, as stored (envelope, payload hex, hashes);
//! - `checkpoints.json`: the signed checkpoints inside the range;
//! - `journal.json`: the player's commands (accepted and rejected), decoded;
//! - `timeline.json`, `findings.json`: the player's timeline and the scan's findings about them.

use crate::log::journal;
use crate::scan::{Finding, Range, scan};
use crate::timeline::{Filter, timeline};
use crate::verify::{Problem, VerifyReport, check_signature};
use crate::{Error, Result, decode_command};
use loh_events::{ChainBreak, Checkpoint, EventStore, GENESIS_HASH, Hash, Outcome, StoredEvent};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};
use std::path::Path;
use uuid::Uuid;

/// The bundle's table of contents.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub shard: String,
    pub player: Uuid,
    /// The first and last positions in `events.jsonl`.
    pub from_position: u64,
    pub to_position: u64,
    /// The hash the first event links to: a signed checkpoint's, or genesis (all zeros).
    pub anchor_hash: String,
    /// The checkpoint that signs the anchor (`None` at genesis).
    pub anchor_checkpoint: Option<u64>,
    /// The server's RSA public key (SPKI PEM), if the exporter had it. Compare its thumbprint
    /// with the server's published JWKS `kid` before trusting the bundle.
    pub public_key_pem: Option<String>,
    pub findings: usize,
}

/// A checkpoint as bundled.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BundledCheckpoint {
    pub position: u64,
    pub hash: String,
    pub signature: String,
    pub created_at_us: i64,
}

/// A journal entry as bundled.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BundledCommand {
    pub command_id: Uuid,
    pub tick: u64,
    pub seq: u64,
    pub received_at_us: i64,
    pub command: serde_json::Value,
    pub command_msgpack_hex: String,
    pub outcome: Outcome,
}

fn io(e: impl std::fmt::Display) -> Error {
    Error::Input(e.to_string())
}

fn write_json(dir: &Path, name: &str, value: &impl Serialize) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(io)?;
    std::fs::write(dir.join(name), bytes).map_err(io)
}

fn read_json<T: for<'de> Deserialize<'de>>(dir: &Path, name: &str) -> Result<T> {
    let bytes = std::fs::read(dir.join(name)).map_err(|e| io(format!("{name}: {e}")))?;
    serde_json::from_slice(&bytes).map_err(|e| io(format!("{name}: {e}")))
}

/// Writes the evidence bundle of `player` into `out` (created if missing).
pub async fn export(
    store: &dyn EventStore,
    player: Uuid,
    public_key_pem: Option<String>,
    out: &Path,
    mut progress: impl FnMut(u64),
) -> Result<Manifest> {
    let entries = timeline(store, player, &Filter::default(), &mut progress).await?;
    let positions: Vec<u64> = entries.iter().filter_map(|e| e.position).collect();
    let (Some(&first), Some(&last)) = (positions.iter().min(), positions.iter().max()) else {
        return Err(Error::Input(format!("no event touches player {player}")));
    };
    let checkpoints = store.checkpoints().await?;
    let anchor = checkpoints.iter().rev().find(|c| c.position < first);
    let end = checkpoints
        .iter()
        .find(|c| c.position >= last)
        .map_or(last, |c| c.position);
    let from = anchor.map_or(1, |c| c.position + 1);
    std::fs::create_dir_all(out).map_err(io)?;
    let mut file =
        std::io::BufWriter::new(std::fs::File::create(out.join("events.jsonl")).map_err(io)?);
    let mut next = from;
    while next <= end {
        let batch = store.read_from(next, crate::log::BATCH).await?;
        let Some(tail) = batch.last() else { break };
        next = tail.position + 1;
        for e in batch.iter().filter(|e| e.position <= end) {
            serde_json::to_writer(&mut file, e).map_err(io)?;
            file.write_all(b"\n").map_err(io)?;
        }
    }
    file.flush().map_err(io)?;
    let bundled: Vec<BundledCheckpoint> = checkpoints
        .iter()
        .filter(|c| (from..=end).contains(&c.position) || Some(*c) == anchor)
        .map(|c| BundledCheckpoint {
            position: c.position,
            hash: hex::encode(c.hash),
            signature: c.signature.clone(),
            created_at_us: c.created_at_us,
        })
        .collect();
    let commands: Vec<BundledCommand> = journal(store, 0, None)
        .await?
        .into_iter()
        .filter(|j| j.player_id == player)
        .map(|j| BundledCommand {
            command_id: j.command_id,
            tick: j.tick,
            seq: j.seq,
            received_at_us: j.received_at_us,
            command: decode_command(&j.command)
                .ok()
                .and_then(|c| serde_json::to_value(c).ok())
                .unwrap_or_default(),
            command_msgpack_hex: hex::encode(&j.command),
            outcome: j.outcome,
        })
        .collect();
    let findings: Vec<Finding> = scan(store, Range::default(), &mut progress)
        .await?
        .into_iter()
        .filter(|f| f.player.is_none_or(|p| p == player))
        .collect();
    let manifest = Manifest {
        shard: store.shard().to_owned(),
        player,
        from_position: from,
        to_position: end,
        anchor_hash: hex::encode(anchor.map_or(GENESIS_HASH, |c| c.hash)),
        anchor_checkpoint: anchor.map(|c| c.position),
        public_key_pem,
        findings: findings.len(),
    };
    write_json(out, "checkpoints.json", &bundled)?;
    write_json(out, "journal.json", &commands)?;
    write_json(out, "timeline.json", &entries)?;
    write_json(out, "findings.json", &findings)?;
    write_json(out, "manifest.json", &manifest)?;
    Ok(manifest)
}

fn to_hash(text: &str) -> Result<Hash> {
    let bytes = hex::decode(text).map_err(io)?;
    bytes
        .try_into()
        .map_err(|_| Error::Input(format!("{text} is not a 32-byte hash")))
}

/// Checks a bundle on its own: every event's hash over its bytes, the links from the anchor,
/// gaplessness, every checkpoint against the chain and its signature with `public_pem` (the
/// operator's key, never the bundle's own), the anchor's signature, and that every bundled
/// timeline event is in the chain. A bundle with no signed checkpoint in its range and no signed
/// anchor is [`Problem::NoCheckpoint`]; the events after the last signed one are reported as
/// `unsigned_tail`.
pub fn verify_bundle(dir: &Path, public_pem: &str) -> Result<VerifyReport> {
    let manifest: Manifest = read_json(dir, "manifest.json")?;
    // The operator's key only: the bundle's own copy (`public_key_pem`) is whatever its maker
    // put there, and a forger would put their own.
    let key = Some(
        jsonwebtoken::DecodingKey::from_rsa_pem(public_pem.as_bytes())
            .map_err(|e| Error::Input(format!("not an RSA public key in PEM: {e}")))?,
    );
    let bundled: Vec<BundledCheckpoint> = read_json(dir, "checkpoints.json")?;
    let mut checkpoints = Vec::new();
    for c in bundled {
        checkpoints.push(Checkpoint {
            position: c.position,
            hash: to_hash(&c.hash)?,
            signature: c.signature,
            created_at_us: c.created_at_us,
        });
    }
    let broken = |verified, problem| Ok(VerifyReport::Broken { verified, problem });
    let anchor_hash = to_hash(&manifest.anchor_hash)?;
    let sig = |c: &Checkpoint| match &key {
        Some(k) => check_signature(&manifest.shard, c, k),
        None => Ok(()),
    };
    match manifest.anchor_checkpoint {
        None if anchor_hash != GENESIS_HASH || manifest.from_position != 1 => {
            return broken(
                0,
                Problem::Chain(ChainBreak::BrokenLink {
                    position: manifest.from_position,
                }),
            );
        }
        Some(at) => {
            let Some(c) = checkpoints
                .iter()
                .find(|c| c.position == at && c.hash == anchor_hash)
            else {
                return broken(0, Problem::CheckpointHash { position: at });
            };
            if let Err(reason) = sig(c) {
                return broken(
                    0,
                    Problem::CheckpointSignature {
                        position: at,
                        reason,
                    },
                );
            }
        }
        None => {}
    }
    let file = std::fs::File::open(dir.join("events.jsonl")).map_err(io)?;
    let (mut prev, mut expected, mut verified) = (anchor_hash, manifest.from_position, 0u64);
    let mut hashes = std::collections::HashMap::new();
    for line in std::io::BufReader::new(file).lines() {
        let e: StoredEvent = serde_json::from_str(&line.map_err(io)?).map_err(io)?;
        if e.position != expected {
            return broken(
                verified,
                Problem::Chain(ChainBreak::Gap {
                    expected,
                    found: e.position,
                }),
            );
        }
        if e.prev_hash != prev {
            return broken(
                verified,
                Problem::Chain(ChainBreak::BrokenLink {
                    position: e.position,
                }),
            );
        }
        if e.compute_hash() != e.hash || e.shard != manifest.shard {
            return broken(
                verified,
                Problem::Chain(ChainBreak::HashMismatch {
                    position: e.position,
                }),
            );
        }
        for c in checkpoints.iter().filter(|c| c.position == e.position) {
            if c.hash != e.hash {
                return broken(
                    verified,
                    Problem::CheckpointHash {
                        position: c.position,
                    },
                );
            }
            if let Err(reason) = sig(c) {
                return broken(
                    verified,
                    Problem::CheckpointSignature {
                        position: c.position,
                        reason,
                    },
                );
            }
        }
        hashes.insert(e.position, e.hash);
        prev = e.hash;
        expected += 1;
        verified += 1;
    }
    if expected != manifest.to_position + 1 {
        return broken(
            verified,
            Problem::Chain(ChainBreak::Gap {
                expected,
                found: manifest.to_position,
            }),
        );
    }
    // What a signature covers: the anchor and every checkpoint inside the bundle's range.
    let last_signed = checkpoints
        .iter()
        .map(|c| c.position)
        .filter(|p| hashes.contains_key(p))
        .chain(manifest.anchor_checkpoint)
        .max();
    let Some(last_signed) = last_signed else {
        return broken(verified, Problem::NoCheckpoint);
    };
    let entries: Vec<crate::timeline::Entry> = read_json(dir, "timeline.json")?;
    if let Some(missing) = entries
        .iter()
        .filter_map(|e| e.position)
        .find(|p| !hashes.contains_key(p))
    {
        return broken(
            verified,
            Problem::CheckpointBeyondHead { position: missing },
        );
    }
    Ok(VerifyReport::Intact {
        count: verified,
        head_hash: prev,
        checkpoints: checkpoints.len() as u64,
        signatures_checked: key.is_some(),
        unsigned_tail: manifest.to_position.saturating_sub(last_signed),
    })
}
