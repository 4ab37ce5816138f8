//! Private PostgreSQL, NATS (JetStream) and Redis for `loh chaos --services`: each on a free
//! loopback port with its data in a folder of its own, so the campaign can stop and start them
//! without touching any instance someone else uses. Every one is stopped when dropped.
//!
//! The binaries: `initdb`, `pg_ctl` and `postgres` from `LOH_PG_BIN_DIR`, else the `PATH`, else
//! `/usr/local/bin` or `/usr/lib/postgresql/<version>/bin`; `nats-server` and `redis-server` from
//! the `PATH` or `/usr/sbin`, `/usr/bin`. PostgreSQL refuses to run as root: as root, its commands
//! run as the `postgres` user (`runuser`), in a folder that user owns.
//!
//! Redis runs as the Compose files run it: in memory only (`--save '' --appendonly no`), so a
//! restart loses every session (docs/RELIABILITY.md, "When a dependency is gone").

use anyhow::Context;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A loopback port nothing listens on now.
fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("binding a free port")?;
    Ok(l.local_addr()?.port())
}

/// The first of `name` in `dirs`, else `name` (found on the `PATH` when run).
fn binary(name: &str, dirs: &[PathBuf]) -> PathBuf {
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    dirs.iter()
        .chain(path_dirs.iter())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

/// Waits up to `limit` for something to listen on `127.0.0.1:port`.
async fn listening(port: u16, limit: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Sends SIGTERM to `child` and waits (up to 30 s, then SIGKILL) for it to exit.
fn terminate(child: &mut Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A private PostgreSQL cluster (`initdb` into a folder of its own, `pg_ctl` to start and stop).
pub struct Postgres {
    root: PathBuf,
    port: u16,
    bin: Vec<PathBuf>,
    as_postgres: bool,
}

impl Postgres {
    fn bin_dirs() -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = std::env::var_os("LOH_PG_BIN_DIR")
            .map(|d| vec![PathBuf::from(d)])
            .unwrap_or_default();
        dirs.push("/usr/local/bin".into());
        if let Ok(versions) = std::fs::read_dir("/usr/lib/postgresql") {
            let mut found: Vec<PathBuf> =
                versions.flatten().map(|v| v.path().join("bin")).collect();
            found.sort();
            dirs.extend(found.into_iter().rev());
        }
        dirs
    }

    /// `name` run as the user that owns the cluster.
    fn command(&self, name: &str) -> Command {
        let bin = binary(name, &self.bin);
        if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(bin);
            cmd
        } else {
            Command::new(bin)
        }
    }

    fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    /// Makes a new cluster under the system's temporary folder and starts it.
    pub async fn start_new() -> anyhow::Result<Postgres> {
        let root =
            std::env::temp_dir().join(format!("loh-chaos-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
        let pg = Postgres {
            root,
            port: free_port()?,
            bin: Self::bin_dirs(),
            as_postgres: is_root(),
        };
        if pg.as_postgres {
            let owned = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&pg.root)
                .status()
                .context("chown of the PostgreSQL folder")?;
            anyhow::ensure!(owned.success(), "chown postgres {}", pg.root.display());
        }
        let init = pg
            .command("initdb")
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(pg.data())
            .stdout(Stdio::null())
            .output()
            .context("running initdb (set LOH_PG_BIN_DIR to PostgreSQL's bin folder)")?;
        anyhow::ensure!(
            init.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&init.stderr).trim()
        );
        pg.start().await?;
        Ok(pg)
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server and waits until it accepts connections.
    pub async fn start(&self) -> anyhow::Result<()> {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c max_connections=200",
            self.port,
            self.root.display()
        );
        let started = self
            .command("pg_ctl")
            .args(["-w", "-t", "60", "-D"])
            .arg(self.data())
            .arg("-l")
            .arg(self.root.join("postgres.log"))
            .args(["-o", &options, "start"])
            .stdout(Stdio::null())
            .output()
            .context("running pg_ctl start")?;
        anyhow::ensure!(
            started.status.success(),
            "pg_ctl start failed: {} (see {})",
            String::from_utf8_lossy(&started.stderr).trim(),
            self.root.join("postgres.log").display()
        );
        anyhow::ensure!(
            listening(self.port, Duration::from_secs(30)).await,
            "PostgreSQL did not listen on {}",
            self.port
        );
        Ok(())
    }

    /// Stops the server (`fast`: sessions are disconnected, what committed is kept).
    pub fn stop(&self) -> anyhow::Result<()> {
        self.stop_mode("fast")
    }

    fn stop_mode(&self, mode: &str) -> anyhow::Result<()> {
        let stopped = self
            .command("pg_ctl")
            .args(["-w", "-t", "60", "-m", mode, "-D"])
            .arg(self.data())
            .arg("stop")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .context("running pg_ctl stop")?;
        anyhow::ensure!(stopped.success(), "pg_ctl stop failed");
        Ok(())
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.stop_mode("immediate");
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// A private `nats-server -js`, its store in a folder of its own (kept across restarts).
pub struct Nats {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl Nats {
    /// Starts a new server.
    pub async fn start_new() -> anyhow::Result<Nats> {
        let mut nats = Nats {
            dir: tempfile::tempdir().context("a folder for JetStream")?,
            port: free_port()?,
            child: None,
        };
        nats.start().await?;
        Ok(nats)
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts the server on its port and store; waits until it listens.
    pub async fn start(&mut self) -> anyhow::Result<()> {
        let bin = binary("nats-server", &["/usr/sbin".into(), "/usr/bin".into()]);
        let log = std::fs::File::create(self.dir.path().join("nats.log"))?;
        let child = Command::new(bin)
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(self.dir.path().join("store"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting nats-server")?;
        self.child = Some(child);
        anyhow::ensure!(
            listening(self.port, Duration::from_secs(30)).await,
            "nats-server did not listen on {}",
            self.port
        );
        Ok(())
    }

    /// Stops the server (SIGTERM: it shuts down cleanly, the store is kept).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate(&mut child);
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A private `redis-server`, in memory only as the Compose files run it.
pub struct Redis {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl Redis {
    /// Starts a new server.
    pub async fn start_new() -> anyhow::Result<Redis> {
        let mut redis = Redis {
            dir: tempfile::tempdir().context("a folder for Redis")?,
            port: free_port()?,
            child: None,
        };
        redis.start().await?;
        Ok(redis)
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server; waits until it listens.
    pub async fn start(&mut self) -> anyhow::Result<()> {
        let bin = binary("redis-server", &["/usr/bin".into(), "/usr/sbin".into()]);
        let child = Command::new(bin)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting redis-server")?;
        self.child = Some(child);
        anyhow::ensure!(
            listening(self.port, Duration::from_secs(30)).await,
            "redis-server did not listen on {}",
            self.port
        );
        Ok(())
    }

    /// Stops the server (SIGTERM).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate(&mut child);
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The three services of a campaign.
pub struct Services {
    pub postgres: Postgres,
    pub nats: Nats,
    pub redis: Redis,
}

impl Services {
    /// Starts all three.
    pub async fn start() -> anyhow::Result<Services> {
        Ok(Services {
            postgres: Postgres::start_new().await?,
            nats: Nats::start_new().await?,
            redis: Redis::start_new().await?,
        })
    }
}
