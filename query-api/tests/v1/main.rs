//! The `/v1` read endpoints over real PostgreSQL read models, folded by the real projectors from
//! a hand-built history; tokens signed by the game server's key code.

use loh_auth::{SigningKey, Tokens};
use loh_events::pg::PgEventStore;
use loh_events::{AppendBatch, EventBody, EventStore, ItemQty, NewEvent, Skill};
use loh_projections::{Projector, ReadDb};
use loh_query_api::AppState;
use loh_query_api::auth::TokenVerifier;
use loh_query_api::ranks::RankIndex;
use loh_testkit::{TestDb, redis_url, unique_name};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

struct App {
    _db: TestDb,
    base: String,
    cancel: CancellationToken,
    http: reqwest::Client,
    players: Vec<Uuid>,
    tokens: Tokens,
    store: Arc<dyn EventStore>,
    lease: loh_events::Lease,
    read: ReadDb,
    /// Stream versions so far.
    versions: BTreeMap<String, u64>,
}

/// The players' display names.
const NAMES: [&str; 5] = ["Arjuna", "Bhima", "Nakula", "Sahadeva", "Draupadi"];

const HOUR_US: i64 = 3_600_000_000;
const START_US: i64 = 1_780_000_000_000_000 - 1_780_000_000_000_000 % HOUR_US;

/// Players 0..5 spawn; player i gains `(i + 1) * 100` Woodcutting XP (player 4 the same as
/// player 3, later); player 0 buys and trades coins to player 1; players 0 and 1 come online.
fn history(players: &[Uuid]) -> Vec<(i64, EventBody)> {
    let mut out = Vec::new();
    for p in players {
        out.push((
            0,
            EventBody::PlayerSpawned {
                player_id: *p,
                x: 3222,
                y: 3218,
            },
        ));
        out.push((
            0,
            EventBody::ItemsMinted {
                player_id: *p,
                item: "coins".into(),
                qty: 25,
                source: "starter_kit".into(),
            },
        ));
    }
    for (i, p) in players.iter().enumerate().take(4) {
        out.push((
            1,
            EventBody::XpGained {
                player_id: *p,
                skill: Skill::Woodcutting,
                xp: (i as u32 + 1) * 100,
            },
        ));
    }
    out.push((
        2,
        EventBody::XpGained {
            player_id: players[4],
            skill: Skill::Woodcutting,
            xp: 400,
        },
    ));
    out.push((
        2,
        EventBody::ShopBought {
            player_id: players[0],
            shop: "general_store".into(),
            item: "bronze_axe".into(),
            qty: 1,
            price: 16,
        },
    ));
    out.push((
        2,
        EventBody::BankDeposited {
            player_id: players[0],
            slot: 0,
            item: "coins".into(),
            qty: 5,
        },
    ));
    out.push((
        3,
        EventBody::TradeSettled {
            player_id: players[0],
            with: players[1],
            gave: vec![ItemQty {
                item: "coins".into(),
                qty: 4,
            }],
            got: vec![],
        },
    ));
    for p in &players[..2] {
        out.push((
            3,
            EventBody::PlayerPresence {
                player_id: *p,
                online: true,
            },
        ));
    }
    out
}

impl App {
    async fn start() -> App {
        App::start_with(None).await
    }

    /// With rank lookups answered from Redis sorted sets under `prefix`.
    async fn start_with(redis_prefix: Option<&str>) -> App {
        App::start_with_history(redis_prefix, history).await
    }

    /// Over the events `history` makes of the five players.
    async fn start_with_history(
        redis_prefix: Option<&str>,
        history: fn(&[Uuid]) -> Vec<(i64, EventBody)>,
    ) -> App {
        let db = TestDb::create().await;
        let store = PgEventStore::connect(&db.url, &unique_name("shard"))
            .await
            .expect("connect the store");
        store.migrate().await.expect("migrate");
        let store: Arc<dyn EventStore> = Arc::new(store);
        let lease = store.acquire().await.expect("lease");
        let players: Vec<Uuid> = (1..=5).map(|i| Uuid::from_u128(0xA000 + i)).collect();
        let mut versions: BTreeMap<String, u64> = BTreeMap::new();
        let events = history(&players)
            .into_iter()
            .enumerate()
            .map(|(i, (hour, body))| {
                let stream_id = body.stream_id();
                let v = versions.entry(stream_id.clone()).or_default();
                *v += 1;
                NewEvent {
                    event_id: Uuid::new_v4(),
                    stream_id,
                    stream_version: *v,
                    tick: i as u64 + 1,
                    correlation_id: Uuid::new_v4(),
                    causation_id: None,
                    occurred_at_us: START_US + hour * HOUR_US,
                    body,
                }
            })
            .collect();
        store
            .append(
                lease,
                AppendBatch {
                    events,
                    journal: vec![],
                },
            )
            .await
            .expect("append");
        let read = ReadDb::connect(&db.url).await.expect("read db");
        // The players have accounts, as the gateway makes them at registration: their names.
        for (p, name) in players.iter().zip(NAMES) {
            sqlx::query(
                "INSERT INTO accounts (player_id, username, display_name, password_hash, created_at_us) \
                 VALUES ($1, $2, $3, 'x', 0)",
            )
            .bind(p.to_string())
            .bind(name.to_lowercase())
            .bind(name)
            .execute(read.pool())
            .await
            .expect("an account");
        }
        let app_read = read.clone();
        let app_store = store.clone();
        for projection in loh_projections::all() {
            Projector::new(projection, read.clone(), store.clone())
                .catch_up()
                .await
                .expect("project");
        }
        let key = SigningKey::generate().expect("an RSA key");
        let verifier = TokenVerifier::from_public_pem(key.public_pem()).expect("public key");
        let mut state = AppState::new(read, store, Default::default()).with_tokens(verifier);
        if let Some(prefix) = redis_prefix {
            let ranks = RankIndex::connect(&redis_url(), prefix)
                .await
                .expect("Redis for tests is reachable");
            let cache = loh_query_api::cache::ResponseCache::connect(&redis_url(), prefix)
                .await
                .expect("Redis for tests is reachable");
            state = state.with_ranks(ranks).with_cache(cache);
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let cancel = CancellationToken::new();
        let (router, shutdown) = (
            loh_query_api::router(state),
            cancel.clone().cancelled_owned(),
        );
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
        });
        App {
            _db: db,
            base,
            cancel,
            http: reqwest::Client::new(),
            players,
            tokens: Tokens::new(key),
            store: app_store,
            lease,
            read: app_read,
            versions,
        }
    }

    /// Appends `body` and brings every read model up to date.
    async fn record(&mut self, body: EventBody) {
        let stream_id = body.stream_id();
        let v = self.versions.entry(stream_id.clone()).or_default();
        *v += 1;
        let event = NewEvent {
            event_id: Uuid::new_v4(),
            stream_id,
            stream_version: *v,
            tick: 1_000,
            correlation_id: Uuid::new_v4(),
            causation_id: None,
            occurred_at_us: START_US + 4 * HOUR_US,
            body,
        };
        self.store
            .append(
                self.lease,
                AppendBatch {
                    events: vec![event],
                    journal: vec![],
                },
            )
            .await
            .expect("append");
        for projection in loh_projections::all() {
            Projector::new(projection, self.read.clone(), self.store.clone())
                .catch_up()
                .await
                .expect("project");
        }
    }

    fn token(&self, player: Uuid) -> String {
        self.tokens.issue(player, "session")
    }

    /// An access token with `role: analyst`, minted as `loh analyst-token` does.
    fn analyst_token(&self) -> String {
        self.tokens.issue_analyst(Uuid::new_v4(), 600)
    }

    async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request")
    }

    async fn json(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let r = self.get(path, token).await;
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_player_reads_their_own_inventory_bank_wallet_and_skills_but_not_another_players() {
    let app = App::start().await;
    let (alice, bob) = (app.players[0], app.players[1]);
    let token = app.token(alice);
    let (status, inv) = app
        .json(&format!("/v1/players/{alice}/inventory"), Some(&token))
        .await;
    assert_eq!(status, StatusCode::OK, "{inv}");
    // 25 − 16 (shop) − 5 (bank) − 4 (trade) = no coins left in the inventory; the axe.
    assert_eq!(inv["items"], json!([{"item": "bronze_axe", "qty": 1}]));
    let (_, bank) = app
        .json(&format!("/v1/players/{alice}/bank"), Some(&token))
        .await;
    assert_eq!(bank["items"], json!([{"item": "coins", "qty": 5}]));
    let (_, wallet) = app
        .json(&format!("/v1/players/{alice}/wallet"), Some(&token))
        .await;
    assert_eq!(
        wallet["balances"],
        json!([{"currency": "coins", "balance": 5}])
    );
    let (_, ledger) = app
        .json(
            &format!("/v1/players/{alice}/wallet/ledger?limit=2"),
            Some(&token),
        )
        .await;
    let reasons: Vec<&str> = ledger["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["reason"].as_str().expect("reason"))
        .collect();
    assert_eq!(reasons, ["trade", "shop"], "newest first: {ledger}");
    let cursor = ledger["next_cursor"].as_str().expect("a next page");
    let (_, rest) = app
        .json(
            &format!("/v1/players/{alice}/wallet/ledger?limit=2&cursor={cursor}"),
            Some(&token),
        )
        .await;
    assert_eq!(rest["entries"][0]["reason"], "starter_kit");
    assert_eq!(rest["next_cursor"], Value::Null);
    let (_, skills) = app
        .json(&format!("/v1/players/{alice}/skills"), Some(&token))
        .await;
    // Hitpoints 10, Woodcutting 2 (100 XP ≥ 83), eleven skills at 1.
    assert_eq!(skills["total_level"], 23);
    assert_eq!(skills["total_xp"], 1154 + 100);
    let (_, trades) = app
        .json(&format!("/v1/players/{bob}/trades"), Some(&app.token(bob)))
        .await;
    assert_eq!(
        trades["trades"][0]["got"],
        json!([{"item": "coins", "qty": 4}])
    );

    for path in [
        "inventory",
        "bank",
        "wallet",
        "wallet/ledger",
        "skills",
        "trades",
    ] {
        let (status, body) = app
            .json(&format!("/v1/players/{bob}/{path}"), Some(&token))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert_eq!(body["error"]["code"], "forbidden");
        let (status, body) = app.json(&format!("/v1/players/{bob}/{path}"), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {body}");
        assert_eq!(body["error"]["code"], "unauthorized");
        let (status, _) = app
            .json(&format!("/v1/players/{bob}/{path}"), Some("not.a.token"))
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        let (status, _) = app
            .json(
                &format!("/v1/players/{bob}/{path}"),
                Some(&app.analyst_token()),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "an analyst reads {path}");
    }
    let (status, profile) = app.json(&format!("/v1/players/{bob}/profile"), None).await;
    assert_eq!(status, StatusCode::OK, "profiles are public");
    assert_eq!(profile["online"], true);
    assert_eq!(profile["total_level"], 24, "Woodcutting 3 at 200 XP");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaderboards_rank_by_level_then_xp_then_who_got_there_first_in_keyset_pages_with_etags() {
    leaderboards_rank_players(App::start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rank_lookups_and_around_me_from_redis_sorted_sets_answer_like_the_sql_tables() {
    let prefix = unique_name("loh_test");
    leaderboards_rank_players(App::start_with(Some(&prefix)).await).await;
    let client = redis::Client::open(redis_url()).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("Redis");
    let members: i64 = redis::cmd("ZCARD")
        .arg(format!("{prefix}:lb:woodcutting:z"))
        .query_async(&mut conn)
        .await
        .expect("ZCARD");
    assert_eq!(members, 5, "every player is in the woodcutting set");
    clean_redis(&prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_the_query_api_reads_each_board_from_its_sorted_set() {
    let prefix = unique_name("loh_test");
    let mut app = App::start_with(Some(&prefix)).await;
    let (status, _) = app.json("/v1/leaderboards/woodcutting", None).await;
    assert_eq!(status, StatusCode::OK, "the first read fills the set");
    // A member only Redis holds (level 99, 13,034,431 XP): once the board is read again, it
    // leads — the board came from the sorted set, not from the tables.
    let stranger = Uuid::new_v4();
    let client = redis::Client::open(redis_url()).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("Redis");
    let score = -(99.0 * 4_294_967_296.0 + 13_034_431.0);
    let _: () = redis::cmd("ZADD")
        .arg(format!("{prefix}:lb:woodcutting:z"))
        .arg(score)
        .arg(format!("{:020}:{stranger}", 0))
        .query_async(&mut conn)
        .await
        .expect("ZADD");
    let first = app.players[1];
    app.record(EventBody::XpGained {
        player_id: first,
        skill: Skill::Woodcutting,
        xp: 1,
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let (_, entry) = app
        .json(
            &format!("/v1/leaderboards/woodcutting/players/{stranger}"),
            None,
        )
        .await;
    assert_eq!(entry["rank"], 1, "{entry}");
    let (_, page) = app.json("/v1/leaderboards/woodcutting", None).await;
    assert_eq!(
        page["entries"][0]["player_id"],
        stranger.to_string(),
        "{page}"
    );
    clean_redis(&prefix).await;
}

/// Deletes the test's Redis keys.
async fn clean_redis(prefix: &str) {
    let client = redis::Client::open(redis_url()).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("Redis");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await
        .expect("KEYS");
    if keys.is_empty() {
        return;
    }
    let mut del = redis::cmd("DEL");
    for k in &keys {
        del.arg(k);
    }
    let _: () = del.query_async(&mut conn).await.expect("clean up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaderboards_follow_new_xp_within_a_tick_from_memory_and_from_redis() {
    let prefix = unique_name("loh_test");
    let mut app = App::start_with(Some(&prefix)).await;
    let first = app.players[0];
    let rank = |app: &App| {
        let path = format!("/v1/leaderboards/woodcutting/players/{first}");
        let app_base = app.base.clone();
        let http = app.http.clone();
        async move {
            let v: Value = http
                .get(format!("{app_base}{path}"))
                .send()
                .await
                .expect("request")
                .json()
                .await
                .expect("json");
            v["rank"].as_i64()
        }
    };
    let page = app.get("/v1/leaderboards/woodcutting", None).await;
    let etag = page.headers()["etag"].clone();
    assert_eq!(rank(&app).await, Some(5));
    app.record(EventBody::XpGained {
        player_id: first,
        skill: Skill::Woodcutting,
        xp: 5_000,
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(rank(&app).await, Some(1), "Redis caught up");
    let page = app.get("/v1/leaderboards/woodcutting", None).await;
    assert_ne!(page.headers()["etag"], etag, "a new ETag");
    let page: Value = page.json().await.expect("json");
    assert_eq!(page["entries"][0]["player_id"], first.to_string(), "{page}");
    let (_, around) = app
        .json(
            &format!("/v1/leaderboards/woodcutting/players/{first}/around?n=1"),
            None,
        )
        .await;
    assert_eq!(
        around["entries"].as_array().map(Vec::len),
        Some(2),
        "{around}"
    );
}

async fn leaderboards_rank_players(app: App) {
    let p = &app.players;
    // Woodcutting XP 100, 200, 300, 400 and (later) 400: players 3, 4, 2, 1, 0.
    let want = [p[3], p[4], p[2], p[1], p[0]];
    let r = app.get("/v1/leaderboards/woodcutting?limit=2", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let etag = r.headers()["etag"].to_str().expect("etag").to_owned();
    assert_eq!(r.headers()["cache-control"], "public, max-age=5");
    let mut page: Value = r.json().await.expect("json");
    let mut seen = Vec::new();
    loop {
        for e in page["entries"].as_array().expect("entries") {
            seen.push((
                e["rank"].as_i64().expect("rank"),
                Uuid::parse_str(e["player_id"].as_str().expect("id")).expect("uuid"),
            ));
        }
        let Some(cursor) = page["next_cursor"].as_str() else {
            break;
        };
        page = app
            .json(
                &format!("/v1/leaderboards/woodcutting?limit=2&cursor={cursor}"),
                None,
            )
            .await
            .1;
    }
    let expected: Vec<(i64, Uuid)> = (1..).zip(want).collect();
    assert_eq!(seen, expected);

    let r = app
        .http
        .get(format!("{}/v1/leaderboards/woodcutting?limit=2", app.base))
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);

    let (_, rank) = app
        .json(
            &format!("/v1/leaderboards/woodcutting/players/{}", p[1]),
            None,
        )
        .await;
    assert_eq!(
        (rank["rank"].as_i64(), rank["xp"].as_i64()),
        (Some(4), Some(200))
    );
    let (_, around) = app
        .json(
            &format!("/v1/leaderboards/woodcutting/players/{}/around?n=1", p[2]),
            None,
        )
        .await;
    let ranks: Vec<i64> = around["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["rank"].as_i64().expect("rank"))
        .collect();
    assert_eq!(ranks, [2, 3, 4]);
    let (_, overall) = app.json("/v1/leaderboards/overall?limit=5", None).await;
    assert_eq!(overall["entries"][0]["player_id"], p[3].to_string());
    let (status, body) = app.json("/v1/leaderboards/juggling", None).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::NOT_FOUND, &json!("not_found"))
    );
    let (status, _) = app
        .json("/v1/leaderboards/overall?cursor=garbage", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analysts_read_the_economy_over_time_ranges_as_json_and_csv_and_players_are_refused() {
    let app = App::start().await;
    let analyst = app.analyst_token();
    let (status, body) = app
        .json(
            "/v1/economy/supply?item=coins",
            Some(&app.token(app.players[0])),
        )
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::FORBIDDEN, &json!("forbidden"))
    );
    let (status, supply) = app
        .json("/v1/economy/supply?item=coins", Some(&analyst))
        .await;
    assert_eq!(status, StatusCode::OK);
    // Five starter kits of 25 coins, 16 burned at the shop.
    assert_eq!(supply["rows"], json!([["coins", 125, 16, 109]]));
    let hour0 = START_US / 1_000_000;
    let (_, flows) = app
        .json(
            &format!(
                "/v1/economy/flows?from={}&to={}",
                hour0 + 7200,
                hour0 + 10800
            ),
            Some(&analyst),
        )
        .await;
    assert_eq!(
        flows["rows"],
        json!([
            [hour0 + 7200, "bronze_axe", "minted", "shop", 1],
            [hour0 + 7200, "coins", "burned", "shop", 16]
        ])
    );
    let r = app
        .get(
            &format!(
                "/v1/economy/xp?from={hour0}&to={}&format=csv",
                hour0 + 3600 * 3
            ),
            Some(&analyst),
        )
        .await;
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = r.text().await.expect("csv");
    assert_eq!(
        csv,
        format!(
            "hour,skill,xp\n{},woodcutting,1000\n{},woodcutting,400\n",
            hour0 + 3600,
            hour0 + 7200
        )
    );
    let (_, trades) = app.json("/v1/economy/trades", Some(&analyst)).await;
    assert_eq!(
        trades["rows"],
        json!([[hour0 + 10800, "*", 0, 1], [hour0 + 10800, "coins", 4, 0]])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn economy_tables_of_closed_past_ranges_come_from_the_redis_cache_and_open_ranges_never_do() {
    let prefix = unique_name("loh_test");
    let app = App::start_with(Some(&prefix)).await;
    let analyst = app.analyst_token();
    let hour0 = START_US / 1_000_000;
    let closed = format!("/v1/economy/flows?from={hour0}&to={}", hour0 + 4 * 3600);
    let lookups = |app: &App| {
        let (base, http) = (app.base.clone(), app.http.clone());
        async move {
            let text = http
                .get(format!("{base}/metrics"))
                .send()
                .await
                .expect("metrics")
                .text()
                .await
                .expect("text");
            ["hit", "miss", "bypass"].map(|result| {
                let line = format!("loh_query_cache_lookups_total{{result=\"{result}\"}} ");
                text.lines()
                    .find_map(|l| l.strip_prefix(&line))
                    .map_or(0, |n| n.trim().parse::<u64>().expect("a count"))
            })
        }
    };
    let (status, first) = app.json(&closed, Some(&analyst)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !first["rows"].as_array().expect("rows").is_empty(),
        "{first}"
    );
    assert_eq!(lookups(&app).await, [0, 1, 0], "computed and stored");
    let (_, second) = app.json(&closed, Some(&analyst)).await;
    assert_eq!(second, first);
    assert_eq!(lookups(&app).await, [1, 1, 0], "served from Redis");

    // The read model loses its rows behind the cache's back: the closed range still answers
    // from Redis (the cache is really used), an open range reads the table every time.
    sqlx::query("DELETE FROM rm_economy_hourly")
        .execute(app.read.pool())
        .await
        .expect("delete");
    let (_, cached) = app.json(&closed, Some(&analyst)).await;
    assert_eq!(cached, first);
    let r = app
        .get(&format!("{closed}&format=csv"), Some(&analyst))
        .await;
    assert!(
        r.text().await.expect("csv").lines().count() > 1,
        "CSV from the cached table"
    );
    let (_, open) = app
        .json(&format!("/v1/economy/flows?from={hour0}"), Some(&analyst))
        .await;
    assert_eq!(open["rows"], json!([]));
    let future = format!(
        "/v1/economy/flows?from={hour0}&to={}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs()
            + 3600
    );
    let (_, unsettled) = app.json(&future, Some(&analyst)).await;
    assert_eq!(
        unsettled["rows"],
        json!([]),
        "a range not over yet is computed"
    );
    assert_eq!(lookups(&app).await, [3, 1, 1]);
    clean_redis(&prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_every_v1_endpoint_and_the_bearer_scheme() {
    let app = App::start().await;
    let (_, doc) = app.json("/openapi.json", None).await;
    for path in [
        "/v1/players/{player_id}/inventory",
        "/v1/players/{player_id}/bank",
        "/v1/players/{player_id}/wallet",
        "/v1/players/{player_id}/wallet/ledger",
        "/v1/players/{player_id}/skills",
        "/v1/players/{player_id}/trades",
        "/v1/players/{player_id}/profile",
        "/v1/leaderboards/{board}",
        "/v1/leaderboards/{board}/players/{player_id}",
        "/v1/leaderboards/{board}/players/{player_id}/around",
        "/v1/economy/flows",
        "/v1/economy/supply",
        "/v1/economy/trades",
        "/v1/economy/xp",
    ] {
        assert!(
            doc["paths"][path]["get"].is_object(),
            "{path} in the document"
        );
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

/// Debian's `chromium`, headless: the DOM of `url` once its scripts have run, and a
/// screenshot of the page as `target/screenshots/<shot>.png`.
async fn chromium_dom(url: String, shot: Option<&str>) -> String {
    let shot = shot.map(|name| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
        std::fs::create_dir_all(&dir).expect("target/screenshots");
        dir.join(format!("{name}.png"))
    });
    tokio::task::spawn_blocking(move || {
        let run = |extra: &[String]| {
            let profile = tempfile::tempdir().expect("a profile directory");
            std::process::Command::new("chromium")
                .args([
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--hide-scrollbars",
                    "--window-size=1000,1500",
                    "--virtual-time-budget=10000",
                ])
                .arg(format!("--user-data-dir={}", profile.path().display()))
                .args(extra)
                .arg(&url)
                .output()
                .expect("Debian's chromium package is installed (apt-get install chromium)")
        };
        if let Some(path) = shot {
            run(&[format!("--screenshot={}", path.display())]);
        }
        String::from_utf8_lossy(&run(&["--dump-dom".into()]).stdout).into_owned()
    })
    .await
    .expect("chromium ran")
}

/// The five players' first hour only: every chart has one point.
fn one_hour(players: &[Uuid]) -> Vec<(i64, EventBody)> {
    history(players)
        .into_iter()
        .map(|(_, body)| (0, body))
        .collect()
}

/// Fourteen days: every hour someone chops a log, sells it and eats bread, on top of `history`.
fn two_weeks(players: &[Uuid]) -> Vec<(i64, EventBody)> {
    let mut out = history(players);
    for hour in 0..(14 * 24) {
        let p = players[(hour % 5) as usize];
        out.push((
            hour,
            EventBody::ResourceGathered {
                player_id: p,
                node: 0,
                item: "logs".into(),
                skill: Skill::Woodcutting,
                xp: 25,
                depleted_until: None,
            },
        ));
        if hour % 3 == 0 {
            out.push((
                hour,
                EventBody::ShopSold {
                    player_id: p,
                    shop: "general_store".into(),
                    slot: 7,
                    item: "logs".into(),
                    qty: 1,
                    price: 1 + (hour % 7) as u32,
                },
            ));
        }
    }
    out
}

/// What the dashboard shows, with `token`, over `app`.
async fn dashboard(app: &App, token: &str, shot: &str) -> String {
    let dom = chromium_dom(format!("{}/dashboard#token={token}", app.base), Some(shot)).await;
    assert!(
        dom.contains(r#"<body data-ready="1""#),
        "the page loaded: {dom}"
    );
    dom
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_leaderboard_by_name_without_a_token_and_the_economy_with_one() {
    let app = App::start().await;
    // No token: the public leaderboard, by name, and a word on what the token would add.
    let dom = chromium_dom(
        format!("{}/dashboard", app.base),
        Some("dashboard-1-public"),
    )
    .await;
    assert!(
        dom.contains(r#"<section id="public" data-ready="1""#),
        "{dom}"
    );
    for name in NAMES {
        assert!(
            dom.contains(&format!(">{name}</td>")),
            "{name} on the leaderboard: {dom}"
        );
    }
    assert!(
        dom.contains(r#"<section id="analyst" data-ready="no-token""#),
        "{dom}"
    );
    assert!(dom.contains("Type an analyst token"), "{dom}");

    // An analyst: three charts with their axes' units and legends.
    let dom = dashboard(&app, &app.analyst_token(), "dashboard-2-analyst").await;
    assert!(
        dom.contains(r#"<section id="analyst" data-ready="1""#),
        "{dom}"
    );
    assert!(
        dom.contains("<strong id=\"coins\">109 coins</strong>"),
        "coins in circulation: {dom}"
    );
    assert_eq!(
        dom.matches(r#"class="uplot"#).count(),
        3,
        "three charts: {dom}"
    );
    for text in [
        "Coins in circulation",
        "Items minted and burned per hour",
        "minted",
        "burned",
        "XP",
    ] {
        assert!(dom.contains(text), "{text} is shown");
    }
    assert!(dom.contains(r#"id="coins-chart" data-points="2""#), "{dom}");

    // A player's token is not an analyst's: the page says so, and the leaderboard still shows.
    let dom = dashboard(&app, &app.token(app.players[0]), "dashboard-3-forbidden").await;
    assert!(
        dom.contains(r#"<section id="analyst" data-ready="error""#),
        "{dom}"
    );
    assert!(dom.contains("403 forbidden"), "{dom}");
    assert!(dom.contains(">Arjuna</td>"), "{dom}");

    // The browsable API docs list the endpoints from /openapi.json.
    let dom = chromium_dom(format!("{}/docs", app.base), None).await;
    assert!(dom.contains("GET /v1/leaderboards/{board}"), "{dom}");
    assert!(dom.contains("GET /v1/economy/flows"), "{dom}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_draws_a_one_hour_history_as_single_points_and_two_weeks_as_lines() {
    let app = App::start_with_history(None, one_hour).await;
    let dom = dashboard(&app, &app.analyst_token(), "dashboard-4-one-hour").await;
    for chart in ["coins-chart", "flows-chart", "xp-chart"] {
        assert!(
            dom.contains(&format!(r#"id="{chart}" data-points="1""#)),
            "{chart} has its one point: {dom}"
        );
    }
    assert_eq!(dom.matches(r#"class="uplot"#).count(), 3, "{dom}");
    drop(app);

    let app = App::start_with_history(None, two_weeks).await;
    let dom = dashboard(&app, &app.analyst_token(), "dashboard-5-two-weeks").await;
    assert!(
        dom.contains(&format!(r#"id="xp-chart" data-points="{}""#, 14 * 24)),
        "an XP point every hour: {dom}"
    );
    assert_eq!(dom.matches(r#"class="uplot"#).count(), 3, "{dom}");
}
