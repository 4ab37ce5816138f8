//! The world and its single writer.
//!
//! Owns the authoritative world state and the game rules (decide/apply), the tick loop that
//! commits one batch per tick, the WebSocket gateway and auth routes, and the relay that streams
//! committed events to NATS JetStream. Must not depend on the query API.

pub mod relay;
