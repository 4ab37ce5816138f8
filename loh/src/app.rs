//! Starting the roles: all in one process (`loh up`) or one role per process, on the embedded
//! store or on the real services, from the typed configuration of [`crate::config`]. This is
//! what the end-to-end tests drive, binding to port 0.

use crate::config::{Backing, ExposeSecret, SecretString, Settings, redacted};
use anyhow::Context;
use loh_auth::SigningKey;
use loh_events::EventStore;
use loh_events::pg::PgEventStore;
use loh_events::sqlite::{SqliteEventStore, WriterGate};
use loh_gateway::auth::sessions::SessionStore;
use loh_gateway::limits::Limits;
use loh_gateway::metrics::ConnMetrics;
use loh_gateway::payments::PaymentsConfig;
use loh_gateway::server::{GameConfig, GameServer};
use loh_nats::EventStreamDef;
use loh_nats::relay::{Relay, RelayMetrics};
use loh_projections::{ProjectionMetrics, ReadDb, Source};
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Roles running in this process.
pub struct Running {
    /// The game server's address, when this process runs it.
    pub game_addr: Option<SocketAddr>,
    /// The query API's address, when this process runs it.
    pub query_addr: Option<SocketAddr>,
    /// The health address of a projections process.
    pub health_addr: Option<SocketAddr>,
    cancel: CancellationToken,
    tasks: JoinSet<anyhow::Result<()>>,
}

impl Running {
    pub(crate) fn new(cancel: CancellationToken) -> Running {
        Running {
            game_addr: None,
            query_addr: None,
            health_addr: None,
            cancel,
            tasks: JoinSet::new(),
        }
    }

    /// The token that stops every role of this process.
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Runs until a role stops; then stops the others. The first error is returned.
    pub async fn wait(mut self) -> anyhow::Result<()> {
        let mut first: anyhow::Result<()> = Ok(());
        while let Some(done) = self.tasks.join_next().await {
            let result = done.context("a role panicked").and_then(|r| r);
            if let Err(e) = result {
                tracing::error!("role stopped: {e:#}");
                if first.is_ok() {
                    first = Err(e);
                }
            }
            // One role ending ends the process: the others finish their work and stop.
            self.cancel.cancel();
        }
        first
    }

    /// Stops every role gracefully (the tick in progress commits, projectors checkpoint).
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.cancel.cancel();
        self.wait().await
    }
}

/// Opens the event store of `backing` (running migrations).
pub async fn open_store(backing: &Backing, shard: &str) -> anyhow::Result<Arc<dyn EventStore>> {
    Ok(open_store_gated(backing, shard).await?.0)
}

/// [`open_store`], with the embedded store's writer lock for the other writers of its file in
/// this process ([`SqliteEventStore::writer_gate`]; `None` on PostgreSQL).
async fn open_store_gated(
    backing: &Backing,
    shard: &str,
) -> anyhow::Result<(Arc<dyn EventStore>, Option<WriterGate>)> {
    Ok(match backing {
        Backing::Embedded(dir) => {
            let store = SqliteEventStore::open(&dir.database_url(), shard)
                .await
                .context("opening the embedded database")?;
            let gate = store.writer_gate();
            (Arc::new(store), Some(gate))
        }
        Backing::Services { database_url, .. } => {
            let store = PgEventStore::connect(database_url.expose_secret(), shard)
                .await
                .context("connecting to PostgreSQL (DATABASE_URL)")?;
            store.migrate().await.context("running migrations")?;
            (Arc::new(store), None)
        }
    })
}

async fn any_pool(url: &SecretString) -> anyhow::Result<sqlx::AnyPool> {
    sqlx::any::install_default_drivers();
    sqlx::any::AnyPoolOptions::new()
        .max_connections(8)
        .connect(url.expose_secret())
        .await
        .context("connecting the accounts pool")
}

/// Connects to NATS (one server, or a cluster's servers comma-separated) and makes sure the
/// event stream exists.
pub async fn jetstream(
    nats_url: &SecretString,
    def: &EventStreamDef,
) -> anyhow::Result<async_nats::jetstream::Context> {
    let client = loh_nats::connect(nats_url.expose_secret())
        .await
        .with_context(|| format!("connecting to NATS at {} (NATS_URL)", redacted(nats_url)))?;
    let js = async_nats::jetstream::new(client);
    def.ensure(&js)
        .await
        .context("declaring the event stream")?;
    Ok(js)
}

fn signing_key(backing: &Backing, settings: &Settings) -> anyhow::Result<SigningKey> {
    match (&settings.auth.signing_key_pem, backing) {
        (Some(pem), _) => {
            SigningKey::from_pem(pem.expose_secret()).context("loading the RSA signing key")
        }
        (None, Backing::Embedded(dir)) => dir.signing_key(),
        (None, Backing::Services { .. }) => anyhow::bail!(
            "an RSA signing key is required on the real services (LOH_JWT_KEY or LOH_JWT_KEY_FILE)"
        ),
    }
}

async fn session_store(settings: &Settings, pool: &sqlx::AnyPool) -> anyhow::Result<SessionStore> {
    match &settings.auth.redis_url {
        Some(url) => {
            let prefix = match settings.auth.redis_prefix.as_str() {
                "" => "loh",
                p => p,
            };
            SessionStore::redis(url.expose_secret(), prefix)
                .await
                .with_context(|| format!("connecting to Redis at {} (REDIS_URL)", redacted(url)))
        }
        None => Ok(SessionStore::sql(pool.clone())),
    }
}

/// `loh up`: every role in this process.
pub async fn start_up(backing: Backing, settings: Settings) -> anyhow::Result<Running> {
    let cancel = CancellationToken::new();
    let mut running = Running::new(cancel.clone());
    let (store, writer_gate) = open_store_gated(&backing, &settings.shard).await?;
    let mut registry = Registry::default();
    let relay_metrics = RelayMetrics::default();
    if matches!(backing, Backing::Services { .. }) {
        relay_metrics.register(&mut registry);
    }
    let projection_metrics = ProjectionMetrics::register(&mut registry);
    // Bound first: once the game server answers, the query API's port takes connections too.
    let query_listener = bind_query(settings.query_addr).await?;

    let (head, probes) =
        start_game(&backing, &settings, store.clone(), registry, &mut running).await?;
    // Embedded, the read models share the store's file: the projectors commit in turn with
    // the tick's appends.
    let read_db = ReadDb::connect(backing.database_url().expose_secret())
        .await?
        .sharing_writes(writer_gate);
    let source = match &backing {
        Backing::Embedded(_) => Source::Embedded { head: head.clone() },
        Backing::Services { nats_url, .. } => {
            let def = settings.stream();
            let js = jetstream(nats_url, &def).await?;
            probes.add("nats", nats_probe(&js));
            let relay =
                Relay::new(store.clone(), js.clone(), def.clone()).with_metrics(relay_metrics);
            let relay_cancel = cancel.clone();
            let relay_head = head.clone();
            running
                .tasks
                .spawn(async move { relay.run(relay_head, relay_cancel).await.context("relay") });
            Source::Nats {
                jetstream: js,
                stream: def,
            }
        }
    };
    spawn_projectors(
        &mut running,
        &read_db,
        &store,
        source,
        &projection_metrics,
        1,
    )
    .await?;
    let query_registry = Registry::default();
    let tokens = query_tokens(signing_key(&backing, &settings).ok());
    running.query_addr = Some(
        start_query(
            &mut running,
            read_db,
            store,
            query_registry,
            (query_listener, settings.http.query_limits()),
            tokens,
            query_ranks(&settings).await?,
        )
        .await?,
    );
    Ok(running)
}

/// `/healthz`'s check of NATS: the client of `js` is connected (it reconnects by itself; the
/// relay resumes from what JetStream holds once it is).
pub(crate) fn nats_probe(
    js: &async_nats::jetstream::Context,
) -> impl Fn() -> futures::future::BoxFuture<'static, bool> + Send + Sync + 'static {
    let client = js.client();
    move || {
        let connected = client.connection_state() == async_nats::connection::State::Connected;
        Box::pin(std::future::ready(connected))
    }
}

/// Starts the game server (and nothing else); returns the committed-head watch and the checks
/// of its `/healthz`, to which the caller adds the dependencies it has (NATS).
async fn start_game(
    backing: &Backing,
    settings: &Settings,
    store: Arc<dyn EventStore>,
    registry: Registry,
    running: &mut Running,
) -> anyhow::Result<(watch::Receiver<u64>, loh_gateway::health::Probes)> {
    let accounts = any_pool(&backing.database_url()).await?;
    let config = GameConfig {
        bind: settings.game_addr,
        pacing: settings.pacing,
        map: settings.map.clone(),
        signing_key: signing_key(backing, settings)?,
        sessions: session_store(settings, &accounts).await?,
        allowed_origins: settings.auth.allowed_origins.clone(),
        limits: Limits {
            view: settings.view,
            max_commands_per_tick: settings.max_commands_per_tick,
            trusted_proxies: settings.http.trusted_proxies.clone(),
            ..Limits::default()
        },
        payments: PaymentsConfig {
            webhook_secret: settings.payments.webhook_secret.clone(),
            secret_key: settings.payments.secret_key.clone(),
            api_base: settings.payments.api_base.clone(),
            api_timeout: settings.payments.api_timeout,
            prices: settings.payments.prices.clone(),
            success_url: settings.payments.success_url.clone(),
            cancel_url: settings.payments.cancel_url.clone(),
            ..PaymentsConfig::default()
        },
        world: settings.world.clone(),
        snapshot_every_ticks: settings.snapshot_every_ticks,
        snapshot_every_events: settings.snapshot_every_events,
    };
    let server = GameServer::start(config, store, accounts, registry, running.cancel.clone())
        .await
        .context("starting the game server")?;
    running.game_addr = Some(server.addr());
    let head = server.head();
    let probes = server.probes().clone();
    running
        .tasks
        .spawn(async move { server.wait().await.context("game server") });
    Ok((head, probes))
}

/// Arranges the read models' checkpoints for `partitions` and starts every projector (on one
/// JetStream consumer with a NATS source); returns their names.
pub(crate) async fn spawn_projectors(
    running: &mut Running,
    read_db: &ReadDb,
    store: &Arc<dyn EventStore>,
    source: Source,
    metrics: &ProjectionMetrics,
    partitions: u32,
) -> anyhow::Result<Vec<&'static str>> {
    let projectors =
        loh_projections::runner::projectors(read_db, store, &source, metrics, partitions)
            .await
            .context("arranging the projections' partitions")?;
    let names = projectors.iter().map(|p| p.name()).collect();
    let (cancel, world) = (running.cancel.clone(), store.shard().to_owned());
    running.tasks.spawn(async move {
        loh_projections::runner::run_all(projectors, source, cancel)
            .await
            .with_context(|| format!("the projectors of world {world}"))
    });
    Ok(names)
}

/// The query API's token verifier: the public key of `key`, if any.
fn query_tokens(key: Option<SigningKey>) -> Option<loh_query_api::auth::TokenVerifier> {
    let verifier = loh_query_api::auth::TokenVerifier::from_public_pem(key?.public_pem());
    if verifier.is_err() {
        tracing::warn!("the signing key's public half does not load; player data needs a token");
    }
    verifier.ok()
}

/// What the query API keeps in Redis: leaderboard ranks and the economy response cache.
type QueryRedis = (
    Option<loh_query_api::ranks::RankIndex>,
    Option<loh_query_api::cache::ResponseCache>,
);

/// Leaderboard ranks in Redis sorted sets and the economy response cache, when Redis is
/// configured (REDIS_URL).
async fn query_ranks(settings: &Settings) -> anyhow::Result<QueryRedis> {
    let Some(url) = &settings.auth.redis_url else {
        return Ok((None, None));
    };
    let prefix = &settings.auth.redis_prefix;
    let context = || format!("connecting to Redis at {} (REDIS_URL)", redacted(url));
    let ranks = loh_query_api::ranks::RankIndex::connect(url.expose_secret(), prefix)
        .await
        .with_context(context)?;
    let cache = loh_query_api::cache::ResponseCache::connect(url.expose_secret(), prefix)
        .await
        .with_context(context)?;
    Ok((Some(ranks), Some(cache)))
}

async fn bind_query(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the query API to {addr}"))
}

/// Serves the query API on `listener` (bound by [`bind_query`]) behind the front door's hardened
/// HTTP loop with `limits` (header timeout, connection caps, requests per address); returns its
/// address.
async fn start_query(
    running: &mut Running,
    read_db: ReadDb,
    store: Arc<dyn EventStore>,
    mut registry: Registry,
    (listener, limits): (TcpListener, Limits),
    tokens: Option<loh_query_api::auth::TokenVerifier>,
    (ranks, cache): QueryRedis,
) -> anyhow::Result<SocketAddr> {
    let bound = listener.local_addr()?;
    let conn_metrics = ConnMetrics::default();
    conn_metrics.register_http(&mut registry);
    let mut state = loh_query_api::AppState::new(read_db, store, registry);
    if let Some(tokens) = tokens {
        state = state.with_tokens(tokens);
    }
    if let Some(ranks) = ranks {
        state = state.with_ranks(ranks);
    }
    if let Some(cache) = cache {
        state = state.with_cache(cache);
    }
    let cancel = running.cancel.clone();
    running.tasks.spawn(async move {
        let app = loh_query_api::router(state);
        loh_gateway::http::serve(listener, app, &limits, &conn_metrics, cancel)
            .await
            .context("query API")
    });
    tracing::info!(addr = %bound, "query API listening");
    Ok(bound)
}

/// `loh tick-writer`: the game server and the relay, on the real services.
pub async fn start_tick_writer(
    database_url: SecretString,
    nats_url: SecretString,
    settings: Settings,
) -> anyhow::Result<Running> {
    let backing = Backing::Services {
        database_url,
        nats_url: nats_url.clone(),
    };
    let cancel = CancellationToken::new();
    let mut running = Running::new(cancel.clone());
    let store = open_store(&backing, &settings.shard).await?;
    let def = settings.stream();
    let js = jetstream(&nats_url, &def).await?;
    let mut registry = Registry::default();
    let relay_metrics = RelayMetrics::default();
    relay_metrics.register(&mut registry);
    let (head, probes) =
        start_game(&backing, &settings, store.clone(), registry, &mut running).await?;
    probes.add("nats", nats_probe(&js));
    let relay = Relay::new(store, js, def).with_metrics(relay_metrics);
    running
        .tasks
        .spawn(async move { relay.run(head, cancel).await.context("relay") });
    Ok(running)
}

/// `loh projections run`: every projector of every world in `worlds` (each world's projectors
/// consume its own JetStream stream and keep its own checkpoints in the one read database), with
/// `/healthz` and `/metrics`.
pub async fn start_projections(
    database_url: SecretString,
    nats_url: SecretString,
    settings: Settings,
    health_addr: SocketAddr,
    partitions: u32,
    worlds: &[String],
) -> anyhow::Result<Running> {
    let backing = Backing::Services {
        database_url: database_url.clone(),
        nats_url: nats_url.clone(),
    };
    let cancel = CancellationToken::new();
    let mut running = Running::new(cancel.clone());
    let read_db = ReadDb::connect(database_url.expose_secret()).await?;
    let mut registry = Registry::default();
    let metrics = ProjectionMetrics::register(&mut registry);
    let mut nats: Vec<crate::health::NatsProbe> = Vec::new();
    for world in worlds {
        let store = open_store(&backing, world).await?;
        // The configured stream (its replica count) named for each world.
        let def = match &settings.stream {
            Some(def) if *world != settings.shard => EventStreamDef {
                replicas: def.replicas,
                ..EventStreamDef::for_shard(world)
            },
            Some(def) => def.clone(),
            None => EventStreamDef::for_shard(world),
        };
        let js = jetstream(&nats_url, &def).await?;
        nats.push(Box::new(nats_probe(&js)));
        let source = Source::Nats {
            jetstream: js,
            stream: def,
        };
        spawn_projectors(&mut running, &read_db, &store, source, &metrics, partitions)
            .await
            .with_context(|| format!("world {world}"))?;
    }
    running.health_addr = Some(
        crate::health::serve(
            &mut running.tasks,
            health_addr,
            read_db,
            nats,
            registry,
            cancel,
        )
        .await?,
    );
    Ok(running)
}

/// `loh query-api`: the read API over the read models.
/// `public_key_pem` verifies access tokens; without it the public half of the configured signing
/// key does (the query API then holds a private key it does not need).
pub async fn start_query_api(
    database_url: SecretString,
    settings: Settings,
    public_key_pem: Option<String>,
) -> anyhow::Result<Running> {
    let backing = Backing::postgres(database_url.clone());
    let cancel = CancellationToken::new();
    let mut running = Running::new(cancel);
    let store = open_store(&backing, &settings.shard).await?;
    let read_db = ReadDb::connect(database_url.expose_secret()).await?;
    let registry = Registry::default();
    // Player-data endpoints verify access tokens with the public key only.
    let tokens = match (public_key_pem, &settings.auth.signing_key_pem) {
        (Some(pem), _) => Some(
            loh_query_api::auth::TokenVerifier::from_public_pem(&pem)
                .map_err(|_| anyhow::anyhow!("LOH_JWT_PUBLIC_KEY_FILE is not an RSA public key"))?,
        ),
        (None, Some(pem)) => query_tokens(Some(
            SigningKey::from_pem(pem.expose_secret()).context("loading the RSA signing key")?,
        )),
        (None, None) => None,
    };
    running.query_addr = Some(
        start_query(
            &mut running,
            read_db,
            store,
            registry,
            (
                bind_query(settings.query_addr).await?,
                settings.http.query_limits(),
            ),
            tokens,
            query_ranks(&settings).await?,
        )
        .await?,
    );
    Ok(running)
}
