//! One typed configuration. Every flag and environment variable that configures a process is
//! declared here and read once, by `clap` at parse time, into the option groups below; the
//! subcommands flatten the groups they take, and the roles start from what they resolve to:
//! [`Backing`] (where the data lives) and [`Settings`] (what every role needs to know). The one
//! variable read elsewhere is RUST_LOG, by [`crate::telemetry`], which starts before the parse.
//!
//! Secrets are [`SecretString`]s: the service URLs (DATABASE_URL, NATS_URL, REDIS_URL), which may
//! carry a password, and the PEM of the RSA key that signs access tokens. `{:?}` prints them as
//! `[REDACTED]`, `--help` does not print their environment values, error messages show a URL
//! without its credentials ([`redacted`]), and only the call that connects or loads the key
//! exposes them. The key's PEM is taken from the environment only (LOH_JWT_KEY): as a flag it
//! would show to anyone who lists the processes.

use crate::embedded::DataDir;
use anyhow::Context;
use clap::Args;
use loh_gateway::worlds::WorldListing;
use loh_nats::EventStreamDef;
use loh_tick_writer::fanout::ViewLimits;
use loh_tick_writer::tick::Pacing;
use loh_world::MapConfig;
pub use secrecy::{ExposeSecret, SecretString};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The environment variable holding the signing key's PEM itself.
pub const JWT_KEY_ENV: &str = "LOH_JWT_KEY";

/// Tick pacing on the real services: a fixed 400 ms tick.
pub const ONLINE_PACING: Pacing = Pacing::Fixed { tick_ms: 400 };

/// Tick pacing of the embedded default (the offline single-player mode): 200 to 400 ms.
pub const EMBEDDED_PACING: Pacing = Pacing::Flexible {
    floor_ms: 200,
    max_ms: 400,
};

/// Where the data lives.
#[derive(Debug, Clone)]
pub enum Backing {
    /// One SQLite file in a data folder; an in-process bus instead of NATS.
    Embedded(DataDir),
    /// PostgreSQL and NATS JetStream (the NATS URL is empty for a process that needs no NATS).
    Services {
        database_url: SecretString,
        nats_url: SecretString,
    },
}

impl Backing {
    /// The services without NATS: PostgreSQL only.
    pub fn postgres(database_url: SecretString) -> Backing {
        Backing::Services {
            database_url,
            nats_url: SecretString::default(),
        }
    }

    /// The database of the events, accounts and read models: the data folder's SQLite file or
    /// PostgreSQL.
    pub fn database_url(&self) -> SecretString {
        match self {
            Backing::Embedded(dir) => dir.database_url().into(),
            Backing::Services { database_url, .. } => database_url.clone(),
        }
    }
}

/// What every role needs to know.
#[derive(Debug, Clone)]
pub struct Settings {
    pub shard: String,
    pub game_addr: SocketAddr,
    pub query_addr: SocketAddr,
    pub pacing: Pacing,
    pub map: MapConfig,
    /// Each viewer's interest: other players shown, bytes of events about them per tick.
    pub view: ViewLimits,
    /// Commands one tick takes; the rest wait for the next (`--max-commands-per-tick`).
    pub max_commands_per_tick: usize,
    /// Keys, sessions and browser origins of the front door.
    pub auth: AuthSettings,
    /// The JetStream stream (name, subjects, replica count); [`EventStreamDef::for_shard`] with
    /// one replica when `None`.
    pub stream: Option<EventStreamDef>,
    /// Stripe (docs/PAYMENTS.md); payments are off without a webhook secret.
    pub payments: PaymentSettings,
    /// How this world appears in the world list (`GET /v1/worlds`).
    pub world: WorldListing,
    /// Ticks between snapshots of the world (start-up folds only the log after the newest);
    /// `0`: none written or loaded.
    pub snapshot_every_ticks: u64,
    /// Events since the last snapshot that make one due sooner; `0`: by ticks alone.
    pub snapshot_every_events: u64,
    /// Client addresses behind proxies, and the query API's request limit.
    pub http: HttpSettings,
}

/// Who a request comes from, and how many requests an address may make of the query API.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Proxies whose `X-Forwarded-For` names the client (the game server and the query API).
    pub trusted_proxies: loh_gateway::client_addr::TrustedProxies,
    /// Requests per second one address (an IPv6 /64) may make of the query API, with a burst
    /// of four seconds' worth; `None`: unlimited.
    pub query_requests_per_second: Option<u32>,
}

/// The query API's default request limit per address, per second.
pub const QUERY_REQUESTS_PER_SECOND: u32 = 100;

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            trusted_proxies: Default::default(),
            query_requests_per_second: Some(QUERY_REQUESTS_PER_SECOND),
        }
    }
}

impl HttpSettings {
    /// The limits the query API is served with.
    pub fn query_limits(&self) -> loh_gateway::limits::Limits {
        let rate = self
            .query_requests_per_second
            .map(|rps| loh_gateway::limits::Rate {
                burst: rps.saturating_mul(4),
                per: std::time::Duration::from_secs(1) / rps.max(1),
            });
        loh_gateway::limits::Limits::query_api(self.trusted_proxies.clone(), rate)
    }
}

/// Stripe: secrets from the environment or files, never logged.
#[derive(Debug, Clone)]
pub struct PaymentSettings {
    /// The webhook endpoint's signing secret (`whsec_…`).
    pub webhook_secret: Option<SecretString>,
    /// The API secret key (`sk_…`) the checkout uses.
    pub secret_key: Option<SecretString>,
    /// The Stripe API's base address.
    pub api_base: String,
    /// How long one call to the Stripe API may take.
    pub api_timeout: std::time::Duration,
    /// The Stripe price of each product on sale.
    pub prices: loh_gateway::payments::checkout::Prices,
    /// Where Checkout returns the player after paying, and after giving up.
    pub success_url: String,
    pub cancel_url: String,
}

impl Default for PaymentSettings {
    fn default() -> Self {
        PaymentSettings {
            webhook_secret: None,
            secret_key: None,
            api_base: STRIPE_API_BASE.into(),
            api_timeout: loh_gateway::payments::checkout::API_TIMEOUT,
            prices: Default::default(),
            success_url: CHECKOUT_SUCCESS_URL.into(),
            cancel_url: CHECKOUT_CANCEL_URL.into(),
        }
    }
}

const STRIPE_API_BASE: &str = "https://api.stripe.com";
const CHECKOUT_SUCCESS_URL: &str = "http://127.0.0.1:7777/paid";
const CHECKOUT_CANCEL_URL: &str = "http://127.0.0.1:7777/cancelled";

impl Settings {
    /// The JetStream stream of this shard.
    pub fn stream(&self) -> EventStreamDef {
        self.stream
            .clone()
            .unwrap_or_else(|| EventStreamDef::for_shard(&self.shard))
    }
}

/// The front door's configuration.
#[derive(Debug, Clone, Default)]
pub struct AuthSettings {
    /// PEM of the RSA private key that signs access tokens; required on the real services, made
    /// and kept in the data folder by the embedded default.
    pub signing_key_pem: Option<SecretString>,
    /// Redis for sessions and the single-session lock; without it they live in this process
    /// (one instance only).
    pub redis_url: Option<SecretString>,
    /// Prefix of every Redis key (`loh` when empty).
    pub redis_prefix: String,
    /// Browser origins allowed besides the game server's own.
    pub allowed_origins: Vec<String>,
}

/// Options shared by every role.
#[derive(Debug, Args, Clone)]
pub struct ServerArgs {
    /// The shard (world) this process serves.
    #[arg(long, env = "LOH_SHARD", default_value = "world1")]
    pub shard: String,
    /// Address of the game server (WebSocket, auth).
    #[arg(long, env = "LOH_GAME_ADDR", default_value = "127.0.0.1:7777")]
    pub game_addr: SocketAddr,
    /// Where players' clients connect to this world, as the world list shows it (e.g.
    /// `wss://w2.example.com`); the game server's own address when not given.
    #[arg(long, env = "LOH_WORLD_ADDRESS")]
    pub world_address: Option<String>,
    /// List this world as a members world.
    #[arg(long, env = "LOH_MEMBERS_WORLD")]
    pub members_world: bool,
    /// Address of the query API.
    #[arg(long, env = "LOH_QUERY_ADDR", default_value = "127.0.0.1:8088")]
    pub query_addr: SocketAddr,
    /// Fixed tick length in milliseconds (online worlds use 400).
    #[arg(long, env = "LOH_TICK_MS")]
    pub tick_ms: Option<u32>,
    /// A square map of this many tiles a side around the spawn (at least the default map),
    /// e.g. 1000 for `loh loadgen --scenario spread`; without it, the default map.
    #[arg(long, env = "LOH_MAP_TILES", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub map_tiles: Option<u32>,
    /// Most other players each viewer is shown (nearest first; the OSRS client shows 255).
    #[arg(long, env = "LOH_VIEW_PLAYERS", default_value_t = 255,
        value_parser = clap::value_parser!(u32).range(1..=2_000))]
    pub view_players: u32,
    /// Ticks between signed snapshots of the world, from which start-up folds only the log's
    /// tail (150: a minute at 400 ms); 0 turns snapshots off, written and loaded.
    #[arg(long, env = "LOH_SNAPSHOT_EVERY_TICKS",
        default_value_t = loh_tick_writer::snapshot::DEFAULT_SNAPSHOT_EVERY_TICKS)]
    pub snapshot_every_ticks: u64,
    /// Events committed since the last snapshot that make the next one due before its tick
    /// (250,000: ~2 s of start-up fold), so a busy world whose ticks run slow still bounds the
    /// tail; 0: by ticks alone.
    #[arg(long, env = "LOH_SNAPSHOT_EVERY_EVENTS",
        default_value_t = loh_tick_writer::snapshot::DEFAULT_SNAPSHOT_EVERY_EVENTS)]
    pub snapshot_every_events: u64,
    /// Most bytes of events about other players in one viewer's update per tick (players whose
    /// events do not fit leave that viewer's view).
    #[arg(long, env = "LOH_VIEW_BYTES", default_value_t = 4096,
        value_parser = clap::value_parser!(u32).range(512..=200_000))]
    pub view_bytes: u32,
    /// Most commands one tick takes from the players; the rest wait, in order, for the next
    /// tick, so a world that fell behind catches up in ticks of bounded size.
    #[arg(long, env = "LOH_MAX_COMMANDS_PER_TICK",
        default_value_t = loh_tick_writer::tick::DEFAULT_MAX_COMMANDS_PER_TICK as u32,
        value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_commands_per_tick: u32,
    /// Redis (sessions, refresh tokens, the single-session lock); without it they live in this
    /// process, which is right for one instance only.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<SecretString>,
    /// Copies JetStream keeps of the shard's event stream when it creates it: 1 on a single
    /// NATS server, 3 on the three-node cluster (nats/cluster/; give NATS_URL all three
    /// servers, comma-separated). An existing stream keeps its count.
    #[arg(long, env = "LOH_NATS_REPLICAS", default_value_t = 1,
        value_parser = clap::value_parser!(u8).range(1..=5))]
    pub nats_replicas: u8,
    /// Prefix of every Redis key.
    #[arg(long, env = "LOH_REDIS_PREFIX", default_value = "loh")]
    pub redis_prefix: String,
    /// File holding the RSA private key (PEM) that signs access tokens. The key itself may
    /// instead be given in the LOH_JWT_KEY environment variable.
    #[arg(long, env = "LOH_JWT_KEY_FILE")]
    pub jwt_key_file: Option<PathBuf>,
    /// The signing key's PEM from LOH_JWT_KEY (environment only); it wins over the file.
    #[arg(skip = jwt_key_from_env())]
    pub jwt_key: Option<SecretString>,
    /// Browser origins allowed to call the game server, comma-separated
    /// (e.g. <https://play.example.com>).
    #[arg(long, env = "LOH_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
    /// File holding the Stripe webhook endpoint's signing secret (`whsec_…`); the secret itself
    /// may instead be given in LOH_STRIPE_WEBHOOK_SECRET. Without either, payments are off.
    #[arg(long, env = "LOH_STRIPE_WEBHOOK_SECRET_FILE")]
    pub stripe_webhook_secret_file: Option<PathBuf>,
    /// The webhook secret from LOH_STRIPE_WEBHOOK_SECRET (environment only); wins over the file.
    #[arg(skip = secret_from_env("LOH_STRIPE_WEBHOOK_SECRET"))]
    pub stripe_webhook_secret: Option<SecretString>,
    /// File holding the Stripe API secret key (`sk_…`) the checkout uses; the key itself may
    /// instead be given in LOH_STRIPE_SECRET_KEY.
    #[arg(long, env = "LOH_STRIPE_SECRET_KEY_FILE")]
    pub stripe_secret_key_file: Option<PathBuf>,
    /// The API key from LOH_STRIPE_SECRET_KEY (environment only); wins over the file.
    #[arg(skip = secret_from_env("LOH_STRIPE_SECRET_KEY"))]
    pub stripe_secret_key: Option<SecretString>,
    /// The Stripe API's base address.
    #[arg(long, env = "LOH_STRIPE_API_BASE", default_value = STRIPE_API_BASE)]
    pub stripe_api_base: String,
    /// How long one call to the Stripe API may take, in milliseconds.
    #[arg(long, env = "LOH_STRIPE_API_TIMEOUT_MS", default_value_t = 10_000,
        value_parser = clap::value_parser!(u64).range(100..=120_000))]
    pub stripe_api_timeout_ms: u64,
    /// The Stripe price of each product on sale, comma-separated `product=price_id`
    /// (products: bonds_1, bonds_5, membership, premium); a product without one is not sold.
    #[arg(long, env = "LOH_STRIPE_PRICES", value_delimiter = ',')]
    pub stripe_prices: Vec<String>,
    /// Where Stripe Checkout sends the player after paying.
    #[arg(long, env = "LOH_CHECKOUT_SUCCESS_URL", default_value = CHECKOUT_SUCCESS_URL)]
    pub checkout_success_url: String,
    /// Where Stripe Checkout sends the player who gave up.
    #[arg(long, env = "LOH_CHECKOUT_CANCEL_URL", default_value = CHECKOUT_CANCEL_URL)]
    pub checkout_cancel_url: String,
    /// The proxies in front of the game server and the query API, comma-separated addresses or
    /// blocks (e.g. `10.0.0.0/8,fd00::/8`): only their `X-Forwarded-For` is believed, and the
    /// client it names is the address limits count. Without it the header is ignored.
    #[arg(long, env = "LOH_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,
    /// Requests per second one address (IPv6: one /64) may make of the query API, with a burst
    /// of four seconds' worth; past it `429 rate_limited`. 0: no limit.
    #[arg(long, env = "LOH_QUERY_REQUESTS_PER_SECOND", default_value_t = QUERY_REQUESTS_PER_SECOND,
        value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub query_requests_per_second: u32,
}

impl ServerArgs {
    /// The settings of the roles, ticking at `default_pacing` unless `--tick-ms` is given; reads
    /// the signing key's file.
    pub fn settings(&self, default_pacing: Pacing) -> anyhow::Result<Settings> {
        let pacing = match self.tick_ms {
            Some(ms) => {
                anyhow::ensure!(
                    (50..=10_000).contains(&ms),
                    "--tick-ms must be 50 to 10000, not {ms}"
                );
                Pacing::Fixed { tick_ms: ms }
            }
            None => default_pacing,
        };
        let signing_key_pem = match (&self.jwt_key, &self.jwt_key_file) {
            (Some(pem), _) => Some(pem.clone()),
            (None, Some(path)) => Some(read_secret(path)?),
            (None, None) => None,
        };
        Ok(Settings {
            shard: self.shard.clone(),
            game_addr: self.game_addr,
            query_addr: self.query_addr,
            pacing,
            map: self
                .map_tiles
                .map_or_else(MapConfig::default, MapConfig::square),
            view: ViewLimits {
                max_players: self.view_players as usize,
                max_bytes: self.view_bytes as usize,
            },
            max_commands_per_tick: self.max_commands_per_tick as usize,
            auth: AuthSettings {
                signing_key_pem,
                redis_url: self.redis_url.clone(),
                redis_prefix: self.redis_prefix.clone(),
                allowed_origins: self.allowed_origins.clone(),
            },
            stream: Some(
                EventStreamDef::for_shard(&self.shard).with_replicas(self.nats_replicas.into()),
            ),
            payments: PaymentSettings {
                webhook_secret: either_secret(
                    &self.stripe_webhook_secret,
                    &self.stripe_webhook_secret_file,
                )?,
                secret_key: either_secret(&self.stripe_secret_key, &self.stripe_secret_key_file)?,
                api_base: self.stripe_api_base.clone(),
                api_timeout: std::time::Duration::from_millis(self.stripe_api_timeout_ms),
                prices: loh_gateway::payments::checkout::Prices::parse(&self.stripe_prices)
                    .context("--stripe-prices")?,
                success_url: self.checkout_success_url.clone(),
                cancel_url: self.checkout_cancel_url.clone(),
            },
            world: WorldListing {
                address: self.world_address.clone(),
                members: self.members_world,
            },
            snapshot_every_ticks: self.snapshot_every_ticks,
            snapshot_every_events: self.snapshot_every_events,
            http: HttpSettings {
                trusted_proxies: loh_gateway::client_addr::TrustedProxies::parse(
                    &self.trusted_proxies,
                )
                .context("--trusted-proxies")?,
                query_requests_per_second: (self.query_requests_per_second > 0)
                    .then_some(self.query_requests_per_second),
            },
        })
    }
}

/// A secret given itself (environment) or in a file (trimmed: files end with a newline).
fn either_secret(
    value: &Option<SecretString>,
    file: &Option<PathBuf>,
) -> anyhow::Result<Option<SecretString>> {
    match (value, file) {
        (Some(v), _) => Ok(Some(v.clone())),
        (None, Some(path)) => {
            let s = read_secret(path)?;
            Ok(Some(SecretString::from(
                s.expose_secret().trim().to_owned(),
            )))
        }
        (None, None) => Ok(None),
    }
}

/// A secret from the environment variable `name`, read when the command line is parsed.
fn secret_from_env(name: &str) -> Option<SecretString> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .map(SecretString::from)
}

/// `loh up`: the embedded data folder, or the real services.
#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// The data folder of the embedded mode.
    #[arg(long, env = "LOH_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// PostgreSQL URL; with NATS_URL, runs on the real services instead of the data folder.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<SecretString>,
    /// NATS URL (JetStream enabled).
    #[arg(long, env = "NATS_URL", hide_env_values = true)]
    pub nats_url: Option<SecretString>,
}

impl UpArgs {
    /// The real services when both URLs are given, the data folder (created if missing) when
    /// neither is, with the settings of that mode.
    pub fn resolve(self) -> anyhow::Result<(Backing, Settings)> {
        match (self.database_url, self.nats_url) {
            (Some(database_url), Some(nats_url)) => {
                let settings = self.server.settings(ONLINE_PACING)?;
                let backing = Backing::Services {
                    database_url,
                    nats_url,
                };
                Ok((backing, settings))
            }
            (None, None) => {
                let dir = DataDir::open(&self.data_dir)?;
                Ok((
                    Backing::Embedded(dir),
                    self.server.settings(EMBEDDED_PACING)?,
                ))
            }
            _ => anyhow::bail!("set both DATABASE_URL and NATS_URL, or neither"),
        }
    }
}

/// A database to migrate.
#[derive(Debug, Args)]
pub struct DbArgs {
    /// PostgreSQL URL (or a sqlite: URL for an embedded data file).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: SecretString,
}

/// One role of the real services per process.
#[derive(Debug, Args)]
pub struct RoleArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// PostgreSQL URL.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: SecretString,
    /// NATS URL (JetStream enabled); needed by the tick writer and the projections.
    #[arg(
        long,
        env = "NATS_URL",
        default_value = "nats://127.0.0.1:4222",
        hide_env_values = true
    )]
    pub nats_url: SecretString,
    /// Query API: the PEM public key that verifies access tokens, so the query API never holds
    /// the private key (`openssl rsa -in jwt-key.pem -pubout`).
    #[arg(long, env = "LOH_JWT_PUBLIC_KEY_FILE")]
    pub jwt_public_key_file: Option<PathBuf>,
}

impl RoleArgs {
    /// The settings of a role on the real services (a fixed 400 ms tick by default).
    pub fn settings(&self) -> anyhow::Result<Settings> {
        self.server.settings(ONLINE_PACING)
    }

    /// The PEM of `--jwt-public-key-file`, if given.
    pub fn public_key_pem(&self) -> anyhow::Result<Option<String>> {
        self.jwt_public_key_file
            .as_deref()
            .map(|path| {
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading the public key {}", path.display()))
            })
            .transpose()
    }
}

/// `loh projections run`: the role's options, this process's health address and partitions.
#[derive(Debug, Args)]
pub struct ProjectionsRunArgs {
    #[command(flatten)]
    pub role: RoleArgs,
    /// Address of this process's /healthz and /metrics.
    #[arg(long, env = "LOH_HEALTH_ADDR", default_value = "127.0.0.1:9090")]
    pub health_addr: SocketAddr,
    /// Projectors per hot read model (holdings, wallet, skills, profile, player_position),
    /// each applying the rows of the players that hash to it. Changing it re-arranges the
    /// checkpoints at start-up without a rebuild; every projections process of a shard must
    /// use the same number.
    #[arg(long, env = "LOH_PROJECTION_PARTITIONS", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=64))]
    pub partitions: u32,
    /// The worlds whose logs this process projects, comma-separated (e.g. `world1,world2`):
    /// one set of projectors per world, each following its world's JetStream stream, all into
    /// the one read database. Without it, the world of `--shard` alone.
    #[arg(long, env = "LOH_PROJECTION_SHARDS", value_delimiter = ',')]
    pub shards: Vec<String>,
}

impl ProjectionsRunArgs {
    /// The worlds to project: `--shards`, or `shard` (the role's `--shard`) alone; each once.
    pub fn worlds(&self, shard: &str) -> anyhow::Result<Vec<String>> {
        let mut worlds: Vec<String> = Vec::new();
        for world in &self.shards {
            let world = world.trim();
            if world.is_empty() {
                anyhow::bail!("--shards names an empty world");
            }
            if !worlds.iter().any(|w| w == world) {
                worlds.push(world.to_owned());
            }
        }
        if worlds.is_empty() {
            worlds.push(shard.to_owned());
        }
        Ok(worlds)
    }
}

/// Where the event store is: PostgreSQL, or the embedded data folder by default.
#[derive(Debug, Args, Clone)]
pub struct StoreArgs {
    /// PostgreSQL URL; without it, the embedded data folder.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<SecretString>,
    /// The data folder of the embedded mode.
    #[arg(long, env = "LOH_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// The shard to read.
    #[arg(long, env = "LOH_SHARD", default_value = "world1")]
    pub shard: String,
}

impl StoreArgs {
    /// PostgreSQL when a URL is given, else the data folder (created if missing).
    pub fn backing(&self) -> anyhow::Result<Backing> {
        Ok(match &self.database_url {
            Some(url) => Backing::postgres(url.clone()),
            None => Backing::Embedded(DataDir::open(&self.data_dir)?),
        })
    }
}

/// The server's signing key, for a command an operator runs beside the server.
#[derive(Debug, Args)]
pub struct SigningKeyArgs {
    /// File holding the server's RSA private key (PEM); the key may instead be in LOH_JWT_KEY.
    /// Without either, the key of the embedded data folder.
    #[arg(long, env = "LOH_JWT_KEY_FILE")]
    pub jwt_key_file: Option<PathBuf>,
    /// The data folder of the embedded mode (its key must exist: `loh up` makes it).
    #[arg(long, env = "LOH_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// The signing key's PEM from LOH_JWT_KEY (environment only); it wins over the file.
    #[arg(skip = jwt_key_from_env())]
    pub jwt_key: Option<SecretString>,
}

impl SigningKeyArgs {
    /// The key's PEM: LOH_JWT_KEY, else the file, else the data folder's key.
    pub fn pem(&self) -> anyhow::Result<SecretString> {
        if let Some(pem) = &self.jwt_key {
            return Ok(pem.clone());
        }
        if let Some(path) = &self.jwt_key_file {
            return read_secret(path);
        }
        let path = self.data_dir.join(crate::embedded::KEY_FILE);
        std::fs::read_to_string(&path)
            .map(SecretString::from)
            .with_context(|| {
                format!(
                    "reading {} (give --jwt-key-file, or run `loh up` once to make the key)",
                    path.display()
                )
            })
    }
}

/// The PostgreSQL a benchmark makes its scratch database in.
#[derive(Debug, Args)]
pub struct BenchDatabaseArgs {
    /// Maintenance URL of the PostgreSQL to use (a scratch database is made in it).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres",
        hide_env_values = true
    )]
    pub database_url: SecretString,
}

/// The NATS server of a benchmark.
#[derive(Debug, Args)]
pub struct BenchNatsArgs {
    /// NATS URL (JetStream enabled).
    #[arg(
        long,
        env = "NATS_URL",
        default_value = "nats://127.0.0.1:4222",
        hide_env_values = true
    )]
    pub nats_url: SecretString,
}

/// The Redis of a benchmark.
#[derive(Debug, Args)]
pub struct BenchRedisArgs {
    /// Redis URL (a fresh key prefix is used and deleted).
    #[arg(
        long,
        env = "REDIS_URL",
        default_value = "redis://127.0.0.1:6379",
        hide_env_values = true
    )]
    pub redis_url: SecretString,
}

/// LOH_JWT_KEY, read when the command line is parsed.
fn jwt_key_from_env() -> Option<SecretString> {
    std::env::var(JWT_KEY_ENV).ok().map(SecretString::from)
}

/// A file holding a secret (a private key's PEM).
fn read_secret(path: &Path) -> anyhow::Result<SecretString> {
    std::fs::read_to_string(path)
        .map(SecretString::from)
        .with_context(|| format!("reading {}", path.display()))
}

/// `url` without its credentials, for messages and logs: `redis://:pw@host:6379` becomes
/// `redis://***@host:6379`. A comma-separated list (a NATS cluster's servers) is redacted URL by
/// URL.
pub fn redacted(url: &SecretString) -> String {
    url.expose_secret()
        .split(',')
        .map(redacted_one)
        .collect::<Vec<_>>()
        .join(",")
}

fn redacted_one(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "***".to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***{}", &rest[at..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    const PASSWORD: &str = "hunter2-do-not-log";

    /// Every option group a process reads, as one command line.
    #[derive(Debug, Parser)]
    struct Everything {
        #[command(flatten)]
        up: UpArgs,
    }

    #[derive(Debug, Parser)]
    struct Role {
        #[command(flatten)]
        role: RoleArgs,
    }

    #[derive(Debug, Parser)]
    struct Bench {
        #[command(flatten)]
        database: BenchDatabaseArgs,
        #[command(flatten)]
        nats: BenchNatsArgs,
        #[command(flatten)]
        redis: BenchRedisArgs,
    }

    /// Parses `args` alone: the environment of the test run (DATABASE_URL, …) is not read.
    fn parse<T: Parser>(args: &[&str]) -> T {
        let command = T::command().mut_args(|arg| arg.env(None::<&str>));
        let matches = command
            .try_get_matches_from(std::iter::once("loh").chain(args.iter().copied()))
            .unwrap();
        T::from_arg_matches(&matches).unwrap()
    }

    fn up(args: &[&str]) -> UpArgs {
        parse::<Everything>(args).up
    }

    #[test]
    fn the_configuration_never_shows_a_secret_in_debug_output() {
        let database = format!("postgres://loh:{PASSWORD}@db.internal:5432/loh");
        let nats = format!("nats://relay:{PASSWORD}@nats.internal:4222");
        let redis = format!("redis://:{PASSWORD}@redis.internal:6379");
        let args = up(&[
            "--database-url",
            &database,
            "--nats-url",
            &nats,
            "--redis-url",
            &redis,
        ]);
        assert!(!format!("{args:?}").contains(PASSWORD), "{args:?}");

        let (backing, mut settings) = args.resolve().unwrap();
        settings.auth.signing_key_pem =
            Some(format!("-----BEGIN PRIVATE KEY-----{PASSWORD}").into());
        for shown in [
            format!("{backing:?}"),
            format!("{settings:?}"),
            format!("{settings:#?}"),
        ] {
            assert!(!shown.contains(PASSWORD), "{shown}");
            assert!(shown.contains("REDACTED"), "{shown}");
        }
        // The secrets are still there for the calls that connect.
        assert_eq!(backing.database_url().expose_secret(), database);
        assert_eq!(
            settings.auth.redis_url.as_ref().unwrap().expose_secret(),
            redis
        );

        let role: Role = parse(&["--database-url", &database]);
        assert!(!format!("{role:?}").contains(PASSWORD), "{role:?}");
        let bench: Bench = parse(&["--database-url", &database, "--redis-url", &redis]);
        assert!(!format!("{bench:?}").contains(PASSWORD), "{bench:?}");
    }

    #[test]
    fn help_never_prints_the_environment_value_of_a_secret() {
        let secret_args = ["database_url", "nats_url", "redis_url"];
        let mut checked = 0;
        for command in [Everything::command(), Role::command(), Bench::command()] {
            for arg in command.get_arguments() {
                if secret_args.contains(&arg.get_id().as_str()) {
                    let id = arg.get_id();
                    assert!(arg.get_env().is_some(), "{id} has no variable");
                    assert!(arg.is_hide_env_values_set(), "{id} shows its value");
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 9, "each command has the three URLs");
    }

    #[test]
    fn up_runs_embedded_with_neither_url_and_refuses_only_one() {
        let dir = std::env::temp_dir().join(format!("loh-config-{}", std::process::id()));
        let data_dir = dir.to_str().unwrap();
        let (backing, settings) = up(&["--data-dir", data_dir]).resolve().unwrap();
        assert!(matches!(backing, Backing::Embedded(_)));
        assert_eq!(settings.pacing, EMBEDDED_PACING);
        assert!(
            backing
                .database_url()
                .expose_secret()
                .starts_with("sqlite://")
        );
        let _ = std::fs::remove_dir_all(&dir);

        let err = up(&["--database-url", "postgres://h/db", "--data-dir", data_dir])
            .resolve()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "set both DATABASE_URL and NATS_URL, or neither"
        );
    }

    #[test]
    fn a_tick_outside_50_to_10000_ms_is_refused() {
        let args = up(&["--tick-ms", "20"]);
        let err = args.server.settings(ONLINE_PACING).unwrap_err();
        assert_eq!(err.to_string(), "--tick-ms must be 50 to 10000, not 20");
        let args = up(&["--tick-ms", "100"]);
        assert_eq!(
            args.server.settings(ONLINE_PACING).unwrap().pacing,
            Pacing::Fixed { tick_ms: 100 }
        );
    }

    #[test]
    fn the_stream_has_one_replica_unless_the_cluster_asks_for_three() {
        let stream = |args: &[&str]| up(args).server.settings(ONLINE_PACING).unwrap().stream();
        assert_eq!(stream(&[]).replicas, 1);
        let replicated = stream(&["--nats-replicas", "3", "--shard", "w7"]);
        assert_eq!(replicated.replicas, 3);
        assert_eq!(replicated, EventStreamDef::for_shard("w7").with_replicas(3));
        assert!(
            Everything::command()
                .try_get_matches_from(["loh", "--nats-replicas", "0"])
                .is_err(),
            "a stream has at least one copy"
        );
    }

    #[test]
    fn map_tiles_makes_a_square_map_around_the_spawn() {
        let map = up(&["--map-tiles", "1000"])
            .server
            .settings(ONLINE_PACING)
            .unwrap()
            .map;
        assert_eq!(
            (map.max_x - map.min_x + 1, map.max_y - map.min_y + 1),
            (1000, 1000)
        );
        assert!(map.contains(map.spawn_x, map.spawn_y));
        let default = up(&[]).server.settings(ONLINE_PACING).unwrap().map;
        assert_eq!(default, MapConfig::default());
    }

    #[test]
    fn a_redacted_url_keeps_the_host_and_drops_the_credentials() {
        let cases = [
            ("redis://:pw@host:6379/0", "redis://***@host:6379/0"),
            (
                "postgres://u:pw@db/loh?sslmode=require",
                "postgres://***@db/loh?sslmode=require",
            ),
            ("nats://127.0.0.1:4222", "nats://127.0.0.1:4222"),
            ("postgres://db/loh?user=a@b", "postgres://db/loh?user=a@b"),
            ("not a url", "***"),
            (
                "nats://a:pw@n1:4222,nats://n2:4222,nats://a:pw@n3:4222",
                "nats://***@n1:4222,nats://n2:4222,nats://***@n3:4222",
            ),
        ];
        for (url, shown) in cases {
            assert_eq!(redacted(&url.into()), shown);
        }
    }
}
