//! A game server on real PostgreSQL and Redis for the security suite; the client is
//! [`loh_testkit::client`].

use loh_events::pg::PgEventStore;
use loh_gateway::auth::sessions::SessionStore;
use loh_gateway::auth::signing;
use loh_gateway::auth::tokens::{SigningKey, Tokens};
use loh_gateway::limits::Limits;
use loh_gateway::server::{GameConfig, GameServer};
use loh_testkit::{TestDb, redis_url, unique_name};
use loh_tick_writer::tick::Pacing;
use loh_world::MapConfig;
use prometheus_client::registry::Registry;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub const ALLOWED_ORIGIN: &str = "https://play.loh.example";
/// The Stripe webhook secret of every test server.
pub const WEBHOOK_SECRET: &str = "whsec_test_secret";

/// One RSA key for the whole suite (making one takes a moment).
pub fn key() -> SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::generate().expect("an RSA key"))
        .clone()
}

/// Limits small enough to reach in a test.
pub fn test_limits() -> Limits {
    Limits {
        header_timeout: Duration::from_secs(1),
        write_timeout: Duration::from_secs(2),
        outbound_queue: 8,
        ..Limits::default()
    }
}

pub struct Server {
    pub addr: SocketAddr,
    /// The test database (events, accounts, the payment inbox).
    pub db_url: String,
    /// The Redis key prefix of its sessions and rate limits.
    pub prefix: String,
    pub tokens: Tokens,
    pub sessions: SessionStore,
    pub http: reqwest::Client,
    cancel: CancellationToken,
    /// The database, dropped with the first server only.
    _db: Option<TestDb>,
    _server: GameServer,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl Server {
    pub async fn start() -> Server {
        Server::start_with(test_limits()).await
    }

    pub async fn start_with(limits: Limits) -> Server {
        Server::start_with_payments(
            limits,
            loh_gateway::payments::PaymentsConfig {
                webhook_secret: Some(WEBHOOK_SECRET.into()),
                ..Default::default()
            },
        )
        .await
    }

    pub async fn start_with_payments(
        limits: Limits,
        payments: loh_gateway::payments::PaymentsConfig,
    ) -> Server {
        let db = TestDb::create().await;
        let url = db.url.clone();
        Server::launch(
            Some(db),
            &url,
            "world1",
            &unique_name("sec"),
            limits,
            payments,
        )
        .await
    }

    /// A second world's game server beside this one: the same database and the same Redis
    /// prefix (sessions, the login lock and the rate limits are shared), its own shard.
    pub async fn beside(&self, shard: &str) -> Server {
        let payments = loh_gateway::payments::PaymentsConfig {
            webhook_secret: Some(WEBHOOK_SECRET.into()),
            ..Default::default()
        };
        Server::launch(
            None,
            &self.db_url,
            shard,
            &self.prefix,
            test_limits(),
            payments,
        )
        .await
    }

    async fn launch(
        db: Option<TestDb>,
        db_url: &str,
        shard: &str,
        prefix: &str,
        limits: Limits,
        payments: loh_gateway::payments::PaymentsConfig,
    ) -> Server {
        let store = PgEventStore::connect(db_url, shard).await.unwrap();
        store.migrate().await.unwrap();
        sqlx::any::install_default_drivers();
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(4)
            .connect(db_url)
            .await
            .unwrap();
        let sessions = SessionStore::redis(&redis_url(), prefix)
            .await
            .expect("Redis for tests (LOH_TEST_REDIS) is reachable");
        let cancel = CancellationToken::new();
        let config = GameConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            pacing: Pacing::Fixed { tick_ms: 50 },
            map: MapConfig::default(),
            signing_key: key(),
            sessions: sessions.clone(),
            allowed_origins: vec![ALLOWED_ORIGIN.to_owned()],
            limits,
            payments,
            world: loh_gateway::worlds::WorldListing::default(),
            snapshot_every_ticks: loh_tick_writer::snapshot::DEFAULT_SNAPSHOT_EVERY_TICKS,
            snapshot_every_events: loh_tick_writer::snapshot::DEFAULT_SNAPSHOT_EVERY_EVENTS,
        };
        let server = GameServer::start(
            config,
            Arc::new(store),
            pool,
            Registry::default(),
            cancel.clone(),
        )
        .await
        .unwrap();
        Server {
            addr: server.addr(),
            db_url: db_url.to_owned(),
            prefix: prefix.to_owned(),
            tokens: server.tokens().clone(),
            sessions,
            http: reqwest::Client::new(),
            cancel,
            _db: db,
            _server: server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A signed POST of a native client.
    pub async fn signed_post(
        &self,
        path: &str,
        body: &Value,
        session: &Value,
        timestamp: i64,
        nonce: &str,
        bearer: Option<&str>,
    ) -> reqwest::Response {
        let bytes = serde_json::to_vec(body).unwrap();
        let key = base64_decode(session["signing_key"].as_str().unwrap());
        let sig = signing::sign(&key, "POST", path, timestamp, nonce, &bytes);
        let mut req = self
            .http
            .post(self.url(path))
            .header("content-type", "application/json")
            .header(signing::KEY_ID, session["key_id"].as_str().unwrap())
            .header(signing::TIMESTAMP, timestamp.to_string())
            .header(signing::NONCE, nonce)
            .header(signing::SIGNATURE, sig)
            .body(bytes);
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        req.send().await.unwrap()
    }

    pub async fn metric(&self, name: &str) -> f64 {
        let text = self
            .http
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find(|l| l.starts_with(name) && l.as_bytes().get(name.len()) == Some(&b' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    }
}

pub fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn nonce() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
