//! Cross-world social at the tick writer (issue 14): what a world hands the other worlds after a
//! commit, and what it delivers of theirs — to whom, and once only however often it hears it.

use loh_commands::{Command, ServerFrame};
use loh_events::EventBody;
use loh_testkit::writer::{connect, embedded_writer, frames};
use loh_tick_writer::social::SocialMessage;
use loh_tick_writer::tick::{Frame, Intake, now_us};
use tokio::sync::mpsc;
use uuid::Uuid;

const A: Uuid = Uuid::from_u128(0xA);
const B: Uuid = Uuid::from_u128(0xB);
const C: Uuid = Uuid::from_u128(0xC);
/// A player of another world.
const FAR: Uuid = Uuid::from_u128(0xFA);

fn socials(rx: &mut mpsc::Receiver<Frame>) -> Vec<ServerFrame> {
    frames(rx)
        .into_iter()
        .filter(|f| {
            matches!(
                f,
                ServerFrame::Social { .. } | ServerFrame::Broadcast { .. }
            )
        })
        .collect()
}

fn pm(from: Uuid, to: Uuid, id: u128) -> SocialMessage {
    SocialMessage::Event {
        world: "elsewhere".into(),
        event_id: Uuid::from_u128(id),
        body: Box::new(EventBody::PrivateMessageSent {
            player_id: from,
            to,
            text: "hi".into(),
        }),
    }
}

#[tokio::test]
async fn a_message_from_another_world_reaches_its_recipient_once_and_no_one_else() {
    let (_dir, _store, mut writer) = embedded_writer().await;
    let mut a = connect(&mut writer, A, 1, 1000);
    let mut b = connect(&mut writer, B, 2, 1000);
    let mut c = connect(&mut writer, C, 3, 1000);
    writer.run_tick().await.unwrap();
    // A counts FAR a friend (FAR was in this world when A added them: a spawned record is
    // enough here); C does not. B ignores FAR.
    let mut far = connect(&mut writer, FAR, 4, 1000);
    writer.run_tick().await.unwrap();
    for (seq, (p, cmd)) in [
        (A, Command::AddFriend { player_id: FAR }),
        (B, Command::AddFriend { player_id: FAR }),
        (B, Command::AddIgnore { player_id: FAR }),
    ]
    .into_iter()
    .enumerate()
    {
        writer.take(Intake::Command {
            player_id: p,
            seq: seq as u64 + 1,
            cmd,
            received_at_us: now_us(),
        });
    }
    writer.run_tick().await.unwrap();
    for rx in [&mut a, &mut b, &mut c, &mut far] {
        frames(rx);
    }

    // The same message heard twice (published twice, or heard on two paths) is delivered once.
    for _ in 0..2 {
        writer.take(Intake::Social(pm(FAR, A, 1)));
    }
    let got = socials(&mut a);
    assert_eq!(got.len(), 1, "{got:?}");
    let ServerFrame::Social { world, .. } = &got[0] else {
        unreachable!()
    };
    assert_eq!(world, "elsewhere");
    // Not to a player who ignores the sender, nor to one who is not the recipient.
    writer.take(Intake::Social(pm(FAR, B, 2)));
    writer.take(Intake::Social(pm(FAR, C, 3)));
    assert!(socials(&mut b).is_empty());
    assert!(socials(&mut c).is_empty());
    assert!(socials(&mut a).is_empty());
    // This world's own messages were shown by its TickUpdate: never again.
    writer.take(Intake::Social(SocialMessage::Event {
        world: "w".into(),
        event_id: Uuid::from_u128(4),
        body: Box::new(EventBody::PrivateMessageSent {
            player_id: FAR,
            to: A,
            text: "mine".into(),
        }),
    }));
    assert!(socials(&mut a).is_empty());

    // A presence reaches the players who count that player a friend.
    writer.take(Intake::Social(SocialMessage::Event {
        world: "elsewhere".into(),
        event_id: Uuid::from_u128(5),
        body: Box::new(EventBody::PlayerPresence {
            player_id: FAR,
            online: true,
        }),
    }));
    assert_eq!(socials(&mut a).len(), 1);
    assert_eq!(socials(&mut b).len(), 1, "ignoring is not unfriending");
    assert!(socials(&mut c).is_empty());

    // A player of another world comes online and asks after friends: the online ones here
    // answer (A, not C who is not listed), and the answer reaches only its asker.
    let (out, mut outbox) = mpsc::channel(100);
    let mut writer = writer.with_social(out);
    writer.take(Intake::Social(SocialMessage::Ask {
        world: "elsewhere".into(),
        id: Uuid::from_u128(7),
        player_id: FAR,
        friends: vec![A, Uuid::from_u128(0xdead)],
    }));
    let answers: Vec<SocialMessage> = std::iter::from_fn(|| outbox.try_recv().ok()).collect();
    assert!(
        matches!(&answers[..], [SocialMessage::Here { world, to, friend, .. }] if world == "w" && *to == FAR && *friend == A),
        "{answers:?}"
    );
    // And the answer from another world: A is told FAR is online there, as A lists FAR.
    writer.take(Intake::Social(SocialMessage::Here {
        world: "elsewhere".into(),
        id: Uuid::from_u128(8),
        to: A,
        friend: FAR,
    }));
    writer.take(Intake::Social(SocialMessage::Here {
        world: "elsewhere".into(),
        id: Uuid::from_u128(9),
        to: C,
        friend: FAR,
    }));
    let got = socials(&mut a);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(socials(&mut c).is_empty(), "C does not list FAR");

    // A broadcast reaches everyone connected, once.
    let broadcast = SocialMessage::Broadcast {
        id: Uuid::from_u128(6),
        text: "update soon".into(),
    };
    writer.take(Intake::Social(broadcast.clone()));
    writer.take(Intake::Social(broadcast));
    for rx in [&mut a, &mut b, &mut c, &mut far] {
        assert_eq!(
            socials(rx),
            vec![ServerFrame::Broadcast {
                text: "update soon".into()
            }]
        );
    }
}

#[tokio::test]
async fn only_committed_presence_goes_out_and_a_message_within_the_world_stays_in() {
    let (_dir, _store, writer) = embedded_writer().await;
    let (out, mut outbox) = mpsc::channel(100);
    let mut writer = writer.with_social(out);
    let _a = connect(&mut writer, A, 1, 1000);
    let _b = connect(&mut writer, B, 2, 1000);
    assert!(
        outbox.try_recv().is_err(),
        "nothing before the tick commits"
    );
    writer.run_tick().await.unwrap();
    let mut online = Vec::new();
    while let Ok(SocialMessage::Event { world, body, .. }) = outbox.try_recv() {
        assert_eq!(world, "w");
        online.push(*body);
    }
    assert_eq!(
        online,
        vec![
            EventBody::PlayerPresence {
                player_id: A,
                online: true
            },
            EventBody::PlayerPresence {
                player_id: B,
                online: true
            }
        ]
    );
    for (seq, (p, cmd)) in [
        (A, Command::AddFriend { player_id: B }),
        (B, Command::AddFriend { player_id: A }),
    ]
    .into_iter()
    .enumerate()
    {
        writer.take(Intake::Command {
            player_id: p,
            seq: seq as u64 + 1,
            cmd,
            received_at_us: now_us(),
        });
    }
    writer.run_tick().await.unwrap();
    writer.take(Intake::Command {
        player_id: A,
        seq: 2,
        cmd: Command::PrivateMessage {
            to: B,
            text: "hi".into(),
        },
        received_at_us: now_us(),
    });
    writer.run_tick().await.unwrap();
    assert!(
        outbox.try_recv().is_err(),
        "B is in this world: its TickUpdate showed the message"
    );
}

#[tokio::test]
async fn a_full_outbox_to_the_other_worlds_blocks_nothing_within_the_world() {
    // Redis down or slow: the publisher stops taking, the outbox fills, and the world goes on.
    let (_dir, _store, writer) = embedded_writer().await;
    let (out, _outbox) = mpsc::channel(1);
    let mut writer = writer.with_social(out);
    let mut a = connect(&mut writer, A, 1, 1000);
    let mut b = connect(&mut writer, B, 2, 1000);
    writer.run_tick().await.unwrap(); // two presences for a room of one
    for (p, other) in [(A, B), (B, A)] {
        writer.take(Intake::Command {
            player_id: p,
            seq: 1,
            cmd: Command::AddFriend { player_id: other },
            received_at_us: now_us(),
        });
    }
    writer.run_tick().await.unwrap();
    frames(&mut a);
    frames(&mut b);
    writer.take(Intake::Command {
        player_id: A,
        seq: 2,
        cmd: Command::PrivateMessage {
            to: B,
            text: "still here".into(),
        },
        received_at_us: now_us(),
    });
    writer.run_tick().await.unwrap();
    let seen = frames(&mut b).into_iter().any(|f| match f {
        ServerFrame::TickUpdate { events, .. } => {
            events.iter().any(|e| e.to_string().contains("still here"))
        }
        _ => false,
    });
    assert!(seen, "the message within the world was delivered");
}
