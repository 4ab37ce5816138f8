//! What a client may ask, and the wire frames that carry it (`../shared/PROTOCOL.md`).
//!
//! Wire types live here, apart from the domain and from storage: this crate must not depend on
//! the event store or on game rules. Every frame is one MessagePack value; structs are maps with
//! string keys; enums are externally tagged.
//!
//! # Layout
//! - [`bounds`]: the bounds every value from a client is held to before the tick.
//! - [`command`]: [`Command`], what a player may ask the world to do, and its shape checks.
//! - [`frame`]: [`ClientFrame`] and [`ServerFrame`], and their codec with size limits.
//! - [`guard`]: the structural check of MessagePack bytes that runs before decoding.
//! - [`auth`]: the JSON bodies of the auth routes.
//! - [`rejection`]: [`RejectionCode`], why a command changed nothing.

pub mod auth;
pub mod bounds;
pub mod command;
pub mod frame;
pub mod guard;
pub mod rejection;

pub use bounds::{
    MAX_SEQ, MAX_SEQ_AHEAD, OutOfBounds, check_seq, check_seq_after, is_id, is_invisible_formatting,
};
pub use command::{Command, ShapeError};
pub use frame::{
    ClientFrame, FrameError, MAX_CLIENT_FRAME, MAX_SERVER_FRAME, PROTOCOL_VERSION, ServerFrame,
    decode_client, decode_server, encode_client, encode_server,
};
pub use rejection::RejectionCode;
