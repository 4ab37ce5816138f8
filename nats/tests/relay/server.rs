//! A private `nats-server` with JetStream, for outage tests (`LOH_TEST_NATS_SERVER` names the
//! binary, default `nats-server` on the PATH).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl NatsServer {
    /// Starts a server on a free port with a store directory of its own.
    pub async fn start() -> NatsServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut server = NatsServer {
            child: None,
            port,
            dir: tempfile::tempdir().expect("tempdir"),
        };
        server.restart().await;
        server
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server abruptly (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// (Re)starts the server on the same port and store, and waits until it accepts clients.
    pub async fn restart(&mut self) {
        self.kill();
        let binary =
            std::env::var("LOH_TEST_NATS_SERVER").unwrap_or_else(|_| "nats-server".to_owned());
        let child = Command::new(&binary)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {binary} (set LOH_TEST_NATS_SERVER): {e}"));
        self.child = Some(child);
        for _ in 0..100 {
            if let Ok(client) = async_nats::connect(self.url()).await {
                // JetStream answers once it has recovered its store: an unknown stream is
                // then "not found" rather than no answer.
                let js = async_nats::jetstream::new(client);
                match js.get_stream_no_info("NONE").await {
                    Ok(stream) => {
                        if let Err(e) = stream.get_info().await {
                            if e.to_string().contains("not found") {
                                return;
                            }
                            eprintln!("waiting for JetStream: {e}");
                        }
                    }
                    Err(e) => eprintln!("waiting for JetStream: {e}"),
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("nats-server on port {} did not come up", self.port);
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}
