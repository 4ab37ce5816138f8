//! What the game server serves to clients besides the protocol's routes: the content document
//! (`GET /v1/content`) and the reference web client (`/play`).
//!
//! # Layout
//! - [`content`]: `GET /v1/content`, the JSON document of items, NPCs, objects and the map, with
//!   an ETag.
//! - [`play`]: the embedded static files of `/play`.

pub mod content;
pub mod play;
