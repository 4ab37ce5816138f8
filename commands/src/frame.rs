//! WebSocket frames and their MessagePack codec.

use crate::Command;
use serde::{Deserialize, Serialize};

/// The protocol number a client sends in `Hello`.
pub const PROTOCOL_VERSION: u32 = 1;

/// Client frames larger than this are refused before decoding.
pub const MAX_CLIENT_FRAME: usize = 64 * 1024;

/// No server frame is larger than this: a viewer's `TickUpdate` keeps within its byte budget
/// (far below), and the socket's write buffer holds at least one frame of this size.
pub const MAX_SERVER_FRAME: usize = 256 * 1024;

/// A frame from a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientFrame {
    /// Must be the first frame.
    Hello { protocol: u32, token: String },
    /// A command; `seq` strictly increases per player across reconnects.
    Command { seq: u64, cmd: Command },
    /// Liveness.
    Ping { nonce: u64 },
}

/// A frame from the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ServerFrame {
    /// Answer to `Hello`; `last_seq` is the highest command seq already decided for the player.
    Welcome {
        player_id: String,
        tick: u64,
        tick_ms: u32,
        last_seq: u64,
    },
    /// Sent only after the tick holding the command's events has committed.
    Accepted {
        seq: u64,
        tick: u64,
    },
    /// The command changed nothing.
    Rejected {
        seq: u64,
        tick: u64,
        code: String,
        message: String,
    },
    /// What this player may see of a tick: events as externally tagged maps. Each event is
    /// shared by every viewer's frame (`Arc`): the wire form is the same as a plain value.
    TickUpdate {
        tick: u64,
        events: Vec<std::sync::Arc<rmpv::Value>>,
    },
    Pong {
        nonce: u64,
    },
    /// At a session's first tick, instead of its `TickUpdate`: the player's whole state (`you`)
    /// and the visible state of every player, NPC and ground item in view. Later changes come
    /// as `TickUpdate` events.
    Snapshot {
        tick: u64,
        you: std::sync::Arc<rmpv::Value>,
        players: Vec<std::sync::Arc<rmpv::Value>>,
        npcs: Vec<std::sync::Arc<rmpv::Value>>,
        ground: Vec<std::sync::Arc<rmpv::Value>>,
    },
    /// The player's character left this world for `world` (a `HopWorld` committed): connect to
    /// `address` (its entry in `GET /v1/worlds`) and send `Hello` there. The server closes this
    /// session after it.
    Hop {
        world: String,
        address: String,
    },
    /// A friend's social event decided in another world (issue 14): a `PrivateMessageSent` to
    /// this player, or a friend's `PlayerPresence`, with the `world` that decided it (the
    /// world the friend is in). Sent at most once per event.
    Social {
        world: String,
        event: std::sync::Arc<rmpv::Value>,
    },
    /// A world-wide system message, shown to every player of every world (issue 14).
    Broadcast {
        text: String,
    },
    /// A protocol-level fault; the server may close after it.
    Error {
        code: String,
        message: String,
    },
}

impl ServerFrame {
    /// An `Error` frame.
    pub fn error(code: &str, message: impl Into<String>) -> ServerFrame {
        ServerFrame::Error {
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

/// A frame that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// Larger than [`MAX_CLIENT_FRAME`]; answered with `frame_too_large`.
    #[error("frame of {0} bytes exceeds the 65536-byte limit")]
    TooLarge(usize),
    /// Not a valid frame; answered with `bad_frame`.
    #[error("malformed frame: {0}")]
    Malformed(String),
}

impl FrameError {
    /// The stable code sent in the `Error` frame.
    pub fn code(&self) -> &'static str {
        match self {
            FrameError::TooLarge(_) => "frame_too_large",
            FrameError::Malformed(_) => "bad_frame",
        }
    }
}

/// Decodes a client frame: its size first, then its structure ([`crate::guard::check_msgpack`]),
/// then the value. Never panics.
pub fn decode_client(bytes: &[u8]) -> Result<ClientFrame, FrameError> {
    if bytes.len() > MAX_CLIENT_FRAME {
        return Err(FrameError::TooLarge(bytes.len()));
    }
    crate::guard::check_msgpack(bytes)?;
    rmp_serde::from_slice(bytes).map_err(|e| FrameError::Malformed(e.to_string()))
}

/// Encodes a server frame (maps with string keys).
pub fn encode_server(frame: &ServerFrame) -> Vec<u8> {
    rmp_serde::to_vec_named(frame).expect("server frames always encode")
}

/// Encodes a client frame (for clients and tests).
pub fn encode_client(frame: &ClientFrame) -> Vec<u8> {
    rmp_serde::to_vec_named(frame).expect("client frames always encode")
}

/// Decodes a server frame (for clients and tests).
pub fn decode_server(bytes: &[u8]) -> Result<ServerFrame, FrameError> {
    rmp_serde::from_slice(bytes).map_err(|e| FrameError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_frame_is_an_externally_tagged_map_with_string_keys() {
        let frame = ClientFrame::Command {
            seq: 7,
            cmd: Command::Move {
                x: 3201,
                y: 3222,
                run: false,
            },
        };
        let bytes = encode_client(&frame);
        let value: rmpv::Value = rmp_serde::from_slice(&bytes).unwrap();
        let outer = value.as_map().unwrap();
        assert_eq!(outer.len(), 1);
        assert_eq!(outer[0].0.as_str(), Some("Command"));
        let inner = outer[0].1.as_map().unwrap();
        assert_eq!(inner[0].0.as_str(), Some("seq"));
        assert_eq!(decode_client(&bytes).unwrap(), frame);
    }

    #[test]
    fn a_hand_written_move_without_run_decodes_and_unknown_keys_are_ignored() {
        // {"Command": {"seq": 1, "cmd": {"Move": {"x": 3201, "y": 3222}}, "extra": true}}
        let value = rmpv::Value::Map(vec![(
            "Command".into(),
            rmpv::Value::Map(vec![
                ("seq".into(), 1.into()),
                (
                    "cmd".into(),
                    rmpv::Value::Map(vec![(
                        "Move".into(),
                        rmpv::Value::Map(vec![
                            ("x".into(), 3201.into()),
                            ("y".into(), 3222.into()),
                        ]),
                    )]),
                ),
                ("extra".into(), true.into()),
            ]),
        )]);
        let mut bytes = Vec::new();
        rmpv::encode::write_value(&mut bytes, &value).unwrap();
        assert_eq!(
            decode_client(&bytes).unwrap(),
            ClientFrame::Command {
                seq: 1,
                cmd: Command::Move {
                    x: 3201,
                    y: 3222,
                    run: false
                }
            }
        );
    }

    #[test]
    fn an_oversized_frame_is_refused_before_decoding() {
        let bytes = vec![0xc0; MAX_CLIENT_FRAME + 1];
        assert!(matches!(
            decode_client(&bytes),
            Err(FrameError::TooLarge(_))
        ));
    }

    #[test]
    fn garbage_is_a_typed_error_not_a_panic() {
        for bytes in [&[0xc1][..], &[0xdd, 0xff, 0xff, 0xff, 0xff], b"hello"] {
            assert!(matches!(
                decode_client(bytes),
                Err(FrameError::Malformed(_))
            ));
        }
    }
}
