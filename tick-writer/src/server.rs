//! The game server: HTTP routes (auth, WebSocket, health, metrics) around the tick loop.

use crate::auth::{Accounts, Hasher, Tokens};
use crate::error::ApiError;
use crate::gateway::ws_handler;
use crate::metrics::{TickMetrics, render};
use crate::tick::{Pacing, TickError, TickHandle, TickWriter};
use crate::world::{MapConfig, World};
use axum::extract::{FromRequest, Request, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use loh_events::EventStore;
use prometheus_client::registry::Registry;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Intake queue length: commands waiting for the next tick across all players.
const INTAKE_QUEUE: usize = 65_536;
/// Largest JSON body accepted by the auth routes.
const MAX_JSON_BODY: usize = 16 * 1024;

/// How to run the game server.
#[derive(Debug, Clone)]
pub struct GameConfig {
    pub bind: SocketAddr,
    pub pacing: Pacing,
    pub map: MapConfig,
    /// HS256 key of access tokens, at least 32 bytes.
    pub token_secret: Vec<u8>,
}

/// Shared state of the HTTP handlers.
#[derive(Clone)]
pub struct AppState {
    pub tick: TickHandle,
    pub tokens: Tokens,
    pub accounts: Accounts,
    pub registry: Arc<Registry>,
}

/// A running game server.
pub struct GameServer {
    addr: SocketAddr,
    head: watch::Receiver<u64>,
    tokens: Tokens,
    tick_task: JoinHandle<Result<(), TickError>>,
    http_task: JoinHandle<std::io::Result<()>>,
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
        let metrics = TickMetrics::default();
        metrics.register(&mut registry);
        let writer = TickWriter::start(
            store,
            World::new(config.map.clone()),
            config.pacing,
            metrics,
        )
        .await?;
        let (intake_tx, intake_rx) = mpsc::channel(INTAKE_QUEUE);
        let head = writer.head();
        let tokens = Tokens::new(&config.token_secret);
        let state = AppState {
            tick: writer.handle(intake_tx),
            tokens: tokens.clone(),
            accounts: Accounts::new(accounts_pool, Hasher::new(2)),
            registry: Arc::new(registry),
        };
        let listener = TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        let tick_cancel = cancel.clone();
        let tick_task = tokio::spawn(async move { writer.run(intake_rx, tick_cancel).await });
        let app = router(state);
        let http_task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(cancel.cancelled_owned())
                .await
        });
        tracing::info!(%addr, "game server listening");
        Ok(GameServer {
            addr,
            head,
            tokens,
            tick_task,
            http_task,
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

    /// Waits until the tick loop and the HTTP server stop; the first error wins.
    pub async fn wait(self) -> Result<(), ServeError> {
        let tick = self.tick_task.await?;
        self.http_task.abort();
        tick?;
        Ok(())
    }
}

/// The routes of the game server.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/auth/register", post(register))
        .route("/v1/auth/login", post(login))
        .route("/v1/ws", get(ws_handler))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// A JSON body whose faults answer with the error body of PROTOCOL.md.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send application/json",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|_| ApiError::bad_request("bad_body", "could not read the body"))?;
        if bytes.len() > MAX_JSON_BODY {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "the body is too large",
            ));
        }
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|_| ApiError::bad_request("bad_json", "the body is not the expected JSON"))
    }
}

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

#[derive(Serialize)]
struct Registered {
    player_id: String,
}

#[derive(Serialize)]
struct LoggedIn {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
}

async fn register(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<Credentials>,
) -> Result<impl IntoResponse, ApiError> {
    let player_id = state
        .accounts
        .register(&body.username, &body.password)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(Registered {
            player_id: player_id.to_string(),
        }),
    ))
}

async fn login(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<Credentials>,
) -> Result<impl IntoResponse, ApiError> {
    let player_id = state.accounts.login(&body.username, &body.password).await?;
    Ok(Json(LoggedIn {
        access_token: state.tokens.issue(player_id),
        token_type: "Bearer",
        expires_in: crate::auth::ACCESS_TTL_SECS,
    }))
}

async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    if state.accounts.ping().await && !state.tick.intake.is_closed() {
        (
            StatusCode::OK,
            Json(serde_json::json!({"status": "ok", "tick": state.tick.current_tick()})),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"status": "unavailable"})),
        )
    }
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        render(&state.registry),
    )
}
