//! World property tests: conservation of value under random play, and deterministic replay.

mod properties;
mod restart;
