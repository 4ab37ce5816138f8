//! Two worlds on one PostgreSQL, NATS and Redis, as separate processes: `loh up` serves world A
//! (with the projections and the query API), `loh tick-writer` serves world B, a members world.
//! Both tick and keep their own logs; one account plays in either; the query API's world list
//! shows both with their populations, and B as closed once it stops on purpose.

use crate::process::{LohUp, on_services, start, start_tick_writer};
use loh_commands::ServerFrame;
use loh_nats::EventStreamDef;
use loh_testkit::client::{hello, recv_until, register_and_login};
use loh_testkit::{TestDb, nats_url, unique_name};
use serde_json::Value;
use std::time::{Duration, Instant};

/// `GET /v1/worlds` of `query`, polled until `done` holds (20 s at most: worlds announce
/// themselves every 5 s).
async fn worlds_until(query: &LohUp, mut done: impl FnMut(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let list: Value = reqwest::get(format!("http://{}/v1/worlds", query.query))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if done(&list) {
            return list;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the world list never got there: {list}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn world<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["worlds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["world"] == name)
        .unwrap_or_else(|| panic!("{name} is not listed: {list}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_worlds_share_the_services_and_the_world_list_shows_them() {
    let db = TestDb::create().await;
    let data = tempfile::tempdir().unwrap();
    let (a, b) = (unique_name("wa"), unique_name("wb"));
    let services = |shard: &str| {
        let mut cmd = on_services(&db.url, &nats_url(), data.path(), shard);
        // One Redis prefix for every world: sessions and the login lock are shared.
        cmd.env("LOH_REDIS_PREFIX", &a);
        cmd
    };
    let world_a = start(services(&a), data.path(), &["--tick-ms", "100"]).await;
    let world_b = start_tick_writer(
        services(&b),
        &[
            "--tick-ms",
            "100",
            "--members-world",
            "--world-address",
            "wss://b.example.com",
        ],
    )
    .await;

    // One player in each world; accounts are shared, so either could play in either.
    let arjuna = register_and_login(world_a.game, "arjuna").await;
    let bhima = register_and_login(world_a.game, "bhima").await;
    let snapshot = |f: &ServerFrame| matches!(f, ServerFrame::Snapshot { .. });
    let (mut ws_a, _) = hello(world_a.game, &arjuna.token).await;
    assert!(
        recv_until(&mut ws_a, Duration::from_secs(10), snapshot)
            .await
            .is_some()
    );
    let (mut ws_b, _) = hello(world_b.game, &bhima.token).await;
    assert!(
        recv_until(&mut ws_b, Duration::from_secs(10), snapshot)
            .await
            .is_some(),
        "an account made through world A plays in world B"
    );

    let list = worlds_until(&world_a, |l| {
        l["worlds"].as_array().is_some_and(|w| w.len() == 2) && l["total_population"] == 2
    })
    .await;
    let (la, lb) = (world(&list, &a), world(&list, &b));
    assert_eq!(
        (&la["status"], &la["population"], &la["members"]),
        (&Value::from("online"), &Value::from(1), &Value::from(false)),
        "{list}"
    );
    assert_eq!(la["address"], format!("http://{}", world_a.game));
    assert_eq!(
        (
            &lb["status"],
            &lb["population"],
            &lb["members"],
            &lb["address"]
        ),
        (
            &Value::from("online"),
            &Value::from(1),
            &Value::from(true),
            &Value::from("wss://b.example.com")
        ),
        "{list}"
    );

    // Each world kept its own gapless log on the shared database.
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    for shard in [&a, &b] {
        let (n, max): (i64, Option<i64>) =
            sqlx::query_as("SELECT count(*), max(position) FROM events WHERE shard = $1")
                .bind(shard)
                .fetch_one(&pool)
                .await
                .unwrap();
        assert!(n > 0, "{shard} wrote events");
        assert_eq!(Some(n), max, "{shard}'s log is gapless");
    }

    // World B stops on purpose: it says so.
    let status = std::process::Command::new("kill")
        .args(["-TERM", &world_b.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let list = worlds_until(&world_a, |l| {
        l["worlds"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["world"] == b.as_str() && w["status"] == "closed")
    })
    .await;
    assert_eq!(world(&list, &b)["population"], 0);
    assert_eq!(list["total_population"], 1);

    drop((ws_a, ws_b, world_a, world_b));
    let client = async_nats::connect(nats_url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    for shard in [&a, &b] {
        let _ = js
            .delete_stream(EventStreamDef::for_shard(shard).name)
            .await;
    }
}
