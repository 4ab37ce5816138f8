//! The world and its single writer.
//!
//! Owns the authoritative world state and the game rules (decide/apply), the tick loop that
//! commits one batch per tick, the WebSocket gateway and auth routes, and the relay that streams
//! committed events to NATS JetStream. Must not depend on the query API.
//!
//! # Layout
//! - [`world`]: the state and its rules (pure `decide`/`apply`).
//! - [`tick`]: the tick loop: intake, fixed-order decisions, one append per tick, answers.
//! - [`gateway`]: the WebSocket endpoint and its frames.
//! - [`auth`]: accounts (Argon2id), RS256 access tokens, refresh-token families, request
//!   signing, CSRF and the single-session lock.
//! - [`limits`]: rate limits, the MessagePack guard, the gateway and HTTP limits.
//! - [`http`]: the HTTP/1 server loop (header-read timeout, connection cap).
//! - [`server`]: the HTTP routes and [`server::GameServer`].
//! - [`relay`]: committed events to JetStream, in position order.
//! - [`metrics`], [`error`]: Prometheus metrics, the HTTP error body.

pub mod auth;
pub mod bench;
pub mod content;
pub mod error;
pub mod gateway;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod relay;
pub mod server;
pub mod tick;
pub mod world;
