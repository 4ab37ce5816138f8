//! `nats/cluster/auth.conf` against a real `nats-server` (the one `scripts/services` installs):
//! nobody connects without a user, and the projectors' user can read and acknowledge the event
//! stream but neither publish into it nor delete it — so no host on the network can feed the
//! projectors events. The server is a private one on a free loopback port.

use async_nats::jetstream::{self, consumer::pull};
use futures::StreamExt;
use loh_events::{EventBody, GENESIS_HASH, NewEvent, StoredEvent};
use loh_nats::{EventStreamDef, decode_stream_message, encode_event};
use loh_testkit::nats_cluster::USERS;
use loh_testkit::unique_name;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use uuid::Uuid;

/// A `nats-server` with JetStream and the shipped users, killed when dropped.
struct Server {
    child: Child,
    port: u16,
    passwords: Vec<String>,
    _store: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    async fn start() -> Server {
        let store = tempfile::tempdir().unwrap();
        let auth = Path::new(env!("CARGO_MANIFEST_DIR")).join("cluster/auth.conf");
        // An include is relative to the including file: the shipped file is copied beside it.
        std::fs::copy(&auth, store.path().join("auth.conf")).unwrap();
        let conf = store.path().join("server.conf");
        std::fs::write(
            &conf,
            format!(
                "include \"auth.conf\"\njetstream {{ store_dir: \"{}\" }}\n",
                store.path().join("js").display()
            ),
        )
        .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // Starting with a digit, which the server would read as a number were it not quoted.
        let passwords: Vec<String> = USERS
            .iter()
            .map(|_| format!("7{}", Uuid::new_v4().simple()))
            .collect();
        let binary = std::env::var("LOH_TEST_NATS_SERVER")
            .unwrap_or_else(|_| "/usr/sbin/nats-server".to_owned());
        let child = Command::new(&binary)
            .arg("-c")
            .arg(&conf)
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .envs(
                USERS
                    .iter()
                    .zip(&passwords)
                    .map(|((_, var), p)| (*var, loh_testkit::nats_cluster::quoted(p))),
            )
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(store.path().join("server.log")).unwrap())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {binary} ({e}): scripts/services installs it")
            });
        let mut child = child;
        for _ in 0..400 {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(store.path().join("server.log"));
                panic!("nats-server exited with {status}: {log:?}");
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Server {
                    child,
                    port,
                    passwords,
                    _store: store,
                };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("nats-server did not listen within 20 s");
    }

    fn url_as(&self, user: &str) -> String {
        let i = USERS.iter().position(|(u, _)| *u == user).unwrap();
        format!(
            "nats://{user}:{}@127.0.0.1:{}",
            self.passwords[i], self.port
        )
    }
}

fn event(position: u64) -> StoredEvent {
    let player_id = Uuid::new_v4();
    let new = NewEvent {
        event_id: Uuid::new_v4(),
        stream_id: loh_events::player_stream(player_id),
        stream_version: 1,
        tick: position,
        correlation_id: Uuid::new_v4(),
        causation_id: None,
        occurred_at_us: 1_700_000_000_000_000,
        body: EventBody::PlayerSpawned {
            player_id,
            x: 1,
            y: 2,
        },
    };
    StoredEvent::seal("w", position, GENESIS_HASH, &new).unwrap()
}

/// Publishes `event` with `js` and waits (3 s at most) for the stream's acknowledgement.
async fn publish(
    js: &jetstream::Context,
    def: &EventStreamDef,
    event: &StoredEvent,
) -> Result<(), String> {
    let m = encode_event(def, event).unwrap();
    let ack = js
        .publish_with_headers(m.subject, m.headers, m.payload)
        .await
        .map_err(|e| e.to_string())?;
    match tokio::time::timeout(Duration::from_secs(3), ack).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no acknowledgement".into()),
    }
}

#[tokio::test]
async fn without_a_user_or_with_a_wrong_password_nobody_connects() {
    let server = Server::start().await;
    let anonymous = format!("nats://127.0.0.1:{}", server.port);
    assert!(loh_nats::connect(&anonymous).await.is_err());
    let wrong = format!("nats://projections:guess@127.0.0.1:{}", server.port);
    let err = loh_nats::connect(&wrong).await.unwrap_err().to_string();
    assert!(
        !err.contains("guess"),
        "the password reached the error: {err}"
    );
    assert!(loh_nats::connect(&server.url_as("operator")).await.is_ok());
}

#[tokio::test]
async fn only_the_tick_writer_publishes_events_and_the_projectors_read_them() {
    let server = Server::start().await;
    let def = EventStreamDef::for_shard(&unique_name("auth"));

    let writer = jetstream::new(
        loh_nats::connect(&server.url_as("tick_writer"))
            .await
            .unwrap(),
    );
    def.ensure(&writer)
        .await
        .expect("the tick writer creates its stream");
    let real = event(1);
    publish(&writer, &def, &real)
        .await
        .expect("the tick writer publishes");

    let reader = jetstream::new(
        loh_nats::connect(&server.url_as("projections"))
            .await
            .unwrap(),
    );
    // A forged event from the projectors' user is refused and never reaches the stream.
    assert!(publish(&reader, &def, &event(2)).await.is_err());
    let stream = def
        .ensure(&reader)
        .await
        .expect("the projectors see the stream");
    // Nor can that user empty or delete it.
    assert!(stream.purge().await.is_err());
    assert!(reader.delete_stream(&def.name).await.is_err());

    let mut info = writer.get_stream(&def.name).await.unwrap();
    assert_eq!(info.info().await.unwrap().state.messages, 1);

    // The projectors read and acknowledge through a durable consumer, as the runner does.
    let consumer: jetstream::consumer::PullConsumer = stream
        .get_or_create_consumer(
            "projector",
            pull::Config {
                durable_name: Some("projector".into()),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                filter_subject: def.all_subjects(),
                ..Default::default()
            },
        )
        .await
        .expect("the projectors create their consumer");
    let mut messages = consumer.fetch().max_messages(1).messages().await.unwrap();
    let message = messages.next().await.expect("one message").unwrap();
    message.ack().await.expect("the projectors acknowledge");
    let got = decode_stream_message(&stream.get_raw_message(1).await.unwrap()).unwrap();
    assert_eq!(got, real);
}
