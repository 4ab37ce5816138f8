//! Keys, access tokens and checkpoint signatures: the cryptography the front door, the tick
//! writer, the query API and the replay tools share, written once. No HTTP, no storage.
//!
//! # Layout
//! - [`keys`]: the server's RSA [`SigningKey`] (load, generate, JWKS).
//! - [`tokens`]: access tokens — issue ([`Tokens`]) and verify with the public key alone
//!   ([`TokenVerifier`]) under one set of rules.
//! - [`checkpoint`]: signed checkpoints of the hash chain.

pub mod checkpoint;
pub mod keys;
pub mod tokens;

pub use checkpoint::{CheckpointClaims, check_checkpoint, sign_checkpoint};
pub use keys::{KeyError, SigningKey};
pub use tokens::{Caller, Claims, InvalidToken, TokenVerifier, Tokens};
