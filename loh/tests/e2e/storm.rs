//! A hop storm over three worlds (issue 14): `loh up` (world A, with the projections and the query
//! API) and two `loh tick-writer`s (B and C), separate processes on one PostgreSQL, NATS and Redis.
//! The load generator's `hop` scenario spreads a few dozen bots over the worlds found through
//! `GET /v1/worlds`; each plays and hops every few ticks, following the `Hop` frame as a client
//! does. In the middle of the storm world B's writer is killed (SIGKILL) and started again on its
//! address; the bots connect again and the storm goes on. At the end, with no hop in flight:
//! every character is in exactly one world, the scan across worlds finds nothing (no character in
//! two worlds, every hop matched once, value conserved), each world's chain verifies, and every
//! command a bot saw `Accepted` is in its world's journal as accepted.

use crate::process::{LohUp, on_services, start, start_tick_writer, start_tick_writer_at};
use loh_bench::loadgen::{self, Options, scenario::Scenario};
use loh_nats::EventStreamDef;
use loh_testkit::{TestDb, nats_url, unique_name};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};
use uuid::Uuid;

const TICK_MS: &str = "100";

/// Polls `GET /v1/worlds` until `n` worlds are online (worlds announce themselves every 5 s).
async fn online_worlds(query: &LohUp, n: usize) {
    let started = Instant::now();
    loop {
        let list: Option<Value> =
            match reqwest::get(format!("http://{}/v1/worlds", query.query)).await {
                Ok(r) => r.json().await.ok(),
                Err(_) => None,
            };
        let online = list.as_ref().map_or(0, |l| {
            l["worlds"]
                .as_array()
                .map_or(0, |w| w.iter().filter(|w| w["status"] == "online").count())
        });
        if online == n {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the world list never showed {n} worlds online: {list:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `loh replay ARGS` on the test's database: (success, stdout, stderr).
fn replay(db_url: &str, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_loh"))
        .arg("replay")
        .args(args)
        .env("DATABASE_URL", db_url)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hop_storm_over_three_worlds_with_a_writer_killed_loses_and_duplicates_nothing() {
    let db = TestDb::create().await;
    let data = tempfile::tempdir().unwrap();
    // World names are identifiers of at most 32 characters (HopWorld names them).
    let tag = unique_name("s")[2..14].to_owned();
    let shards = ["a", "b", "c"].map(|w| format!("s{w}_{tag}"));
    let services = |shard: &str| {
        let mut cmd = on_services(&db.url, &nats_url(), data.path(), shard);
        // One Redis prefix for every world: sessions and the login lock are shared.
        cmd.env("LOH_REDIS_PREFIX", &shards[0]);
        cmd
    };
    let world_a = start(services(&shards[0]), data.path(), &["--tick-ms", TICK_MS]).await;
    let mut world_b = start_tick_writer(services(&shards[1]), &["--tick-ms", TICK_MS]).await;
    let world_c = start_tick_writer(services(&shards[2]), &["--tick-ms", TICK_MS]).await;
    online_worlds(&world_a, 3).await;

    // The storm: 30 bots, a hop every 8 ticks each, 20 s of play after a 2 s ramp.
    let options = Options {
        url: String::new(),
        worlds_url: Some(format!("http://{}", world_a.query)),
        scenario: Scenario::Hop,
        players: 30,
        ramp: Duration::from_secs(2),
        ticks: 200,
        hop_every: 8,
        login_concurrency: 8,
        ..Options::default()
    };
    let storm = tokio::spawn(async move { loadgen::run(&options, |_| {}).await });

    // World B's writer dies in the middle of hand-offs, and comes back where it was.
    tokio::time::sleep(Duration::from_secs(9)).await;
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let (flying,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM hops WHERE arrived_position IS NULL")
            .fetch_one(&pool)
            .await
            .unwrap();
    let (hopped_before,): (i64,) = sqlx::query_as("SELECT count(*) FROM hops")
        .fetch_one(&pool)
        .await
        .unwrap();
    world_b.child.kill().unwrap();
    world_b.child.wait().unwrap();
    println!("world B killed after {hopped_before} hops, {flying} in flight");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let game_b = world_b.game;
    world_b = start_tick_writer_at(services(&shards[1]), game_b, &["--tick-ms", TICK_MS]).await;

    let report = storm.await.unwrap().unwrap();
    println!("{report}");
    assert!(report.not_connected.is_empty(), "{report}");
    assert!(
        report.hops_completed >= 30 && hopped_before > 0,
        "too few hops to call it a storm:\n{report}"
    );
    assert!(!report.hops_failed.contains_key("no_address"), "{report}");

    // Every hop arrives (the restarted writer takes those in flight to it).
    let started = Instant::now();
    loop {
        let (flying,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM hops WHERE arrived_position IS NULL")
                .fetch_one(&pool)
                .await
                .unwrap();
        if flying == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{flying} hops never arrived"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop((world_a, world_b, world_c));

    // Every character is in exactly one world: in each world's log its last entry or exit.
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT shard, stream_id, kind FROM events WHERE shard = ANY($1) \
         AND kind IN ('PlayerSpawned', 'CharacterArrived', 'CharacterDeparted') \
         ORDER BY shard, position",
    )
    .bind(&shards[..])
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut last: BTreeMap<(String, String), String> = BTreeMap::new();
    for (shard, stream, kind) in rows {
        last.insert((stream, shard), kind);
    }
    let mut worlds_of: BTreeMap<String, usize> = BTreeMap::new();
    for ((stream, _), kind) in &last {
        *worlds_of.entry(stream.clone()).or_default() += usize::from(kind != "CharacterDeparted");
    }
    assert_eq!(worlds_of.len(), 30, "{worlds_of:?}");
    assert!(
        worlds_of.values().all(|&n| n == 1),
        "a character in no world or in two: {worlds_of:?}"
    );

    // The scan across worlds: nothing in two worlds, every hop matched once, value conserved.
    let all = shards.join(",");
    for shard in &shards {
        let (ok, out, err) = replay(
            &db.url,
            &["scan", "--shard", shard, "--worlds", &all, "--json"],
        );
        assert!(
            ok,
            "scan of {shard} across worlds found something:\n{out}\n{err}"
        );
        assert_eq!(out.trim(), "[]", "{out}");
        assert!(err.contains("0 hop(s) in flight"), "{err}");
    }
    // Each world's chain is intact and its checkpoints carry the shared key's signatures.
    let key = std::fs::read_to_string(data.path().join("jwt-key.pem")).unwrap();
    let public = data.path().join("jwt-public.pem");
    std::fs::write(
        &public,
        loh_auth::SigningKey::from_pem(&key).unwrap().public_pem(),
    )
    .unwrap();
    for shard in &shards {
        let (ok, out, err) = replay(
            &db.url,
            &[
                "verify",
                "--shard",
                shard,
                "--public-key",
                public.to_str().unwrap(),
            ],
        );
        assert!(
            ok && out.contains("intact"),
            "verify {shard}:\n{out}\n{err}"
        );
    }

    // Every command a bot saw accepted is in its world's journal, accepted.
    let journal: Vec<(String, Uuid, i64)> = sqlx::query_as(
        "SELECT shard, player_id, seq FROM command_journal_entries \
         WHERE shard = ANY($1) AND outcome_code IS NULL",
    )
    .bind(&shards[..])
    .fetch_all(&pool)
    .await
    .unwrap();
    let journal: HashSet<(String, Uuid, u64)> = journal
        .into_iter()
        .map(|(s, p, seq)| (s, p, seq as u64))
        .collect();
    assert!(!report.acknowledged_in.is_empty());
    let missing: Vec<_> = report
        .acknowledged_in
        .iter()
        .filter(|a| !journal.contains(a))
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged, not in the log: {missing:?}"
    );

    let client = async_nats::connect(nats_url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    for shard in &shards {
        let _ = js
            .delete_stream(EventStreamDef::for_shard(shard).name)
            .await;
    }
}
