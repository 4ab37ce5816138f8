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
    assert!(
        summary["acknowledged"].as_u64().unwrap() > 20,
        "too little was acknowledged to prove anything: {summary}"
    );
    for fault in summary["per_fault"].as_array().unwrap() {
        assert!(fault["recovery_secs"].as_f64().unwrap() > 0.0, "{fault}");
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

#[test]
fn chaos_refuses_bad_arguments() {
    for args in [
        &["chaos", "--faults", "0"][..],
        &["chaos", "--min-secs", "5", "--max-secs", "1"],
        &["chaos", "--players", "x"],
    ] {
        let out = loh().args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?} says why");
    }
}
