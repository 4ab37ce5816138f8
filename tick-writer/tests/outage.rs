//! The store goes away (PostgreSQL stopped or restarting): the writer keeps running, keeps no
//! command it has not committed, answers each one `server_busy`, and resumes by itself when the
//! store answers again — also when a COMMIT went through but its answer was lost.
//!
//! The store here is the embedded one behind a switch that makes every call fail as a lost
//! connection does (a transient error), so the outage starts and ends exactly where the test says.

use async_trait::async_trait;
use loh_commands::{Command, ServerFrame};
use loh_events::sqlite::SqliteEventStore;
use loh_events::{
    AppendBatch, Appended, ChainVerifier, Checkpoint, EventStore, Head, JournalEntry, Lease,
    Snapshot, StoredEvent, WorldEntry,
};
use loh_testkit::writer::frames;
use loh_tick_writer::metrics::TickMetrics;
use loh_tick_writer::tick::{Frame, Intake, Pacing, STORE_PATIENCE, TickHandle, TickWriter};
use loh_world::{MapConfig, World};
use rmpv::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use uuid::Uuid;

const UP: u8 = 0;
const DOWN: u8 = 1;
/// The next append commits, then the store goes down before answering.
const COMMIT_THEN_DOWN: u8 = 2;
/// The store answers, each read of the log slower than the writer's patience (a long log since
/// the last snapshot on a loaded machine).
const SLOW_READS: u8 = 3;
/// Reads answer; every append fails as a lost connection does.
const APPENDS_FAIL: u8 = 4;

/// The embedded store behind a switch.
struct Flaky {
    inner: SqliteEventStore,
    mode: Arc<AtomicU8>,
}

impl Flaky {
    fn gate(&self) -> loh_events::Result<()> {
        match self.mode.load(Ordering::SeqCst) {
            DOWN => Err(loh_events::Error::Database(sqlx::Error::PoolTimedOut)),
            _ => Ok(()),
        }
    }
}

#[async_trait]
impl EventStore for Flaky {
    fn shard(&self) -> &str {
        self.inner.shard()
    }
    async fn acquire(&self) -> loh_events::Result<Lease> {
        self.gate()?;
        self.inner.acquire().await
    }
    async fn append(&self, lease: Lease, batch: AppendBatch) -> loh_events::Result<Appended> {
        self.gate()?;
        if self.mode.load(Ordering::SeqCst) == APPENDS_FAIL {
            return Err(loh_events::Error::Database(sqlx::Error::PoolTimedOut));
        }
        let appended = self.inner.append(lease, batch).await?;
        if self
            .mode
            .compare_exchange(COMMIT_THEN_DOWN, DOWN, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            return Err(loh_events::Error::Database(sqlx::Error::PoolTimedOut));
        }
        Ok(appended)
    }
    async fn head(&self) -> loh_events::Result<Head> {
        self.gate()?;
        self.inner.head().await
    }
    async fn read_from(&self, from: u64, limit: usize) -> loh_events::Result<Vec<StoredEvent>> {
        self.gate()?;
        if self.mode.load(Ordering::SeqCst) == SLOW_READS {
            tokio::time::sleep(STORE_PATIENCE + Duration::from_millis(500)).await;
        }
        self.inner.read_from(from, limit).await
    }
    async fn read_stream(
        &self,
        stream_id: &str,
        from_version: u64,
        limit: usize,
    ) -> loh_events::Result<Vec<StoredEvent>> {
        self.gate()?;
        self.inner.read_stream(stream_id, from_version, limit).await
    }
    async fn read_journal(
        &self,
        from_tick: u64,
        limit: usize,
    ) -> loh_events::Result<Vec<JournalEntry>> {
        self.gate()?;
        self.inner.read_journal(from_tick, limit).await
    }
    async fn last_seqs(&self) -> loh_events::Result<Vec<(Uuid, u64)>> {
        self.gate()?;
        self.inner.last_seqs().await
    }
    async fn arriving_hops(&self, limit: usize) -> loh_events::Result<Vec<loh_events::hop::Hop>> {
        self.gate()?;
        self.inner.arriving_hops(limit).await
    }
    async fn put_checkpoint(&self, checkpoint: &Checkpoint) -> loh_events::Result<()> {
        self.gate()?;
        self.inner.put_checkpoint(checkpoint).await
    }
    async fn checkpoints(&self) -> loh_events::Result<Vec<Checkpoint>> {
        self.gate()?;
        self.inner.checkpoints().await
    }
    async fn put_snapshot(&self, snapshot: &Snapshot) -> loh_events::Result<()> {
        self.gate()?;
        self.inner.put_snapshot(snapshot).await
    }
    async fn snapshot_positions(&self) -> loh_events::Result<Vec<u64>> {
        self.gate()?;
        self.inner.snapshot_positions().await
    }
    async fn snapshot(&self, position: u64) -> loh_events::Result<Option<Snapshot>> {
        self.gate()?;
        self.inner.snapshot(position).await
    }
    async fn prune_snapshots(&self, keep: usize) -> loh_events::Result<u64> {
        self.gate()?;
        self.inner.prune_snapshots(keep).await
    }
    async fn announce(&self, entry: &WorldEntry) -> loh_events::Result<()> {
        self.gate()?;
        self.inner.announce(entry).await
    }
    async fn worlds(&self) -> loh_events::Result<Vec<WorldEntry>> {
        self.gate()?;
        self.inner.worlds().await
    }
    async fn character_home(&self, player_id: Uuid, now_us: i64) -> loh_events::Result<String> {
        self.gate()?;
        self.inner.character_home(player_id, now_us).await
    }
}

struct Table {
    _dir: tempfile::TempDir,
    inner: SqliteEventStore,
    mode: Arc<AtomicU8>,
    writer: TickWriter,
    handle: TickHandle,
    inbox: mpsc::Receiver<Frame>,
    metrics: TickMetrics,
}

const A: Uuid = Uuid::from_u128(1);
const B: Uuid = Uuid::from_u128(2);

async fn table() -> Table {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("loh.db");
    let inner = SqliteEventStore::open(path.to_str().unwrap(), "world1")
        .await
        .unwrap();
    let mode = Arc::new(AtomicU8::new(UP));
    let store: Arc<dyn EventStore> = Arc::new(Flaky {
        inner: inner.clone(),
        mode: mode.clone(),
    });
    let metrics = TickMetrics::default();
    let mut writer = TickWriter::start(
        store,
        World::new(MapConfig::default()),
        Pacing::Fixed { tick_ms: 400 },
        metrics.clone(),
    )
    .await
    .unwrap();
    let (intake, _) = mpsc::channel(1);
    let handle = writer.handle(intake);
    let inbox = loh_testkit::writer::connect(&mut writer, A, 1, 4096);
    writer.run_tick().await.unwrap(); // the spawn
    Table {
        _dir: dir,
        inner,
        mode,
        writer,
        handle,
        inbox,
        metrics,
    }
}

impl Table {
    fn say(&mut self, seq: u64) {
        self.say_at(seq, 0);
    }

    /// `say` as received by the gateway at `received_at_us`.
    fn say_at(&mut self, seq: u64, received_at_us: i64) {
        self.writer.take(Intake::Command {
            player_id: A,
            seq,
            cmd: Command::Say {
                text: format!("line {seq}"),
            },
            received_at_us,
        });
    }

    /// The answers waiting, as `(seq, code)` (`accepted` for an accepted command).
    fn answers(&mut self) -> Vec<(u64, String)> {
        loh_testkit::writer::answers(&mut self.inbox)
    }

    async fn journaled(&self) -> Vec<u64> {
        let rows = self.inner.read_journal(0, 100_000).await.unwrap();
        rows.iter()
            .filter(|r| r.player_id == A)
            .map(|r| r.seq)
            .collect()
    }

    async fn assert_chain_verifies(&self) {
        let mut verifier = ChainVerifier::new();
        for event in self.inner.read_from(1, 1_000_000).await.unwrap() {
            verifier.check(&event).expect("the chain verifies");
        }
    }
}

fn busy(seq: u64) -> (u64, String) {
    (seq, "server_busy".into())
}

fn accepted(seq: u64) -> (u64, String) {
    (seq, "accepted".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_store_is_down_commands_are_answered_server_busy_nothing_is_kept_and_the_writer_resumes_by_itself()
 {
    let mut t = table().await;
    t.say(1);
    t.writer.run_tick().await.unwrap();
    assert_eq!(t.answers(), [accepted(1)]);
    assert!(t.handle.store_is_up());

    t.mode.store(DOWN, Ordering::SeqCst);
    t.say(2);
    t.writer
        .run_tick()
        .await
        .expect("an outage does not stop the writer");
    assert_eq!(t.answers(), [busy(2)]);
    assert!(!t.handle.store_is_up(), "the outage is known (/healthz)");
    assert_eq!(t.metrics.store_up.get(), 0);
    t.say(3);
    t.writer.run_tick().await.unwrap();
    assert_eq!(t.answers(), [busy(3)], "answered at once while still down");

    t.mode.store(UP, Ordering::SeqCst);
    assert_eq!(t.journaled().await, [1], "nothing of the outage was kept");
    // The same seq again, and the next one: decided as if nothing happened.
    t.say(2);
    t.say(3);
    t.writer.run_tick().await.unwrap();
    assert_eq!(t.answers(), [accepted(2), accepted(3)]);
    assert!(t.handle.store_is_up());
    assert_eq!(t.metrics.store_up.get(), 1);
    assert_eq!(t.journaled().await, [1, 2, 3]);
    assert!(t.metrics.unavailable_ticks.get() >= 2);
    t.assert_chain_verifies().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_slower_than_the_stores_patience_is_waited_for_not_started_over() {
    let mut t = table().await;
    t.say(1);
    t.writer.run_tick().await.unwrap();
    assert_eq!(t.answers(), [accepted(1)]);
    t.mode.store(DOWN, Ordering::SeqCst);
    t.say(2);
    t.writer.run_tick().await.unwrap();
    assert_eq!(t.answers(), [busy(2)]);

    // The store is back, but every read of the log outlasts one tick's patience: the rebuild
    // must go on across ticks (started over each tick, it would never end).
    t.mode.store(SLOW_READS, Ordering::SeqCst);
    let mut ticks = 0;
    loop {
        ticks += 1;
        t.say(2);
        t.writer.run_tick().await.unwrap();
        let answers = t.answers();
        if answers == [accepted(2)] {
            break;
        }
        assert_eq!(answers, [busy(2)], "answered while the world is rebuilt");
        assert!(ticks < 8, "the world was never rebuilt");
    }
    assert!(ticks >= 2, "the first rebuild outlasted the patience");
    assert!(t.handle.store_is_up());
    t.mode.store(UP, Ordering::SeqCst);
    assert_eq!(t.journaled().await, [1, 2]);
    t.assert_chain_verifies().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tick_that_committed_while_its_answer_was_lost_is_kept_once_and_its_seq_not_decided_twice()
 {
    let mut t = table().await;
    t.say(1);
    t.mode.store(COMMIT_THEN_DOWN, Ordering::SeqCst);
    t.writer.run_tick().await.unwrap();
    // The writer cannot know the COMMIT went through: nothing is claimed.
    assert_eq!(t.answers(), [busy(1)]);
    assert!(!t.handle.store_is_up());

    t.mode.store(UP, Ordering::SeqCst);
    // The client sends the same seq again; the world, rebuilt from the store, has it already.
    t.say(1);
    t.say(2);
    t.writer.run_tick().await.unwrap();
    // Seq 1 is answered with its original outcome (a repeat), not decided again.
    assert_eq!(t.answers(), [accepted(1), accepted(2)]);
    assert_eq!(t.metrics.duplicates.get(), 1);
    assert_eq!(t.journaled().await, [1, 2], "seq 1 journaled once");
    let said = t
        .inner
        .read_from(1, 1_000)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.kind == "PlayerSaid")
        .count();
    assert_eq!(said, 2, "one line each for seq 1 and seq 2");
    t.assert_chain_verifies().await;
}

/// The players a `TickUpdate` among `frames` shows appearing.
fn appeared(frames: &[ServerFrame]) -> Vec<String> {
    frames
        .iter()
        .filter_map(|f| match f {
            ServerFrame::TickUpdate { events, .. } => Some(events),
            _ => None,
        })
        .flatten()
        .filter_map(|e| {
            let (kind, body) = &e.as_map()?[0];
            (kind.as_str() == Some("PlayerAppeared")).then(|| body.clone())
        })
        .filter_map(|body: Value| {
            let map = body.as_map()?.clone();
            map.into_iter()
                .find(|(k, _)| k.as_str() == Some("player_id"))
                .and_then(|(_, v)| v.as_str().map(str::to_owned))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tick_the_store_did_not_take_shows_nothing_it_decided_and_the_views_stay_exact() {
    let mut t = table().await;
    frames(&mut t.inbox);
    // B's session opens and its spawn is decided in a tick the store does not take. The frames
    // of that tick are assembled while its append is in flight; none may go out.
    let mut inbox_b = loh_testkit::writer::connect(&mut t.writer, B, 2, 4096);
    t.mode.store(APPENDS_FAIL, Ordering::SeqCst);
    t.writer.run_tick().await.unwrap();
    assert!(!t.handle.store_is_up());
    let during = frames(&mut t.inbox);
    assert!(
        during.is_empty(),
        "a is shown nothing of a tick that did not commit: {during:?}"
    );
    assert!(
        frames(&mut inbox_b).is_empty(),
        "b gets no snapshot of a world the store does not hold"
    );

    // The store takes appends again: B spawns for real, and each side learns of the other once.
    t.mode.store(UP, Ordering::SeqCst);
    let (mut seen_by_a, mut seen_by_b) = (Vec::new(), Vec::new());
    for _ in 0..4 {
        t.writer.run_tick().await.unwrap();
        seen_by_a.extend(frames(&mut t.inbox));
        seen_by_b.extend(frames(&mut inbox_b));
    }
    assert!(t.handle.store_is_up());
    assert_eq!(
        appeared(&seen_by_a),
        [B.to_string()],
        "a sees b appear exactly once, after the commit"
    );
    let Some(ServerFrame::Snapshot { players, .. }) = seen_by_b.first() else {
        panic!("b's first frame is its snapshot: {seen_by_b:?}");
    };
    assert_eq!(players.len(), 1, "b's snapshot shows a");
    t.assert_chain_verifies().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_is_timed_from_the_commands_arrival_server_busy_ones_too() {
    let mut t = table().await;
    let figure = |metrics: &TickMetrics, name: &str| -> f64 {
        let mut registry = prometheus_client::registry::Registry::default();
        metrics.register(&mut registry);
        let text = loh_tick_writer::metrics::render(&registry);
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in {text}"))
    };
    // The command reached the gateway 300 ms before its tick: its answer counts from then.
    let arrived = loh_tick_writer::tick::now_us() - 300_000;
    t.say_at(1, arrived);
    t.writer.run_tick().await.unwrap();
    assert_eq!(t.answers(), [accepted(1)]);
    assert_eq!(figure(&t.metrics, "loh_command_answer_seconds_count "), 1.0);
    let first = figure(&t.metrics, "loh_command_answer_seconds_sum ");
    assert!(
        first >= 0.3,
        "timed from its arrival, not its tick: {first}"
    );

    // A server_busy answer is counted too.
    t.mode.store(DOWN, Ordering::SeqCst);
    t.say_at(2, loh_tick_writer::tick::now_us());
    t.writer.run_tick().await.unwrap();
    t.mode.store(UP, Ordering::SeqCst);
    assert_eq!(t.answers(), [busy(2)]);
    assert_eq!(figure(&t.metrics, "loh_command_answer_seconds_count "), 2.0);
}

/// Runs `writer`'s loop on `commands` (queued before it starts) until `inbox` holds an answer to
/// each, then stops it; returns the answers and the ticks answered `server_busy` meanwhile.
async fn run_until_answered(
    writer: TickWriter,
    inbox: &mut mpsc::Receiver<Frame>,
    metrics: &TickMetrics,
    commands: std::ops::RangeInclusive<u64>,
) -> (Vec<(u64, String)>, u64) {
    let (intake, intake_rx) = mpsc::channel(256);
    let wanted = commands.clone().count();
    for seq in commands {
        intake
            .try_send(Intake::Command {
                player_id: A,
                seq,
                cmd: Command::Say {
                    text: format!("line {seq}"),
                },
                received_at_us: 0,
            })
            .unwrap();
    }
    let before = metrics.unavailable_ticks.get();
    let cancel = tokio_util::sync::CancellationToken::new();
    let running = tokio::spawn(writer.run(intake_rx, cancel.clone()));
    let mut answers = Vec::new();
    let all = tokio::time::timeout(Duration::from_secs(30), async {
        while answers.len() < wanted {
            answers.extend(loh_testkit::writer::answers(inbox));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let ticks = metrics.unavailable_ticks.get() - before;
    cancel.cancel();
    running.await.unwrap().unwrap();
    drop(intake);
    assert!(all.is_ok(), "every command is answered: {answers:?}");
    (answers, ticks)
}

#[tokio::test]
async fn while_the_store_is_down_the_whole_intake_is_answered_server_busy_past_the_per_tick_cap() {
    let mut t = table().await;
    t.mode.store(DOWN, Ordering::SeqCst);
    t.say(1);
    t.writer.run_tick().await.unwrap();
    assert_eq!(t.answers(), [busy(1)], "the outage is known");
    let Table {
        _dir,
        writer,
        mut inbox,
        metrics,
        ..
    } = t;
    // A cap of 2 would take four ticks for these 8 commands; down, they are answered at once.
    let writer = writer.with_max_commands_per_tick(2);
    let (answers, ticks) = run_until_answered(writer, &mut inbox, &metrics, 2..=9).await;
    assert_eq!(answers, (2..=9).map(busy).collect::<Vec<_>>());
    assert!(
        ticks <= 2,
        "answered in one tick, not one per cap: {ticks} ticks"
    );
}
