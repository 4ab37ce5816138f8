//! Access-token verification with the game server's public key only, for the player-data
//! endpoints (PROTOCOL.md: inventory, bank, wallet and skills need the player's Bearer token).
//!
//! The rules are the game server's: RS256 only (so `alg: none` and HS256 keyed with the public
//! key fail), `iss = "loh"`, `aud = "loh-game"`, `typ = "access"`, `exp` with 5 s of leeway. The
//! query API cannot see a logout: a revoked token stays valid here until it expires (15 minutes
//! at most); see `docs/SECURITY.md`.
//!
//! **Analyst tokens** are access tokens of the same key and rules that also carry the claim
//! `"role": "analyst"`. The game server never puts a `role` claim in the tokens it issues to
//! players; an operator mints analyst tokens offline with the private key (docs/ANALYSTS.md). An
//! analyst token reads every player's data and the economy endpoints.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use uuid::Uuid;

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

#[derive(Deserialize)]
struct Claims {
    sub: Uuid,
    typ: String,
    #[serde(default)]
    role: Option<String>,
}

/// The `role` claim value of an analyst token.
pub const ANALYST_ROLE: &str = "analyst";

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

/// A token that does not verify.
#[derive(Debug, thiserror::Error)]
#[error("invalid access token")]
pub struct InvalidToken;

impl TokenVerifier {
    /// From the public key in SPKI PEM (`BEGIN PUBLIC KEY`).
    pub fn from_public_pem(pem: &str) -> Result<TokenVerifier, InvalidToken> {
        let key = DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(|_| InvalidToken)?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.algorithms = vec![Algorithm::RS256];
        validation.set_issuer(&["loh"]);
        validation.set_audience(&["loh-game"]);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        Ok(TokenVerifier { key, validation })
    }

    /// The player of a valid access token.
    pub fn verify(&self, token: &str) -> Result<Uuid, InvalidToken> {
        Ok(self.caller(token)?.player_id)
    }

    /// The caller of a valid access token, with its role.
    pub fn caller(&self, token: &str) -> Result<Caller, InvalidToken> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|_| InvalidToken)?;
        if data.claims.typ != "access" {
            return Err(InvalidToken);
        }
        Ok(Caller {
            player_id: data.claims.sub,
            analyst: data.claims.role.as_deref() == Some(ANALYST_ROLE),
        })
    }
}
