//! `loh up` as a separate process, as a user starts it: free loopback addresses, a health wait,
//! and a kill when dropped.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// A running `loh up`, killed (SIGKILL) when dropped.
pub struct LohUp {
    pub child: Child,
    pub game: SocketAddr,
    pub query: SocketAddr,
}

impl Drop for LohUp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `loh` binary, with no service URL from the environment (embedded unless the caller sets
/// them).
pub fn loh() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_loh"));
    cmd.env_remove("DATABASE_URL")
        .env_remove("NATS_URL")
        .env_remove("REDIS_URL");
    cmd
}

/// `loh` on the real services: the database at `db_url`, NATS at `nats_url`, Redis, and the
/// signing key `data/jwt-key.pem` (made on first use, so every process of a test shares it);
/// `shard` names the world, its stream and its Redis keys.
pub fn on_services(db_url: &str, nats_url: &str, data: &Path, shard: &str) -> Command {
    let key = data.join("jwt-key.pem");
    if !key.exists() {
        std::fs::write(
            &key,
            loh_auth::SigningKey::generate().unwrap().private_pem(),
        )
        .unwrap();
    }
    let mut cmd = loh();
    cmd.env("DATABASE_URL", db_url)
        .env("NATS_URL", nats_url)
        .env("REDIS_URL", loh_testkit::redis_url())
        .env("LOH_JWT_KEY_FILE", &key)
        .env("LOH_SHARD", shard)
        .env("LOH_REDIS_PREFIX", shard);
    cmd
}

/// Starts `cmd` as `loh up` on `data` and free addresses, with `args` after; waits until it is
/// healthy.
pub async fn start(mut cmd: Command, data: &Path, args: &[&str]) -> LohUp {
    let (game, query) = (free_addr(), free_addr());
    let child = cmd
        .args(["up", "--data-dir"])
        .arg(data)
        .args([
            "--game-addr",
            &game.to_string(),
            "--query-addr",
            &query.to_string(),
        ])
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    healthy(child, game, query).await
}

/// Starts `cmd` as `loh tick-writer` (a world's game server and relay, no projections) on a
/// free game address, with `args` after; waits until it is healthy.
pub async fn start_tick_writer(cmd: Command, args: &[&str]) -> LohUp {
    start_tick_writer_at(cmd, free_addr(), args).await
}

/// [`start_tick_writer`] on the game address `game` (a world restarted where it was).
pub async fn start_tick_writer_at(mut cmd: Command, game: SocketAddr, args: &[&str]) -> LohUp {
    let child = cmd
        .args(["tick-writer", "--game-addr", &game.to_string()])
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    healthy(child, game, free_addr()).await
}

/// Waits until the game server of `child` answers `/healthz`.
async fn healthy(mut child: Child, game: SocketAddr, query: SocketAddr) -> LohUp {
    for _ in 0..400 {
        if reqwest::get(format!("http://{game}/healthz"))
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            return LohUp { child, game, query };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("loh did not become healthy");
}
