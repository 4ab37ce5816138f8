//! Keys, access tokens, checkpoint and snapshot signatures: the cryptography the front door, the tick
//! writer, the query API and the replay tools share, written once. No HTTP, no storage.
//!
//! # Layout
//! - [`keys`]: the server's RSA [`SigningKey`] (load, generate, JWKS).
//! - [`tokens`]: access tokens — issue ([`Tokens`]) and verify with the public key alone
//!   ([`TokenVerifier`]) under one set of rules.
//! - [`checkpoint`]: signed checkpoints of the hash chain.
//! - [`snapshot`]: signed snapshots of the world, bound to the chain.

pub mod checkpoint;
pub mod keys;
pub mod snapshot;
pub mod tokens;

pub use checkpoint::{CheckpointClaims, check_checkpoint, sign_checkpoint};
pub use keys::{KeyError, SigningKey};
pub use snapshot::{SnapshotClaims, check_snapshot, sign_snapshot};
pub use tokens::{Caller, Claims, InvalidToken, TokenVerifier, Tokens};
