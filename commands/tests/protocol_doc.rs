//! `docs/protocol.md` shows a hex example of every frame; this test keeps each one equal to what
//! the code encodes, and decodes it back.

use loh_commands::{
    ClientFrame, Command, ServerFrame, decode_client, decode_server, encode_client, encode_server,
};

fn examples() -> Vec<(&'static str, Vec<u8>)> {
    let client = |f: ClientFrame| {
        let bytes = encode_client(&f);
        assert_eq!(decode_client(&bytes).unwrap(), f);
        bytes
    };
    let server = |f: ServerFrame| {
        let bytes = encode_server(&f);
        assert_eq!(decode_server(&bytes).unwrap(), f);
        bytes
    };
    vec![
        (
            "Hello",
            client(ClientFrame::Hello {
                protocol: 1,
                token: "eyJ...".into(),
            }),
        ),
        (
            "Command-Move",
            client(ClientFrame::Command {
                seq: 1,
                cmd: Command::Move {
                    x: 3223,
                    y: 3218,
                    run: false,
                },
            }),
        ),
        (
            "Command-Say",
            client(ClientFrame::Command {
                seq: 2,
                cmd: Command::Say { text: "hi".into() },
            }),
        ),
        (
            "Command-TradeRequest",
            client(ClientFrame::Command {
                seq: 1,
                cmd: Command::TradeRequest {
                    player_id: uuid::Uuid::from_u128(0x6f1c_2a4e_0d1b_4c39_9a57_3f0f_0e7b_9a11),
                },
            }),
        ),
        (
            "Command-HopWorld",
            client(ClientFrame::Command {
                seq: 9,
                cmd: Command::HopWorld {
                    world: "world2".into(),
                },
            }),
        ),
        ("Ping", client(ClientFrame::Ping { nonce: 7 })),
        (
            "Welcome",
            server(ServerFrame::Welcome {
                player_id: "6f1c2a4e-0d1b-4c39-9a57-3f0f0e7b9a11".into(),
                tick: 42,
                tick_ms: 400,
                last_seq: 0,
            }),
        ),
        (
            "Accepted",
            server(ServerFrame::Accepted { seq: 1, tick: 43 }),
        ),
        (
            "Rejected",
            server(ServerFrame::Rejected {
                seq: 3,
                tick: 43,
                code: "too_far".into(),
                message: "3 tiles exceeds the 2-tile step left this tick".into(),
            }),
        ),
        (
            "TickUpdate",
            server(ServerFrame::TickUpdate {
                tick: 43,
                events: vec![std::sync::Arc::new(rmpv::Value::Map(vec![(
                    "PlayerSaid".into(),
                    rmpv::Value::Map(vec![
                        (
                            "player_id".into(),
                            "6f1c2a4e-0d1b-4c39-9a57-3f0f0e7b9a11".into(),
                        ),
                        ("text".into(), "hi".into()),
                    ]),
                )]))],
            }),
        ),
        ("Pong", server(ServerFrame::Pong { nonce: 7 })),
        (
            "Hop",
            server(ServerFrame::Hop {
                world: "world2".into(),
                address: "ws://127.0.0.1:7778".into(),
            }),
        ),
        (
            "Social",
            server(ServerFrame::Social {
                world: "world2".into(),
                event: std::sync::Arc::new(rmpv::Value::Map(vec![(
                    "PlayerPresence".into(),
                    rmpv::Value::Map(vec![
                        (
                            "player_id".into(),
                            "6f1c2a4e-0d1b-4c39-9a57-3f0f0e7b9a11".into(),
                        ),
                        ("online".into(), true.into()),
                    ]),
                )])),
            }),
        ),
        (
            "Broadcast",
            server(ServerFrame::Broadcast {
                text: "Update in 5 minutes".into(),
            }),
        ),
        (
            "Error",
            server(ServerFrame::Error {
                code: "bad_frame".into(),
                message: "malformed frame".into(),
            }),
        ),
    ]
}

/// The hex of the ```hex <name>``` block of the document.
fn documented(doc: &str, name: &str) -> Option<String> {
    let start = doc.find(&format!("```hex {name}\n"))?;
    let body = &doc[start..]
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with("```"))
        .collect::<String>();
    Some(body.split_whitespace().collect())
}

#[test]
fn every_frame_in_the_protocol_document_matches_the_encoder() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/protocol.md"))
        .unwrap();
    let mut wrong = Vec::new();
    for (name, bytes) in examples() {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        if documented(&doc, name).as_deref() != Some(hex.as_str()) {
            wrong.push(format!("```hex {name}\n{hex}\n```"));
        }
    }
    assert!(
        wrong.is_empty(),
        "docs/protocol.md differs from the encoder; expected:\n{}",
        wrong.join("\n")
    );
}

/// The rejection codes of `docs/protocol.md`'s table, in order.
fn documented_rejection_codes(doc: &str) -> Vec<String> {
    let start = doc.find("## Rejection codes").expect("the section");
    let section = &doc[start..];
    let end = section[3..].find("\n## ").map_or(section.len(), |i| i + 3);
    section[..end]
        .lines()
        .filter(|l| l.starts_with("| `"))
        .flat_map(|l| {
            let first = l.split('|').nth(1).unwrap_or_default();
            first
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_protocol_document_lists_exactly_the_rejection_codes_of_the_code() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/protocol.md"))
        .expect("docs/protocol.md");
    let documented = documented_rejection_codes(&doc);
    let coded: Vec<String> = loh_commands::RejectionCode::ALL
        .iter()
        .map(|c| c.as_str().to_owned())
        .collect();
    assert_eq!(
        documented, coded,
        "docs/protocol.md and RejectionCode differ"
    );
}

#[test]
fn a_code_missing_from_the_document_is_noticed() {
    let doc = "## Rejection codes\n\n| code | meaning |\n|---|---|\n| `too_far` | x |\n| `no_such_shop`, `not_in_stock` | y |\n\n## Error codes\n| `bad_frame` |";
    assert_eq!(
        documented_rejection_codes(doc),
        ["too_far", "no_such_shop", "not_in_stock"]
    );
}

#[test]
fn a_player_id_in_a_command_is_sixteen_bytes_and_a_uuid_string_is_a_bad_frame() {
    // {"Command": {"seq": 1, "cmd": {"TradeRequest": {"player_id": "6f1c2a4e-…"}}}}, as a client
    // that copies the string form of server frames would send it.
    let id = "6f1c2a4e-0d1b-4c39-9a57-3f0f0e7b9a11";
    let value = rmpv::Value::Map(vec![(
        "Command".into(),
        rmpv::Value::Map(vec![
            ("seq".into(), 1.into()),
            (
                "cmd".into(),
                rmpv::Value::Map(vec![(
                    "TradeRequest".into(),
                    rmpv::Value::Map(vec![("player_id".into(), id.into())]),
                )]),
            ),
        ]),
    )]);
    let mut bytes = Vec::new();
    rmpv::encode::write_value(&mut bytes, &value).unwrap();
    let err = decode_client(&bytes).unwrap_err();
    assert_eq!(err.code(), "bad_frame", "{err}");
    // The same with the 16 bytes decodes.
    let value = rmpv::Value::Map(vec![(
        "Command".into(),
        rmpv::Value::Map(vec![
            ("seq".into(), 1.into()),
            (
                "cmd".into(),
                rmpv::Value::Map(vec![(
                    "TradeRequest".into(),
                    rmpv::Value::Map(vec![(
                        "player_id".into(),
                        rmpv::Value::Binary(uuid::Uuid::parse_str(id).unwrap().as_bytes().to_vec()),
                    )]),
                )]),
            ),
        ]),
    )]);
    let mut bytes = Vec::new();
    rmpv::encode::write_value(&mut bytes, &value).unwrap();
    assert!(matches!(
        decode_client(&bytes),
        Ok(ClientFrame::Command {
            cmd: Command::TradeRequest { .. },
            ..
        })
    ));
}
