//! `loh up` as a process on a three-node NATS JetStream cluster, configured as an operator would
//! (NATS_URL listing every node, LOH_NATS_REPLICAS=3): the shard's stream is created with three
//! replicas, a crowd of bots plays through a SIGKILL of the stream's leader without a closed
//! connection or an unanswered command, and afterwards the stream holds every stored position
//! once and the projections reach the head.

use crate::process::{on_services, start};
use loh_nats::EventStreamDef;
use loh_testkit::nats_cluster::NatsCluster;
use loh_testkit::{TestDb, unique_name};
use std::time::{Duration, Instant};

/// The stream's leader (a node name), `None` while no node answers.
async fn leader(js: &async_nats::jetstream::Context, def: &EventStreamDef) -> Option<String> {
    let mut stream = js.get_stream(&def.name).await.ok()?;
    let info = stream.info().await.ok()?;
    info.cluster.clone()?.leader
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loh_up_on_a_three_node_nats_cluster_plays_through_the_loss_of_the_stream_leader() {
    let mut cluster = NatsCluster::start().await;
    cluster.wait_for_meta_leader().await;
    let db = TestDb::create().await;
    let data = tempfile::tempdir().unwrap();
    let shard = unique_name("cl");
    let mut cmd = on_services(&db.url, &cluster.urls(), data.path(), &shard);
    cmd.env("LOH_NATS_REPLICAS", "3");
    let server = start(cmd, data.path(), &["--tick-ms", "400"]).await;

    let def = EventStreamDef::for_shard(&shard);
    let client = loh_nats::connect(&cluster.urls()).await.unwrap();
    let js = async_nats::jetstream::ContextBuilder::new()
        .timeout(Duration::from_secs(3))
        .build(client);
    // The relay makes the stream as it starts, which on a loaded machine can come after
    // `/healthz` answers (the game does not wait for NATS): wait for it, 30 s at most.
    let asked = std::time::Instant::now();
    let mut stream = loop {
        match js.get_stream(&def.name).await {
            Ok(stream) => break stream,
            Err(_) if asked.elapsed() < Duration::from_secs(30) => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("loh up made no stream in 30 s: {e}"),
        }
    };
    let info = stream.info().await.expect("stream info");
    assert_eq!(
        info.config.num_replicas, 3,
        "LOH_NATS_REPLICAS reached the stream"
    );

    // A crowd plays; a few seconds in, the stream's leader dies.
    let url = format!("http://{}", server.game);
    let load = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_loh"))
            .args(["loadgen", "--url", &url, "--scenario", "crowd"])
            .args(["--players", "60", "--ramp-secs", "2", "--ticks", "30"])
            .output()
            .unwrap()
    });
    tokio::time::sleep(Duration::from_secs(6)).await;
    let victim = leader(&js, &def).await.expect("the stream has a leader");
    cluster.kill(cluster.index_of(&victim).expect("one of ours"));
    let out = load.await.unwrap();
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "loh loadgen failed:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "bots connected           60",
        "closed by server (bots)  none",
        "result                   ok",
    ] {
        assert!(report.contains(line), "{line:?} missing in:\n{report}");
    }
    assert!(report.contains(" 0 unanswered"), "{report}");

    // The relay and the projections catch up on the two nodes left: the stream's last message is
    // the store's head, at the sequence equal to its position (nothing stored twice).
    let pool = db.pool().await;
    let start = Instant::now();
    loop {
        let head: i64 =
            sqlx::query_scalar("SELECT head_position FROM event_shards WHERE shard = $1")
                .bind(&shard)
                .fetch_one(&pool)
                .await
                .unwrap();
        let checkpoint: Option<i64> = sqlx::query_scalar(
            "SELECT position FROM projection_checkpoints WHERE name = 'player_position'",
        )
        .fetch_optional(&pool)
        .await
        .unwrap();
        let tail = def.tail(&js).await.ok();
        let caught_up = tail
            .is_some_and(|t| t.position() == head as u64 && t.last_sequence == head as u64)
            && checkpoint == Some(head);
        if caught_up && head > 0 {
            eprintln!("{victim} killed; stream and player_position at the head, {head}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "after killing {victim}: store head {head}, stream {tail:?}, checkpoint {checkpoint:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    drop(server);
}
