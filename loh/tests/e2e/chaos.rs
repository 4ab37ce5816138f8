//! `loh chaos`, the kill campaign users run, in its short form: two SIGKILLs of `loh up` while
//! bots play, each followed by a restart; every acknowledged command is in the log once, the
//! chain intact, value conserved. (The long form, 100 kills, is run by hand: docs/RELIABILITY.md.)

use crate::process::loh;
use std::process::Output;

/// `loh chaos` with `args`, six bots, a fault every 2–4 s, a JSON summary, data in `data`.
fn short_campaign(mut cmd: std::process::Command, args: &[&str], data: &std::path::Path) -> Output {
    cmd.arg("chaos")
        .args(args)
        .args([
            "--players",
            "6",
            "--min-secs",
            "2",
            "--max-secs",
            "4",
            "--json",
        ])
        .arg("--data-dir")
        .arg(data)
        .output()
        .expect("run loh chaos")
}

/// The JSON summary of a `loh chaos --json` run that must have found nothing wrong.
fn passed(out: &Output) -> serde_json::Value {
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(out.status.success(), "{summary}");
    assert_eq!(summary["lost"], 0, "{summary}");
    assert_eq!(summary["duplicated"], 0, "{summary}");
    assert_eq!(summary["intact"], true);
    assert_eq!(summary["conserved"], true);
    assert_eq!(
        summary["read_models_differing"],
        serde_json::json!([]),
        "{summary}"
    );
    assert!(
        summary["acknowledged"].as_u64().unwrap() > 20,
        "too little was acknowledged to prove anything: {summary}"
    );
    // The checks ran after every fault, not only at the end.
    for fault in summary["per_fault"].as_array().unwrap() {
        assert!(fault["recovery_secs"].as_f64().unwrap() > 0.0, "{fault}");
        assert_eq!(fault["failed"], false, "{fault}");
        assert_eq!(
            fault["read_models_differing"],
            serde_json::json!([]),
            "{fault}"
        );
        if summary["services"] == true {
            let stream = &fault["jetstream"];
            assert!(stream["messages"].as_u64().unwrap() > 0, "{fault}");
            assert_eq!(
                (&stream["repeated"], &stream["missing"]),
                (&0.into(), &0.into())
            );
        } else {
            assert!(fault["jetstream"].is_null(), "{fault}");
        }
    }
    summary
}

#[test]
fn a_short_kill_campaign_loses_and_doubles_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let out = short_campaign(loh(), &["--faults", "2"], dir.path());
    let summary = passed(&out);
    assert_eq!(summary["faults"], 2);
}

/// The roles as separate processes on the real services (a scratch database, a world of its
/// own): with this seed the tick writer is killed twice and the projectors once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_real_services_a_short_kill_campaign_of_the_roles_loses_nothing() {
    let db = loh_testkit::TestDb::create().await;
    let shard = loh_testkit::unique_name("chaos");
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = loh();
    cmd.env("DATABASE_URL", &db.url)
        .env("NATS_URL", loh_testkit::nats_url())
        .env("REDIS_URL", loh_testkit::redis_url());
    let args = [
        "--services",
        "--shard",
        &shard,
        "--faults",
        "3",
        "--seed",
        "7",
    ];
    let out = short_campaign(cmd, &args, dir.path());
    if let Ok(c) = async_nats::connect(loh_testkit::nats_url()).await {
        let stream = loh_nats::EventStreamDef::for_shard(&shard).name;
        let _ = async_nats::jetstream::new(c).delete_stream(stream).await;
    }
    let summary = passed(&out);
    let kinds: Vec<&str> = summary["per_fault"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["tick-writer", "tick-writer", "projections"]);
    let stream = &summary["jetstream"];
    assert_eq!(
        (stream["repeated"].as_u64(), stream["missing"].as_u64()),
        (Some(0), Some(0)),
        "{summary}"
    );
    assert!(stream["messages"].as_u64().unwrap() > 0, "{summary}");
}

/// The faults of the services themselves, on the campaign's own PostgreSQL, NATS and Redis: with
/// this seed PostgreSQL is restarted, NATS stopped for 3 s, then Redis restarted (losing every
/// session); nothing acknowledged is lost or doubled, and JetStream holds every event once.
#[test]
fn a_short_campaign_of_service_outages_on_private_instances_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--services",
        "--private",
        "--kinds",
        "nats,postgres,redis",
        "--nats-outage",
        "3",
        "--faults",
        "3",
        "--seed",
        "16",
    ];
    let out = short_campaign(loh(), &args, dir.path());
    let summary = passed(&out);
    let kinds: Vec<&str> = summary["per_fault"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["postgres", "nats", "redis"]);
    for kind in ["nats", "postgres", "redis"] {
        assert!(
            summary["recovery_secs"][kind]["max"].as_f64().is_some(),
            "{summary}"
        );
    }
    let stream = &summary["jetstream"];
    assert_eq!(
        (stream["repeated"].as_u64(), stream["missing"].as_u64()),
        (Some(0), Some(0)),
        "{summary}"
    );
}

/// The game server's `/healthz` on private services, each taken away in turn: it names what is
/// failing, the tick writer keeps running through a PostgreSQL outage (commands answered
/// `server_busy`, nothing journaled) and everything is back by itself once the services are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_names_each_dependency_that_is_gone_and_the_tick_writer_outlives_postgres() {
    use loh::chaos::services::Services;
    use loh_commands::{ClientFrame, Command, ServerFrame};
    let mut services = Services::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let shard = loh_testkit::unique_name("deps");
    let mut cmd = crate::process::on_services(
        &services.postgres.url(),
        &services.nats.url(),
        dir.path(),
        &shard,
    );
    cmd.env("REDIS_URL", services.redis.url());
    let mut up = crate::process::start_tick_writer(cmd, &["--tick-ms", "100"]).await;
    let health = |game: std::net::SocketAddr| async move {
        let r = reqwest::get(format!("http://{game}/healthz"))
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body: serde_json::Value = r.json().await.unwrap();
        (status, body["status"].clone(), body["failing"].clone())
    };
    let up_game = up.game;
    let failing_becomes = |want: serde_json::Value| async move {
        for _ in 0..100 {
            let (status, _, failing) = health(up_game).await;
            if failing == want && (status == 503) != want.is_null() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!(
            "/healthz never said failing {want}: {:?}",
            health(up_game).await
        );
    };
    let (status, word, _) = health(up_game).await;
    assert_eq!((status, word.as_str()), (200, Some("ok")));

    // A player who plays through it all.
    let account = loh_testkit::client::register_and_login(up.game, "deps_player").await;
    let (mut ws, welcome) = loh_testkit::client::hello(up.game, &account.token).await;
    assert!(
        matches!(welcome, Some(ServerFrame::Welcome { .. })),
        "{welcome:?}"
    );
    let say = |seq: u64| ClientFrame::Command {
        seq,
        cmd: Command::Say {
            text: format!("line {seq}"),
        },
    };
    loh_testkit::client::send(&mut ws, &say(1)).await;
    assert!(matches!(
        loh_testkit::client::answer(&mut ws).await,
        ServerFrame::Accepted { seq: 1, .. }
    ));

    services.nats.stop();
    failing_becomes(serde_json::json!(["nats"])).await;
    services.redis.stop();
    failing_becomes(serde_json::json!(["nats", "redis"])).await;
    services.postgres.stop().unwrap();
    failing_becomes(serde_json::json!(["nats", "postgres", "redis"])).await;
    // PostgreSQL is gone: the command is answered, not accepted, and the writer lives on.
    loh_testkit::client::send(&mut ws, &say(2)).await;
    match loh_testkit::client::answer(&mut ws).await {
        ServerFrame::Rejected { seq: 2, code, .. } => assert_eq!(code, "server_busy"),
        other => panic!("expected server_busy, got {other:?}"),
    }
    assert!(
        up.child.try_wait().unwrap().is_none(),
        "the tick writer lives"
    );

    services.postgres.start().await.unwrap();
    services.nats.start().await.unwrap();
    services.redis.start().await.unwrap();
    failing_becomes(serde_json::Value::Null).await;
    // Redis lost every session: the player logs in again and sends the same seq, decided now.
    drop(ws);
    let login = loh_testkit::client::login(up.game, "deps_player").await;
    let token = login["access_token"].as_str().unwrap().to_owned();
    let (mut ws, welcome) = loh_testkit::client::hello(up.game, &token).await;
    assert!(
        matches!(welcome, Some(ServerFrame::Welcome { last_seq: 1, .. })),
        "{welcome:?}"
    );
    loh_testkit::client::send(&mut ws, &say(2)).await;
    assert!(matches!(
        loh_testkit::client::answer(&mut ws).await,
        ServerFrame::Accepted { seq: 2, .. }
    ));
    let store = loh_events::pg::PgEventStore::connect(&services.postgres.url(), &shard)
        .await
        .unwrap();
    use loh_events::EventStore;
    let journaled = store.read_journal(0, 10_000).await.unwrap();
    let mine: Vec<u64> = journaled
        .iter()
        .filter(|r| r.player_id != loh_world::step::TICK_INPUTS_PLAYER)
        .map(|r| r.seq)
        .collect();
    assert_eq!(mine, [1, 2]);
    let _ = up.child.kill();
}

#[test]
fn chaos_refuses_bad_arguments() {
    for args in [
        &["chaos", "--faults", "0"][..],
        &["chaos", "--min-secs", "5", "--max-secs", "1"],
        &["chaos", "--players", "x"],
        &["chaos", "--private"],
        &["chaos", "--kinds", "nats"],
    ] {
        let out = loh().args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?} says why");
    }
}

/// The embedded game on a data folder of its own 64 MiB filesystem, filled to the last byte
/// twice while the bots play (the game's own log on it too): nothing acknowledged is lost, the
/// game answers again once the disk is freed, and the read models equal a rebuild. Before
/// `loh::telemetry` stopped reporting failed log writes with `eprint!`, the first full disk
/// killed the process; before the embedded pool closed connections left inside a transaction,
/// a full disk met by a read model's transaction could leave SQLite's write lock held for good
/// (every writer "database is locked", seen after the fourth full disk of a 30-fault campaign;
/// `sqlite_a_full_disk_in_another_pool_user_leaves_no_write_lock_behind` in the store's tests).
/// Mounting needs root; elsewhere the test says so and passes.
#[test]
fn a_full_disk_loses_nothing_and_the_game_goes_on() {
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if !root {
        eprintln!("not root: cannot mount the campaign's small filesystem; run as root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let out = short_campaign(
        loh(),
        &[
            "--faults",
            "2",
            "--kinds",
            "disk-full",
            "--disk-mib",
            "64",
            "--disk-full-secs",
            "3",
        ],
        &data,
    );
    let summary = passed(&out);
    assert_eq!(summary["faults"], 2);
    for fault in summary["per_fault"].as_array().unwrap() {
        assert_eq!(fault["kind"], "disk-full", "{fault}");
    }
}
