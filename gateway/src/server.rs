//! The game server: HTTP routes (auth, WebSocket, JWKS, content, the `/play` page, health,
//! metrics) around the tick loop, served by [`crate::http::serve`] with the limits of
//! [`crate::limits::Limits`].

use crate::auth::csrf::OriginPolicy;
use crate::auth::kicks::Kicks;
use crate::auth::routes;
use crate::auth::sessions::SessionStore;
use crate::auth::tokens::{SigningKey, Tokens};
use crate::auth::{Accounts, Hasher};
use crate::limits::{Limits, RateLimits};
use crate::web::content::ContentDoc;
use crate::web::play;
use crate::ws::ws_handler;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use loh_events::EventStore;
use loh_tick_writer::metrics::{TickMetrics, render};
use loh_tick_writer::snapshot::SnapshotPolicy;
use loh_tick_writer::tick::{Pacing, TickError, TickWriter};
use loh_world::{MapConfig, World};
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

pub use crate::state::{AppState, JsonBody, RawBody, parse_json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Intake queue length: commands waiting for the next tick across all players.
const INTAKE_QUEUE: usize = 65_536;

/// How to run the game server.
#[derive(Debug, Clone)]
pub struct GameConfig {
    pub bind: SocketAddr,
    pub pacing: Pacing,
    pub map: MapConfig,
    /// The RSA key that signs access tokens (RS256).
    pub signing_key: SigningKey,
    /// Refresh tokens, signing keys, nonces and the single-session lock.
    pub sessions: SessionStore,
    /// Browser origins allowed besides the server's own host.
    pub allowed_origins: Vec<String>,
    pub limits: Limits,
    /// Stripe: the webhook secret, the API key and base, the checkout's return addresses.
    pub payments: crate::payments::PaymentsConfig,
    /// How this world appears in the world list (`GET /v1/worlds` of the query API).
    pub world: crate::worlds::WorldListing,
    /// Ticks between snapshots of the world, signed with `signing_key`; start-up loads the
    /// newest valid one and folds the log after it. `0`: none written or loaded.
    pub snapshot_every_ticks: u64,
    /// Events committed since the last snapshot that make one due sooner; `0`: by ticks alone.
    pub snapshot_every_events: u64,
}

/// A running game server.
pub struct GameServer {
    addr: SocketAddr,
    head: watch::Receiver<u64>,
    tokens: Tokens,
    sessions: SessionStore,
    /// Checks of dependencies added by the process (`/healthz`, [`crate::health`]).
    probes: crate::health::Probes,
    tick_task: JoinHandle<Result<(), TickError>>,
    http_task: JoinHandle<std::io::Result<()>>,
    /// The world list's announcer, stopped (announcing the world closed) after the tick loop.
    announce: (CancellationToken, JoinHandle<()>),
}

/// Why the game server stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("tick writer: {0}")]
    Tick(#[from] TickError),
    #[error("http: {0}")]
    Io(#[from] std::io::Error),
    #[error("task: {0}")]
    Join(#[from] tokio::task::JoinError),
    /// The Stripe client of the checkout cannot be made (a bad API base or secret key).
    #[error("payments: {0}")]
    Payments(#[from] stripe::StripeError),
}

impl GameServer {
    /// Takes the shard, rebuilds the world, binds the address and starts serving. `registry`
    /// may already hold other metrics (the relay's); the tick writer's are added.
    pub async fn start(
        config: GameConfig,
        store: Arc<dyn EventStore>,
        accounts_pool: sqlx::AnyPool,
        mut registry: Registry,
        cancel: CancellationToken,
    ) -> Result<GameServer, ServeError> {
        let checkout = crate::payments::routes::checkout_client(&config.payments)?;
        let metrics = TickMetrics::default();
        metrics.register(&mut registry);
        let conn_metrics = crate::metrics::ConnMetrics::default();
        conn_metrics.register(&mut registry);
        let writer = TickWriter::start_with_snapshots(
            store.clone(),
            World::new(config.map.clone()),
            config.pacing,
            metrics.clone(),
            SnapshotPolicy {
                key: config.signing_key.clone(),
                every_ticks: config.snapshot_every_ticks,
                every_events: config.snapshot_every_events,
            },
        )
        .await?
        .with_checkpoints(
            config.signing_key.clone(),
            loh_tick_writer::tick::CHECKPOINT_EVERY_TICKS,
        )
        .with_view_limits(config.limits.view)
        .with_max_commands_per_tick(config.limits.max_commands_per_tick);
        let inbox = crate::payments::SqlInbox::new(accounts_pool.clone());
        // Without a webhook secret nothing new can be stored, so the tick does not read the
        // inbox (one query less per tick); events stored while payments were on wait there
        // until they are on again.
        let writer = if config.payments.webhook_secret.is_some() {
            writer.with_payments(Arc::new(inbox.clone()))
        } else {
            writer
        };
        let (intake_tx, intake_rx) = mpsc::channel(INTAKE_QUEUE);
        // With Redis, the worlds exchange private messages, presence and broadcasts
        // ([`crate::social`]); without it this world is alone and nothing changes.
        let writer = match config.sessions.redis_bus() {
            Some((client, conn, prefix)) => {
                let (out_tx, out_rx) = mpsc::channel(crate::social::OUTBOX);
                crate::social::spawn(
                    client,
                    conn,
                    prefix,
                    intake_tx.clone(),
                    out_rx,
                    cancel.clone(),
                );
                writer.with_social(out_tx)
            }
            None => writer,
        };
        let head = writer.head();
        let tokens = Tokens::new(config.signing_key.clone());
        let shared = config
            .sessions
            .redis_conn()
            .map(|(conn, prefix)| crate::limits::SharedBuckets::new(conn, &prefix));
        let rate = RateLimits::new(&config.limits).shared(shared);
        rate.spawn_pruner(cancel.clone());
        let state = AppState {
            tick: writer.handle(intake_tx),
            tokens: tokens.clone(),
            accounts: Accounts::new(
                accounts_pool,
                Hasher::with_queue(2, config.limits.hash_queue),
            ),
            registry: Arc::new(registry),
            sessions: config.sessions.clone(),
            origins: OriginPolicy::new(config.allowed_origins.clone()),
            rate,
            limits: Arc::new(config.limits.clone()),
            kicks: Kicks::default(),
            metrics,
            conn_metrics: conn_metrics.clone(),
            instance: uuid::Uuid::new_v4().simple().to_string().into(),
            content: Arc::new(ContentDoc::new(
                &loh_world::content::Content::embedded(),
                &config.map,
            )),
            payments: Arc::new(crate::payments::routes::PaymentRoutes {
                config: config.payments.clone(),
                inbox,
                checkout,
            }),
            store: store.clone(),
            probes: crate::health::Probes::default(),
        };
        let probes = state.probes.clone();
        // A login anywhere (this world or another) closes this instance's older connection of
        // the same player at once.
        let (sessions, kicks, follow) =
            (state.sessions.clone(), state.kicks.clone(), cancel.clone());
        tokio::spawn(async move {
            sessions
                .takeovers(follow, |player, owner| kicks.taken_over(player, owner))
                .await
        });
        let listener = TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        let tick_cancel = cancel.clone();
        let sessions_gauge = state.metrics.sessions.clone();
        let tick_task = tokio::spawn(async move { writer.run(intake_rx, tick_cancel).await });
        let announce_cancel = cancel.child_token();
        let announce_task = crate::worlds::spawn_announcer(
            store,
            config.world.clone(),
            addr,
            sessions_gauge,
            announce_cancel.clone(),
        );
        let limits = config.limits.clone();
        let app = router(state);
        let http_task = tokio::spawn(async move {
            crate::http::serve(listener, app, &limits, &conn_metrics, cancel).await
        });
        tracing::info!(%addr, "game server listening");
        Ok(GameServer {
            addr,
            head,
            tokens,
            sessions: config.sessions,
            probes,
            tick_task,
            http_task,
            announce: (announce_cancel, announce_task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The committed head, bumped after every tick's commit (feeds the relay).
    pub fn head(&self) -> watch::Receiver<u64> {
        self.head.clone()
    }

    /// The token issuer (tests and tools).
    pub fn tokens(&self) -> &Tokens {
        &self.tokens
    }

    /// The checks `/healthz` runs besides the game server's own: add a dependency the process
    /// has (the relay's NATS connection) with [`crate::health::Probes::add`].
    pub fn probes(&self) -> &crate::health::Probes {
        &self.probes
    }

    /// The session store (tests and tools).
    pub fn sessions(&self) -> &SessionStore {
        &self.sessions
    }

    /// Waits until the tick loop and the HTTP server stop; the first error wins.
    pub async fn wait(self) -> Result<(), ServeError> {
        let tick = self.tick_task.await?;
        self.http_task.abort();
        let (announce_cancel, announce_task) = self.announce;
        announce_cancel.cancel();
        let _ = announce_task.await;
        tick?;
        Ok(())
    }
}

/// The routes of the game server.
pub fn router(state: AppState) -> Router {
    let max_body = state.limits.max_body;
    Router::new()
        .route("/v1/auth/register", post(routes::register))
        .route("/v1/auth/login", post(routes::login))
        .route("/v1/auth/refresh", post(routes::refresh))
        .route("/v1/auth/logout", post(routes::logout))
        .route("/.well-known/jwks.json", get(routes::jwks))
        .route("/v1/ws", get(ws_handler))
        .route("/v1/content", get(content))
        .route("/v1/names", get(crate::web::names::names))
        .route("/play", get(play::index))
        .route("/play/", get(play::index))
        .route("/play/{*path}", get(play::asset))
        .route(
            "/v1/payments/stripe/webhook",
            post(crate::payments::routes::webhook),
        )
        .route(
            "/v1/payments/checkout",
            post(crate::payments::routes::checkout),
        )
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

/// `200 {"status":"ok","tick":N}`, or `503 {"status":"degraded","failing":[…],"tick":N}` naming
/// each dependency that does not answer ([`crate::health`]).
async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    use crate::health::within;
    let (accounts, redis, others) = tokio::join!(
        within(state.accounts.ping()),
        within(async { state.sessions.ping().await.unwrap_or(true) }),
        state.probes.failing(),
    );
    let mut failing = others;
    if !accounts || !state.tick.store_is_up() {
        failing.push("postgres");
    }
    if !redis {
        failing.push("redis");
    }
    if state.tick.intake.is_closed() {
        failing.push("tick_writer");
    }
    let mut body = serde_json::Map::new();
    body.insert("tick".into(), state.tick.current_tick().into());
    crate::health::report(failing, body)
}

/// `GET /v1/content`: the content document, `304` when the client's copy is current.
async fn content(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> impl IntoResponse {
    state.content.respond(&headers)
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    state.conn_metrics.observe_rss();
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        render(&state.registry),
    )
}
