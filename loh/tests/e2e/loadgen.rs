//! A short `loh loadgen` run, through the binary as a user runs it, against `loh up` embedded and
//! on the real services (PostgreSQL, NATS JetStream, Redis): a crowd of a few hundred bots for a
//! few dozen ticks. It fails on any connection the server closed or any command left unanswered:
//! a functional check, not a timing.

use crate::process::{LohUp, loh, on_services, start};
use loh_nats::EventStreamDef;
use loh_testkit::{TestDb, nats_url, unique_name};

/// `loh loadgen` against `server`: its report, after checking it passed.
fn load(server: &LohUp) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_loh"))
        .args(["loadgen", "--url", &format!("http://{}", server.game)])
        .args(["--scenario", "crowd", "--players", "150"])
        .args(["--ramp-secs", "3", "--ticks", "20"])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "loh loadgen failed:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "bots connected           150",
        "closed by server (bots)  none",
        "result                   ok",
    ] {
        assert!(report.contains(line), "{line:?} missing in:\n{report}");
    }
    assert!(report.contains(" 0 unanswered"), "{report}");
    // The server's own figures, read from its /metrics.
    for name in ["server answer p50", "server tick p50"] {
        let line = report
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name:?} missing in:\n{report}"));
        assert!(line.contains(" ms ("), "no {name} from /metrics: {line}");
    }
    // A few hundred players never fill a tick: the count is read, and it is 0.
    assert!(
        report.contains("server full ticks        0 "),
        "no full-tick count of 0 from /metrics in:\n{report}"
    );
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crowd_of_bots_against_loh_up_embedded_keeps_every_connection_and_gets_every_answer() {
    let data = tempfile::tempdir().unwrap();
    let server = start(loh(), data.path(), &["--tick-ms", "400"]).await;
    let report = load(&server);
    println!("{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crowd_of_bots_against_loh_up_on_the_real_services_keeps_every_connection_and_gets_every_answer()
 {
    let db = TestDb::create().await;
    let data = tempfile::tempdir().unwrap();
    let shard = unique_name("lg");
    let cmd = on_services(&db.url, &nats_url(), data.path(), &shard);
    let server = start(cmd, data.path(), &["--tick-ms", "400"]).await;
    let report = load(&server);
    println!("{report}");
    drop(server);
    let client = async_nats::connect(nats_url()).await.unwrap();
    let _ = async_nats::jetstream::new(client)
        .delete_stream(EventStreamDef::for_shard(&shard).name)
        .await;
}
