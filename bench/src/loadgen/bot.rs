//! One bot: a real client on its own loopback address. It says `Hello`, takes `last_seq + 1`
//! from `Welcome` as its next seq, then sends one command per tick until the run's end, reading
//! every frame: answers matched by seq (with their latency), the `Snapshot` and `TickUpdate`s
//! (frames and bytes), `Error`s, and the end of the connection. After the run it waits for its
//! last answers, then closes.
//!
//! In the `hop` scenario a bot plays in several worlds, one at a time, as a client does: after a
//! `HopWorld` it sends nothing more on that connection, and the `Hop` frame that follows its
//! `Accepted` names the world and address to connect to; it connects there with the same token
//! (hop latency: `HopWorld` sent → `Welcome` in the new world). A `Hello` answered `other_world`
//! (the character lives elsewhere) is followed to the world it names. A connection the server
//! closes before the run's end is counted and connected again (a world's writer was restarted).

use super::frame::{self, Read};
use super::net::{self, Target, Ws};
use super::scenario::Plan;
use super::worlds::World;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use loh_commands::{
    ClientFrame, Command, PROTOCOL_VERSION, ServerFrame, decode_server, encode_client,
};
use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

/// How long the server has to answer `Hello`.
const WELCOME_TIMEOUT: Duration = Duration::from_secs(15);

/// Counters every bot adds to as it goes, for the live progress line.
#[derive(Debug, Default)]
pub struct Live {
    pub logged_in: AtomicU64,
    pub connected: AtomicU64,
    pub sent: AtomicU64,
    pub answered: AtomicU64,
    pub server_closed: AtomicU64,
    pub failed: AtomicU64,
    /// Set by the first bot past the end of the run.
    pub draining: AtomicBool,
}

/// How a bot's connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// The run ended and the bot closed its socket.
    Finished,
    /// The server closed (or broke) the connection; the reason is the code of the last `Error`
    /// frame before it, or how the socket ended without one.
    ServerClosed(String),
    /// The bot never got into the world (login, connect or `Hello` failed).
    NotConnected(String),
}

/// What one bot saw.
#[derive(Debug, Clone)]
pub struct BotStats {
    pub end: End,
    /// The tick length the server announced in `Welcome`.
    pub tick_ms: Option<u32>,
    pub sent: u64,
    /// Answers by code: `accepted`, or the rejection code.
    pub answers: BTreeMap<String, u64>,
    /// Command → answer latency of every answered command, in microseconds.
    pub latencies_us: Vec<u64>,
    /// `Error` frames by code.
    pub errors: BTreeMap<String, u64>,
    pub tick_frames: u64,
    pub tick_bytes: u64,
    /// Server ticks spanned while connected (from `Welcome` to the last tick heard of).
    pub ticks: u64,
    /// Commands sent and never answered.
    pub unanswered: u64,
    /// The bot's player, once `Welcome` named it.
    pub player_id: Option<Uuid>,
    /// The seqs the server answered `Accepted` (what a kill campaign checks the log for).
    pub accepted: Vec<u64>,
    /// `hop`: the same, with the world that answered (seqs are per world).
    pub accepted_in: Vec<(String, u64)>,
    /// `hop`: `HopWorld`s sent, hops that ended in a `Welcome` of the new world, and the others
    /// by why (the rejection code, or what broke).
    pub hops_requested: u64,
    pub hops_completed: u64,
    pub hops_failed: BTreeMap<String, u64>,
    /// `HopWorld` sent → `Welcome` in the new world, in microseconds.
    pub hop_latencies_us: Vec<u64>,
    /// `hop`: connections the server closed before the run's end, by reason, after which the
    /// bot connected again.
    pub closes: BTreeMap<String, u64>,
}

impl BotStats {
    pub fn not_connected(reason: String) -> BotStats {
        BotStats {
            end: End::NotConnected(reason),
            tick_ms: None,
            sent: 0,
            answers: BTreeMap::new(),
            latencies_us: Vec::new(),
            errors: BTreeMap::new(),
            tick_frames: 0,
            tick_bytes: 0,
            ticks: 0,
            unanswered: 0,
            player_id: None,
            accepted: Vec::new(),
            accepted_in: Vec::new(),
            hops_requested: 0,
            hops_completed: 0,
            hops_failed: BTreeMap::new(),
            hop_latencies_us: Vec::new(),
            closes: BTreeMap::new(),
        }
    }
}

/// What a bot needs to play.
pub struct Bot {
    pub n: usize,
    pub ip: Ipv4Addr,
    pub target: Target,
    pub token: String,
    pub plan: Plan,
    /// The end of the ramp: the bot sends commands until `ticks` ticks (of the length `Welcome`
    /// announces) after it.
    pub ramp_end: Instant,
    pub ticks: u64,
    pub live: Arc<Live>,
    /// Where the bot's player id goes once `Welcome` names it.
    pub on_welcome: Option<Box<dyn FnOnce(Uuid) + Send>>,
    /// `hop`: every world of the run (empty otherwise: the bot never hops nor reconnects).
    pub worlds: Arc<Vec<World>>,
}

/// How many ticks a bot waits for its last answers after the run, at least [`MIN_DRAIN`].
const DRAIN_TICKS: u32 = 10;
const MIN_DRAIN: Duration = Duration::from_secs(3);
/// `hop`: how long a bot keeps trying to connect to a world that does not answer (restarting).
const RECONNECT_FOR: Duration = Duration::from_secs(30);
/// `hop`: at most this many `other_world` answers followed in a row.
const MAX_REDIRECTS: u32 = 5;

/// How one connection ended.
enum Session {
    /// The run is over.
    Finished,
    /// `Hop` named another world.
    Hopped(Target),
    /// `Hello` was answered `other_world`, naming where the character is.
    Moved(Target),
    /// The server closed the connection, for this reason.
    Closed(String),
    /// No `Welcome`.
    NotConnected(String),
}

/// A hop asked for and not yet over.
struct HopInFlight {
    sent_at: Instant,
    from: Target,
    /// The `HopWorld`'s seq while it is unanswered on its connection.
    seq: Option<u64>,
}

impl Bot {
    fn hopping(&self) -> bool {
        !self.worlds.is_empty()
    }

    fn world_name(&self, target: Target) -> Option<String> {
        self.worlds
            .iter()
            .find(|w| w.target == target)
            .and_then(|w| w.name.clone())
    }

    fn world_named(&self, name: &str) -> Option<Target> {
        self.worlds
            .iter()
            .find(|w| w.name.as_deref() == Some(name))
            .map(|w| w.target)
    }

    /// Connects, plays until the run's end, drains, closes; never fails (failures are in the
    /// stats).
    pub async fn run(mut self) -> BotStats {
        let live = self.live.clone();
        let mut s = BotStats::not_connected(String::new());
        let mut hop: Option<HopInFlight> = None;
        let mut stop_at: Option<Instant> = None;
        let mut connected = false;
        let mut redirects = 0;
        let mut down_since: Option<Instant> = None;
        loop {
            let session = match net::connect_ws(self.ip, self.target).await {
                Ok(ws) => {
                    self.session(ws, &mut s, &mut hop, &mut stop_at, &mut connected)
                        .await
                }
                Err(e) => Session::NotConnected(format!("connect: {e}")),
            };
            let over = stop_at.is_some_and(|t| Instant::now() >= t);
            match session {
                Session::Finished => {
                    s.end = End::Finished;
                    break;
                }
                Session::Hopped(to) => {
                    redirects = 0;
                    self.target = to;
                }
                Session::Moved(to) if redirects < MAX_REDIRECTS => {
                    redirects += 1;
                    self.target = to;
                }
                Session::Moved(_) => {
                    s.end = End::NotConnected("other_world: redirected too often".into());
                    break;
                }
                Session::Closed(reason) if self.hopping() && !over => {
                    *s.closes.entry(reason).or_default() += 1;
                    redirects = 0;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Session::Closed(reason) => {
                    s.end = End::ServerClosed(reason);
                    break;
                }
                Session::NotConnected(reason) if connected && self.hopping() && !over => {
                    // A world restarting: try again for a while.
                    let since = *down_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > RECONNECT_FOR {
                        s.end = End::ServerClosed(reason);
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    continue;
                }
                Session::NotConnected(reason) => {
                    s.end = if connected {
                        End::ServerClosed(reason)
                    } else {
                        End::NotConnected(reason)
                    };
                    break;
                }
            }
            down_since = None;
        }
        if hop.is_some() {
            *s.hops_failed.entry("unfinished".into()).or_default() += 1;
        }
        match &s.end {
            End::ServerClosed(_) => live.server_closed.fetch_add(1, Relaxed),
            End::NotConnected(_) => live.failed.fetch_add(1, Relaxed),
            End::Finished => 0,
        };
        s
    }

    /// One connection: `Hello`, then play until the run ends, the character hops, or the
    /// server closes.
    async fn session(
        &mut self,
        mut ws: Ws,
        s: &mut BotStats,
        hop: &mut Option<HopInFlight>,
        stop_at: &mut Option<Instant>,
        connected: &mut bool,
    ) -> Session {
        let hello = ClientFrame::Hello {
            protocol: PROTOCOL_VERSION,
            token: self.token.clone(),
        };
        if let Err(e) = send(&mut ws, &hello).await {
            return Session::NotConnected(format!("hello: {e}"));
        }
        let welcome = tokio::time::timeout(WELCOME_TIMEOUT, next_frame(&mut ws)).await;
        let (player_id, tick, tick_ms, last_seq) = match welcome {
            Ok(Some(ServerFrame::Welcome {
                player_id,
                tick,
                tick_ms,
                last_seq,
            })) => (player_id, tick, tick_ms, last_seq),
            Ok(Some(ServerFrame::Error { code, message })) => {
                // "your character is in world NAME; …": connect there.
                if code == "other_world"
                    && let Some(to) = message
                        .strip_prefix("your character is in world ")
                        .and_then(|rest| rest.split(';').next())
                        .and_then(|name| self.world_named(name))
                {
                    return Session::Moved(to);
                }
                return Session::NotConnected(format!("hello_{code}"));
            }
            Ok(Some(other)) => {
                return Session::NotConnected(format!("hello: unexpected {other:?}"));
            }
            Ok(None) => return Session::NotConnected("hello: closed".into()),
            Err(_) => return Session::NotConnected("hello: no welcome".into()),
        };
        let here = self.world_name(self.target);
        if let Some(h) = hop.take() {
            if h.from == self.target {
                // Back where it asked to leave: the hop never committed.
                *s.hops_failed.entry("not_departed".into()).or_default() += 1;
            } else {
                s.hops_completed += 1;
                s.hop_latencies_us
                    .push(h.sent_at.elapsed().as_micros() as u64);
            }
        }
        self.plan.here = here.clone();
        let me = player_id.parse::<Uuid>().ok();
        if let Some(id) = me {
            self.plan.me = Some(id);
            if let Some(on_welcome) = self.on_welcome.take() {
                on_welcome(id);
            }
        }
        if !*connected {
            *connected = true;
            self.live.connected.fetch_add(1, Relaxed);
        }
        s.tick_ms = s.tick_ms.or(Some(tick_ms));
        s.player_id = s.player_id.or(me);
        let mut last_tick = tick;
        let mut seq = last_seq + 1;
        let mut pending: HashMap<u64, Instant> = HashMap::new();
        let mut last_error: Option<String> = None;
        let period = Duration::from_millis(u64::from(tick_ms.max(1)));
        let mut every_tick = tokio::time::interval(period);
        every_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let stop_at = *stop_at.get_or_insert(self.ramp_end + period * self.ticks as u32);
        let drain_until = stop_at + (period * DRAIN_TICKS).max(MIN_DRAIN);
        let mut closed_by_server = false;
        let mut moved = None;
        loop {
            let sending = Instant::now() < stop_at;
            let hop_waiting = hop.is_some();
            if !sending {
                self.live.draining.store(true, Relaxed);
                if pending.is_empty() && !hop_waiting {
                    break;
                }
            }
            tokio::select! {
                _ = every_tick.tick(), if sending && !hop_waiting => {
                    let cmd = self.plan.next_command();
                    let hopping = matches!(cmd, Command::HopWorld { .. });
                    let frame = ClientFrame::Command { seq, cmd };
                    if send(&mut ws, &frame).await.is_err() {
                        closed_by_server = true;
                        break;
                    }
                    let now = Instant::now();
                    pending.insert(seq, now);
                    if hopping {
                        s.hops_requested += 1;
                        *hop = Some(HopInFlight { sent_at: now, from: self.target, seq: Some(seq) });
                    }
                    seq += 1;
                    s.sent += 1;
                    self.live.sent.fetch_add(1, Relaxed);
                }
                _ = tokio::time::sleep_until(stop_at), if sending => {}
                _ = tokio::time::sleep_until(drain_until), if !sending => break,
                bytes = next_bytes(&mut ws) => {
                    // A frame that does not decode ends the session, as a close does: no
                    // correct server sends one.
                    let read = bytes.as_deref().map(|b| (frame::read(b), b.len() as u64));
                    let Some((Ok(read), size)) = read else {
                        closed_by_server = true;
                        break;
                    };
                    let frame = match read {
                        Read::Tick { tick, seen } => {
                            s.tick_frames += 1;
                            s.tick_bytes += size;
                            last_tick = last_tick.max(tick);
                            for event in &seen {
                                self.plan.observe(event);
                            }
                            continue;
                        }
                        Read::Frame(frame) => frame,
                    };
                    match frame {
                        ServerFrame::Accepted { seq, tick } => {
                            s.accepted.push(seq);
                            if let Some(here) = &here {
                                s.accepted_in.push((here.clone(), seq));
                            }
                            if let Some(h) = hop.as_mut().filter(|h| h.seq == Some(seq)) {
                                h.seq = None;
                            }
                            answered(s, &mut pending, seq, "accepted", &self.live);
                            last_tick = last_tick.max(tick);
                        }
                        ServerFrame::Rejected { seq, tick, code, .. } => {
                            if hop.as_ref().is_some_and(|h| h.seq == Some(seq)) {
                                *hop = None;
                                *s.hops_failed.entry(code.clone()).or_default() += 1;
                            }
                            answered(s, &mut pending, seq, &code, &self.live);
                            last_tick = last_tick.max(tick);
                        }
                        ServerFrame::Snapshot { tick, you, npcs, .. } => {
                            // The session's first tick, in place of its `TickUpdate`.
                            s.tick_frames += 1;
                            s.tick_bytes += size;
                            last_tick = last_tick.max(tick);
                            self.plan.observe_snapshot(&you, &npcs);
                        }
                        ServerFrame::Error { code, .. } => {
                            *s.errors.entry(code.clone()).or_default() += 1;
                            last_error = Some(code);
                        }
                        ServerFrame::Hop { world, address } => {
                            // The character left: connect where the server says.
                            let to = Target::parse(&address).ok().or_else(|| self.world_named(&world));
                            match to {
                                Some(to) => moved = Some(to),
                                None => {
                                    *hop = None;
                                    *s.hops_failed.entry("no_address".into()).or_default() += 1;
                                }
                            }
                            break;
                        }
                        // Other worlds' social messages and broadcasts are only read (and a
                        // `TickUpdate` is read above, as `Read::Tick`).
                        ServerFrame::TickUpdate { .. }
                        | ServerFrame::Welcome { .. }
                        | ServerFrame::Pong { .. }
                        | ServerFrame::Social { .. }
                        | ServerFrame::Broadcast { .. } => {}
                    }
                }
            }
        }
        s.ticks += last_tick.saturating_sub(tick);
        s.unanswered += pending.len() as u64;
        if closed_by_server {
            return Session::Closed(last_error.unwrap_or_else(|| "no_error_frame".into()));
        }
        // Close, then read to the end so the server sees a client close.
        let _ = ws.close(None).await;
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(Ok(_)) = ws.next().await {}
        })
        .await;
        match moved {
            Some(to) => Session::Hopped(to),
            None => Session::Finished,
        }
    }
}

fn answered(
    s: &mut BotStats,
    pending: &mut HashMap<u64, Instant>,
    seq: u64,
    code: &str,
    live: &Live,
) {
    // An answer to a seq this run did not send (or answered twice) is not counted.
    if let Some(sent_at) = pending.remove(&seq) {
        s.latencies_us.push(sent_at.elapsed().as_micros() as u64);
        *s.answers.entry(code.to_owned()).or_default() += 1;
        live.answered.fetch_add(1, Relaxed);
    }
}

async fn send(
    ws: &mut Ws,
    frame: &ClientFrame,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    ws.send(Message::Binary(encode_client(frame).into())).await
}

/// The next binary frame's bytes; `None` when the connection ended (a close or an error).
async fn next_bytes(ws: &mut Ws) -> Option<Bytes> {
    loop {
        match ws.next().await? {
            Ok(Message::Binary(bytes)) => return Some(bytes),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// The next server frame, decoded in full; `None` when the connection ended (a close, an error,
/// or a frame that does not decode, which no correct server sends).
async fn next_frame(ws: &mut Ws) -> Option<ServerFrame> {
    let bytes = next_bytes(ws).await?;
    decode_server(&bytes).ok()
}
