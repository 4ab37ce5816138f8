//! Access-token verification with the game server's public key only, for the player-data
//! endpoints (PROTOCOL.md: inventory, bank, wallet and skills need the player's Bearer token).
//! The rules are written once in `loh-auth`, shared with the game server; see
//! [`loh_auth::tokens`] and `docs/SECURITY.md`.

pub use loh_auth::tokens::{ANALYST_ROLE, Caller, InvalidToken, TokenVerifier};
