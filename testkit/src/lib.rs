//! Test-only helpers: scratch PostgreSQL databases, unique JetStream stream names and Redis key
//! prefixes, a game client and generators of game histories. Only ever a dev-dependency: no
//! library, benchmark or binary links it (`scripts/check-structure`). The heavier helpers sit behind features, so a crate's tests
//! build only what they use.
//!
//! Every test gets its own PostgreSQL database (dropped when the guard drops), its own names for
//! JetStream streams and Redis key prefixes. The services' addresses come from `LOH_TEST_PG`,
//! `LOH_TEST_NATS` and `LOH_TEST_REDIS`, defaulting to the local ones.
//!
//! # Layout
//! - Re-exported from `loh-migrations`: [`scratch`], create and drop scratch databases.
//! - [`client`] (feature `client`): the WebSocket game client — register and log in over HTTP,
//!   `Hello`, command frames, reading frames until one is wanted.
//! - [`history`] (feature `history`): random game histories of many players — strategies for
//!   commands and ticks of input, the tiles worth standing on, the scatter.
//! - [`nats_cluster`] (feature `nats-cluster`): three `nats-server` processes on loopback running
//!   `nats/cluster/n1.conf` … `n3.conf`, with nodes to kill and restart.
//! - [`stripe`] (feature `stripe`): a stand-in for the Stripe API on loopback that records the
//!   requests it gets and answers Checkout Sessions, errors or nothing.
//! - [`writer`] (feature `writer`): scripted histories made by the real tick writer in process —
//!   players connect, commands carry their seqs, ticks run when the test says.
//! - this module: the services' addresses, unique names and [`TestDb`].

use uuid::Uuid;

#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "history")]
pub mod history;
#[cfg(feature = "nats-cluster")]
pub mod nats_cluster;
pub use loh_migrations::scratch;
#[cfg(feature = "stripe")]
pub mod stripe;
#[cfg(feature = "writer")]
pub mod writer;

/// The maintenance database URL used to create and drop test databases.
pub fn pg_admin_url() -> String {
    std::env::var("LOH_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// The NATS server of the tests.
pub fn nats_url() -> String {
    std::env::var("LOH_TEST_NATS").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

/// The Redis server of the tests.
pub fn redis_url() -> String {
    std::env::var("LOH_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A short unique name, usable as a database, stream or key prefix (`[a-z0-9_]`).
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}_{}", Uuid::new_v4().simple())
}

/// A fresh PostgreSQL database, dropped (with its connections) when this guard drops.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    /// Creates an empty database (no migrations run).
    pub async fn create() -> TestDb {
        let (name, url) = crate::scratch::create_database(&pg_admin_url(), "loh_test")
            .await
            .expect("PostgreSQL for tests (LOH_TEST_PG) is reachable and lets us create databases");
        TestDb { name, url }
    }

    /// Connects a pool to the database.
    pub async fn pool(&self) -> sqlx::PgPool {
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(16)
            .connect(&self.url)
            .await
            .expect("connect to test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs inside the test's runtime; do the async drop on a thread of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let _ = crate::scratch::drop_database(&pg_admin_url(), &name).await;
            });
        })
        .join();
    }
}
