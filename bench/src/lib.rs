//! Every benchmark behind `loh bench …`, and the load generator of `loh loadgen`, kept out of the
//! libraries they measure. Each prints its figures with their ratio to a limit measured in the
//! same run (or to the 400 ms tick), because the machines are noisy; `docs/BENCHMARKS.md`
//! records them. Nothing depends on this crate but the `loh` binary.
//!
//! # Layout
//! - [`append`] — the event store's append ÷ a raw `COPY` (`loh bench append`).
//! - [`relay`] — the relay ÷ a raw JetStream publish loop (`loh bench relay`).
//! - [`world`] — the tick step across the systems with thousands of players (`loh bench tick`).
//! - [`replay`] — `verify` and a full fold ÷ a raw sequential read (`loh bench replay`).
//! - [`restart`] — the tick writer's start-up on N events, folding it all ÷ from a snapshot and
//!   the tail (`loh bench restart`).
//! - [`leaderboard`] — leaderboard pages and rank lookups ÷ a bare axum endpoint
//!   (`loh bench leaderboard`).
//! - [`fanout`] — every viewer's frame of a tick, crowd or spread, in process (`loh bench fanout`).
//! - [`lag`] — projection lag under the world benchmark's load, end to end (`loh bench lag`).
//! - [`loadgen`] — real WebSocket bots against a running server on this machine, by scenario, with
//!   a closing report (`loh loadgen`).

pub mod append;
pub mod fanout;
pub mod lag;
pub mod leaderboard;
pub mod loadgen;
pub mod relay;
pub mod replay;
pub mod restart;
pub mod world;
