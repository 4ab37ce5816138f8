//! What the game server serves to clients besides the protocol's routes: the content document
//! (`GET /v1/content`), players' names (`GET /v1/names`) and the reference web client (`/play`).
//!
//! # Layout
//! - [`content`]: `GET /v1/content`, the JSON document of items, NPCs, objects and the map, with
//!   an ETag.
//! - [`play`]: the embedded static files of `/play`.
//! - [`names`]: `GET /v1/names`, display names by player id.

pub mod content;
pub mod names;
pub mod play;
