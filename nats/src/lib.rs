//! JetStream definitions for the event fan-out, the wire format of relayed events, and helpers to
//! declare and read them.
//!
//! PostgreSQL is the source of truth; the JetStream stream of a shard is a replaceable fan-out
//! path (ARCHITECTURE.md, invariant 1). The [`relay`] publishes every
//! committed event of a shard into that shard's stream, in position order; projectors read it
//! through durable pull consumers, ignore repeats and fill gaps from PostgreSQL.
//!
//! # Message format
//!
//! One JetStream message per stored event:
//!
//! | part | value |
//! |---|---|
//! | subject | `<subject_prefix>.<stream token>`, see [`EventStreamDef::subject`] (e.g. `loh.events.world1.player-6f1c…`) |
//! | header `Nats-Msg-Id` ([`MSG_ID_HEADER`]) | the event id, a hyphenated lowercase UUID; JetStream drops a repeat inside the dedupe window |
//! | header `Loh-Position` ([`POSITION_HEADER`]) | the event's position in the shard's log, decimal (`1`, `2`, …) |
//! | payload | `serde_json::to_vec(&StoredEvent)`: the whole envelope, `payload`/`prev_hash`/`hash` as hex |
//!
//! The relay may add JetStream's own `Nats-Expected-Last-*` headers (its ordering guard); consumers
//! ignore every other header. The stream holds positions in order, each once: the relay resumes
//! from the last message JetStream holds and guards each publish with the expected previous
//! message, so a restarted or duplicated relay can neither skip nor repeat. Consumers must still
//! tolerate repeats and gaps (a stream can be purged, recreated or lose data), comparing
//! [`loh_events::StoredEvent::position`] with their checkpoint.
//!
//! Consumers decode with [`decode_message`] (any received message, e.g. a
//! `jetstream::Message` by deref), [`decode_stream_message`] (direct get) or [`decode_event`]
//! (payload bytes only); producers encode with [`encode_event`].
//!
//! # Layout
//! - `streams/events.json`: the stream's definition (storage, retention, dedupe window).
//! - `nats-server.conf`: the single server's configuration (`docker-compose.yml`, dev, QA).
//! - `cluster/n1.conf` … `n3.conf`: the three-node JetStream cluster of
//!   `docker-compose.prod.yml`; streams there are created with [`EventStreamDef::replicas`] = 3.
//! - [`EventStreamDef`]: a shard's stream name and subject prefix, [`EventStreamDef::ensure`]
//!   and [`EventStreamDef::tail`] (what the stream last holds); [`connect`], a client of one
//!   server or of a cluster (a comma-separated list of URLs).
//! - [`message`]: [`encode_event`] / [`decode_message`], the wire format above.
//! - [`relay`]: committed events from the store to the shard's stream, in position order.

pub mod message;
pub mod relay;

pub use message::{
    EncodedEvent, decode_event, decode_message, decode_parts, decode_stream_message, encode_event,
    position_header,
};

use async_nats::jetstream::{self, stream};

/// Header carrying the event's position in the shard's log (decimal).
pub const POSITION_HEADER: &str = "Loh-Position";

/// JetStream's deduplication header; carries the event id.
pub const MSG_ID_HEADER: &str = "Nats-Msg-Id";

/// The stream definition shipped in `streams/events.json`.
pub const EVENTS_STREAM_JSON: &str = include_str!("../streams/events.json");

/// Errors of declaring, reaching or reading JetStream, and of the wire format.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The shipped definition does not parse; a build defect.
    #[error("stream definition: {0}")]
    Definition(#[from] serde_json::Error),
    /// JetStream refused or could not be reached; retry later.
    #[error("jetstream: {0}")]
    JetStream(String),
    /// A message is not a relayed event (bad payload, or headers that contradict it). A consumer
    /// should alert and fill the position from PostgreSQL; retrying the same message cannot help.
    #[error("not a relayed event: {0}")]
    Decode(String),
    /// An event could not be encoded; a defect (the envelope always serialises).
    #[error("encode: {0}")]
    Encode(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Connects to NATS at `urls`: one URL, or a comma-separated list of a cluster's servers
/// (`nats://n1:4222,nats://n2:4222,nats://n3:4222`). The client starts on any reachable server
/// of the list and, when its server dies, reconnects to another one (of the list, or one the
/// cluster announced). Give every server: the first connection needs one that is up.
///
/// Credentials ride in the URL, as for PostgreSQL and Redis: `nats://user:password@host:4222`
/// (a user of `nats/cluster/auth.conf`), or `nats://token@host:4222`. The client library takes
/// none from a URL by itself, so they are read here and given to it; every URL of a list that
/// carries credentials must carry the same.
///
/// Fails with [`Error::JetStream`] when no URL parses, the URLs disagree on credentials, or no
/// server answers (a wrong password among them); the message names no credentials.
pub async fn connect(urls: &str) -> Result<async_nats::Client> {
    let servers = urls
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .enumerate()
        .map(|(i, u)| {
            u.parse::<async_nats::ServerAddr>().map_err(|_| {
                Error::JetStream(format!("entry {} of the NATS URL list is not a URL", i + 1))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if servers.is_empty() {
        return Err(Error::JetStream("no NATS URL given".into()));
    }
    let options = match credentials(&servers)? {
        None => async_nats::ConnectOptions::new(),
        Some((user, Some(password))) => {
            async_nats::ConnectOptions::with_user_and_password(user, password)
        }
        Some((token, None)) => async_nats::ConnectOptions::with_token(token),
    };
    options
        .connect(servers)
        .await
        .map_err(|e| Error::JetStream(format!("connecting: {e}")))
}

/// The user (or token) and password the URLs carry, percent-decoded; the same in every URL that
/// carries any.
fn credentials(servers: &[async_nats::ServerAddr]) -> Result<Option<(String, Option<String>)>> {
    let decode = |s: &str| {
        percent_decode(s)
            .ok_or_else(|| Error::JetStream("the NATS URL's credentials are not UTF-8".into()))
    };
    let mut found: Option<(String, Option<String>)> = None;
    for server in servers {
        let Some(user) = server.username() else {
            continue;
        };
        let these = (decode(user)?, server.password().map(decode).transpose()?);
        match &found {
            Some(first) if *first != these => {
                return Err(Error::JetStream(
                    "the NATS URLs carry different credentials".into(),
                ));
            }
            _ => found = Some(these),
        }
    }
    Ok(found)
}

/// `%XX` escapes of a URL's user or password decoded; `None` when the result is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h)? * 16 + hex(l)?) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The event stream of one shard: its JetStream name, subject prefix and replica count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventStreamDef {
    /// JetStream stream name, e.g. `LOH_EVENTS_WORLD1`.
    pub name: String,
    /// Subject prefix, e.g. `loh.events.world1`; events go to `<prefix>.<stream token>`.
    pub subject_prefix: String,
    /// Copies JetStream keeps of the stream: 1 on a single server, 3 on the three-node cluster
    /// (`nats/cluster/`), where an acknowledged message is on a quorum of two and the stream
    /// survives the loss of any one node. Used when the stream is created; an existing stream
    /// keeps its own count ([`EventStreamDef::ensure`]).
    pub replicas: usize,
}

/// What a stream last holds, as the relay resumes from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamTail {
    /// The stream's last sequence (JetStream's own counter; survives purges).
    pub last_sequence: u64,
    /// The last event the stream holds, `None` when it holds no message.
    pub last_event: Option<TailEvent>,
}

impl StreamTail {
    /// The position of the last event held, `0` when none.
    pub fn position(&self) -> u64 {
        self.last_event.map_or(0, |e| e.position)
    }
}

/// The last relayed event a stream holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TailEvent {
    /// Its JetStream sequence.
    pub sequence: u64,
    /// Its position ([`POSITION_HEADER`]).
    pub position: u64,
    /// Its event id ([`MSG_ID_HEADER`]).
    pub event_id: uuid::Uuid,
}

impl EventStreamDef {
    /// The definition for `shard` (names derived from it; `[A-Za-z0-9_-]` are kept).
    pub fn for_shard(shard: &str) -> EventStreamDef {
        let token: String = shard
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        EventStreamDef {
            name: format!(
                "LOH_EVENTS_{}",
                token.to_ascii_uppercase().replace('-', "_")
            ),
            subject_prefix: format!("loh.events.{token}"),
            replicas: 1,
        }
    }

    /// This definition with `replicas` copies of the stream (at least 1).
    pub fn with_replicas(mut self, replicas: usize) -> EventStreamDef {
        self.replicas = replicas.max(1);
        self
    }

    /// The subject of an event of `stream_id`: `<prefix>.<token>`, where the token is the stream
    /// id with every character a subject token cannot hold (`.`, `*`, `>`, whitespace, control
    /// characters) replaced by `_` (an empty id becomes `_`). The payload keeps the exact id.
    pub fn subject(&self, stream_id: &str) -> String {
        let mut subject = String::with_capacity(self.subject_prefix.len() + 1 + stream_id.len());
        subject.push_str(&self.subject_prefix);
        subject.push('.');
        if stream_id.is_empty() {
            subject.push('_');
        }
        subject.extend(stream_id.chars().map(|c| {
            if matches!(c, '.' | '*' | '>') || c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        }));
        subject
    }

    /// The wildcard covering every event of the shard.
    pub fn all_subjects(&self) -> String {
        format!("{}.>", self.subject_prefix)
    }

    /// The JetStream config: `streams/events.json` with this name, subjects and replica count.
    pub fn config(&self) -> Result<stream::Config> {
        let mut config: stream::Config = serde_json::from_str(EVENTS_STREAM_JSON)?;
        config.name = self.name.clone();
        config.subjects = vec![self.all_subjects()];
        config.num_replicas = self.replicas.max(1);
        Ok(config)
    }

    /// Creates the stream if missing and returns it. An existing stream is left as it is, also
    /// when it has another replica count than this definition (a warning is logged): a process
    /// started without the cluster's setting must not scale a replicated stream down. Changing
    /// the count of a live stream is an operator's `nats stream edit --replicas`.
    pub async fn ensure(&self, js: &jetstream::Context) -> Result<stream::Stream> {
        let stream = match js.get_or_create_stream(self.config()?).await {
            Ok(stream) => stream,
            Err(e) => self.made_meanwhile(js, e.to_string()).await?,
        };
        let held = stream.cached_info().config.num_replicas.max(1);
        if held != self.replicas.max(1) {
            tracing::warn!(
                stream = %self.name,
                held,
                configured = self.replicas,
                "the event stream has another replica count than configured; left as it is"
            );
        }
        Ok(stream)
    }

    /// The stream another process made while this one was making it, or the error `why` when
    /// there is none. Roles that start together against a new server (the Compose files start
    /// the tick writer and the projectors at once) both find no stream and both create it; NATS
    /// 2.9 refused the second create with "subjects overlap with an existing stream" (error
    /// 10065), and `loh projections run` exited at start while the tick writer ran on.
    async fn made_meanwhile(&self, js: &jetstream::Context, why: String) -> Result<stream::Stream> {
        for attempt in 0..5 {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            if let Ok(stream) = js.get_stream(&self.name).await {
                return Ok(stream);
            }
        }
        Err(Error::JetStream(why))
    }

    /// What the stream last holds: its last sequence and the position and id of its last event
    /// (read from the message at the last sequence, or the last message on the shard's subjects
    /// when that one was deleted). `last_event` is `None` for an empty (or purged) stream.
    ///
    /// Fails with [`Error::Decode`] when the last message carries no valid [`POSITION_HEADER`] or
    /// [`MSG_ID_HEADER`] (something else publishes on the shard's subjects).
    pub async fn tail(&self, js: &jetstream::Context) -> Result<StreamTail> {
        use async_nats::jetstream::stream::RawMessageErrorKind;
        let stream = js
            .get_stream_no_info(&self.name)
            .await
            .map_err(|e| Error::JetStream(e.to_string()))?;
        let info = stream
            .get_info()
            .await
            .map_err(|e| Error::JetStream(e.to_string()))?;
        let last_sequence = info.state.last_sequence;
        if info.state.messages == 0 {
            return Ok(StreamTail {
                last_sequence,
                last_event: None,
            });
        }
        let message = match stream.get_raw_message(last_sequence).await {
            Ok(m) => m,
            Err(e) if e.kind() == RawMessageErrorKind::NoMessageFound => {
                match stream
                    .get_last_raw_message_by_subject(&self.all_subjects())
                    .await
                {
                    Ok(m) => m,
                    Err(e) if e.kind() == RawMessageErrorKind::NoMessageFound => {
                        return Ok(StreamTail {
                            last_sequence,
                            last_event: None,
                        });
                    }
                    Err(e) => return Err(Error::JetStream(e.to_string())),
                }
            }
            Err(e) => return Err(Error::JetStream(e.to_string())),
        };
        let position = position_header(Some(&message.headers))?.ok_or_else(|| {
            Error::Decode(format!(
                "message {} of {} has no {POSITION_HEADER} header",
                message.sequence, self.name
            ))
        })?;
        let event_id = message
            .headers
            .get(MSG_ID_HEADER)
            .and_then(|v| uuid::Uuid::parse_str(v.as_str()).ok())
            .ok_or_else(|| {
                Error::Decode(format!(
                    "message {} of {} has no event id in {MSG_ID_HEADER}",
                    message.sequence, self.name
                ))
            })?;
        Ok(StreamTail {
            last_sequence,
            last_event: Some(TailEvent {
                sequence: message.sequence,
                position,
                event_id,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A create refused because another role made the stream first yields that stream; with no
    /// stream made, the refusal stands (against the real NATS, `LOH_TEST_NATS`).
    #[tokio::test]
    async fn a_refused_create_takes_the_stream_another_role_made_and_only_that() {
        let js = jetstream::new(
            connect(&loh_testkit::nats_url())
                .await
                .expect("NATS reachable"),
        );
        let token = loh_testkit::unique_name("made");
        let def = EventStreamDef {
            name: token.to_ascii_uppercase(),
            subject_prefix: format!("test.{token}"),
            replicas: 1,
        };
        let why = "subjects overlap with an existing stream".to_owned();
        let Err(Error::JetStream(refused)) = def.made_meanwhile(&js, why.clone()).await else {
            panic!("no stream was made: the refusal stands")
        };
        assert_eq!(refused, why);
        // Another role makes it; the refused one then takes it.
        js.create_stream(def.config().unwrap())
            .await
            .expect("create");
        let taken = def
            .made_meanwhile(&js, why)
            .await
            .expect("the stream made meanwhile");
        assert_eq!(taken.cached_info().config.name, def.name);
        let _ = js.delete_stream(&def.name).await;
    }

    fn addrs(urls: &[&str]) -> Vec<async_nats::ServerAddr> {
        urls.iter().map(|u| u.parse().unwrap()).collect()
    }

    #[test]
    fn credentials_are_read_from_the_urls_and_must_agree() {
        assert_eq!(
            credentials(&addrs(&["nats://127.0.0.1:4222"])).unwrap(),
            None
        );
        assert_eq!(
            credentials(&addrs(&[
                "nats://n1:4222",
                "nats://projections:p%40ss%2Fw@n2:4222"
            ]))
            .unwrap(),
            Some(("projections".into(), Some("p@ss/w".into())))
        );
        assert_eq!(
            credentials(&addrs(&["nats://s3cret@n1:4222"])).unwrap(),
            Some(("s3cret".into(), None))
        );
        let err = credentials(&addrs(&["nats://a:x@n1:4222", "nats://a:y@n2:4222"])).unwrap_err();
        assert!(err.to_string().contains("different credentials"), "{err}");
        assert_eq!(percent_decode("%zz%41"), Some("%zzA".into()));
        assert_eq!(percent_decode("%ff"), None);
    }

    #[test]
    fn shard_names_become_stream_names_and_prefixes() {
        let def = EventStreamDef::for_shard("world-1.eu");
        assert_eq!(def.name, "LOH_EVENTS_WORLD_1_EU");
        assert_eq!(def.subject_prefix, "loh.events.world-1_eu");
        assert_eq!(def.all_subjects(), "loh.events.world-1_eu.>");
    }

    #[test]
    fn subjects_keep_one_token_per_stream_id() {
        let def = EventStreamDef::for_shard("w");
        assert_eq!(def.subject("player-abc"), "loh.events.w.player-abc");
        assert_eq!(def.subject("a.b *>\tc"), "loh.events.w.a_b____c");
        assert_eq!(def.subject(""), "loh.events.w._");
        assert_eq!(def.subject("npc:goblin"), "loh.events.w.npc:goblin");
    }

    #[test]
    fn the_shipped_definition_parses_with_this_shards_names() {
        let def = EventStreamDef::for_shard("w1");
        let config = def.config().expect("events.json parses");
        assert_eq!(config.name, "LOH_EVENTS_W1");
        assert_eq!(config.subjects, vec!["loh.events.w1.>".to_owned()]);
        assert_eq!(config.duplicate_window, std::time::Duration::from_secs(120));
        assert!(config.allow_direct);
        assert_eq!(config.num_replicas, 1, "one copy on a single server");
        let replicated = def.with_replicas(3).config().expect("events.json parses");
        assert_eq!(replicated.num_replicas, 3, "three copies on the cluster");
    }
}
