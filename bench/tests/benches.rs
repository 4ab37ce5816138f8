//! Each benchmark runs end to end on a small load, so that `loh bench …` keeps working. The
//! figures come from release runs of `loh bench` (docs/BENCHMARKS.md); nothing here times
//! anything.

/// The Redis server of the tests.
fn redis_url() -> String {
    loh_testkit::redis_url()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_append_benchmark_reports_both_rates_and_their_ratio() {
    let report = loh_bench::append::append_vs_copy(&loh_testkit::pg_admin_url(), 1_000, 250)
        .await
        .expect("bench");
    assert_eq!((report.events, report.batch), (1_000, 250));
    assert!(report.append_rate() > 0.0 && report.copy_rate() > 0.0);
    let printed = report.to_string();
    assert!(
        printed.contains("events/s") && printed.contains("ratio"),
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
