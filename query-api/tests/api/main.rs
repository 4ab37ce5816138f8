//! The query API over a real PostgreSQL read model, seeded by the real projection.

use loh_auth::{SigningKey, Tokens};
use loh_events::pg::PgEventStore;
use loh_events::{AppendBatch, EventBody, EventStore, Lease, NewEvent};
use loh_projections::player_position::PlayerPosition as Fold;
use loh_projections::{Projector, ReadDb};
use loh_query_api::AppState;
use loh_query_api::auth::TokenVerifier;
use loh_testkit::{TestDb, unique_name};
use serde_json::{Value, json};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

struct App {
    _db: TestDb,
    base: String,
    state: AppState,
    store: Arc<dyn EventStore>,
    lease: Lease,
    cancel: CancellationToken,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    /// A player who spawned at (3200, 3201), moved to (3201, 3202) and said "hello".
    alice: Uuid,
    /// Issues access tokens the server verifies.
    tokens: Tokens,
    http: reqwest::Client,
}

fn event(player_id: Uuid, version: u64, tick: u64, body: EventBody) -> NewEvent {
    NewEvent {
        event_id: Uuid::new_v4(),
        stream_id: loh_events::player_stream(player_id),
        stream_version: version,
        tick,
        correlation_id: Uuid::new_v4(),
        causation_id: None,
        occurred_at_us: 1_700_000_000_000_000,
        body,
    }
}

impl App {
    async fn start() -> App {
        let db = TestDb::create().await;
        let store = PgEventStore::connect(&db.url, &unique_name("shard"))
            .await
            .expect("connect the store");
        store.migrate().await.expect("migrate");
        let store: Arc<dyn EventStore> = Arc::new(store);
        let lease = store.acquire().await.expect("lease");
        let alice = Uuid::new_v4();
        store
            .append(
                lease,
                AppendBatch {
                    events: vec![
                        event(
                            alice,
                            1,
                            1,
                            EventBody::PlayerSpawned {
                                player_id: alice,
                                x: 3200,
                                y: 3201,
                            },
                        ),
                        event(
                            alice,
                            2,
                            2,
                            EventBody::PlayerMoved {
                                player_id: alice,
                                from_x: 3200,
                                from_y: 3201,
                                x: 3201,
                                y: 3202,
                                running: false,
                                path_to: None,
                            },
                        ),
                        event(
                            alice,
                            3,
                            5,
                            EventBody::PlayerSaid {
                                player_id: alice,
                                text: "hello".into(),
                            },
                        ),
                    ],
                    journal: vec![],
                },
            )
            .await
            .expect("append");
        let read = ReadDb::connect(&db.url).await.expect("read db");
        Projector::new(Arc::new(Fold), read.clone(), store.clone())
            .catch_up()
            .await
            .expect("seed the read model");

        let key = SigningKey::generate().expect("an RSA key");
        let verifier = TokenVerifier::from_public_pem(key.public_pem()).expect("public key");
        let state = AppState::new(read, store.clone(), Default::default()).with_tokens(verifier);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let cancel = CancellationToken::new();
        let router = loh_query_api::router(state.clone());
        let shutdown = cancel.clone().cancelled_owned();
        let server = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
        });
        App {
            _db: db,
            base,
            state,
            store,
            lease,
            cancel,
            server,
            alice,
            tokens: Tokens::new(key),
            http: reqwest::Client::new(),
        }
    }

    /// Alice's access token.
    fn alice_token(&self) -> String {
        self.tokens.issue(self.alice, "session")
    }

    /// GET `path` with Alice's token.
    async fn get(&self, path: &str) -> (u16, String) {
        self.get_as(path, Some(&self.alice_token())).await
    }

    /// GET `path` with `token`, or none.
    async fn get_as(&self, path: &str, token: Option<&str>) -> (u16, String) {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    async fn get_json(&self, path: &str) -> (u16, Value) {
        self.get_json_as(path, Some(&self.alice_token())).await
    }

    async fn get_json_as(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let (status, body) = self.get_as(path, token).await;
        let json = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("{path} answered non-JSON {body:?}: {e}"));
        (status, json)
    }

    async fn stop(self) {
        self.cancel.cancel();
        self.server
            .await
            .expect("join")
            .expect("the server stops cleanly");
    }
}

fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(body.as_object().map(|o| o.len()), Some(1), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_player_is_served_with_tile_last_chat_line_and_as_of_position() {
    let app = App::start().await;
    let (status, body) = app
        .get_json(&format!("/v1/players/{}/position", app.alice))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({
            "player_id": app.alice.to_string(),
            "world": app.store.shard(),
            "x": 3201,
            "y": 3202,
            "last_say": "hello",
            "last_say_tick": 5,
            "as_of_position": 3,
            "last_event_position": 3,
        })
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_player_is_a_404_with_the_error_body() {
    let app = App::start().await;
    let analyst = app.tokens.issue_analyst(Uuid::new_v4(), 600);
    let (status, body) = app
        .get_json_as(
            &format!("/v1/players/{}/position", Uuid::new_v4()),
            Some(&analyst),
        )
        .await;
    assert_eq!(status, 404);
    assert_error(&body, "not_found");
    app.stop().await;
}

/// A player's tile and last chat line are the player's own (and analysts'): a stranger learns
/// them from the game's view, within sight, and never from the query API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_players_position_and_last_line_are_not_served_to_anyone_else() {
    let app = App::start().await;
    let path = format!("/v1/players/{}/position", app.alice);
    let (status, body) = app.get_json_as(&path, None).await;
    assert_eq!(status, 401, "{body}");
    assert_error(&body, "unauthorized");

    let stranger = app.tokens.issue(Uuid::new_v4(), "other");
    let (status, body) = app.get_json_as(&path, Some(&stranger)).await;
    assert_eq!(status, 403, "{body}");
    assert_error(&body, "forbidden");
    assert!(!body.to_string().contains("hello"), "{body}");

    let analyst = app.tokens.issue_analyst(Uuid::new_v4(), 600);
    let (status, body) = app.get_json_as(&path, Some(&analyst)).await;
    assert_eq!(
        (status, &body["last_say"]),
        (200, &json!("hello")),
        "{body}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_player_id_is_a_400_with_the_error_body() {
    let app = App::start().await;
    let (status, body) = app.get_json("/v1/players/not-a-uuid/position").await;
    assert_eq!(status, 400);
    assert_error(&body, "bad_request");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_and_wrong_methods_answer_with_the_error_body() {
    let app = App::start().await;
    let (status, body) = app.get_json("/v1/nothing/here").await;
    assert_eq!(status, 404);
    assert_error(&body, "not_found");

    let response = app
        .http
        .post(format!("{}/v1/players/{}/position", app.base, app.alice))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 405);
    let body: Value = response.json().await.expect("json");
    assert_error(&body, "method_not_allowed");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_json_describes_the_position_endpoint_and_its_error_body() {
    let app = App::start().await;
    let (status, doc) = app.get_json("/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    let get = &doc["paths"]["/v1/players/{player_id}/position"]["get"];
    for code in ["200", "400", "404"] {
        assert!(get["responses"][code].is_object(), "{code} in {get}");
    }
    assert_eq!(get["parameters"][0]["name"], "player_id");
    let schemas = &doc["components"]["schemas"];
    for field in [
        "player_id",
        "x",
        "y",
        "last_say",
        "last_say_tick",
        "as_of_position",
    ] {
        assert!(
            schemas["PlayerPosition"]["properties"][field].is_object(),
            "{field}"
        );
    }
    assert!(schemas["ErrorBody"]["properties"]["error"].is_object());
    assert!(doc["paths"]["/healthz"]["get"].is_object());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_is_ok_while_the_read_database_answers_and_503_naming_postgres_when_it_does_not() {
    let app = App::start().await;
    let (status, body) = app.get_json("/healthz").await;
    assert_eq!((status, body), (200, json!({"status": "ok"})));

    app.state.read.pool().close().await;
    let (status, body) = app.get_json("/healthz").await;
    assert_eq!(
        (status, body),
        (503, json!({"status": "degraded", "failing": ["postgres"]}))
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_report_projection_lag_per_projector_and_request_counts() {
    let app = App::start().await;
    // Two events the projector has not applied yet.
    let bob = Uuid::new_v4();
    app.store
        .append(
            app.lease,
            AppendBatch {
                events: vec![
                    event(
                        bob,
                        1,
                        9,
                        EventBody::PlayerSpawned {
                            player_id: bob,
                            x: 1,
                            y: 2,
                        },
                    ),
                    event(
                        bob,
                        2,
                        9,
                        EventBody::PlayerSaid {
                            player_id: bob,
                            text: "hi".into(),
                        },
                    ),
                ],
                journal: vec![],
            },
        )
        .await
        .expect("append");
    let (status, _) = app
        .get(&format!("/v1/players/{}/position", app.alice))
        .await;
    assert_eq!(status, 200);
    let _ = app.get("/v1/players/x/position").await;

    let (status, text) = app.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(
        text.contains("loh_projection_lag_events{projector=\"player_position\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("loh_projection_checkpoint{projector=\"player_position\"} 3"),
        "{text}"
    );
    let route = "route=\"/v1/players/{player_id}/position\"";
    assert!(
        text.lines()
            .any(|l| l.starts_with("loh_query_http_requests_total")
                && l.contains(route)
                && l.contains("status=\"200\"")
                && l.ends_with(" 1")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("loh_query_http_requests_total")
                && l.contains(route)
                && l.contains("status=\"400\"")),
        "{text}"
    );
    assert!(text.ends_with("# EOF\n"), "{text}");
    app.stop().await;
}

/// A client may send any method token; the request counters label it `other`, so a flood of
/// invented methods cannot grow `/metrics` without bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invented_methods_do_not_grow_the_metric_labels() {
    let app = App::start().await;
    for i in 0..20 {
        let method = reqwest::Method::from_bytes(format!("FLOOD{i}").as_bytes()).expect("token");
        let response = app
            .http
            .request(method, format!("{}/v1/worlds", app.base))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 405);
    }
    let (status, text) = app.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(!text.contains("FLOOD"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("loh_query_http_requests_total")
                && l.contains("method=\"other\"")
                && l.ends_with(" 20")),
        "{text}"
    );
    app.stop().await;
}
