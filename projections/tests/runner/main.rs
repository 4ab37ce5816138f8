//! The projection runner against real services: PostgreSQL and JetStream (a unique stream per
//! test), and the embedded SQLite store.

mod group;
mod helpers;
mod membership;
mod worlds;

use async_nats::jetstream;
use helpers::{World, eventually, publish};
use loh_events::pg::PgEventStore;
use loh_events::sqlite::SqliteEventStore;
use loh_events::{EventBody, EventStore, StoredEvent};
use loh_nats::EventStreamDef;
use loh_projections::player_position::{self, PlayerPosition};
use loh_projections::{
    NatsOptions, Projection, ProjectionMetrics, Projector, ReadDb, RowOp, RunnerConfig, Source,
    TableDef, Value,
};
use loh_testkit::{TestDb, nats_url, unique_name};
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(30);

struct Pg {
    _db: TestDb,
    store: Arc<dyn EventStore>,
    read: ReadDb,
}

async fn pg(shard: &str) -> Pg {
    let db = TestDb::create().await;
    let store = PgEventStore::connect(&db.url, shard)
        .await
        .expect("connect the store");
    store.migrate().await.expect("migrate");
    let read = ReadDb::connect(&db.url).await.expect("connect the read db");
    Pg {
        _db: db,
        store: Arc::new(store),
        read,
    }
}

struct Nats {
    js: jetstream::Context,
    def: EventStreamDef,
}

impl Nats {
    async fn new(shard: &str) -> Nats {
        let client = async_nats::connect(nats_url()).await.expect("connect NATS");
        let js = jetstream::new(client);
        let def = EventStreamDef::for_shard(shard);
        def.ensure(&js).await.expect("create the test stream");
        Nats { js, def }
    }

    fn source(&self) -> Source {
        Source::Nats {
            jetstream: self.js.clone(),
            stream: self.def.clone(),
        }
    }

    async fn consumer_exists(&self, durable: &str) -> bool {
        let Ok(stream) = self.js.get_stream(&self.def.name).await else {
            return false;
        };
        stream.consumer_info(durable).await.is_ok()
    }

    /// True once the consumer has been delivered everything and has nothing unacknowledged.
    async fn consumer_drained(&self, durable: &str) -> bool {
        let Ok(mut stream) = self.js.get_stream(&self.def.name).await else {
            return false;
        };
        let last = match stream.info().await {
            Ok(info) => info.state.last_sequence,
            Err(_) => return false,
        };
        match stream.consumer_info(durable).await {
            Ok(info) => {
                info.num_pending == 0
                    && info.num_ack_pending == 0
                    && info.delivered.stream_sequence == last
            }
            Err(_) => false,
        }
    }

    async fn cleanup(self) {
        let _ = self.js.delete_stream(&self.def.name).await;
    }
}

/// Small batches and no store polling to speak of: only messages (and the startup catch-up)
/// drive the runner.
fn message_driven() -> RunnerConfig {
    RunnerConfig {
        batch_size: 20,
        poll_interval: Duration::from_secs(3600),
        retry_delay: Duration::from_millis(100),
        nats: NatsOptions {
            ack_wait: Duration::from_secs(1),
            ..NatsOptions::default()
        },
    }
}

async fn checkpoint_is(read: &ReadDb, position: u64) -> bool {
    read.checkpoint(PlayerPosition::NAME)
        .await
        .expect("checkpoint")
        == position
}

fn spawn_run(
    projector: &Projector,
    source: Source,
    cancel: &CancellationToken,
) -> tokio::task::JoinHandle<loh_projections::Result<()>> {
    let projector = projector.clone();
    let cancel = cancel.clone();
    tokio::spawn(async move { projector.run(source, cancel).await })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nats_runner_fills_a_skipped_position_from_the_store_and_applies_a_repeat_once() {
    let shard = unique_name("shard");
    let pg = pg(&shard).await;
    let nats = Nats::new(&shard).await;
    let metrics = ProjectionMetrics::default();
    let projector = Projector::new(Arc::new(PlayerPosition), pg.read.clone(), pg.store.clone())
        .with_metrics(metrics.clone())
        .with_config(message_driven());
    let cancel = CancellationToken::new();
    let task = spawn_run(&projector, nats.source(), &cancel);
    let durable = projector.durable_name();
    eventually(WAIT, "the durable consumer", || {
        nats.consumer_exists(&durable)
    })
    .await;

    let mut world = World::new(pg.store.clone(), 6).await;
    let events = world.append(10, 5).await;
    for event in &events {
        if event.position == 17 {
            continue; // lost on the way: must come from the store
        }
        publish(&nats.js, &nats.def, event, None).await;
        if event.position == 30 {
            let again = format!("{}-again", event.event_id);
            publish(&nats.js, &nats.def, event, Some(again)).await;
        }
    }

    eventually(WAIT, "the checkpoint to reach the head", || {
        checkpoint_is(&pg.read, world.head())
    })
    .await;
    assert_eq!(
        player_position::all_rows(&pg.read).await.expect("rows"),
        world.expected()
    );
    assert!(metrics.gap_filled_total(PlayerPosition::NAME) >= 1);
    assert_eq!(metrics.applied_total(PlayerPosition::NAME), world.head());

    cancel.cancel();
    task.await.expect("join").expect("the runner stops cleanly");
    nats.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_old_event_changes_nothing() {
    let shard = unique_name("shard");
    let pg = pg(&shard).await;
    let nats = Nats::new(&shard).await;
    let metrics = ProjectionMetrics::default();
    let projector = Projector::new(Arc::new(PlayerPosition), pg.read.clone(), pg.store.clone())
        .with_metrics(metrics.clone())
        .with_config(message_driven());
    let cancel = CancellationToken::new();
    let task = spawn_run(&projector, nats.source(), &cancel);
    let durable = projector.durable_name();
    eventually(WAIT, "the durable consumer", || {
        nats.consumer_exists(&durable)
    })
    .await;

    // Two players, so the first one's spawn is certainly followed by moves.
    let mut world = World::new(pg.store.clone(), 2).await;
    for event in world.append(8, 4).await {
        publish(&nats.js, &nats.def, &event, None).await;
    }
    eventually(WAIT, "the checkpoint to reach the head", || {
        checkpoint_is(&pg.read, world.head())
    })
    .await;
    let before = player_position::all_rows(&pg.read).await.expect("rows");
    let applied = metrics.applied_total(PlayerPosition::NAME);

    // The first spawn and the last event again, as a relay restart past the dedupe window would.
    for event in [&world.events[0], world.events.last().expect("events")] {
        let again = format!("{}-replayed", event.event_id);
        publish(&nats.js, &nats.def, event, Some(again)).await;
    }
    eventually(WAIT, "the repeats to be acknowledged", || {
        nats.consumer_drained(&durable)
    })
    .await;

    assert_eq!(
        player_position::all_rows(&pg.read).await.expect("rows"),
        before
    );
    assert_eq!(before, world.expected());
    assert_eq!(metrics.applied_total(PlayerPosition::NAME), applied);
    assert!(checkpoint_is(&pg.read, world.head()).await);

    cancel.cancel();
    task.await.expect("join").expect("the runner stops cleanly");
    nats.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_that_acked_every_message_is_made_again_to_ack_once_per_batch() {
    let shard = unique_name("shard");
    let pg = pg(&shard).await;
    let nats = Nats::new(&shard).await;
    let projector = Projector::new(Arc::new(PlayerPosition), pg.read.clone(), pg.store.clone())
        .with_config(message_driven());
    let durable = projector.durable_name();
    // The consumer an earlier version made: every message acked on its own.
    let stream = nats.js.get_stream(&nats.def.name).await.expect("stream");
    stream
        .create_consumer(jetstream::consumer::pull::Config {
            durable_name: Some(durable.clone()),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            filter_subject: nats.def.all_subjects(),
            ..Default::default()
        })
        .await
        .expect("the old consumer");

    let cancel = CancellationToken::new();
    let task = spawn_run(&projector, nats.source(), &cancel);
    let mut world = World::new(pg.store.clone(), 3).await;
    let events = world.append(12, 5).await;
    eventually(WAIT, "the consumer made again", || async {
        stream
            .consumer_info(&durable)
            .await
            .is_ok_and(|info| info.config.ack_policy == jetstream::consumer::AckPolicy::All)
    })
    .await;
    for event in &events {
        publish(&nats.js, &nats.def, event, None).await;
    }
    eventually(WAIT, "the checkpoint to reach the head", || {
        checkpoint_is(&pg.read, world.head())
    })
    .await;
    // Batches of up to 20 acked with one ack each leave nothing pending.
    eventually(WAIT, "every message acknowledged", || {
        nats.consumer_drained(&durable)
    })
    .await;
    assert_eq!(
        player_position::all_rows(&pg.read).await.expect("rows"),
        world.expected()
    );

    cancel.cancel();
    task.await.expect("join").expect("the runner stops cleanly");
    nats.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projector_killed_mid_stream_and_restarted_equals_a_fresh_rebuild() {
    let shard = unique_name("shard");
    let pg = pg(&shard).await;
    let nats = Nats::new(&shard).await;
    let projector = Projector::new(Arc::new(PlayerPosition), pg.read.clone(), pg.store.clone())
        .with_config(RunnerConfig {
            batch_size: 5,
            poll_interval: Duration::from_millis(300),
            ..message_driven()
        });
    let mut world = World::new(pg.store.clone(), 25).await;
    let cancel = CancellationToken::new();
    let mut last_kill_checkpoint = 0;
    let mut killed_behind = 0;
    for round in 0..6u64 {
        // A backlog in the store and on the stream, then a projector killed while working it off.
        for event in world.append(10, 30).await {
            publish(&nats.js, &nats.def, &event, None).await;
        }
        let task = spawn_run(&projector, nats.source(), &cancel);
        tokio::time::sleep(Duration::from_millis(2 + round * 8)).await;
        task.abort();
        let _ = task.await;
        let checkpoint = pg
            .read
            .checkpoint(PlayerPosition::NAME)
            .await
            .expect("checkpoint");
        assert!(
            checkpoint >= last_kill_checkpoint,
            "the checkpoint never goes back"
        );
        last_kill_checkpoint = checkpoint;
        if checkpoint < world.head() {
            killed_behind += 1;
        }
    }
    assert!(killed_behind > 0, "at least one kill lands mid-stream");
    let task = spawn_run(&projector, nats.source(), &cancel);
    eventually(WAIT, "the checkpoint to reach the head", || {
        checkpoint_is(&pg.read, world.head())
    })
    .await;
    cancel.cancel();
    task.await.expect("join").expect("the runner stops cleanly");

    let live = player_position::all_rows(&pg.read).await.expect("rows");
    assert_eq!(live, world.expected());
    let rebuilt_at = projector.rebuild().await.expect("rebuild");
    assert_eq!(rebuilt_at, world.head());
    let rebuilt = player_position::all_rows(&pg.read).await.expect("rows");
    assert_eq!(live.len(), rebuilt.len());
    for (live, rebuilt) in live.iter().zip(&rebuilt) {
        assert_eq!(live, rebuilt);
    }
    nats.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_runner_follows_the_sqlite_store_woken_by_the_head_watch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("loh.db").display());
    let shard = unique_name("shard");
    let store: Arc<dyn EventStore> = Arc::new(
        SqliteEventStore::open(&url, &shard)
            .await
            .expect("open the embedded store"),
    );
    let read = ReadDb::connect(&url).await.expect("connect the read db");
    let projector = Projector::new(Arc::new(PlayerPosition), read.clone(), store.clone())
        .with_config(message_driven());
    let (head_tx, head_rx) = watch::channel(0u64);
    let source = Source::Embedded { head: head_rx };
    let mut world = World::new(store.clone(), 10).await;

    let cancel = CancellationToken::new();
    let task = spawn_run(&projector, source.clone(), &cancel);
    for _ in 0..3 {
        world.append(4, 10).await;
        head_tx.send_replace(world.head());
        eventually(WAIT, "the checkpoint to reach the head", || {
            checkpoint_is(&read, world.head())
        })
        .await;
        assert_eq!(
            player_position::all_rows(&read).await.expect("rows"),
            world.expected()
        );
    }
    task.abort();
    let _ = task.await;

    // Killed and restarted while the store keeps moving.
    for round in 0..4u64 {
        let task = spawn_run(&projector, source.clone(), &cancel);
        world.append(10, 10).await;
        head_tx.send_replace(world.head());
        tokio::time::sleep(Duration::from_millis(3 + round * 7)).await;
        task.abort();
        let _ = task.await;
    }
    let task = spawn_run(&projector, source.clone(), &cancel);
    eventually(WAIT, "the checkpoint to reach the head", || {
        checkpoint_is(&read, world.head())
    })
    .await;
    cancel.cancel();
    task.await
        .expect("join")
        .expect("the runner stops on cancel");
    assert!(checkpoint_is(&read, world.head()).await);

    let live = player_position::all_rows(&read).await.expect("rows");
    assert_eq!(live, world.expected());
    assert_eq!(projector.rebuild().await.expect("rebuild"), world.head());
    assert_eq!(player_position::all_rows(&read).await.expect("rows"), live);
}

/// `rebuild::differences` finds nothing in a caught-up read model, names the table of a damaged
/// one with its extra and missing rows, and changes nothing live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_model_is_compared_with_a_rebuild_row_for_row() {
    let shard = unique_name("shard");
    let pg = pg(&shard).await;
    let projector = Projector::new(Arc::new(PlayerPosition), pg.read.clone(), pg.store.clone());
    let mut world = World::new(pg.store.clone(), 8).await;
    world.append(20, 6).await;
    assert_eq!(projector.catch_up().await.expect("catch up"), world.head());
    let stores: [&dyn loh_events::EventStore; 1] = [&*pg.store];
    let differences =
        || loh_projections::rebuild::differences(&pg.read, &stores, &PlayerPosition, 7);
    assert_eq!(differences().await.expect("compare"), vec![]);

    sqlx::query("UPDATE rm_player_position SET x = x + 1000 WHERE last_position = (SELECT MAX(last_position) FROM rm_player_position)")
        .execute(pg.read.pool())
        .await
        .expect("damage");
    let found = differences().await.expect("compare");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        (found[0].table, found[0].only_live, found[0].only_rebuilt),
        ("rm_player_position", 1, 1)
    );
    // The live table is as it was (still damaged), and the comparison can run again.
    assert_ne!(
        player_position::all_rows(&pg.read).await.expect("rows"),
        world.expected()
    );
    assert_eq!(differences().await.expect("compare").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuild_replaces_a_damaged_read_model_and_can_run_again() {
    let shard = unique_name("shard");
    let pg = pg(&shard).await;
    let projector = Projector::new(Arc::new(PlayerPosition), pg.read.clone(), pg.store.clone());
    let mut world = World::new(pg.store.clone(), 8).await;
    world.append(20, 6).await;
    assert_eq!(projector.catch_up().await.expect("catch up"), world.head());

    sqlx::query("UPDATE rm_player_position SET x = x + 1000")
        .execute(pg.read.pool())
        .await
        .expect("damage");
    sqlx::query(
        "INSERT INTO rm_player_position (player_id, x, y, last_position) \
         VALUES ('not-a-player', 0, 0, 0)",
    )
    .execute(pg.read.pool())
    .await
    .expect("damage");

    for _ in 0..2 {
        assert_eq!(projector.rebuild().await.expect("rebuild"), world.head());
        assert_eq!(
            player_position::all_rows(&pg.read).await.expect("rows"),
            world.expected()
        );
        assert!(checkpoint_is(&pg.read, world.head()).await);
    }
    // The rebuilt table is the live one: the runner goes on from the new checkpoint.
    world.append(3, 6).await;
    assert_eq!(projector.catch_up().await.expect("catch up"), world.head());
    assert_eq!(
        player_position::all_rows(&pg.read).await.expect("rows"),
        world.expected()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_while_the_runner_applies_live_events_loses_and_repeats_nothing() {
    let shard = unique_name("shard");
    let pg = pg(&shard).await;
    let projector = Projector::new(Arc::new(PlayerPosition), pg.read.clone(), pg.store.clone())
        .with_config(RunnerConfig {
            batch_size: 7,
            poll_interval: Duration::from_millis(10),
            ..RunnerConfig::default()
        });
    let mut world = World::new(pg.store.clone(), 12).await;
    world.append(10, 10).await;
    let cancel = CancellationToken::new();
    let task = spawn_run(&projector, Source::Poll, &cancel);
    let writer = tokio::spawn(async move {
        for _ in 0..30 {
            world.append(1, 8).await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        world
    });
    for _ in 0..3 {
        projector.rebuild().await.expect("rebuild");
    }
    let world = writer.await.expect("writer");
    eventually(WAIT, "the checkpoint to reach the head", || {
        checkpoint_is(&pg.read, world.head())
    })
    .await;
    cancel.cancel();
    task.await
        .expect("join")
        .expect("the runner stops on cancel");
    assert_eq!(
        player_position::all_rows(&pg.read).await.expect("rows"),
        world.expected()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_lag_in_events_and_seconds_until_caught_up() {
    let shard = unique_name("shard");
    let pg = pg(&shard).await;
    let mut registry = Registry::default();
    let metrics = ProjectionMetrics::register(&mut registry);
    let projector = Projector::new(Arc::new(PlayerPosition), pg.read.clone(), pg.store.clone())
        .with_metrics(metrics.clone());
    let mut world = World::new(pg.store.clone(), 3).await;
    world.append(5, 4).await;
    tokio::time::sleep(Duration::from_millis(60)).await;

    let behind = projector.status().await.expect("status");
    assert_eq!(behind.name, "player_position");
    assert_eq!(behind.checkpoint, 0);
    assert_eq!(behind.head, 20);
    assert_eq!(behind.lag_events, 20);
    assert!(behind.lag_seconds >= 0.05, "{behind:?}");

    projector.catch_up().await.expect("catch up");
    let caught_up = projector.status().await.expect("status");
    assert_eq!(
        (caught_up.checkpoint, caught_up.lag_events),
        (20, 0),
        "{caught_up:?}"
    );
    assert_eq!(caught_up.lag_seconds, 0.0);

    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
    assert!(
        text.contains("loh_projection_lag_events{projector=\"player_position\"} 0"),
        "{text}"
    );
    assert!(
        text.contains("loh_projection_events_applied_total{projector=\"player_position\"} 20"),
        "{text}"
    );
}

/// A second read model, to show that folds plug in and that every row operation means the same
/// on PostgreSQL and SQLite: chat lines per player, forgotten when a player's line ends in 7.
struct ChatCount;

const CHAT_TABLE: TableDef = TableDef {
    name: "rm_test_chat_count",
    key: &["player_id"],
    columns: &["player_id", "lines", "last_line"],
    ddl: "(player_id TEXT PRIMARY KEY, lines BIGINT NOT NULL DEFAULT 0, last_line TEXT NULL)",
    indexes: &[],
};

impl Projection for ChatCount {
    fn name(&self) -> &'static str {
        "test_chat_count"
    }

    fn tables(&self) -> &'static [TableDef] {
        &[CHAT_TABLE]
    }

    fn fold(&self, _event: &StoredEvent, body: &EventBody) -> loh_events::Result<Vec<RowOp>> {
        let key = |p: &uuid::Uuid| vec![("player_id", Value::text(p.to_string()))];
        Ok(match body {
            EventBody::PlayerSpawned { player_id, .. } => vec![RowOp::Upsert {
                table: CHAT_TABLE.name,
                key: key(player_id),
                values: vec![],
            }],
            EventBody::PlayerSaid { player_id, text } if text.ends_with('7') => {
                vec![RowOp::Delete {
                    table: CHAT_TABLE.name,
                    key: key(player_id),
                }]
            }
            EventBody::PlayerSaid { player_id, text } => vec![
                RowOp::Increment {
                    table: CHAT_TABLE.name,
                    key: key(player_id),
                    column: "lines",
                    by: 1,
                },
                RowOp::Update {
                    table: CHAT_TABLE.name,
                    key: key(player_id),
                    values: vec![("last_line", Value::text(text))],
                },
            ],
            _ => vec![],
        })
    }
}

fn expected_chat(events: &[StoredEvent]) -> BTreeMap<String, (i64, Option<String>)> {
    let mut rows = BTreeMap::new();
    for event in events {
        match event.body().expect("decode") {
            EventBody::PlayerSpawned { player_id, .. } => {
                rows.entry(player_id.to_string()).or_insert((0, None));
            }
            EventBody::PlayerSaid { player_id, text } if text.ends_with('7') => {
                rows.remove(&player_id.to_string());
            }
            EventBody::PlayerSaid { player_id, text } => {
                let row = rows.entry(player_id.to_string()).or_insert((0, None));
                row.0 += 1;
                row.1 = Some(text);
            }
            _ => {}
        }
    }
    rows
}

async fn chat_rows(read: &ReadDb) -> BTreeMap<String, (i64, Option<String>)> {
    use sqlx::Row;
    sqlx::query("SELECT player_id, lines, last_line FROM rm_test_chat_count")
        .fetch_all(read.pool())
        .await
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r.get::<String, _>("player_id"),
                (
                    r.get::<i64, _>("lines"),
                    r.get::<Option<String>, _>("last_line"),
                ),
            )
        })
        .collect()
}

async fn fold_chat_counts(store: Arc<dyn EventStore>, read: ReadDb) {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE {} {}",
        CHAT_TABLE.name, CHAT_TABLE.ddl
    )))
    .execute(read.pool())
    .await
    .expect("create the test table");
    let mut world = World::new(store.clone(), 5).await;
    world.append(30, 4).await;
    let projector = Projector::new(Arc::new(ChatCount), read.clone(), store);
    assert_eq!(projector.catch_up().await.expect("catch up"), world.head());
    let expected = expected_chat(&world.events);
    assert!(
        expected.values().any(|(lines, _)| *lines > 1),
        "{expected:?}"
    );
    assert_eq!(chat_rows(&read).await, expected);
    projector.rebuild().await.expect("rebuild");
    assert_eq!(chat_rows(&read).await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_projection_folds_the_same_on_postgres_and_sqlite() {
    let shard = unique_name("shard");
    let pg = pg(&shard).await;
    fold_chat_counts(pg.store.clone(), pg.read.clone()).await;

    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("loh.db").display());
    let store: Arc<dyn EventStore> = Arc::new(
        SqliteEventStore::open(&url, &shard)
            .await
            .expect("open the embedded store"),
    );
    let read = ReadDb::connect(&url).await.expect("connect the read db");
    fold_chat_counts(store, read).await;
}
