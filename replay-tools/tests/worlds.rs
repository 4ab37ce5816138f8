//! `scan` across worlds: two worlds' logs, made by the world's own tick step on one embedded
//! database, with a character hopping between them.

use loh_commands::Command;
use loh_events::sqlite::SqliteEventStore;
use loh_events::{AppendBatch, EventBody, EventStore, Lease, NewEvent};
use loh_replay::worlds::scan_worlds;
use loh_world::step::{EventIds, StepCommand, TickInputs, command_id, step};
use loh_world::{MapConfig, World};
use uuid::Uuid;

const P: Uuid = Uuid::from_u128(0xC0FFEE);

/// A world and its log.
struct Log {
    store: SqliteEventStore,
    lease: Lease,
    world: World,
    tick: u64,
}

impl Log {
    async fn open(path: &str, shard: &str) -> Log {
        let store = SqliteEventStore::open(path, shard).await.unwrap();
        let lease = store.acquire().await.unwrap();
        let mut world = World::new(MapConfig::default());
        world.set_event_ids(EventIds::ordered(shard));
        Log {
            store,
            lease,
            world,
            tick: 0,
        }
    }

    /// One tick of the world's step with `inputs` and `commands` of `P`, appended.
    async fn tick(&mut self, inputs: TickInputs, commands: &[Command]) {
        self.tick += 1;
        let shard = self.store.shard().to_owned();
        let commands: Vec<StepCommand<'_>> = commands
            .iter()
            .enumerate()
            .map(|(i, command)| StepCommand {
                command_id: command_id(&shard, P, self.tick * 100 + i as u64),
                player_id: P,
                command,
            })
            .collect();
        let now = 1_000_000 * self.tick as i64;
        let out = step(&mut self.world, self.tick, now, &inputs, &commands);
        for d in &out.decided {
            assert_eq!(d.result, Ok(()));
        }
        let batch = AppendBatch {
            events: out.events,
            journal: vec![],
        };
        self.store.append(self.lease, batch).await.unwrap();
    }
}

fn spawn(p: Uuid) -> TickInputs {
    TickInputs {
        spawns: vec![p],
        ..TickInputs::default()
    }
}

fn rules(findings: &[loh_replay::scan::Finding]) -> Vec<&'static str> {
    findings.iter().map(|f| f.rule).collect()
}

#[tokio::test]
async fn a_character_in_flight_is_no_finding_and_one_spawned_while_in_flight_is_in_two_worlds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("loh.db");
    let path = path.to_str().unwrap();
    let mut a = Log::open(path, "world1").await;
    let mut b = Log::open(path, "world2").await;
    a.tick(spawn(P), &[]).await;
    b.tick(TickInputs::default(), &[]).await;

    // P hops from world1 to world2: departed, in flight.
    let hop = TickInputs {
        worlds: Some(vec!["world2".into()]),
        ..TickInputs::default()
    };
    a.tick(
        hop,
        &[Command::HopWorld {
            world: "world2".into(),
        }],
    )
    .await;
    let report = scan_worlds(&[&a.store, &b.store]).await.unwrap();
    assert_eq!(rules(&report.findings), Vec::<&str>::new(), "{report:?}");
    assert_eq!(report.in_flight.len(), 1);
    assert_eq!(report.in_flight[0].player, P);
    assert!(
        report.total.get("coins").is_some_and(|c| *c > 0),
        "in-flight coins are counted: {:?}",
        report.total
    );
    let total_in_flight = report.total.clone();

    // It arrives: one world, nothing in flight, the same total.
    let arrivals = b.store.arriving_hops(10).await.unwrap();
    b.tick(
        TickInputs {
            arrivals,
            ..TickInputs::default()
        },
        &[],
    )
    .await;
    let report = scan_worlds(&[&a.store, &b.store]).await.unwrap();
    assert_eq!(rules(&report.findings), Vec::<&str>::new(), "{report:?}");
    assert!(report.in_flight.is_empty());
    assert_eq!(report.total, total_in_flight);

    // It hops back, and world2 — wrongly — spawns a fresh copy while the hop is in flight.
    b.tick(
        TickInputs {
            worlds: Some(vec!["world1".into()]),
            ..TickInputs::default()
        },
        &[Command::HopWorld {
            world: "world1".into(),
        }],
    )
    .await;
    let spawned = NewEvent {
        event_id: Uuid::from_u128(0xF0F0),
        stream_id: loh_events::player_stream(P),
        stream_version: 1_000,
        tick: b.tick + 1,
        correlation_id: Uuid::from_u128(0xF0F1),
        causation_id: None,
        occurred_at_us: 1_000_000 * (b.tick as i64 + 1),
        body: EventBody::PlayerSpawned {
            player_id: P,
            x: 3222,
            y: 3218,
        },
    };
    let batch = AppendBatch {
        events: vec![spawned],
        journal: vec![],
    };
    b.store.append(b.lease, batch).await.unwrap();
    let report = scan_worlds(&[&a.store, &b.store]).await.unwrap();
    assert!(
        rules(&report.findings).contains(&"character_in_two_worlds"),
        "{report:?}"
    );
}
