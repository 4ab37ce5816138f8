//! The single writer of a world (shard).
//!
//! Takes commands from the front door's intake, runs the tick loop around
//! [`loh_world::step::step`] — the one deterministic tick step, which re-simulation runs too —
//! appends each tick's events and command journal in one batch and one COMMIT, answers
//! `Accepted`/`Rejected` only after that COMMIT, sends each player the `TickUpdate` they may see,
//! signs checkpoints of the hash chain and writes snapshots of the world. No HTTP: the front door is `loh-gateway`, the relay to
//! NATS is `loh-nats`.
//!
//! # Layout
//! - [`tick`]: intake, the tick loop, the batched append, outcomes, fan-out of updates,
//!   checkpoints.
//! - [`fanout`]: each event encoded once, each viewer's frame assembled within its interest.
//! - [`metrics`]: the tick's Prometheus metrics.
//! - [`payments`]: the inbox of Stripe events waiting for the world.
//! - [`social`]: cross-world private messages, presence and broadcasts: what goes out after a
//!   commit, and what comes in delivered at most once.
//! - [`snapshot`]: snapshots of the world, written every N ticks off the tick's path; start-up
//!   from the newest valid one and the log's tail.

pub mod fanout;
pub mod metrics;
pub mod payments;
pub mod snapshot;
pub mod social;
pub mod tick;
