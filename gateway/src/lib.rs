//! The front door of the game: the hardened HTTP server, WebSocket connections, accounts and
//! sessions, CSRF, request signing and rate limits, in front of the tick writer's intake.
//!
//! Every value from a client is bounded (size, range, alphabet) here, before it reaches the tick
//! (ARCHITECTURE.md, invariant 10). Must not depend on the query API.
//!
//! # Layout
//! - [`server`]: the HTTP routes and [`server::GameServer`] (the tick writer, its intake and the
//!   routes, started together).
//! - [`ws`]: the WebSocket endpoint and its frames.
//! - [`auth`]: accounts (Argon2id), access tokens, refresh-token families, request signing, CSRF
//!   and the single-session lock; the session store in Redis or SQL.
//! - [`payments`]: the Stripe webhook intake (signature, the stored inbox the tick writer takes
//!   payments from) and the checkout.
//! - [`limits`]: rate limits, the MessagePack guard, the gateway and HTTP limits.
//! - [`http`]: the HTTP/1 server loop (header-read timeout, connection caps, per-address request
//!   limit), which serves the query API too.
//! - [`client_addr`]: the client's address behind trusted proxies, and IPv6 limited per /64.
//! - [`error`]: the HTTP error body.
//! - [`health`]: `/healthz`: which dependency (PostgreSQL, Redis, NATS, the tick loop) fails.
//! - [`state`]: the handlers' shared state and the request-body extractors.
//! - [`metrics`]: connections closed, by reason.
//! - [`social`]: the cross-world social bus: Redis pub/sub between the worlds' tick writers
//!   (private messages, presence, broadcasts).
//! - [`worlds`]: this world's line in the shared world list, announced every few seconds.
//! - [`web`]: `GET /v1/content` (items, NPCs, objects, the map) and the reference web client at
//!   `/play` (embedded static files).

pub mod auth;
pub mod client_addr;
pub mod error;
pub mod health;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod payments;
pub mod server;
pub mod social;
pub mod state;
pub mod web;
pub mod worlds;
pub mod ws;
