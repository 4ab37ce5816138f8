//! The server's RSA key: it signs access tokens and checkpoints, and its public half is served
//! as a JWKS document and given to the query API and to investigators.

use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::{PrivateKey as RsaPrivateKey, PublicKey as RsaPublicKey};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Bits of a generated RSA key.
pub const RSA_BITS: usize = 2048;

/// A key that could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("RSA key: {0}")]
pub struct KeyError(pub(crate) String);

/// The server's RSA key: signs access tokens, and its public half is served as JWKS.
#[derive(Clone)]
pub struct SigningKey {
    pub(crate) inner: Arc<KeyInner>,
}

pub(crate) struct KeyInner {
    pub(crate) private_pem: String,
    pub(crate) public_pem: String,
    pub(crate) kid: String,
    pub(crate) encoding: EncodingKey,
    pub(crate) decoding: DecodingKey,
    pub(crate) jwks: JwkSet,
    /// A secret derived from the private key (HMAC key of CSRF tokens).
    pub(crate) derived_secret: [u8; 32],
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey(kid={})", self.inner.kid)
    }
}

impl SigningKey {
    /// A fresh 2048-bit key (a second or so of CPU: call it off the async runtime).
    pub fn generate() -> Result<SigningKey, KeyError> {
        let key = RsaPrivateKey::new(&mut getrandom::SysRng, RSA_BITS)
            .map_err(|e| KeyError(e.to_string()))?;
        let pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| KeyError(e.to_string()))?;
        SigningKey::from_pem(&pem)
    }

    /// Loads a private key in PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`)
    /// PEM; at least 2048 bits.
    pub fn from_pem(pem: &str) -> Result<SigningKey, KeyError> {
        let key = RsaPrivateKey::from_pkcs8_pem(pem)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem))
            .map_err(|e| KeyError(format!("not an RSA private key in PEM: {e}")))?;
        let public = RsaPublicKey::from(&key);
        let bits = rsa::traits::PublicKeyParts::n_bits_precision(&public);
        if bits < RSA_BITS as u32 {
            return Err(KeyError(format!("{bits}-bit key; 2048 bits at least")));
        }
        let private_pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| KeyError(e.to_string()))?
            .to_string();
        let public_pem = public
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| KeyError(e.to_string()))?;
        let encoding = EncodingKey::from_rsa_pem(private_pem.as_bytes())
            .map_err(|e| KeyError(e.to_string()))?;
        let decoding = DecodingKey::from_rsa_pem(public_pem.as_bytes())
            .map_err(|e| KeyError(e.to_string()))?;
        let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::RS256)
            .map_err(|e| KeyError(e.to_string()))?;
        let kid = jwk
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(|e| KeyError(e.to_string()))?;
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        jwk.common.key_algorithm = Some(KeyAlgorithm::RS256);
        let mut h = Sha256::new();
        h.update(b"loh derived secret v1\0");
        h.update(private_pem.as_bytes());
        Ok(SigningKey {
            inner: Arc::new(KeyInner {
                private_pem,
                public_pem,
                kid,
                encoding,
                decoding,
                jwks: JwkSet { keys: vec![jwk] },
                derived_secret: h.finalize().into(),
            }),
        })
    }

    /// The private key as PKCS#8 PEM (to keep it in the data folder).
    pub fn private_pem(&self) -> &str {
        &self.inner.private_pem
    }

    /// The public key as SPKI PEM (for the query API).
    pub fn public_pem(&self) -> &str {
        &self.inner.public_pem
    }

    /// The key id: the RFC 7638 thumbprint of the public key.
    pub fn kid(&self) -> &str {
        &self.inner.kid
    }

    /// The `/.well-known/jwks.json` document.
    pub fn jwks(&self) -> &JwkSet {
        &self.inner.jwks
    }

    /// A 32-byte secret derived from the private key, shared by every instance holding the key.
    pub fn derived_secret(&self) -> &[u8; 32] {
        &self.inner.derived_secret
    }
}
