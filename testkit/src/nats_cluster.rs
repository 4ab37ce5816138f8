//! Three `nats-server` processes on loopback forming the JetStream cluster of
//! `nats/cluster/n1.conf` … `n3.conf`: each runs its shipped file, with the address, ports, store
//! directory (a temporary folder) and routes given on the command line, which take precedence.
//! Nodes can be killed (SIGKILL) and restarted on the same ports and store.
//!
//! The shipped files include `nats/cluster/auth.conf`: every client needs a user. The servers get
//! a fresh password per user in their environment; [`NatsCluster::urls`] carries the `operator`
//! user's, [`NatsCluster::urls_as`] another user's.
//!
//! The binary is `LOH_TEST_NATS_SERVER`, else `/usr/sbin/nats-server` (what `scripts/services`
//! installs), else `nats-server` on the PATH. A missing binary fails the test with that advice.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One node: its name (`n1`…), ports, store and process.
struct Node {
    name: String,
    config: PathBuf,
    client_port: u16,
    http_port: u16,
    route_port: u16,
    store: tempfile::TempDir,
    child: Option<Child>,
}

/// The running cluster; every node is killed when it drops.
pub struct NatsCluster {
    nodes: Vec<Node>,
    binary: String,
    /// Each user of `auth.conf` and its password.
    passwords: Vec<(&'static str, String)>,
}

/// A password as a server's environment gives it: nats-server parses a variable's value as a
/// config value, so it is quoted (else `7f…` would be read as a number and refused).
pub fn quoted(password: &str) -> String {
    format!("\"{password}\"")
}

/// The users of `nats/cluster/auth.conf` and the environment variables of their passwords.
pub const USERS: [(&str, &str); 3] = [
    ("tick_writer", "LOH_NATS_TICK_WRITER_PASSWORD"),
    ("projections", "LOH_NATS_PROJECTIONS_PASSWORD"),
    ("operator", "LOH_NATS_OPERATOR_PASSWORD"),
];

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

fn binary() -> String {
    if let Ok(b) = std::env::var("LOH_TEST_NATS_SERVER") {
        return b;
    }
    if Path::new("/usr/sbin/nats-server").exists() {
        return "/usr/sbin/nats-server".to_owned();
    }
    "nats-server".to_owned()
}

impl NatsCluster {
    /// Starts the three nodes and waits until each answers on its client port.
    pub async fn start() -> NatsCluster {
        // testkit/ sits beside nats/ in the workspace.
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../nats/cluster");
        let nodes = (1..=3)
            .map(|i| Node {
                name: format!("n{i}"),
                config: dir.join(format!("n{i}.conf")),
                client_port: free_port(),
                http_port: free_port(),
                route_port: free_port(),
                store: tempfile::tempdir().expect("a temporary store directory"),
                child: None,
            })
            .collect();
        let mut cluster = NatsCluster {
            nodes,
            binary: binary(),
            passwords: USERS
                .iter()
                .map(|(user, _)| (*user, format!("7{}", uuid::Uuid::new_v4().simple())))
                .collect(),
        };
        for i in 0..3 {
            cluster.spawn(i);
        }
        for i in 0..3 {
            cluster.wait_accepting(i).await;
        }
        cluster
    }

    /// Waits (60 s at most) until the cluster has elected its JetStream meta leader, so a
    /// stream can be created; a node's monitoring endpoint `/jsz` names it.
    pub async fn wait_for_meta_leader(&self) {
        let start = Instant::now();
        loop {
            for node in &self.nodes {
                if node.child.is_some()
                    && let Some(body) = http_get(node.http_port, "/jsz").await
                {
                    let compact: String = body.split_whitespace().collect();
                    if let Some(meta) = compact.split("\"meta_cluster\":").nth(1)
                        && meta.contains("\"leader\":\"n")
                    {
                        return;
                    }
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the NATS cluster elected no JetStream leader within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Every node's client URL with the `operator` user's credentials, comma-separated (what
    /// NATS_URL holds for `loh up` on a cluster).
    pub fn urls(&self) -> String {
        self.urls_as("operator")
    }

    /// Every node's client URL with `user`'s credentials (a user of `auth.conf`), or none for
    /// `""`.
    pub fn urls_as(&self, user: &str) -> String {
        let userinfo = self
            .passwords
            .iter()
            .find(|(u, _)| *u == user)
            .map(|(u, p)| format!("{u}:{p}@"))
            .unwrap_or_default();
        self.nodes
            .iter()
            .map(|n| format!("nats://{userinfo}127.0.0.1:{}", n.client_port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The index of the node called `name` (`n1` → 0).
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// Kills node `i` with SIGKILL, as a crash would, and reaps it.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts node `i` again on its ports and store, and waits until it accepts clients.
    pub async fn restart(&mut self, i: usize) {
        self.kill(i);
        self.spawn(i);
        self.wait_accepting(i).await;
    }

    fn spawn(&mut self, i: usize) {
        let routes = self
            .nodes
            .iter()
            .map(|n| format!("nats://127.0.0.1:{}", n.route_port))
            .collect::<Vec<_>>()
            .join(",");
        let node = &mut self.nodes[i];
        let child = Command::new(&self.binary)
            .arg("-c")
            .arg(&node.config)
            .args(["-a", "127.0.0.1", "-p"])
            .arg(node.client_port.to_string())
            .arg("-m")
            .arg(node.http_port.to_string())
            .arg("--cluster")
            .arg(format!("nats://127.0.0.1:{}", node.route_port))
            .arg("--routes")
            .arg(&routes)
            .arg("-sd")
            .arg(node.store.path())
            .envs(
                USERS
                    .iter()
                    .zip(&self.passwords)
                    .map(|((_, var), (_, password))| (*var, quoted(password))),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} ({e}): the cluster test needs nats-server; \
                     scripts/services installs it, or set LOH_TEST_NATS_SERVER",
                    self.binary
                )
            });
        node.child = Some(child);
    }

    /// Waits (10 s at most) until node `i` takes client connections; fails if it exited.
    async fn wait_accepting(&mut self, i: usize) {
        let start = Instant::now();
        let addr = format!("127.0.0.1:{}", self.nodes[i].client_port);
        loop {
            if let Some(child) = self.nodes[i].child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "nats-server {} exited with {status} (is {} valid for this nats-server? \
                     try `{} -t -c {0}`)",
                    self.nodes[i].name,
                    self.nodes[i].config.display(),
                    self.binary,
                );
            }
            if tokio::net::TcpStream::connect(&addr).await.is_ok() {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "nats-server {} did not listen on {addr} within 10 s",
                self.nodes[i].name
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The body of `GET path` from the monitoring port, `None` when it does not answer.
async fn http_get(port: u16, path: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    conn.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    tokio::time::timeout(Duration::from_secs(2), conn.read_to_string(&mut response))
        .await
        .ok()?
        .ok()?;
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }
}
