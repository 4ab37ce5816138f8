//! The tick writer restarted on its store continues the tick numbering without reusing one.

use loh_commands::Command;
use loh_events::EventStore;
use loh_events::sqlite::SqliteEventStore;
use loh_tick_writer::metrics::TickMetrics;
use loh_tick_writer::tick::{Intake, Pacing, TickWriter};
use loh_world::{MapConfig, World};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

async fn writer(store: &Arc<dyn EventStore>) -> TickWriter {
    TickWriter::start(
        store.clone(),
        World::new(MapConfig::default()),
        Pacing::Fixed { tick_ms: 400 },
        TickMetrics::default(),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_restart_after_a_tick_of_only_rejected_commands_does_not_reuse_its_number() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("loh.db");
    let store: Arc<dyn EventStore> = Arc::new(
        SqliteEventStore::open(path.to_str().unwrap(), "w")
            .await
            .unwrap(),
    );
    let player_id = Uuid::from_u128(7);

    let mut w = writer(&store).await;
    let (out_tx, _out_rx) = mpsc::channel(1024);
    let (reply, _joined) = oneshot::channel();
    w.take(Intake::Connect {
        player_id,
        conn_id: 1,
        outbound: out_tx,
        reply,
    });
    w.run_tick().await.unwrap(); // tick 1: the spawn
    for seq in 1..=2 {
        // Ticks 2 and 3: a move far off the map, rejected; only the journal grows.
        w.take(Intake::Command {
            player_id,
            seq,
            cmd: Command::Move {
                x: -50,
                y: -50,
                run: false,
            },
            received_at_us: 0,
        });
        w.run_tick().await.unwrap();
    }
    let events_tick = store.read_from(1, 100).await.unwrap().last().unwrap().tick;
    let journal = store.read_journal(0, 100).await.unwrap();
    let last_journal_tick = journal.iter().map(|r| r.tick).max().unwrap();
    assert!(
        last_journal_tick > events_tick,
        "the test needs trailing rejected-only ticks"
    );
    drop(w);

    let w = writer(&store).await;
    let (tx, _rx) = mpsc::channel(1);
    assert_eq!(w.handle(tx).current_tick(), last_journal_tick);
}
