//! Snapshots of the world: a writer restarted from its newest snapshot and the log's tail holds
//! the same world as one that folds the whole log; a snapshot that does not match the log, is
//! not signed by the writer's key, is torn or does not decode is refused and the next older one
//! is used; with none valid the whole log is folded. Histories are random play from
//! [`loh_testkit::history`] (a fixed seed), made by the real tick writer on the embedded store.

use loh_auth::{SigningKey, SnapshotClaims, sign_snapshot};
use loh_events::sqlite::SqliteEventStore;
use loh_events::{EventStore, Snapshot};
use loh_testkit::history;
use loh_testkit::writer::Driver;
use loh_tick_writer::metrics::TickMetrics;
use loh_tick_writer::snapshot::SnapshotPolicy;
use loh_tick_writer::tick::{Pacing, TickWriter};
use loh_world::{MapConfig, World};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use sha2::{Digest, Sha256};
use std::sync::Arc;

const PLAYERS: u128 = 6;

async fn open(dir: &tempfile::TempDir) -> Arc<dyn EventStore> {
    let path = dir.path().join("loh.db");
    Arc::new(
        SqliteEventStore::open(path.to_str().unwrap(), "w")
            .await
            .unwrap(),
    )
}

async fn start(store: &Arc<dyn EventStore>, policy: Option<SnapshotPolicy>) -> TickWriter {
    let world = World::new(MapConfig::default());
    let (pacing, metrics) = (Pacing::Fixed { tick_ms: 400 }, TickMetrics::default());
    match policy {
        Some(p) => TickWriter::start_with_snapshots(store.clone(), world, pacing, metrics, p).await,
        None => TickWriter::start(store.clone(), world, pacing, metrics).await,
    }
    .expect("the writer starts")
}

/// Random play by the real writer, snapshotting every `every` ticks: `ticks` ticks of commands
/// after the players' first; returns the live world's image after the last tick.
async fn play(store: &Arc<dyn EventStore>, key: &SigningKey, every: u64, seed: u8) -> Vec<u8> {
    play_by(store, SnapshotPolicy::every(key.clone(), every), seed).await
}

/// [`play`] under any policy.
async fn play_by(store: &Arc<dyn EventStore>, policy: SnapshotPolicy, seed: u8) -> Vec<u8> {
    let mut d = Driver::new(start(store, Some(policy)).await);
    let ids = history::players(PLAYERS);
    for id in &ids {
        d.connect(*id);
    }
    d.tick().await;
    let mut runner = TestRunner::new_with_rng(
        Default::default(),
        proptest::test_runner::TestRng::from_seed(
            proptest::test_runner::RngAlgorithm::ChaCha,
            &[seed; 32],
        ),
    );
    let input = history::ticks(PLAYERS)
        .new_tree(&mut runner)
        .unwrap()
        .current();
    for commands in input.iter().cycle().take(30) {
        for (player, command) in commands {
            d.send(*player, command.clone());
        }
        d.tick().await;
        d.writer.finish_snapshot().await;
    }
    d.writer.world().image()
}

/// The world of a writer started on `store`, and the image of one that folded it all.
async fn both(store: &Arc<dyn EventStore>, policy: SnapshotPolicy) -> (TickWriter, TickWriter) {
    let from_snapshot = start(store, Some(policy)).await;
    let folded = start(store, None).await;
    (from_snapshot, folded)
}

fn same(a: &TickWriter, b: &TickWriter) {
    assert_eq!(format!("{:?}", a.world()), format!("{:?}", b.world()));
    assert_eq!(a.world().image(), b.world().image());
    assert_eq!(a.world().tick(), b.world().tick());
}

#[tokio::test]
async fn a_writer_restarted_from_its_snapshot_and_the_tail_equals_one_that_folds_the_whole_log() {
    for seed in 1..=3u8 {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir).await;
        let key = SigningKey::generate().unwrap();
        let live = play(&store, &key, 4, seed).await;
        let positions = store.snapshot_positions().await.unwrap();
        assert_eq!(
            positions.len(),
            3,
            "the newest three are kept: {positions:?}"
        );
        let head = store.head().await.unwrap().position;
        let policy = SnapshotPolicy::every(key.clone(), 4);
        let (resumed, folded) = both(&store, policy).await;
        let rebuilt = resumed.rebuilt();
        assert_eq!(rebuilt.snapshot, Some(positions[0]), "seed {seed}");
        assert_eq!(rebuilt.refused, 0);
        assert_eq!(rebuilt.folded, head - positions[0]);
        assert!(rebuilt.folded < head, "only the tail is folded");
        assert_eq!(folded.rebuilt().folded, head);
        same(&resumed, &folded);
        // And both hold what the live writer held (at the tick numbering resumes from).
        let mut live = World::new(MapConfig::default()).restored(&live).unwrap();
        live.begin_tick(resumed.world().tick());
        assert_eq!(resumed.world().image(), live.image());
    }
}

/// Ticks that run slow under load commit more events between two snapshot ticks than the tick
/// count assumes: a snapshot is also due once `every_events` events have been committed since
/// the last one, so the tail start-up folds stays bounded by events too.
#[tokio::test]
async fn a_snapshot_is_due_after_every_events_events_even_before_its_tick() {
    const EVERY: u64 = 20;
    let key = SigningKey::generate().unwrap();
    let ticks_1000 = |every_events| SnapshotPolicy {
        key: key.clone(),
        every_ticks: 1_000,
        every_events,
    };
    // 30 ticks of play never reach tick 1,000: by ticks alone, no snapshot.
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    play_by(&store, ticks_1000(0), 5).await;
    assert!(store.snapshot_positions().await.unwrap().is_empty());

    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    play_by(&store, ticks_1000(EVERY), 5).await;
    let head = store.head().await.unwrap().position;
    let positions = store.snapshot_positions().await.unwrap();
    assert!(
        head >= 4 * EVERY,
        "enough play for four snapshots: {head} events"
    );
    assert_eq!(
        positions.len(),
        3,
        "the newest three are kept: {positions:?}"
    );
    // Each snapshot was taken at the first tick at least EVERY events after the one before it,
    // and the tail after the newest is shorter than EVERY.
    let newest = positions[0];
    assert!(
        head - newest < EVERY,
        "head {head}, newest snapshot at {newest}"
    );
    for pair in positions.windows(2) {
        assert!(pair[0] - pair[1] >= EVERY, "{positions:?}");
    }
    let (resumed, folded) = both(&store, ticks_1000(EVERY)).await;
    assert_eq!(resumed.rebuilt().snapshot, Some(newest));
    same(&resumed, &folded);
}

/// A snapshot row at `position`, bound to the log (or not, by `hash`), signed by `key`.
fn forged(position: u64, hash: [u8; 32], tick: u64, state: Vec<u8>, key: &SigningKey) -> Snapshot {
    let state_hash: [u8; 32] = Sha256::digest(&state).into();
    let claims = SnapshotClaims::new("w", position, &hash, tick, &state_hash);
    Snapshot {
        position,
        hash,
        tick,
        state,
        state_hash,
        signature: sign_snapshot(key, &claims).unwrap(),
        created_at_us: 0,
    }
}

#[tokio::test]
async fn snapshots_that_do_not_match_the_log_or_the_key_or_do_not_decode_are_refused_for_the_next_older()
 {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let key = SigningKey::generate().unwrap();
    // Snapshots every 10 ticks; then a writer without snapshots spawns a new player, leaving
    // events after the newest snapshot for forged rows.
    play(&store, &key, 10, 9).await;
    let mut d = Driver::start(store.clone()).await;
    d.connect(uuid::Uuid::from_u128(99));
    d.tick().await;
    drop(d);
    let newest = store.snapshot_positions().await.unwrap()[0];
    let head = store.head().await.unwrap().position;
    assert!(
        head >= newest + 5,
        "the test needs events after the newest snapshot"
    );
    let event = |p: u64| {
        let store = store.clone();
        async move { store.read_from(p, 1).await.unwrap().remove(0) }
    };
    let good = store.snapshot(newest).await.unwrap().unwrap();
    let other_key = SigningKey::generate().unwrap();

    // At the head: the log's hash differs.
    let e = event(head).await;
    let wrong_hash = forged(head, [1; 32], e.tick, good.state.clone(), &key);
    store.put_snapshot(&wrong_hash).await.unwrap();
    // Signed by another key.
    let e = event(head - 1).await;
    let other = forged(head - 1, e.hash, e.tick, good.state.clone(), &other_key);
    store.put_snapshot(&other).await.unwrap();
    // Signed, matching, but not a world.
    let e = event(head - 2).await;
    let mut not_a_world = good.state[..40].to_vec();
    not_a_world.extend_from_slice(b"not a world");
    let garbage = forged(head - 2, e.hash, e.tick, not_a_world, &key);
    store.put_snapshot(&garbage).await.unwrap();
    // Torn: the bytes do not hash to the state hash (what a half write would leave).
    let e = event(head - 3).await;
    let mut torn = forged(head - 3, e.hash, good.tick, good.state.clone(), &key);
    torn.state.truncate(torn.state.len() / 2);
    store.put_snapshot(&torn).await.unwrap();
    // Another format version of the world's saved form.
    let e = event(head - 4).await;
    let mut state = good.state.clone();
    state[7] ^= 0x40;
    let old_format = forged(head - 4, e.hash, good.tick, state, &key);
    store.put_snapshot(&old_format).await.unwrap();

    let policy = SnapshotPolicy::every(key.clone(), 10);
    let (resumed, folded) = both(&store, policy).await;
    assert_eq!(resumed.rebuilt().snapshot, Some(newest));
    assert_eq!(resumed.rebuilt().refused, 5);
    same(&resumed, &folded);
    drop((resumed, folded));

    // With another key every snapshot is refused (the one it signed holds a state of another
    // tick than its row's) and the log is folded.
    let policy = SnapshotPolicy::every(other_key, 10);
    let resumed = start(&store, Some(policy)).await;
    let n = store.snapshot_positions().await.unwrap().len();
    assert_eq!(resumed.rebuilt().snapshot, None);
    assert_eq!(resumed.rebuilt().refused, n);
    let folded = start(&store, None).await;
    same(&resumed, &folded);
}

#[tokio::test]
async fn with_snapshots_off_none_is_written_or_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let key = SigningKey::generate().unwrap();
    play(&store, &key, 0, 3).await;
    assert!(store.snapshot_positions().await.unwrap().is_empty());
    play(&store, &key, 5, 4).await;
    assert!(!store.snapshot_positions().await.unwrap().is_empty());
    let off = SnapshotPolicy::every(key, 0);
    let w = start(&store, Some(off)).await;
    assert_eq!(w.rebuilt().snapshot, None);
    assert_eq!(w.rebuilt().folded, store.head().await.unwrap().position);
}

/// An operator sees snapshots in `/metrics`: how many were written and failed, the newest one's
/// position and size, and at start-up the one loaded and those refused.
#[tokio::test]
async fn snapshots_are_counted_and_the_newest_ones_position_and_size_shown_in_the_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let key = SigningKey::generate().unwrap();
    let start_counted = |metrics: TickMetrics, key: &SigningKey| {
        let policy = SnapshotPolicy::every(key.clone(), 5);
        let store = store.clone();
        async move {
            let world = World::new(MapConfig::default());
            let pacing = Pacing::Fixed { tick_ms: 400 };
            TickWriter::start_with_snapshots(store, world, pacing, metrics, policy)
                .await
                .unwrap()
        }
    };
    let rendered = |metrics: &TickMetrics| {
        let mut registry = prometheus_client::registry::Registry::default();
        metrics.register(&mut registry);
        loh_tick_writer::metrics::render(&registry)
    };
    let metrics = TickMetrics::default();
    let mut d = Driver::new(start_counted(metrics.clone(), &key).await);
    for id in history::players(2) {
        d.connect(id);
    }
    for _ in 0..12 {
        d.tick().await;
        d.writer.finish_snapshot().await;
    }
    let positions = store.snapshot_positions().await.unwrap();
    let newest = *positions.iter().max().expect("snapshots written");
    assert_eq!(metrics.snapshots_written.get(), positions.len() as u64);
    assert_eq!(metrics.snapshot_failures.get(), 0);
    assert_eq!(metrics.snapshot_position.get(), newest as i64);
    let image = store.snapshot(newest).await.unwrap().unwrap().state;
    assert_eq!(metrics.snapshot_bytes.get(), image.len() as i64);
    let text = rendered(&metrics);
    assert!(
        text.contains(&format!("loh_snapshot_seconds_count {}", positions.len())),
        "{text}"
    );
    drop(d);

    // Restarted with another key: every snapshot is refused and the log folded.
    let other = TickMetrics::default();
    let w = start_counted(other.clone(), &SigningKey::generate().unwrap()).await;
    assert_eq!(w.rebuilt().snapshot, None);
    assert_eq!(other.snapshots_refused.get(), positions.len() as u64);
    assert_eq!(other.snapshot_position.get(), 0);
    assert!(
        rendered(&other).contains(&format!("loh_snapshots_refused_total {}", positions.len())),
        "{}",
        rendered(&other)
    );
    drop(w);

    // With its own key: the newest is loaded, and shown.
    let again = TickMetrics::default();
    let w = start_counted(again.clone(), &key).await;
    assert_eq!(w.rebuilt().snapshot, Some(newest));
    assert_eq!(again.snapshots_refused.get(), 0);
    assert_eq!(again.snapshot_position.get(), newest as i64);
}
