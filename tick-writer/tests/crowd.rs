//! A crowd on one tile grows no frame past the viewer's byte budget, and nobody is shown more
//! than the configured number of other players.

use loh_commands::{Command, ServerFrame, decode_server};
use loh_tick_writer::fanout::{ViewLimits, named_players};
use loh_tick_writer::tick::{Frame, Intake};
use std::collections::HashSet;
use tokio::sync::mpsc;
use uuid::Uuid;

#[tokio::test]
async fn a_crowd_on_one_tile_stays_within_each_viewers_players_and_bytes() {
    const PLAYERS: u128 = 600;
    let view = ViewLimits {
        max_players: 100,
        max_bytes: 4 * 1024,
    };
    let (_dir, _store, writer) = loh_testkit::writer::embedded_writer().await;
    let mut writer = writer.with_view_limits(view);
    let mut inboxes: Vec<(Uuid, mpsc::Receiver<Frame>)> = Vec::new();
    for n in 1..=PLAYERS {
        let player_id = Uuid::from_u128(n);
        let rx = loh_testkit::writer::connect(&mut writer, player_id, n as u64, 1024);
        inboxes.push((player_id, rx));
    }
    writer.run_tick().await.unwrap(); // everyone spawns on the spawn tile
    let mut truncated = 0;
    for seq in 1..=3u64 {
        for (player_id, _) in &inboxes {
            writer.take(Intake::Command {
                player_id: *player_id,
                seq,
                cmd: Command::Say {
                    text: format!("a line long enough to weigh something, number {seq}"),
                },
                received_at_us: 0,
            });
        }
        writer.run_tick().await.unwrap();
        for (viewer, rx) in &mut inboxes {
            while let Ok(frame) = rx.try_recv() {
                let ServerFrame::TickUpdate { events, .. } = decode_server(&frame).unwrap() else {
                    continue;
                };
                // The budget counts events about others; the departures it causes ride on top.
                assert!(
                    frame.len() <= view.max_bytes + 60 * view.max_players,
                    "a frame of {} bytes passed the {}-byte budget",
                    frame.len(),
                    view.max_bytes
                );
                let mut others = HashSet::new();
                for e in &events {
                    let mut bytes = Vec::new();
                    rmpv::encode::write_value(&mut bytes, e).unwrap();
                    others.extend(named_players(&bytes).into_iter().filter(|p| p != viewer));
                    if e.as_map().unwrap()[0].0.as_str() == Some("PlayerDisappeared") {
                        truncated += 1;
                    }
                }
                assert!(
                    others.len() <= view.max_players,
                    "{} other players shown, more than {}",
                    others.len(),
                    view.max_players
                );
            }
        }
    }
    assert!(
        truncated > 0,
        "600 players talking on one tile fit in 4 KiB?"
    );
}

/// A client that stops reading is dropped once its queue is full; a connection that is closing
/// (its queue's receiver already gone) is not counted as one: it stays until its `Disconnect`.
#[tokio::test]
async fn only_a_full_queue_drops_a_client_not_a_closing_connection() {
    let (_dir, _store, mut writer) = loh_testkit::writer::embedded_writer().await;
    let (reader, stalled, closing) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
    let mut reading = loh_testkit::writer::connect(&mut writer, reader, 1, 64);
    let _stalled = loh_testkit::writer::connect(&mut writer, stalled, 2, 2);
    drop(loh_testkit::writer::connect(&mut writer, closing, 3, 64));
    let online = |w: &loh_tick_writer::tick::TickWriter, p: Uuid| {
        w.world().player(p).is_some_and(|p| p.online)
    };
    for _ in 0..4 {
        writer.run_tick().await.unwrap();
        while reading.try_recv().is_ok() {}
    }
    assert!(online(&writer, reader), "a client that reads stays");
    assert!(
        !online(&writer, stalled),
        "a client that stopped reading is dropped"
    );
    assert!(
        online(&writer, closing),
        "a closing connection is not dropped as a slow reader before its Disconnect"
    );
    writer.take(Intake::Disconnect {
        player_id: closing,
        conn_id: 3,
    });
    writer.run_tick().await.unwrap();
    assert!(!online(&writer, closing), "its Disconnect takes it out");
}
