//! End to end: a client registers, logs in, connects, moves and speaks; the query API shows it.
//! Once on the real services (PostgreSQL, NATS JetStream), once embedded (SQLite, in-process bus).

mod bonds;
mod chaos;
mod cluster;
mod compose;
mod fixture;
mod kill;
mod loadgen;
mod payments;
mod pipeline;
mod process;
mod query_door;
mod social;
mod storm;
mod worlds;

use loh::app::{self, Running};
use loh::config::{AuthSettings, Backing, Settings};
use loh::embedded::DataDir;
use loh_commands::{Command, ServerFrame};
use loh_nats::EventStreamDef;
use loh_testkit::client::{answer, command, hello, register_and_login};
use loh_testkit::{TestDb, nats_url, redis_url, unique_name};
use loh_tick_writer::tick::Pacing;
use loh_world::MapConfig;
use std::net::SocketAddr;
use std::time::Duration;

/// One RSA key for the whole test binary (generating one takes a moment).
fn test_key_pem() -> &'static str {
    static PEM: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PEM.get_or_init(|| {
        loh_auth::SigningKey::generate()
            .unwrap()
            .private_pem()
            .to_owned()
    })
}

fn settings(stream: Option<EventStreamDef>) -> Settings {
    Settings {
        shard: "world1".into(),
        game_addr: "127.0.0.1:0".parse().unwrap(),
        query_addr: "127.0.0.1:0".parse().unwrap(),
        pacing: Pacing::Fixed { tick_ms: 100 },
        map: MapConfig::default(),
        view: Default::default(),
        max_commands_per_tick: loh_tick_writer::tick::DEFAULT_MAX_COMMANDS_PER_TICK,
        auth: match &stream {
            // On the real services: a shared RSA key and Redis, as in production; the Redis
            // prefix is the test's own and the same across its restarts.
            Some(stream) => AuthSettings {
                signing_key_pem: Some(test_key_pem().into()),
                redis_url: Some(redis_url().into()),
                redis_prefix: stream.subject_prefix.clone(),
                allowed_origins: Vec::new(),
            },
            // Embedded: the key is made and kept in the data folder; sessions in process.
            None => AuthSettings::default(),
        },
        stream,
        payments: Default::default(),
        world: Default::default(),
        // Often, so that the restarts of these tests start from snapshots.
        snapshot_every_ticks: 20,
        snapshot_every_events: loh_tick_writer::snapshot::DEFAULT_SNAPSHOT_EVERY_EVENTS,
        http: Default::default(),
    }
}

/// Polls the query API (with the player's own `token`: a position is nobody else's) until the
/// player's position is `expect` (x, y, last_say), 15 s at most.
async fn wait_for_position(
    query: SocketAddr,
    player_id: &str,
    token: &str,
    expect: (i64, i64, &str),
) {
    let http = reqwest::Client::new();
    let url = format!("http://{query}/v1/players/{player_id}/position");
    let mut last = None;
    for _ in 0..150 {
        let res = http.get(&url).bearer_auth(token).send().await.unwrap();
        if res.status() == 200 {
            let body: serde_json::Value = res.json().await.unwrap();
            if body["x"] == expect.0 && body["y"] == expect.1 && body["last_say"] == expect.2 {
                return;
            }
            last = Some(body);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the query API never showed {expect:?}; last answer {last:?}");
}

/// The scenario, on any backing. Returns the player id and token for a second run.
async fn play(running: &Running, username: &str) -> (String, String) {
    let game = running.game_addr.unwrap();
    let query = running.query_addr.unwrap();
    let account = register_and_login(game, username).await;
    assert_eq!(account.login["token_type"], "Bearer");
    assert_eq!(account.login["expires_in"], 900);

    let (mut ws, welcome) = hello(game, &account.token).await;
    let Some(ServerFrame::Welcome {
        player_id,
        last_seq,
        tick_ms,
        ..
    }) = welcome
    else {
        panic!("expected Welcome, got {welcome:?}");
    };
    assert_eq!(player_id, account.player_id);
    assert_eq!(last_seq, 0);
    assert_eq!(tick_ms, 100);

    // Walk one tile east of the spawn (3222, 3218).
    command(
        &mut ws,
        1,
        Command::Move {
            x: 3223,
            y: 3218,
            run: false,
        },
    )
    .await;
    let ServerFrame::Accepted {
        seq: 1,
        tick: move_tick,
    } = answer(&mut ws).await
    else {
        panic!("the move was not accepted");
    };
    command(
        &mut ws,
        2,
        Command::Say {
            text: "hello hastinapur".into(),
        },
    )
    .await;
    let said = answer(&mut ws).await;
    assert!(
        matches!(said, ServerFrame::Accepted { seq: 2, .. }),
        "{said:?}"
    );
    assert!(move_tick > 0);

    // A repeated seq gets its original outcome and is not applied twice.
    command(
        &mut ws,
        2,
        Command::Say {
            text: "hello hastinapur".into(),
        },
    )
    .await;
    assert_eq!(answer(&mut ws).await, said);
    command(
        &mut ws,
        1,
        Command::Move {
            x: 3224,
            y: 3218,
            run: false,
        },
    )
    .await;
    assert!(
        matches!(answer(&mut ws).await, ServerFrame::Accepted { seq: 1, tick } if tick == move_tick)
    );

    // Three tiles in one tick is more than running allows.
    command(
        &mut ws,
        3,
        Command::Move {
            x: 3226,
            y: 3218,
            run: true,
        },
    )
    .await;
    let ServerFrame::Rejected { seq: 3, code, .. } = answer(&mut ws).await else {
        panic!("a 3-tile move was not rejected");
    };
    assert_eq!(code, "too_far");

    wait_for_position(
        query,
        &account.player_id,
        &account.token,
        (3223, 3218, "hello hastinapur"),
    )
    .await;
    drop(ws);
    (account.player_id, account.token)
}

/// After a restart, the player is where they were and the seq continues.
async fn after_restart(running: &Running, player_id: &str, token: &str) {
    let (mut ws, welcome) = hello(running.game_addr.unwrap(), token).await;
    let Some(ServerFrame::Welcome { last_seq, .. }) = welcome else {
        panic!("expected Welcome");
    };
    assert_eq!(last_seq, 3, "the journal survived the restart");
    command(
        &mut ws,
        3,
        Command::Say {
            text: "again".into(),
        },
    )
    .await;
    assert!(
        matches!(answer(&mut ws).await, ServerFrame::Rejected { seq: 3, ref code, .. } if code == "duplicate_seq")
    );
    command(
        &mut ws,
        4,
        Command::Move {
            x: 3222,
            y: 3218,
            run: false,
        },
    )
    .await;
    assert!(matches!(
        answer(&mut ws).await,
        ServerFrame::Accepted { seq: 4, .. }
    ));
    wait_for_position(
        running.query_addr.unwrap(),
        player_id,
        token,
        (3222, 3218, "hello hastinapur"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_player_moves_and_speaks_on_postgres_and_nats_and_the_query_api_shows_it() {
    let db = TestDb::create().await;
    let stream = EventStreamDef {
        name: unique_name("E2E").to_uppercase(),
        subject_prefix: unique_name("e2e"),
        replicas: 1,
    };
    let backing = Backing::Services {
        database_url: db.url.clone().into(),
        nats_url: nats_url().into(),
    };
    let running = app::start_up(backing.clone(), settings(Some(stream.clone())))
        .await
        .unwrap();
    let (player_id, token) = play(&running, "arjuna").await;
    running.shutdown().await.unwrap();

    let running = app::start_up(backing, settings(Some(stream.clone())))
        .await
        .unwrap();
    after_restart(&running, &player_id, &token).await;
    running.shutdown().await.unwrap();

    let client = async_nats::connect(nats_url()).await.unwrap();
    let _ = async_nats::jetstream::new(client)
        .delete_stream(&stream.name)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_player_moves_and_speaks_embedded_and_nothing_is_lost_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let backing = Backing::Embedded(DataDir::open(dir.path()).unwrap());
    let running = app::start_up(backing.clone(), settings(None))
        .await
        .unwrap();
    let (player_id, token) = play(&running, "bhima").await;
    running.shutdown().await.unwrap();

    let running = app::start_up(backing, settings(None)).await.unwrap();
    after_restart(&running, &player_id, &token).await;
    running.shutdown().await.unwrap();
}

/// `loh analyst-token`, as an operator runs it.
fn analyst_token(args: &[&str], key_pem: Option<&str>) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_loh"));
    cmd.arg("analyst-token")
        .args(args)
        .env_remove("LOH_JWT_KEY")
        .env_remove("LOH_JWT_KEY_FILE")
        .env_remove("LOH_DATA_DIR");
    if let Some(pem) = key_pem {
        cmd.env("LOH_JWT_KEY", pem);
    }
    cmd.output().expect("run loh")
}

#[test]
fn an_operator_mints_an_analyst_token_the_query_api_accepts_and_bad_arguments_are_refused() {
    let key = loh_auth::SigningKey::from_pem(test_key_pem()).unwrap();
    let verifier = loh_query_api::auth::TokenVerifier::from_public_pem(key.public_pem()).unwrap();
    let subject = uuid::Uuid::new_v4().to_string();
    let out = analyst_token(
        &["--subject", &subject, "--ttl-minutes", "5"],
        Some(test_key_pem()),
    );
    assert!(out.status.success(), "{out:?}");
    let token = String::from_utf8(out.stdout).unwrap();
    let caller = verifier.caller(token.trim()).expect("a valid access token");
    assert!(caller.analyst, "carries the analyst role");
    assert_eq!(caller.player_id.to_string(), subject);

    // The same key from a file.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("jwt-key.pem");
    std::fs::write(&file, test_key_pem()).unwrap();
    let out = analyst_token(&["--jwt-key-file", file.to_str().unwrap()], None);
    assert!(out.status.success(), "{out:?}");
    let token = String::from_utf8(out.stdout).unwrap();
    assert!(verifier.caller(token.trim()).unwrap().analyst);

    // Bad input: a clear error, no token.
    for (args, says) in [
        (vec!["--ttl-minutes", "0"], "ttl-minutes"),
        (vec!["--ttl-minutes", "5000"], "ttl-minutes"),
        (vec!["--subject", "not-a-uuid"], "subject"),
        (
            vec!["--data-dir", dir.path().to_str().unwrap()],
            "signing-key.pem",
        ),
    ] {
        let out = analyst_token(&args, None);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let out = analyst_token(&[], Some("not a key"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("RSA"));
}
