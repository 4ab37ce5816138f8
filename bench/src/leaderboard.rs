//! The leaderboard benchmark (`loh bench leaderboard`): requests per second of a leaderboard page
//! and of a rank lookup ÷ a bare axum endpoint served by the same server, in the same run, with
//! the same client. Rank lookups are measured twice: without Redis (the board snapshot read from
//! the skills tables) and with it (read from the Redis sorted set, as with `REDIS_URL`).
//!
//! The board holds `players` players (one skill's XP each) folded by the real skills projector
//! into a scratch PostgreSQL database; the Redis keys live under a fresh prefix and are deleted
//! afterwards. The client is a minimal HTTP/1.1 keep-alive loop over TCP, so that the load
//! generator costs as little as possible of the two cores it shares with the server.

use loh_events::pg::PgEventStore;
use loh_events::{AppendBatch, EventBody, EventStore, NewEvent, Skill};
use loh_projections::{Projector, ReadDb};
use loh_query_api::AppState;
use loh_query_api::ranks::RankIndex;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use uuid::Uuid;

/// What [`leaderboard_benchmark`] measured, in requests per second.
#[derive(Debug, Clone)]
pub struct LeaderboardBench {
    pub players: usize,
    pub clients: usize,
    pub secs: f64,
    pub bare: f64,
    pub page: f64,
    pub rank_memory: f64,
    pub rank_redis: f64,
}

impl fmt::Display for LeaderboardBench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "leaderboard of {} players, {} keep-alive clients, {:.0} s per figure:",
            self.players, self.clients, self.secs
        )?;
        writeln!(f, "  bare axum endpoint        {:>9.0} req/s", self.bare)?;
        for (what, rate) in [
            ("leaderboard page (50)", self.page),
            ("rank lookup (tables)", self.rank_memory),
            ("rank lookup (Redis)", self.rank_redis),
        ] {
            writeln!(
                f,
                "  {what:<24}  {rate:>9.0} req/s = {:.2} × bare (goal ≥ 0.5)",
                rate / self.bare
            )?;
        }
        Ok(())
    }
}

/// Runs the benchmark in a scratch database on the PostgreSQL of `admin_url`, with Redis at
/// `redis_url`.
pub async fn leaderboard_benchmark(
    admin_url: &str,
    redis_url: &str,
    players: usize,
    clients: usize,
    secs: f64,
) -> Result<LeaderboardBench, Box<dyn std::error::Error + Send + Sync>> {
    let (name, url) = loh_migrations::scratch::create_database(admin_url, "loh_bench").await?;
    let prefix = format!("loh_bench_{}", Uuid::new_v4().simple());
    let result = measure(&url, redis_url, &prefix, players, clients, secs).await;
    let cleaned = clean_redis(redis_url, &prefix).await;
    loh_migrations::scratch::drop_database(admin_url, &name).await?;
    let report = result?;
    cleaned?;
    Ok(report)
}

async fn measure(
    url: &str,
    redis_url: &str,
    prefix: &str,
    players: usize,
    clients: usize,
    secs: f64,
) -> Result<LeaderboardBench, Box<dyn std::error::Error + Send + Sync>> {
    let store = PgEventStore::connect(url, "bench").await?;
    store.migrate().await?;
    let store: Arc<dyn EventStore> = Arc::new(store);
    let ids = fill(store.as_ref(), players).await?;
    let read = ReadDb::connect(url).await?;
    let skills = loh_projections::by_name("skills")?;
    Projector::new(skills, read.clone(), store.clone())
        .catch_up()
        .await?;
    let ranks = RankIndex::connect(redis_url, prefix).await?;
    let memory = AppState::new(read.clone(), store.clone(), Default::default());
    let redis = AppState::new(read, store, Default::default()).with_ranks(ranks);
    let app = axum::Router::new()
        .route(
            "/bench/bare",
            axum::routing::get(|| async { axum::Json(serde_json::json!({"ok": true})) }),
        )
        .merge(loh_query_api::router(memory))
        .nest("/redis", loh_query_api::router(redis));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let sample: Vec<String> = ids.iter().step_by(97).map(Uuid::to_string).collect();
    let paths =
        |f: &dyn Fn(&str) -> String| Arc::new(sample.iter().map(|p| f(p)).collect::<Vec<_>>());
    let redis_paths = paths(&|p| format!("/redis/v1/leaderboards/overall/players/{p}"));
    let memory_paths = paths(&|p| format!("/v1/leaderboards/overall/players/{p}"));
    // Warm up: the snapshot loads, the Redis sets fill.
    rate(addr, redis_paths.clone(), 4, 1.0).await?;
    rate(addr, memory_paths.clone(), 4, 0.5).await?;
    let bare = rate(addr, Arc::new(vec!["/bench/bare".into()]), clients, secs).await?;
    let page = rate(
        addr,
        Arc::new(vec!["/v1/leaderboards/overall?limit=50".into()]),
        clients,
        secs,
    )
    .await?;
    let rank_memory = rate(addr, memory_paths, clients, secs).await?;
    let rank_redis = rate(addr, redis_paths, clients, secs).await?;
    server.abort();
    Ok(LeaderboardBench {
        players,
        clients,
        secs,
        bare,
        page,
        rank_memory,
        rank_redis,
    })
}

/// `players` players, each spawned with XP in one skill (spread so that levels differ).
async fn fill(
    store: &dyn EventStore,
    players: usize,
) -> Result<Vec<Uuid>, Box<dyn std::error::Error + Send + Sync>> {
    let lease = store.acquire().await?;
    let ids: Vec<Uuid> = (0..players).map(|_| Uuid::new_v4()).collect();
    for (chunk_no, chunk) in ids.chunks(1000).enumerate() {
        let mut events = Vec::with_capacity(chunk.len() * 2);
        for (i, player_id) in chunk.iter().enumerate() {
            let bodies = [
                EventBody::PlayerSpawned {
                    player_id: *player_id,
                    x: 0,
                    y: 0,
                },
                EventBody::XpGained {
                    player_id: *player_id,
                    skill: Skill::ALL[i % Skill::ALL.len()],
                    xp: ((chunk_no * 1000 + i) * 7919 % 500_000) as u32,
                },
            ];
            for (v, body) in bodies.into_iter().enumerate() {
                events.push(NewEvent {
                    event_id: Uuid::new_v4(),
                    stream_id: body.stream_id(),
                    stream_version: v as u64 + 1,
                    tick: 1,
                    correlation_id: Uuid::new_v4(),
                    causation_id: None,
                    occurred_at_us: 1_780_000_000_000_000,
                    body,
                });
            }
        }
        store
            .append(
                lease,
                AppendBatch {
                    events,
                    journal: vec![],
                },
            )
            .await?;
    }
    Ok(ids)
}

/// Requests per second of `paths` (cycled) over `secs` seconds with `clients` keep-alive
/// connections.
async fn rate(
    addr: SocketAddr,
    paths: Arc<Vec<String>>,
    clients: usize,
    secs: f64,
) -> std::io::Result<f64> {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let paths = paths.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = TcpStream::connect(addr).await?;
            conn.set_nodelay(true)?;
            let mut buf = Vec::with_capacity(16 * 1024);
            let (mut n, mut i) = (0u64, c);
            while Instant::now() < deadline {
                get(&mut conn, &paths[i % paths.len()], &mut buf).await?;
                n += 1;
                i += 7;
            }
            Ok::<u64, std::io::Error>(n)
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.map_err(std::io::Error::other)??;
    }
    Ok(total as f64 / secs)
}

/// One `GET` on a keep-alive connection; fails unless the answer is a 200 with a
/// `Content-Length` body.
async fn get(conn: &mut TcpStream, path: &str, buf: &mut Vec<u8>) -> std::io::Result<()> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n");
    conn.write_all(request.as_bytes()).await?;
    buf.clear();
    let mut chunk = [0u8; 8192];
    let (head_end, length) = loop {
        let read = conn.read(&mut chunk).await?;
        if read == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..read]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end]).map_err(std::io::Error::other)?;
            if !head.starts_with("HTTP/1.1 200") {
                let status = head.lines().next().unwrap_or_default();
                return Err(std::io::Error::other(format!("{path}: {status}")));
            }
            let length = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .ok_or_else(|| std::io::Error::other("no Content-Length"))?;
            break (end + 4, length);
        }
    };
    while buf.len() < head_end + length {
        let read = conn.read(&mut chunk).await?;
        if read == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..read]);
    }
    Ok(())
}

/// Deletes the benchmark's Redis keys.
async fn clean_redis(redis_url: &str, prefix: &str) -> redis::RedisResult<()> {
    let client = redis::Client::open(redis_url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await?;
    if !keys.is_empty() {
        redis::cmd("DEL")
            .arg(&keys)
            .query_async::<()>(&mut conn)
            .await?;
    }
    Ok(())
}
