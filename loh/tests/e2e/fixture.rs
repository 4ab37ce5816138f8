//! An embedded data folder written by an older binary still verifies and resimulates.
//!
//! `loh/tests/fixtures/embedded-v1/` holds `loh.db` and `signing-key.pem` (a throwaway key made
//! for the fixture) exactly as `loh up` wrote them at commit
//! bc6f2ad97fcd2b5a9a7edfe3831b961907dc92e8, before the crate restructure, with `--tick-ms 100`:
//! four players (arjuna, bhima, nakula, sahadeva) playing 299 ticks: walking and path-walking,
//! chat, a drop and pick-up, bank deposits and withdrawals, a shop buy and sell, equipping,
//! woodcutting, killing a chicken and taking its bones, friends and ignores, private messages,
//! a trade, prayers, one player disconnecting and reconnecting (presence), a resent seq, and eight
//! commands the rules rejected. 448 events, 65 journaled player commands (8 of them rejected) and
//! 3 world entries (spawns, presence) in the journal, 2 signed checkpoints.
//!
//! Regenerate it (only on purpose: the point is that the old bytes stay) with
//! `scripts/make-replay-fixture.py <loh binary>`, then update the numbers below from
//! `loh replay verify` and `loh replay resimulate`.

use std::path::Path;
use std::process::Output;

const EVENTS: u64 = 448;
const TICKS: u64 = 299;
const JOURNALED_COMMANDS: u64 = 65;
const CHECKPOINTS: u64 = 2;
const HEAD_HASH: &str = "d541e8707e436c5030e4a8d90014a40ef1046694881accb666512e84196d6f4b";

/// A copy of the fixture in a temporary folder, so the committed files are never touched.
fn copy_fixture() -> tempfile::TempDir {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/embedded-v1");
    let dir = tempfile::tempdir().unwrap();
    for name in ["loh.db", "signing-key.pem"] {
        std::fs::copy(from.join(name), dir.path().join(name))
            .unwrap_or_else(|e| panic!("copy {name} from {}: {e}", from.display()));
    }
    dir
}

/// `loh replay <what> --data-dir <data>`, on the embedded store only.
fn replay(what: &str, data: &Path) -> (Output, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_loh"))
        .args(["replay", what, "--data-dir"])
        .arg(data)
        .env_remove("DATABASE_URL")
        .env_remove("LOH_DATA_DIR")
        .env_remove("LOH_SHARD")
        .output()
        .expect("run loh");
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out, stdout)
}

#[test]
fn a_data_folder_made_before_the_restructure_still_verifies_and_resimulates_byte_for_byte() {
    let dir = copy_fixture();

    let (out, said) = replay("verify", dir.path());
    assert!(out.status.success(), "verify failed: {out:?}");
    assert!(said.starts_with("intact: "), "verify: {said}");
    for part in [
        format!("{EVENTS} events"),
        format!("head hash {HEAD_HASH}"),
        format!("{CHECKPOINTS} checkpoints match and their signatures verify"),
    ] {
        assert!(said.contains(&part), "verify does not say {part:?}: {said}");
    }

    let (out, said) = replay("resimulate", dir.path());
    assert!(out.status.success(), "resimulate failed: {out:?}");
    assert!(said.starts_with("identical: "), "resimulate: {said}");
    for part in [
        format!("{TICKS} ticks"),
        format!("{JOURNALED_COMMANDS} journaled commands"),
        format!("{EVENTS} events reproduced byte for byte"),
    ] {
        assert!(
            said.contains(&part),
            "resimulate does not say {part:?}: {said}"
        );
    }
}
