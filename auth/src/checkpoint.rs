//! Signed checkpoints of the hash chain: a compact JWS (RS256, header `kid`) over a shard's
//! position and the event hash there. The tick writer signs them; `loh replay verify` checks
//! them with the public key alone.

use crate::keys::SigningKey;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};

/// What a checkpoint's signature covers: the chain's hash at a position of a shard.
/// Unknown fields are refused, so a snapshot's signature ([`crate::snapshot`]) is never read as
/// a checkpoint's.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointClaims {
    pub shard: String,
    pub position: u64,
    /// The event's hash, lowercase hex.
    pub hash: String,
}

impl CheckpointClaims {
    pub fn new(shard: &str, position: u64, hash: &[u8; 32]) -> CheckpointClaims {
        CheckpointClaims {
            shard: shard.to_owned(),
            position,
            hash: hex::encode(hash),
        }
    }
}

/// Signs `claims` with the server's RSA key. A second or so of CPU at worst: call it off the
/// async runtime.
pub fn sign_checkpoint(key: &SigningKey, claims: &CheckpointClaims) -> Result<String, String> {
    sign_claims(key, claims)
}

/// Signs any claims as an RS256 JWS with header `kid`.
pub(crate) fn sign_claims(
    key: &SigningKey,
    claims: &impl serde::Serialize,
) -> Result<String, String> {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(key.kid().to_owned());
    let encoding =
        EncodingKey::from_rsa_pem(key.private_pem().as_bytes()).map_err(|e| e.to_string())?;
    jsonwebtoken::encode(&header, claims, &encoding).map_err(|e| e.to_string())
}

/// Checks that `signature` is an RS256 JWS by `key` over exactly `expected`.
pub fn check_checkpoint(
    signature: &str,
    expected: &CheckpointClaims,
    key: &DecodingKey,
) -> Result<(), String> {
    decode_exact(signature, expected, key)
}

/// Checks that `signature` is an RS256 JWS by `key` whose claims are exactly `expected`.
pub(crate) fn decode_exact<T>(
    signature: &str,
    expected: &T,
    key: &DecodingKey,
) -> Result<(), String>
where
    T: serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<T>(signature, key, &validation)
        .map_err(|e| e.to_string())?
        .claims;
    if &claims == expected {
        Ok(())
    } else {
        Err(format!("it signs {claims:?}, not {expected:?}"))
    }
}

/// A public key in SPKI PEM (`BEGIN PUBLIC KEY`), for [`check_checkpoint`].
pub fn public_key(pem: &str) -> Result<DecodingKey, String> {
    DecodingKey::from_rsa_pem(pem.as_bytes())
        .map_err(|e| format!("not an RSA public key in PEM: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_verifies_with_the_public_key_and_only_for_what_it_signs() {
        let key = SigningKey::generate().unwrap();
        let claims = CheckpointClaims::new("main", 42, &[7; 32]);
        let signature = sign_checkpoint(&key, &claims).unwrap();
        let public = public_key(key.public_pem()).unwrap();
        check_checkpoint(&signature, &claims, &public).unwrap();
        let moved = CheckpointClaims::new("main", 43, &[7; 32]);
        assert!(check_checkpoint(&signature, &moved, &public).is_err());
        let other = SigningKey::generate().unwrap();
        let other = public_key(other.public_pem()).unwrap();
        assert!(check_checkpoint(&signature, &claims, &other).is_err());
    }
}
