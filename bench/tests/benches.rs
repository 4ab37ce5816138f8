//! Each benchmark runs end to end on a small load, so that `loh bench …` keeps working. The
//! figures come from release runs of `loh bench` (docs/BENCHMARKS.md); nothing here times
//! anything.

/// The Redis server of the tests.
fn redis_url() -> String {
    loh_testkit::redis_url()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_append_benchmark_reports_both_rates_and_their_ratio() {
    let report = loh_bench::append::append_vs_copy(&loh_testkit::pg_admin_url(), 1_000, 250, 40)
        .await
        .expect("bench");
    assert_eq!(
        (report.events, report.batch, report.journal),
        (1_000, 250, 40)
    );
    assert!(report.append_rate() > 0.0 && report.copy_rate() > 0.0);
    let printed = report.to_string();
    assert!(
        printed.contains("events/s")
            && printed.contains("ratio")
            && printed.contains("journal rows per append: 40")
            && printed.contains("of the 400 ms tick"),
        "{printed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replay_benchmark_fills_a_store_through_the_tick_writer_and_reads_it_three_ways() {
    for database in [None, Some(loh_testkit::pg_admin_url())] {
        let report = loh_bench::replay::run(database.as_deref(), 20, 30)
            .await
            .expect("bench");
        assert!(report.events >= 20 * 30, "{report}");
        assert!(
            report.raw_read_per_s > 0.0 && report.verify_per_s > 0.0 && report.fold_per_s > 0.0,
            "{report}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_benchmark_relays_every_event_and_publishes_as_many_raw() {
    let report = loh_bench::relay::relay_vs_raw_publish(
        &loh_testkit::pg_admin_url(),
        &loh_testkit::nats_url(),
        500,
    )
    .await
    .expect("bench");
    assert!(
        report.relay_rate() > 0.0 && report.raw_rate() > 0.0,
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leaderboard_benchmark_serves_every_kind_of_request_it_measures() {
    let report = loh_bench::leaderboard::leaderboard_benchmark(
        &loh_testkit::pg_admin_url(),
        &redis_url(),
        2_000,
        4,
        0.3,
    )
    .await
    .expect("benchmark");
    for (what, rate) in [
        ("bare", report.bare),
        ("page", report.page),
        ("snapshot", report.rank_memory),
        ("redis", report.rank_redis),
    ] {
        assert!(rate > 0.0, "{what}: {report}");
    }
}

/// A game server on a scratch PostgreSQL database with the default limits and the real tick.
async fn game_server(
    tick_ms: u32,
) -> (
    loh_testkit::TestDb,
    loh_gateway::server::GameServer,
    tokio_util::sync::CancellationToken,
) {
    use loh_gateway::auth::sessions::SessionStore;
    use loh_gateway::server::{GameConfig, GameServer};
    let db = loh_testkit::TestDb::create().await;
    let store = loh_events::pg::PgEventStore::connect(&db.url, "world1")
        .await
        .expect("the store");
    store.migrate().await.expect("migrations");
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(8)
        .connect(&db.url)
        .await
        .expect("the accounts pool");
    let cancel = tokio_util::sync::CancellationToken::new();
    let config = GameConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        pacing: loh_tick_writer::tick::Pacing::Fixed { tick_ms },
        map: loh_world::MapConfig::default(),
        signing_key: loh_gateway::auth::tokens::SigningKey::generate().expect("an RSA key"),
        sessions: SessionStore::sql(pool.clone()),
        allowed_origins: Vec::new(),
        limits: loh_gateway::limits::Limits::default(),
        payments: Default::default(),
        world: Default::default(),
        snapshot_every_ticks: loh_tick_writer::snapshot::DEFAULT_SNAPSHOT_EVERY_TICKS,
        snapshot_every_events: loh_tick_writer::snapshot::DEFAULT_SNAPSHOT_EVERY_EVENTS,
    };
    let server = GameServer::start(
        config,
        std::sync::Arc::new(store),
        pool,
        prometheus_client::registry::Registry::default(),
        cancel.clone(),
    )
    .await
    .expect("the game server starts");
    (db, server, cancel)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crowd_of_two_hundred_bots_keeps_every_connection_and_gets_every_answer() {
    let (_db, server, cancel) = game_server(400).await;
    let options = loh_bench::loadgen::Options {
        url: format!("http://{}", server.addr()),
        players: 200,
        ramp: std::time::Duration::from_secs(2),
        ticks: 20,
        ..Default::default()
    };
    let report = loh_bench::loadgen::run(&options, |_| {})
        .await
        .expect("the load runs");
    cancel.cancel();
    println!("{report}");
    assert_eq!(report.connected, 200, "{report}");
    assert!(report.server_closed.is_empty(), "{report}");
    assert_eq!(report.server_closes(), 0, "{report}");
    assert_eq!(report.unanswered, 0, "{report}");
    assert!(report.sent >= 200 * 15, "{report}");
    assert!(
        report.answers.get("accepted").copied().unwrap_or(0) > 0,
        "{report}"
    );
    assert!(!report.failed(), "{report}");
    // The server's own figures are there: its tick histogram and its memory.
    assert!(report.server_tick_p99.is_some(), "{report}");
    assert!(report.frames_per_tick.is_some(), "{report}");
}

#[tokio::test]
async fn the_load_generator_refuses_a_target_off_this_machine() {
    let options = loh_bench::loadgen::Options {
        url: "http://192.0.2.1:7777".into(),
        ..Default::default()
    };
    let err = loh_bench::loadgen::run(&options, |_| {})
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("127.0.0.0/8"), "{err}");
}
