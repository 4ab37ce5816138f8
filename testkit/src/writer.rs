//! Scripted histories made by the real tick writer, in process: players connect, each command
//! carries its player's next seq, and a tick runs when the test says so (never on a timer), after
//! which the clients' queues are emptied (the writer drops a client that never reads).

use loh_commands::{Command, ServerFrame, decode_server};
use loh_events::EventStore;
use loh_tick_writer::metrics::TickMetrics;
use loh_tick_writer::tick::{Frame, Intake, Pacing, TickWriter, now_us};
use loh_world::{MapConfig, World};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// A [`TickWriter`] and the players it serves.
pub struct Driver {
    pub writer: TickWriter,
    seqs: BTreeMap<Uuid, u64>,
    outbound: Vec<mpsc::Receiver<Frame>>,
}

impl Driver {
    /// A writer on `store` with a fresh default world and the production pace (400 ms; the
    /// pace only matters to `Welcome`, ticks run on [`Driver::tick`]).
    pub async fn start(store: Arc<dyn EventStore>) -> Driver {
        let writer = TickWriter::start(
            store,
            World::new(MapConfig::default()),
            Pacing::Fixed { tick_ms: 400 },
            TickMetrics::default(),
        )
        .await
        .expect("the tick writer starts on its store");
        Driver::new(writer)
    }

    /// Drives `writer` (made by the test, e.g. with checkpoints).
    pub fn new(writer: TickWriter) -> Driver {
        Driver {
            writer,
            seqs: BTreeMap::new(),
            outbound: Vec::new(),
        }
    }

    /// Connects `player` (spawned, if new, by the next tick).
    pub fn connect(&mut self, player: Uuid) {
        let rx = connect(
            &mut self.writer,
            player,
            self.outbound.len() as u64,
            100_000,
        );
        self.outbound.push(rx);
    }

    /// Queues `cmd` from `player` with the player's next seq (counting from 1); returns it.
    pub fn send(&mut self, player: Uuid, cmd: Command) -> u64 {
        let seq = self.seqs.entry(player).or_default();
        *seq += 1;
        let seq = *seq;
        self.writer.take(Intake::Command {
            player_id: player,
            seq,
            cmd,
            received_at_us: now_us(),
        });
        seq
    }

    /// Runs one tick (decide, append, COMMIT, answer) and empties the clients' queues.
    pub async fn tick(&mut self) {
        self.writer.run_tick().await.expect("the tick commits");
        for rx in &mut self.outbound {
            while rx.try_recv().is_ok() {}
        }
    }
}

/// A tick writer on a fresh embedded (SQLite) store in a temporary folder, with the default
/// world and the production pace; keep the folder as long as the writer.
pub async fn embedded_writer() -> (tempfile::TempDir, Arc<dyn EventStore>, TickWriter) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("loh.db");
    let store: Arc<dyn EventStore> = Arc::new(
        loh_events::sqlite::SqliteEventStore::open(path.to_str().expect("a UTF-8 path"), "w")
            .await
            .expect("the embedded store opens"),
    );
    let writer = TickWriter::start(
        store.clone(),
        World::new(MapConfig::default()),
        Pacing::Fixed { tick_ms: 400 },
        TickMetrics::default(),
    )
    .await
    .expect("the tick writer starts on its store");
    (dir, store, writer)
}

/// The frames waiting in a connection's queue, decoded (the queue is left empty).
pub fn frames(rx: &mut mpsc::Receiver<Frame>) -> Vec<ServerFrame> {
    std::iter::from_fn(|| rx.try_recv().ok())
        .map(|f| decode_server(&f).expect("the writer's frames decode"))
        .collect()
}

/// The answers waiting in a connection's queue, as `(seq, code)` (`"accepted"` for an accepted
/// command); other frames are skipped, and the queue is left empty.
pub fn answers(rx: &mut mpsc::Receiver<Frame>) -> Vec<(u64, String)> {
    frames(rx)
        .into_iter()
        .filter_map(|f| match f {
            ServerFrame::Accepted { seq, .. } => Some((seq, "accepted".into())),
            ServerFrame::Rejected { seq, code, .. } => Some((seq, code)),
            _ => None,
        })
        .collect()
}

/// Connects `player` to `writer` as connection `conn_id`; returns the connection's queue of
/// frames (room for `capacity`).
pub fn connect(
    writer: &mut TickWriter,
    player: Uuid,
    conn_id: u64,
    capacity: usize,
) -> mpsc::Receiver<Frame> {
    connect_named(writer, player, conn_id, capacity, None)
}

/// [`connect`] with the display name the gateway would pass (others see it in `PlayerSeen`).
pub fn connect_named(
    writer: &mut TickWriter,
    player: Uuid,
    conn_id: u64,
    capacity: usize,
    name: Option<&str>,
) -> mpsc::Receiver<Frame> {
    let (outbound, rx) = mpsc::channel(capacity);
    let (reply, _joined) = oneshot::channel();
    writer.take(Intake::Connect {
        player_id: player,
        conn_id,
        name: name.map(Into::into),
        outbound,
        reply,
    });
    rx
}
