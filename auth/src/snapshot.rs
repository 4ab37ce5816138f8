//! Signed snapshots of the world: a compact JWS (RS256, header `kid`) over the shard, the log
//! position and hash the state was folded up to, its tick and the SHA-256 of the state's bytes.
//! The tick writer signs them as it signs checkpoints; start-up and `loh replay` check them with
//! the public key before folding only the tail of the log.

use crate::checkpoint::{decode_exact, sign_claims};
use crate::keys::SigningKey;
use jsonwebtoken::DecodingKey;

/// What a snapshot's signature covers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotClaims {
    pub shard: String,
    pub position: u64,
    /// The hash of the event at `position`, lowercase hex.
    pub hash: String,
    pub tick: u64,
    /// SHA-256 of the state's bytes, lowercase hex.
    pub state: String,
}

impl SnapshotClaims {
    pub fn new(
        shard: &str,
        position: u64,
        hash: &[u8; 32],
        tick: u64,
        state_hash: &[u8; 32],
    ) -> SnapshotClaims {
        SnapshotClaims {
            shard: shard.to_owned(),
            position,
            hash: hex::encode(hash),
            tick,
            state: hex::encode(state_hash),
        }
    }
}

/// Signs `claims` with the server's RSA key. CPU work: call it off the async runtime.
pub fn sign_snapshot(key: &SigningKey, claims: &SnapshotClaims) -> Result<String, String> {
    sign_claims(key, claims)
}

/// Checks that `signature` is an RS256 JWS by `key` over exactly `expected`.
pub fn check_snapshot(
    signature: &str,
    expected: &SnapshotClaims,
    key: &DecodingKey,
) -> Result<(), String> {
    decode_exact(signature, expected, key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{CheckpointClaims, check_checkpoint, public_key, sign_checkpoint};

    #[test]
    fn a_snapshot_verifies_with_the_public_key_and_only_for_what_it_signs() {
        let key = SigningKey::generate().unwrap();
        let claims = SnapshotClaims::new("main", 42, &[7; 32], 9, &[8; 32]);
        let signature = sign_snapshot(&key, &claims).unwrap();
        let public = public_key(key.public_pem()).unwrap();
        check_snapshot(&signature, &claims, &public).unwrap();
        let other_state = SnapshotClaims::new("main", 42, &[7; 32], 9, &[9; 32]);
        assert!(check_snapshot(&signature, &other_state, &public).is_err());
        let other_tick = SnapshotClaims::new("main", 42, &[7; 32], 10, &[8; 32]);
        assert!(check_snapshot(&signature, &other_tick, &public).is_err());
        let other = public_key(SigningKey::generate().unwrap().public_pem()).unwrap();
        assert!(check_snapshot(&signature, &claims, &other).is_err());
        // A checkpoint's signature over the same position is not a snapshot's, and back.
        let checkpoint = CheckpointClaims::new("main", 42, &[7; 32]);
        let cp = sign_checkpoint(&key, &checkpoint).unwrap();
        assert!(check_snapshot(&cp, &claims, &public).is_err());
        assert!(check_checkpoint(&signature, &checkpoint, &public).is_err());
    }
}
