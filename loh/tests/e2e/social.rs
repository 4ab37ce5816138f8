//! Cross-world social (issue 14) on the real services, two worlds as separate processes sharing
//! PostgreSQL, NATS and Redis: two friends in different worlds. A friend's presence shows the
//! world they are in, a private message to a friend in another world arrives exactly once (and
//! once only even when the same message is published again), and a world-wide broadcast reaches
//! both.

use crate::process::{on_services, start, start_tick_writer};
use loh_commands::{Command, ServerFrame};
use loh_events::EventBody;
use loh_gateway::social::Bus;
use loh_nats::EventStreamDef;
use loh_testkit::client::{Ws, answer, command, hello, recv_until, register_and_login};
use loh_testkit::{TestDb, nats_url, redis_url, unique_name};
use loh_tick_writer::social::SocialMessage;
use std::time::{Duration, Instant};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(20);

/// The event of a `Social` frame, with its world.
fn social(frame: &ServerFrame) -> Option<(String, EventBody)> {
    let ServerFrame::Social { world, event } = frame else {
        return None;
    };
    let json = serde_json::to_value(&**event).ok()?;
    Some((world.clone(), serde_json::from_value(json).ok()?))
}

/// The private messages `ws` receives from other worlds until one says `until` (included).
async fn messages_until(ws: &mut Ws, until: &str) -> Vec<(String, String)> {
    let mut seen = Vec::new();
    recv_until(ws, WAIT, |f| {
        if let Some((world, EventBody::PrivateMessageSent { text, .. })) = social(f) {
            let done = text == until;
            seen.push((world, text));
            return done;
        }
        false
    })
    .await
    .expect("the socket stays open");
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn friends_in_two_worlds_see_each_others_world_and_a_message_arrives_once() {
    let db = TestDb::create().await;
    let data = tempfile::tempdir().unwrap();
    // World names a `HopWorld` may carry: at most 32 characters.
    let short = |p: &str| unique_name(p)[..20].to_owned();
    let (a, b) = (short("sa"), short("sb"));
    let services = |shard: &str| {
        let mut cmd = on_services(&db.url, &nats_url(), data.path(), shard);
        // One Redis prefix for every world: sessions, the login lock and the social channel.
        cmd.env("LOH_REDIS_PREFIX", &a);
        cmd
    };
    let world_a = start(services(&a), data.path(), &["--tick-ms", "100"]).await;
    let world_b = start_tick_writer(services(&b), &["--tick-ms", "100"]).await;

    // Both start in world A and become friends there.
    let arjuna = register_and_login(world_a.game, "arjuna").await;
    let bhima = register_and_login(world_a.game, "bhima").await;
    let (arjuna_id, bhima_id): (Uuid, Uuid) = (
        arjuna.player_id.parse().unwrap(),
        bhima.player_id.parse().unwrap(),
    );
    let (mut ws_a, _) = hello(world_a.game, &arjuna.token).await;
    let (mut ws_b, _) = hello(world_a.game, &bhima.token).await;
    command(
        &mut ws_a,
        1,
        Command::AddFriend {
            player_id: bhima_id,
        },
    )
    .await;
    command(
        &mut ws_b,
        1,
        Command::AddFriend {
            player_id: arjuna_id,
        },
    )
    .await;
    for ws in [&mut ws_a, &mut ws_b] {
        let a = answer(ws).await;
        assert!(matches!(a, ServerFrame::Accepted { seq: 1, .. }), "{a:?}");
    }

    // Bhima hops to world B (once B is on the world list) and plays there.
    let started = Instant::now();
    let mut seq = 1;
    let address = loop {
        seq += 1;
        command(&mut ws_b, seq, Command::HopWorld { world: b.clone() }).await;
        match answer(&mut ws_b).await {
            ServerFrame::Accepted { .. } => {}
            ServerFrame::Rejected { code, .. } if code == "no_such_world" => {
                assert!(
                    started.elapsed() < WAIT,
                    "world B never joined the world list"
                );
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
            other => panic!("the hop was not accepted: {other:?}"),
        }
        match recv_until(&mut ws_b, WAIT, |f| matches!(f, ServerFrame::Hop { .. })).await {
            Some(ServerFrame::Hop { address, .. }) => break address,
            other => panic!("no Hop frame: {other:?}"),
        }
    };
    assert!(
        address.contains(&world_b.game.port().to_string()),
        "{address}"
    );
    drop(ws_b);
    let (mut ws_b, _) = hello(world_b.game, &bhima.token).await;

    // Arjuna, in world A, sees his friend come online in world B.
    let presence = recv_until(&mut ws_a, WAIT, |f| {
        matches!(social(f), Some((_, EventBody::PlayerPresence { player_id, online: true })) if player_id == bhima_id)
    })
    .await
    .expect("the socket stays open");
    assert_eq!(social(&presence).unwrap().0, b, "presence shows the world");

    // A private message from world A to world B arrives once; a second one marks the end.
    command(
        &mut ws_a,
        2,
        Command::PrivateMessage {
            to: bhima_id,
            text: "meet me in the forest".into(),
        },
    )
    .await;
    let ok = answer(&mut ws_a).await;
    assert!(matches!(ok, ServerFrame::Accepted { seq: 2, .. }), "{ok:?}");
    command(
        &mut ws_a,
        3,
        Command::PrivateMessage {
            to: bhima_id,
            text: "end".into(),
        },
    )
    .await;
    let seen = messages_until(&mut ws_b, "end").await;
    assert_eq!(
        seen,
        vec![
            (a.clone(), "meet me in the forest".to_owned()),
            (a.clone(), "end".to_owned())
        ],
        "each message once, from world A"
    );

    // The message stayed in the sender's log, and only there.
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let logged: Vec<(String, Uuid, Vec<u8>)> = sqlx::query_as(
        "SELECT shard, event_id, payload FROM events WHERE kind = 'PrivateMessageSent' ORDER BY position",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(logged.len(), 2, "{logged:?}");
    assert!(logged.iter().all(|(shard, ..)| *shard == a));

    // The same message published again (a repeat on the bus) is not delivered again.
    let mut bus = Bus::connect(&redis_url(), &a).await.unwrap();
    let (_, event_id, _) = &logged[0];
    let body = EventBody::PrivateMessageSent {
        player_id: arjuna_id,
        to: bhima_id,
        text: "meet me in the forest".into(),
    };
    let repeat = SocialMessage::Event {
        world: a.clone(),
        event_id: *event_id,
        body: Box::new(body),
    };
    bus.publish(&repeat).await.unwrap();
    bus.publish(&repeat).await.unwrap();
    command(
        &mut ws_a,
        4,
        Command::PrivateMessage {
            to: bhima_id,
            text: "end again".into(),
        },
    )
    .await;
    let seen = messages_until(&mut ws_b, "end again").await;
    assert_eq!(seen, vec![(a.clone(), "end again".to_owned())], "no repeat");

    // A world-wide broadcast reaches both worlds' players, once each.
    let out = crate::process::loh()
        .args(["broadcast", "--text", "The world will update in 5 minutes"])
        .env("REDIS_URL", redis_url())
        .env("LOH_REDIS_PREFIX", &a)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    for ws in [&mut ws_a, &mut ws_b] {
        let got = recv_until(ws, WAIT, |f| matches!(f, ServerFrame::Broadcast { .. })).await;
        assert_eq!(
            got,
            Some(ServerFrame::Broadcast {
                text: "The world will update in 5 minutes".into()
            })
        );
    }

    // Arjuna logs out and in again: at login he learns that his friend is online in world B
    // (world B answers world A's question), not only at the friend's next change.
    drop(ws_a);
    recv_until(&mut ws_b, WAIT, |f| {
        matches!(social(f), Some((_, EventBody::PlayerPresence { player_id, online: false })) if player_id == arjuna_id)
    })
    .await
    .expect("bhima sees arjuna go offline in world A");
    let (mut ws_a, _) = hello(world_a.game, &arjuna.token).await;
    let presence = recv_until(&mut ws_a, WAIT, |f| {
        matches!(social(f), Some((_, EventBody::PlayerPresence { player_id, online: true })) if player_id == bhima_id)
    })
    .await
    .expect("the socket stays open");
    assert_eq!(
        social(&presence).unwrap().0,
        b,
        "presence at login shows the world"
    );

    drop((ws_a, ws_b, world_a, world_b));
    let client = async_nats::connect(nats_url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    for shard in [&a, &b] {
        let _ = js
            .delete_stream(EventStreamDef::for_shard(shard).name)
            .await;
    }
}
