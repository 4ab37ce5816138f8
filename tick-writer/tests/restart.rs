//! The tick writer restarted on its store continues the tick numbering without reusing one.

use loh_commands::Command;
use loh_events::EventStore;
use loh_events::sqlite::SqliteEventStore;
use loh_testkit::writer::Driver;
use loh_tick_writer::metrics::TickMetrics;
use loh_tick_writer::tick::{Pacing, TickWriter};
use loh_world::content::Content;
use loh_world::{MapConfig, World};
use std::sync::Arc;
use tokio::sync::mpsc;
use uuid::Uuid;

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

    let mut d = Driver::new(quiet_writer(store.clone()).await);
    d.connect(player_id);
    d.tick().await; // tick 1: the spawn
    for _ in 1..=2 {
        // Ticks 2 and 3: a move far off the map, rejected; only the journal grows.
        d.send(
            player_id,
            Command::Move {
                x: -50,
                y: -50,
                run: false,
            },
        );
        d.tick().await;
    }
    let events_tick = store.read_from(1, 100).await.unwrap().last().unwrap().tick;
    let journal = store.read_journal(0, 100).await.unwrap();
    let last_journal_tick = journal.iter().map(|r| r.tick).max().unwrap();
    assert!(
        last_journal_tick > events_tick,
        "the test needs trailing rejected-only ticks"
    );
    drop(d);

    let d = Driver::new(quiet_writer(store).await);
    let (tx, _rx) = mpsc::channel(1);
    assert_eq!(d.writer.handle(tx).current_tick(), last_journal_tick);
}

/// A writer on `store` whose world has no NPCs, so that a tick of only rejected commands
/// stores no event (NPCs wander in any tick).
async fn quiet_writer(store: Arc<dyn EventStore>) -> TickWriter {
    let mut content = (*Content::embedded()).clone();
    content.npc_spawns.clear();
    let world = World::with_content(MapConfig::default(), Arc::new(content), 0);
    TickWriter::start(
        store,
        world,
        Pacing::Fixed { tick_ms: 400 },
        TickMetrics::default(),
    )
    .await
    .unwrap()
}

/// The writer's first tick records the rules it decides by (`RulesAdopted`, so the log can be
/// re-decided by them later), and a restart on the same build records nothing more.
#[tokio::test]
async fn the_first_tick_adopts_this_builds_rules_and_a_restart_adopts_nothing_more() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("loh.db");
    let store: Arc<dyn EventStore> = Arc::new(
        SqliteEventStore::open(path.to_str().unwrap(), "w")
            .await
            .unwrap(),
    );
    let adopted = |events: &[loh_events::StoredEvent]| -> Vec<(u64, String)> {
        events
            .iter()
            .filter(|e| e.kind == "RulesAdopted")
            .map(|e| (e.tick, e.kind.clone()))
            .collect()
    };
    let mut d = Driver::start(store.clone()).await;
    d.tick().await;
    let events = store.read_from(1, 100).await.unwrap();
    assert_eq!(adopted(&events), [(1, "RulesAdopted".to_owned())]);
    assert_eq!(
        events[0].body().unwrap(),
        loh_events::EventBody::RulesAdopted {
            rules: loh_world::RULES
        }
    );
    drop(d);

    let mut d = Driver::start(store.clone()).await;
    d.tick().await;
    d.tick().await;
    let events = store.read_from(1, 100).await.unwrap();
    assert_eq!(adopted(&events).len(), 1, "adopted again after a restart");
}
