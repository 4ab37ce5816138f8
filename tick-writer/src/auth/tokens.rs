//! Access tokens: RS256 JWTs signed with the server's RSA key, and the key's JWKS document.
//!
//! Validation pins the algorithm to RS256 (so `alg: none` and HS256 keyed with the public key
//! are refused), requires and checks `iss`, `aud`, `exp` and `sub`, then checks `typ`, with a
//! leeway of [`LEEWAY_SECS`]. A token also names its session (`sid`): the caller checks that the
//! session is still live, which is how logout kills an access token at once.

use crate::error::ApiError;
use axum::http::StatusCode;
use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::{PrivateKey as RsaPrivateKey, PublicKey as RsaPublicKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use uuid::Uuid;

/// Access tokens live this long.
pub const ACCESS_TTL_SECS: i64 = 900;
/// Clock skew tolerated on `exp`.
pub const LEEWAY_SECS: u64 = 5;
/// The `iss` of every token.
pub const ISSUER: &str = "loh";
/// The `aud` of every access token.
pub const AUDIENCE: &str = "loh-game";
/// The `typ` claim of an access token.
pub const ACCESS_TYP: &str = "access";
/// Bits of a generated RSA key.
pub const RSA_BITS: usize = 2048;

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    /// The session (refresh-token family) the token belongs to.
    pub sid: String,
    pub iss: String,
    pub aud: String,
    pub typ: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
    /// `analyst` on the tokens `loh analyst-token` mints (the query API then reads every
    /// player's data and the economy); never on a player's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// The `role` of an analyst's access token.
pub const ANALYST_ROLE: &str = "analyst";

/// A key that could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("RSA key: {0}")]
pub struct KeyError(String);

/// The server's RSA key: signs access tokens, and its public half is served as JWKS.
#[derive(Clone)]
pub struct SigningKey {
    inner: Arc<KeyInner>,
}

struct KeyInner {
    private_pem: String,
    public_pem: String,
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwks: JwkSet,
    /// A secret derived from the private key (HMAC key of CSRF tokens).
    derived_secret: [u8; 32],
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

/// Issues and checks access tokens.
#[derive(Clone, Debug)]
pub struct Tokens {
    key: SigningKey,
    validation: Validation,
}

/// The validation rules shared by every verifier of access tokens.
pub fn validation() -> Validation {
    let mut validation = Validation::new(Algorithm::RS256);
    validation.algorithms = vec![Algorithm::RS256];
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    validation.leeway = LEEWAY_SECS;
    validation.validate_exp = true;
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation
}

impl Tokens {
    pub fn new(key: SigningKey) -> Tokens {
        Tokens {
            key,
            validation: validation(),
        }
    }

    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// A fresh access token for `player_id` in session `sid`.
    pub fn issue(&self, player_id: Uuid, sid: &str) -> String {
        let now = crate::tick::now_us() / 1_000_000;
        self.issue_claims(&Claims {
            sub: player_id,
            sid: sid.to_owned(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            typ: ACCESS_TYP.into(),
            iat: now,
            exp: now + ACCESS_TTL_SECS,
            jti: Uuid::new_v4(),
            role: None,
        })
    }

    /// An analyst's access token for `subject`, valid `ttl_secs`: it reads every player's data
    /// and the economy endpoints of the query API, and opens no game session (its `sid` is no
    /// session's).
    pub fn issue_analyst(&self, subject: Uuid, ttl_secs: i64) -> String {
        let now = crate::tick::now_us() / 1_000_000;
        self.issue_claims(&Claims {
            sub: subject,
            sid: ANALYST_ROLE.into(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            typ: ACCESS_TYP.into(),
            iat: now,
            exp: now + ttl_secs,
            jti: Uuid::new_v4(),
            role: Some(ANALYST_ROLE.into()),
        })
    }

    /// Signs arbitrary claims with the server key (tests build bad tokens with it).
    pub fn issue_claims(&self, claims: &Claims) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.key.kid().to_owned());
        jsonwebtoken::encode(&header, claims, &self.key.inner.encoding)
            .expect("RS256 signing with a valid key")
    }

    /// The claims of a token that is well signed and current. Whether its session is still live
    /// is the caller's second check.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.key.inner.decoding, &self.validation)
                .map_err(|_| unauthorized())?;
        if data.claims.typ != ACCESS_TYP {
            return Err(unauthorized());
        }
        Ok(data.claims)
    }
}

/// `401 unauthorized`.
pub fn unauthorized() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "missing or invalid access token",
    )
}
