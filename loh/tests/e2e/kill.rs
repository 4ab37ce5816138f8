//! Killing the whole `loh up` process (SIGKILL) at arbitrary moments while a client plays, then
//! restarting it: every acknowledged command survives, nothing is applied twice, the hash chain
//! is intact, and the read model catches up.

use crate::process::{loh, start};
use loh_commands::{Command, ServerFrame};
use loh_testkit::client::{answer, command, hello, register_and_login};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_process_killed_at_any_moment_restarts_without_losing_or_doubling_acknowledged_commands()
{
    let dir = tempfile::tempdir().unwrap();
    let mut game = start(loh(), dir.path(), &[]).await;
    let account = register_and_login(game.game, "nakula").await;
    let mut acknowledged = 0u64;
    let mut acked = Vec::new();
    let mut seq = 0u64;
    for round in 0..4u64 {
        let (mut ws, welcome) = hello(game.game, &account.token).await;
        let Some(ServerFrame::Welcome { last_seq, .. }) = welcome else {
            panic!("{welcome:?}")
        };
        assert!(
            last_seq >= acknowledged,
            "round {round}: acknowledged seq {acknowledged} lost (server says {last_seq})"
        );
        seq = seq.max(last_seq);
        // Play until killed: pipeline commands, count what was acknowledged.
        let killer = tokio::time::sleep(Duration::from_millis(700 + 300 * round));
        tokio::pin!(killer);
        loop {
            seq += 1;
            let cmd = Command::Say {
                text: format!("line {seq}"),
            };
            command(&mut ws, seq, cmd).await;
            tokio::select! {
                frame = answer(&mut ws) => match frame {
                    ServerFrame::Accepted { seq: s, .. } => {
                        acknowledged = acknowledged.max(s);
                        acked.push(s);
                    }
                    other => panic!("unexpected {other:?}"),
                },
                _ = &mut killer => break,
            }
        }
        game.child.kill().unwrap();
        game.child.wait().unwrap();
        drop(ws);
        game = start(loh(), dir.path(), &[]).await;
    }
    assert!(
        acknowledged > 3,
        "the test acknowledged too little to prove anything"
    );
    let (_ws, welcome) = hello(game.game, &account.token).await;
    let Some(ServerFrame::Welcome { last_seq, .. }) = welcome else {
        panic!()
    };
    assert!(last_seq >= acknowledged);

    // The read model catches up with the last line said.
    let url = format!(
        "http://{}/v1/players/{}/position",
        game.query, account.player_id
    );
    let expect = format!("line {last_seq}");
    let mut seen = None;
    let http = reqwest::Client::new();
    for _ in 0..100 {
        let res = http
            .get(&url)
            .bearer_auth(&account.token)
            .send()
            .await
            .unwrap();
        if res.status() == 200 {
            let body: serde_json::Value = res.json().await.unwrap();
            if body["last_say"] == expect.as_str() {
                seen = Some(body);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen.is_some(), "the read model never showed {expect:?}");
    drop(game);

    // The log holds each acknowledged line exactly once, and its chain is intact.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_loh"))
        .args(["replay", "verify", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "replay verify: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let store = loh_events::sqlite::SqliteEventStore::open(
        dir.path().join("loh.db").to_str().unwrap(),
        "world1",
    )
    .await
    .unwrap();
    use loh_events::EventStore;
    let events = store.read_from(1, 1_000_000).await.unwrap();
    let mut said: Vec<String> = events
        .iter()
        .filter_map(|e| match e.body().unwrap() {
            loh_events::EventBody::PlayerSaid { text, .. } => Some(text),
            _ => None,
        })
        .collect();
    let total = said.len();
    said.dedup();
    assert_eq!(said.len(), total, "a line was applied twice");
    assert!(total >= acked.len());
    for n in acked {
        assert!(
            said.contains(&format!("line {n}")),
            "acknowledged line {n} is missing"
        );
    }
}
