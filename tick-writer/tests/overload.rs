//! A world that fell behind catches up in ticks of bounded size: the tick writer takes at most
//! `max_commands_per_tick` commands from the intake into one tick, and the rest wait, in order,
//! for the next, each answered once its own tick commits.

use loh_commands::Command;
use loh_testkit::writer::answers;
use loh_tick_writer::metrics::TickMetrics;
use loh_tick_writer::tick::{Frame, Intake, Pacing, TickWriter, now_us};
use loh_world::{MapConfig, World};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The seqs answered in an inbox so far (`Accepted` or `Rejected`).
fn answered(rx: &mut mpsc::Receiver<Frame>, into: &mut Vec<u64>) {
    into.extend(answers(rx).into_iter().map(|(seq, _)| seq));
}

#[tokio::test]
async fn a_backlog_is_taken_in_ticks_of_at_most_the_cap_in_order_and_every_command_answered() {
    const PLAYERS: u128 = 4;
    const EACH: u64 = 5;
    const CAP: usize = 7;
    let (_dir, store, _) = loh_testkit::writer::embedded_writer().await;
    let metrics = TickMetrics::default();
    let mut writer = TickWriter::start(
        store.clone(),
        World::new(MapConfig::default()),
        Pacing::Fixed { tick_ms: 20 },
        metrics.clone(),
    )
    .await
    .unwrap()
    .with_max_commands_per_tick(CAP);
    let mut inboxes = Vec::new();
    for n in 1..=PLAYERS {
        let player = Uuid::from_u128(n);
        inboxes.push((
            player,
            loh_testkit::writer::connect(&mut writer, player, n as u64, 4096),
        ));
    }
    writer.run_tick().await.unwrap(); // they spawn

    // A backlog of 20 commands waits in the intake before the loop runs, as after a stall.
    let (intake, intake_rx) = mpsc::channel(256);
    for seq in 1..=EACH {
        for (player, _) in &inboxes {
            let to = 3200 + seq as i32 % 2;
            intake
                .try_send(Intake::Command {
                    player_id: *player,
                    seq,
                    cmd: Command::WalkTo {
                        x: to,
                        y: 3200,
                        run: false,
                    },
                    received_at_us: now_us(),
                })
                .unwrap();
        }
    }
    let cancel = CancellationToken::new();
    let running = tokio::spawn(writer.run(intake_rx, cancel.clone()));

    let mut seen: BTreeMap<Uuid, Vec<u64>> = BTreeMap::new();
    let all = (PLAYERS as usize) * EACH as usize;
    let waited = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            for (player, rx) in &mut inboxes {
                answered(rx, seen.entry(*player).or_default());
            }
            if seen.values().map(Vec::len).sum::<usize>() == all {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    cancel.cancel();
    running.await.unwrap().unwrap();
    drop(intake);
    assert!(waited.is_ok(), "every command is answered: {seen:?}");
    for (player, seqs) in &seen {
        assert_eq!(
            seqs,
            &(1..=EACH).collect::<Vec<_>>(),
            "{player}'s answers come once each, in order"
        );
    }

    // The journal: every command decided once, in ticks of at most CAP, and a tick's commands
    // all arrived before the next tick's (within a tick the writer orders them by player).
    let journal: Vec<_> = store
        .read_journal(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.player_id != loh_world::step::TICK_INPUTS_PLAYER)
        .collect();
    assert_eq!(journal.len(), all, "every command journaled once");
    let arrival = |r: &loh_events::JournalEntry| {
        (r.seq - 1) * PLAYERS as u64 + (r.player_id.as_u128() as u64 - 1)
    };
    let mut per_tick: BTreeMap<u64, (usize, u64, u64)> = BTreeMap::new();
    for row in &journal {
        let t = per_tick.entry(row.tick).or_insert((0, u64::MAX, 0));
        t.0 += 1;
        t.1 = t.1.min(arrival(row));
        t.2 = t.2.max(arrival(row));
    }
    assert!(
        per_tick.values().all(|t| t.0 <= CAP),
        "no tick took more than {CAP} commands: {per_tick:?}"
    );
    assert!(
        per_tick.len() >= all.div_ceil(CAP),
        "the backlog took several ticks: {per_tick:?}"
    );
    let spans: Vec<_> = per_tick.values().collect();
    assert!(
        spans.windows(2).all(|w| w[0].2 < w[1].1),
        "each tick took the commands that arrived first: {per_tick:?}"
    );
    assert!(
        metrics.full_ticks.get() >= 2,
        "the full ticks are counted: {}",
        metrics.full_ticks.get()
    );
}

#[tokio::test]
async fn at_shutdown_the_commands_still_in_the_intake_are_answered_server_busy_not_dropped() {
    let (_dir, _store, writer) = loh_testkit::writer::embedded_writer().await;
    let mut writer = writer;
    let player = Uuid::from_u128(1);
    let mut inbox = loh_testkit::writer::connect(&mut writer, player, 1, 4096);
    writer.run_tick().await.unwrap(); // the spawn
    let (intake, intake_rx) = mpsc::channel(64);
    for seq in 1..=10 {
        intake
            .try_send(Intake::Command {
                player_id: player,
                seq,
                cmd: Command::WalkTo {
                    x: 3200 + seq as i32 % 2,
                    y: 3200,
                    run: false,
                },
                received_at_us: now_us(),
            })
            .unwrap();
    }
    // Stopped before it took anything: all 10 are still in the intake.
    let cancel = CancellationToken::new();
    cancel.cancel();
    writer.run(intake_rx, cancel).await.unwrap();
    drop(intake);
    let codes: BTreeMap<u64, String> = answers(&mut inbox).into_iter().collect();
    assert_eq!(
        codes.keys().copied().collect::<Vec<_>>(),
        (1..=10).collect::<Vec<_>>(),
        "every command is answered: {codes:?}"
    );
    assert!(
        codes.values().all(|c| c == "server_busy"),
        "each is server_busy, to be sent again: {codes:?}"
    );
}
