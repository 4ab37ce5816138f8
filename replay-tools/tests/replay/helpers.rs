//! Histories made by the real tick writer, in process, on a real store; and plants.

use loh_auth::SigningKey;
use loh_commands::Command;
use loh_events::{AppendBatch, EventBody, EventStore, JournalEntry, Outcome, SqliteEventStore};
use loh_replay::resimulate::resimulate;
use loh_replay::state::{At, world_at};
use loh_testkit::writer::Driver;
use loh_tick_writer::metrics::TickMetrics;
use loh_tick_writer::snapshot::SnapshotPolicy;
use loh_tick_writer::tick::{Pacing, TickWriter, now_us};
use loh_world::step::{derive_id, push_new};
use loh_world::{MapConfig, World};
use sqlx::Executor;
use std::sync::Arc;
use uuid::Uuid;

pub const SHARD: &str = "world1";

/// A shard driven by a real tick writer ([`Driver`]), with two players online.
pub struct Game {
    pub store: Arc<dyn EventStore>,
    pub sqlite: Option<SqliteEventStore>,
    /// The embedded database's URL (events and read models share it).
    pub sqlite_url: Option<String>,
    pub driver: Driver,
    pub alice: Uuid,
    pub bob: Uuid,
    _dir: Option<tempfile::TempDir>,
}

impl Game {
    /// A game on a fresh embedded SQLite store.
    pub async fn sqlite() -> Game {
        Game::sqlite_with(None).await
    }

    /// A game on a fresh embedded SQLite store whose writer signs a checkpoint every 2 ticks.
    pub async fn sqlite_signed() -> (Game, SigningKey) {
        let key = tokio::task::spawn_blocking(|| SigningKey::generate().expect("key"))
            .await
            .expect("keygen");
        (Game::sqlite_with(Some(key.clone())).await, key)
    }

    /// A game on a fresh embedded SQLite store whose writer writes a snapshot every
    /// `every_ticks` ticks.
    pub async fn sqlite_snapshotting(every_ticks: u64) -> (Game, SigningKey) {
        let key = tokio::task::spawn_blocking(|| SigningKey::generate().expect("key"))
            .await
            .expect("keygen");
        let policy = SnapshotPolicy::every(key.clone(), every_ticks);
        (Game::sqlite_on(None, Some(policy)).await, key)
    }

    async fn sqlite_with(key: Option<SigningKey>) -> Game {
        Game::sqlite_on(key, None).await
    }

    async fn sqlite_on(key: Option<SigningKey>, snapshots: Option<SnapshotPolicy>) -> Game {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("events.db");
        let sqlite = SqliteEventStore::open(path.to_str().expect("utf-8"), SHARD)
            .await
            .expect("sqlite store");
        let store: Arc<dyn EventStore> = Arc::new(sqlite.clone());
        let mut g = match snapshots {
            None => Game::on(store, key).await,
            Some(policy) => {
                let writer = TickWriter::start_with_snapshots(
                    store.clone(),
                    World::new(MapConfig::default()),
                    Pacing::Fixed { tick_ms: 400 },
                    TickMetrics::default(),
                    policy,
                )
                .await
                .expect("the writer starts");
                Game::with_driver(store, Driver::new(writer)).await
            }
        };
        g.sqlite = Some(sqlite);
        g.sqlite_url = Some(format!("sqlite://{}?mode=rwc", path.display()));
        g._dir = Some(dir);
        g
    }

    /// A game on `store`.
    pub async fn on(store: Arc<dyn EventStore>, key: Option<SigningKey>) -> Game {
        let mut driver = Driver::start(store.clone()).await;
        if let Some(key) = key {
            driver.writer = driver.writer.with_checkpoints(key, 2);
        }
        Game::with_driver(store, driver).await
    }

    /// A game driven by `driver` on `store`.
    pub async fn with_driver(store: Arc<dyn EventStore>, driver: Driver) -> Game {
        let mut g = Game {
            store,
            sqlite: None,
            sqlite_url: None,
            driver,
            alice: Uuid::new_v4(),
            bob: Uuid::new_v4(),
            _dir: None,
        };
        g.driver.connect(g.alice);
        g.driver.connect(g.bob);
        g.tick().await;
        g
    }

    /// Queues `cmd` from `player` with its next seq.
    pub fn send(&mut self, player: Uuid, cmd: Command) {
        self.driver.send(player, cmd);
    }

    pub async fn tick(&mut self) {
        self.driver.tick().await;
    }

    /// The world as the log says it is now.
    pub async fn world(&self) -> World {
        world_at(self.store.as_ref(), At::Tick(u64::MAX))
            .await
            .expect("fold")
            .0
    }

    /// Walks `player` from the spawn to Drona's bow and rune shop: three legs, as a path
    /// reaches 32 tiles.
    pub async fn walk_to_the_bow_and_rune_shop(&mut self, player: Uuid) {
        for x in [3192, 3162, 3150] {
            self.send(
                player,
                Command::WalkTo {
                    x,
                    y: 3217,
                    run: true,
                },
            );
            for _ in 0..20 {
                self.tick().await;
            }
        }
    }

    /// Walks `player` from the bow and rune shop north to `(3150, y)`, among Drona's goblin
    /// archers, and has them fight one for `ticks` ticks.
    pub async fn fight_a_goblin_archer(&mut self, player: Uuid, y: i32, ticks: usize) {
        self.send(
            player,
            Command::WalkTo {
                x: 3150,
                y,
                run: false,
            },
        );
        for _ in 0..20 {
            self.tick().await;
        }
        let archer = self.npc_of_kind("goblin_archer").await;
        self.send(player, Command::AttackNpc { npc: archer });
        for _ in 0..ticks {
            self.tick().await;
        }
    }

    /// Re-simulating the whole log from a fresh world reproduces it byte for byte.
    pub async fn assert_resimulates_byte_for_byte(&self) {
        let report = resimulate(
            self.store.as_ref(),
            World::new(MapConfig::default()),
            |_| {},
        )
        .await
        .expect("resimulate");
        assert!(report.is_identical(), "{report}");
    }

    /// The id of an NPC of `kind` in the world now.
    pub async fn npc_of_kind(&self, kind: &str) -> u32 {
        self.world()
            .await
            .npcs()
            .find(|(_, n)| n.kind == kind)
            .map(|(id, _)| *id)
            .unwrap_or_else(|| panic!("no {kind} in the world"))
    }

    /// The tick of the last stored event.
    pub async fn last_tick(&self) -> u64 {
        let head = self.store.head().await.expect("head");
        self.store.read_from(head.position, 1).await.expect("read")[0].tick
    }

    /// A typical honest session: alice walks, drops her axe and picks it up again, says hello;
    /// one command of hers is refused.
    pub async fn play_honestly(&mut self) {
        let (x, y) = {
            let w = self.world().await;
            let p = w.player(self.alice).expect("alice");
            (p.x, p.y)
        };
        for step in 1..=3 {
            self.send(
                self.alice,
                Command::Move {
                    x: x + step,
                    y,
                    run: false,
                },
            );
            self.tick().await;
        }
        self.send(
            self.alice,
            Command::Move {
                x: x + 50,
                y,
                run: false,
            },
        );
        self.send(
            self.bob,
            Command::Say {
                text: "hello".into(),
            },
        );
        self.tick().await;
        self.send(self.alice, Command::DropItem { slot: 0 });
        self.tick().await;
        let ground_id = self.ground_id().await;
        self.send(self.alice, Command::PickUp { ground_id });
        self.tick().await;
        self.tick().await;
    }

    /// The id of the last item dropped on the ground.
    pub async fn last_dropped(&self) -> (u64, String, u32) {
        let mut found = None;
        let mut from = 1;
        loop {
            let batch = self.store.read_from(from, 1000).await.expect("read");
            let Some(last) = batch.last() else { break };
            from = last.position + 1;
            for e in &batch {
                if let EventBody::ItemDropped { ground, .. } = e.body().expect("body") {
                    found = Some((ground.ground_id, ground.item, ground.qty));
                }
            }
        }
        found.expect("an item was dropped")
    }

    async fn ground_id(&self) -> u64 {
        self.last_dropped().await.0
    }

    /// Appends forged `bodies` as one later tick, as an attacker with database access would.
    pub async fn plant(&self, bodies: Vec<EventBody>) -> u64 {
        let mut world = self.world().await;
        let tick = self.last_tick().await + 1;
        world.begin_tick(tick);
        let mut batch = AppendBatch::default();
        let cause = derive_id(&[b"forged", &tick.to_be_bytes()]);
        for body in bodies {
            push_new(
                &mut batch.events,
                &world,
                tick,
                now_us(),
                cause,
                body.clone(),
            );
            world.apply(&body);
        }
        let lease = self.store.acquire().await.expect("lease");
        let appended = self.store.append(lease, batch).await.expect("append");
        appended.events[0].position
    }

    /// Appends `n` forged accepted journal entries of `player` in one tick.
    pub async fn plant_commands(&self, player: Uuid, n: u64) -> u64 {
        let tick = self.last_tick().await + 1;
        let journal = (0..n)
            .map(|i| JournalEntry {
                command_id: Uuid::new_v4(),
                tick,
                player_id: player,
                seq: 10_000 + i,
                command: rmp_serde::to_vec_named(&Command::Say { text: "x".into() })
                    .expect("encode"),
                outcome: Outcome::Accepted,
                received_at_us: now_us(),
            })
            .collect();
        let lease = self.store.acquire().await.expect("lease");
        self.store
            .append(
                lease,
                AppendBatch {
                    events: Vec::new(),
                    journal,
                },
            )
            .await
            .expect("append");
        tick
    }

    /// Changes one byte at `position` and re-chains every later event, as an attacker who
    /// can write the table but has no signing key would.
    pub async fn rewrite(&self, position: u64) {
        let mut events = self.store.read_from(1, 100_000).await.expect("read");
        let store = self.sqlite.as_ref().expect("an embedded store");
        let mut conn = store.pool().acquire().await.expect("connection");
        conn.execute("DROP TRIGGER events_no_update")
            .await
            .expect("drop trigger");
        let mut prev = events[position as usize - 2].hash;
        for e in &mut events[position as usize - 1..] {
            if e.position == position {
                let i = e
                    .payload
                    .iter()
                    .position(|b| b.is_ascii_digit())
                    .expect("a digit");
                e.payload[i] = if e.payload[i] == b'9' {
                    b'8'
                } else {
                    e.payload[i] + 1
                };
            }
            e.prev_hash = prev;
            e.hash = e.compute_hash();
            prev = e.hash;
            sqlx::query(
                "UPDATE events SET payload = ?, prev_hash = ?, hash = ? WHERE shard = ? AND position = ?",
            )
            .bind(&e.payload)
            .bind(&e.prev_hash[..])
            .bind(&e.hash[..])
            .bind(SHARD)
            .bind(e.position as i64)
            .execute(&mut *conn)
            .await
            .expect("rewrite");
        }
    }

    /// Changes one byte of the payload at `position`, bypassing the append-only trigger.
    pub async fn tamper(&self, position: u64) {
        let store = self.sqlite.as_ref().expect("an embedded store");
        let mut conn = store.pool().acquire().await.expect("connection");
        conn.execute("DROP TRIGGER events_no_update")
            .await
            .expect("drop trigger");
        let payload: Vec<u8> =
            sqlx::query_scalar("SELECT payload FROM events WHERE shard = ? AND position = ?")
                .bind(SHARD)
                .bind(position as i64)
                .fetch_one(&mut *conn)
                .await
                .expect("payload");
        let mut payload = payload;
        let i = payload
            .iter()
            .position(|b| b.is_ascii_digit())
            .expect("a digit");
        payload[i] = if payload[i] == b'9' {
            b'8'
        } else {
            payload[i] + 1
        };
        sqlx::query("UPDATE events SET payload = ? WHERE shard = ? AND position = ?")
            .bind(payload)
            .bind(SHARD)
            .bind(position as i64)
            .execute(&mut *conn)
            .await
            .expect("tamper");
    }
}
