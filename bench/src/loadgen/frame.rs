//! What a bot reads of a server frame. A bot reads every frame, but of a `TickUpdate` (one a
//! tick, the bulk of the bytes) it needs only the tick and, of a few events, which player or NPC
//! is where. Those are decoded borrowing from the frame's bytes and every other value is skipped
//! unbuilt; other frames are few and small and decode in full ([`decode_server`]).
//!
//! Decoding every `TickUpdate` into `rmpv::Value`s took 15% of the load generator's CPU in a
//! 2,500-bot spread (docs/BENCHMARKS.md), CPU the server under test shares.

use loh_commands::{FrameError, ServerFrame, decode_server};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, de::SeqAccess};
use std::fmt;

/// A frame as a bot reads it.
#[derive(Debug, PartialEq)]
pub enum Read<'a> {
    /// A `TickUpdate`: its tick and the events a bot learns from.
    Tick { tick: u64, seen: Vec<Seen<'a>> },
    /// Any other frame, decoded in full.
    Frame(ServerFrame),
}

/// An event a bot learns from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen<'a> {
    /// `PlayerSpawned`, `PlayerMoved`, `PlayerDied`: a player (id as sent) on a tile.
    Player { player_id: &'a str, x: i64, y: i64 },
    /// `NpcSpawned`, `NpcMoved`, `NpcAppeared`: an NPC on a tile.
    Npc { npc: i64, x: i64, y: i64 },
    /// `NpcDied`, `NpcDisappeared`: an NPC gone from view.
    NpcGone { npc: i64 },
}

/// Reads one server frame.
pub fn read(bytes: &[u8]) -> Result<Read<'_>, FrameError> {
    match rmp_serde::from_slice::<Lite<'_>>(bytes) {
        Ok(Lite::Tick { tick, seen }) => Ok(Read::Tick { tick, seen }),
        Ok(Lite::Other) => decode_server(bytes).map(Read::Frame),
        Err(e) => Err(FrameError::Malformed(e.to_string())),
    }
}

/// An externally tagged frame: a `TickUpdate`'s body, or any other frame skipped.
enum Lite<'a> {
    Tick { tick: u64, seen: Vec<Seen<'a>> },
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for Lite<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Lite<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a frame: a map of one variant name to its body")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Lite<'de>, A::Error> {
                one_entry(map, |name, map| {
                    Ok(if name == "TickUpdate" {
                        let body: TickBody<'de> = map.next_value()?;
                        Lite::Tick {
                            tick: body.tick,
                            seen: body.events.0,
                        }
                    } else {
                        map.next_value::<IgnoredAny>()?;
                        Lite::Other
                    })
                })
            }
        }
        d.deserialize_map(V)
    }
}

/// Reads a map of exactly one entry (an externally tagged frame or event): its key, then
/// `value` reads the value.
fn one_entry<'de, A: MapAccess<'de>, T>(
    mut map: A,
    value: impl FnOnce(&'de str, &mut A) -> Result<T, A::Error>,
) -> Result<T, A::Error> {
    let Some(key) = map.next_key::<&'de str>()? else {
        return Err(de::Error::custom(
            "an empty map where one entry was expected",
        ));
    };
    let read = value(key, &mut map)?;
    if map.next_key::<IgnoredAny>()?.is_some() {
        return Err(de::Error::custom("a map of more than one entry"));
    }
    Ok(read)
}

#[derive(Deserialize)]
struct TickBody<'a> {
    tick: u64,
    #[serde(borrow)]
    events: Events<'a>,
}

/// A `TickUpdate`'s events, keeping only what a bot learns from.
struct Events<'a>(Vec<Seen<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for Events<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Events<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of events")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Events<'de>, A::Error> {
                let mut seen = Vec::new();
                while let Some(event) = seq.next_element::<Event<'de>>()? {
                    seen.extend(event.0);
                }
                Ok(Events(seen))
            }
        }
        d.deserialize_seq(V)
    }
}

/// One event (`{"Kind": {fields…}}`), kept when a bot learns from its kind.
struct Event<'a>(Option<Seen<'a>>);

/// The fields a bot reads of the events it learns from; the others are skipped.
#[derive(Deserialize)]
struct Fields<'a> {
    #[serde(borrow, default)]
    player_id: Option<&'a str>,
    #[serde(default)]
    npc: Option<i64>,
    #[serde(default)]
    x: Option<i64>,
    #[serde(default)]
    y: Option<i64>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Event<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Event<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an event: a map of one kind to its fields")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Event<'de>, A::Error> {
                one_entry(map, |kind, map| {
                    let seen = match kind {
                        "PlayerSpawned" | "PlayerMoved" | "PlayerDied" => {
                            let f: Fields<'de> = map.next_value()?;
                            match (f.player_id, f.x, f.y) {
                                (Some(player_id), Some(x), Some(y)) => {
                                    Some(Seen::Player { player_id, x, y })
                                }
                                _ => None,
                            }
                        }
                        "NpcSpawned" | "NpcMoved" | "NpcAppeared" => {
                            let f: Fields<'de> = map.next_value()?;
                            match (f.npc, f.x, f.y) {
                                (Some(npc), Some(x), Some(y)) => Some(Seen::Npc { npc, x, y }),
                                _ => None,
                            }
                        }
                        "NpcDied" | "NpcDisappeared" => {
                            let f: Fields<'de> = map.next_value()?;
                            f.npc.map(|npc| Seen::NpcGone { npc })
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            None
                        }
                    };
                    Ok(Event(seen))
                })
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use loh_commands::encode_server;
    use std::sync::Arc;

    fn event(kind: &str, fields: &[(&str, rmpv::Value)]) -> Arc<rmpv::Value> {
        Arc::new(rmpv::Value::Map(vec![(
            kind.into(),
            rmpv::Value::Map(
                fields
                    .iter()
                    .map(|(k, v)| ((*k).into(), v.clone()))
                    .collect(),
            ),
        )]))
    }

    #[test]
    fn a_tick_update_yields_its_tick_and_the_moves_a_bot_learns_from_and_nothing_else() {
        let me = "8f0d5a52-32a4-4b7e-9a35-2a0c1f0e0b11";
        let frame = ServerFrame::TickUpdate {
            tick: 41,
            events: vec![
                event(
                    "PlayerMoved",
                    &[
                        ("player_id", me.into()),
                        ("from_x", 1.into()),
                        ("from_y", 2.into()),
                        ("x", 3000.into()),
                        ("y", 3100.into()),
                        ("running", false.into()),
                    ],
                ),
                event(
                    "PlayerSaid",
                    &[("player_id", me.into()), ("text", "hi".into())],
                ),
                event(
                    "ItemsMinted",
                    &[
                        ("player_id", me.into()),
                        ("items", rmpv::Value::Array(vec![rmpv::Value::Map(vec![])])),
                    ],
                ),
                event(
                    "NpcMoved",
                    &[("npc", 4.into()), ("x", (-5).into()), ("y", 6.into())],
                ),
                event("NpcDied", &[("npc", 7.into()), ("killer", me.into())]),
                // A kind a bot learns from, without a tile: skipped, not an error.
                event("PlayerDied", &[("player_id", me.into())]),
            ],
        };
        let bytes = encode_server(&frame);
        assert_eq!(
            read(&bytes).unwrap(),
            Read::Tick {
                tick: 41,
                seen: vec![
                    Seen::Player {
                        player_id: me,
                        x: 3000,
                        y: 3100
                    },
                    Seen::Npc {
                        npc: 4,
                        x: -5,
                        y: 6
                    },
                    Seen::NpcGone { npc: 7 },
                ],
            }
        );
    }

    #[test]
    fn other_frames_decode_in_full_and_garbage_is_an_error() {
        for frame in [
            ServerFrame::Accepted { seq: 9, tick: 3 },
            ServerFrame::Rejected {
                seq: 10,
                tick: 3,
                code: "blocked".into(),
                message: "(1, 2) is blocked".into(),
            },
            ServerFrame::Pong { nonce: 5 },
        ] {
            assert_eq!(read(&encode_server(&frame)).unwrap(), Read::Frame(frame));
        }
        let tick = encode_server(&ServerFrame::TickUpdate {
            tick: 1,
            events: vec![],
        });
        // Nothing, a list, a reserved byte, a cut frame, an empty map, a map of two entries.
        let two = b"\x82\xa1a\xc0\xa1b\xc0";
        for bad in [
            &b""[..],
            b"\x90",
            b"\xc1",
            &tick[..tick.len() - 1],
            b"\x80",
            two,
        ] {
            assert!(read(bad).is_err(), "{bad:?}");
        }
    }
}
