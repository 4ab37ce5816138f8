//! Access tokens: RS256 JWTs signed with the server's RSA key; issued by the game server
//! ([`Tokens`]) and verified by it and by the query API with the public key alone
//! ([`TokenVerifier`]), under the same rules ([`validation`]).
//!
//! Validation pins the algorithm to RS256 (so `alg: none` and HS256 keyed with the public key
//! are refused), requires and checks `iss`, `aud`, `exp` and `sub`, then checks `typ`, with a
//! leeway of [`LEEWAY_SECS`]. A token also names its session (`sid`): the caller checks that the
//! session is still live, which is how logout kills an access token at once. The query API cannot
//! see a logout: a revoked token stays valid there until it expires (15 minutes at most).
//!
//! **Analyst tokens** are access tokens of the same key and rules that also carry the claim
//! `"role": "analyst"`. The game server never puts a `role` claim in the tokens it issues to
//! players; an operator mints analyst tokens offline (`loh analyst-token`). An analyst token
//! reads every player's data and the economy endpoints of the query API.

use crate::keys::SigningKey;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
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
        let now = now_secs();
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
        let now = now_secs();
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
    pub fn verify(&self, token: &str) -> Result<Claims, InvalidToken> {
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.key.inner.decoding, &self.validation)
                .map_err(|_| InvalidToken)?;
        if data.claims.typ != ACCESS_TYP {
            return Err(InvalidToken);
        }
        Ok(data.claims)
    }
}

/// A token that does not verify (bad signature, algorithm, issuer, audience, type, or expired).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid access token")]
pub struct InvalidToken;

/// Verifies access tokens with the public key.
#[derive(Clone)]
pub struct TokenVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenVerifier(RS256)")
    }
}

/// The claims the public-key verifier needs (the session claims are the game server's check).
#[derive(Deserialize)]
struct PublicClaims {
    sub: Uuid,
    typ: String,
    #[serde(default)]
    role: Option<String>,
}

/// Who presented a valid token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// The token's subject.
    pub player_id: Uuid,
    /// Whether the token carries `role: "analyst"`.
    pub analyst: bool,
}

impl Caller {
    /// Whether the caller may read `player_id`'s private data: their own, or anyone's as an
    /// analyst.
    pub fn may_read(&self, player_id: Uuid) -> bool {
        self.analyst || self.player_id == player_id
    }
}

impl TokenVerifier {
    /// From the public key in SPKI PEM (`BEGIN PUBLIC KEY`).
    pub fn from_public_pem(pem: &str) -> Result<TokenVerifier, InvalidToken> {
        let key = DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(|_| InvalidToken)?;
        Ok(TokenVerifier {
            key,
            validation: validation(),
        })
    }

    /// The player of a valid access token.
    pub fn verify(&self, token: &str) -> Result<Uuid, InvalidToken> {
        Ok(self.caller(token)?.player_id)
    }

    /// The caller of a valid access token, with its role.
    pub fn caller(&self, token: &str) -> Result<Caller, InvalidToken> {
        let data = jsonwebtoken::decode::<PublicClaims>(token, &self.key, &self.validation)
            .map_err(|_| InvalidToken)?;
        if data.claims.typ != ACCESS_TYP {
            return Err(InvalidToken);
        }
        Ok(Caller {
            player_id: data.claims.sub,
            analyst: data.claims.role.as_deref() == Some(ANALYST_ROLE),
        })
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
