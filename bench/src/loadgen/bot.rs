//! One bot: a real client on its own loopback address. It says `Hello`, takes `last_seq + 1`
//! from `Welcome` as its next seq, then sends one command per tick until the run's end, reading
//! every frame: answers matched by seq (with their latency), the `Snapshot` and `TickUpdate`s
//! (frames and bytes), `Error`s, and the end of the connection. After the run it waits for its
//! last answers, then closes.

use super::net::{self, Target, Ws};
use super::scenario::Plan;
use futures::{SinkExt, StreamExt};
use loh_commands::{ClientFrame, PROTOCOL_VERSION, ServerFrame, decode_server, encode_client};
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
    pub on_welcome: Box<dyn FnOnce(Uuid) + Send>,
}

/// How many ticks a bot waits for its last answers after the run, at least [`MIN_DRAIN`].
const DRAIN_TICKS: u32 = 10;
const MIN_DRAIN: Duration = Duration::from_secs(3);

impl Bot {
    /// Connects, plays until `stop_at`, drains, closes; never fails (failures are in the stats).
    pub async fn run(self) -> BotStats {
        let live = self.live.clone();
        let stats = match net::connect_ws(self.ip, self.target).await {
            Ok(ws) => self.play(ws).await,
            Err(e) => BotStats::not_connected(format!("connect: {e}")),
        };
        match &stats.end {
            End::ServerClosed(_) => live.server_closed.fetch_add(1, Relaxed),
            End::NotConnected(_) => live.failed.fetch_add(1, Relaxed),
            End::Finished => 0,
        };
        stats
    }

    async fn play(mut self, mut ws: Ws) -> BotStats {
        let hello = ClientFrame::Hello {
            protocol: PROTOCOL_VERSION,
            token: std::mem::take(&mut self.token),
        };
        if let Err(e) = send(&mut ws, &hello).await {
            return BotStats::not_connected(format!("hello: {e}"));
        }
        let welcome = tokio::time::timeout(WELCOME_TIMEOUT, next_frame(&mut ws)).await;
        let (player_id, tick, tick_ms, last_seq) = match welcome {
            Ok(Some((
                ServerFrame::Welcome {
                    player_id,
                    tick,
                    tick_ms,
                    last_seq,
                },
                _,
            ))) => (player_id, tick, tick_ms, last_seq),
            Ok(Some((ServerFrame::Error { code, .. }, _))) => {
                return BotStats::not_connected(format!("hello_{code}"));
            }
            Ok(Some((other, _))) => {
                return BotStats::not_connected(format!("hello: unexpected {other:?}"));
            }
            Ok(None) => return BotStats::not_connected("hello: closed".into()),
            Err(_) => return BotStats::not_connected("hello: no welcome".into()),
        };
        let me = player_id.parse::<Uuid>().ok();
        if let Some(id) = me {
            self.plan.me = Some(id);
            (self.on_welcome)(id);
        }
        self.live.connected.fetch_add(1, Relaxed);
        let mut s = BotStats {
            end: End::Finished,
            tick_ms: Some(tick_ms),
            player_id: me,
            ..BotStats::not_connected(String::new())
        };
        let mut last_tick = tick;
        let mut seq = last_seq + 1;
        let mut pending: HashMap<u64, Instant> = HashMap::new();
        let mut last_error: Option<String> = None;
        let period = Duration::from_millis(u64::from(tick_ms.max(1)));
        let mut every_tick = tokio::time::interval(period);
        every_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let stop_at = self.ramp_end + period * self.ticks as u32;
        let drain_until = stop_at + (period * DRAIN_TICKS).max(MIN_DRAIN);
        let mut closed_by_server = false;
        loop {
            let sending = Instant::now() < stop_at;
            if !sending {
                self.live.draining.store(true, Relaxed);
                if pending.is_empty() {
                    break;
                }
            }
            tokio::select! {
                _ = every_tick.tick(), if sending => {
                    let frame = ClientFrame::Command { seq, cmd: self.plan.next_command() };
                    if send(&mut ws, &frame).await.is_err() {
                        closed_by_server = true;
                        break;
                    }
                    pending.insert(seq, Instant::now());
                    seq += 1;
                    s.sent += 1;
                    self.live.sent.fetch_add(1, Relaxed);
                }
                _ = tokio::time::sleep_until(stop_at), if sending => {}
                _ = tokio::time::sleep_until(drain_until), if !sending => break,
                frame = next_frame(&mut ws) => {
                    let Some((frame, bytes)) = frame else {
                        closed_by_server = true;
                        break;
                    };
                    match frame {
                        ServerFrame::Accepted { seq, tick } => {
                            s.accepted.push(seq);
                            answered(&mut s, &mut pending, seq, "accepted", &self.live);
                            last_tick = last_tick.max(tick);
                        }
                        ServerFrame::Rejected { seq, tick, code, .. } => {
                            answered(&mut s, &mut pending, seq, &code, &self.live);
                            last_tick = last_tick.max(tick);
                        }
                        ServerFrame::TickUpdate { tick, events } => {
                            s.tick_frames += 1;
                            s.tick_bytes += bytes as u64;
                            last_tick = last_tick.max(tick);
                            for event in &events {
                                self.plan.observe(event);
                            }
                        }
                        ServerFrame::Snapshot { tick, you, npcs, .. } => {
                            // The session's first tick, in place of its `TickUpdate`.
                            s.tick_frames += 1;
                            s.tick_bytes += bytes as u64;
                            last_tick = last_tick.max(tick);
                            self.plan.observe_snapshot(&you, &npcs);
                        }
                        ServerFrame::Error { code, .. } => {
                            *s.errors.entry(code.clone()).or_default() += 1;
                            last_error = Some(code);
                        }
                        // Bots never hop, so never leave for another world; other worlds'
                        // social messages and broadcasts are only read.
                        ServerFrame::Welcome { .. }
                        | ServerFrame::Pong { .. }
                        | ServerFrame::Hop { .. }
                        | ServerFrame::Social { .. }
                        | ServerFrame::Broadcast { .. } => {}
                    }
                }
            }
        }
        s.ticks = last_tick.saturating_sub(tick);
        s.unanswered = pending.len() as u64;
        if closed_by_server {
            s.end = End::ServerClosed(last_error.unwrap_or_else(|| "no_error_frame".into()));
        } else {
            // Close, then read to the end so the server sees a client close.
            let _ = ws.close(None).await;
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                while let Some(Ok(_)) = ws.next().await {}
            })
            .await;
        }
        s
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

/// The next server frame and its size in bytes; `None` when the connection ended (a close, an
/// error, or a frame that does not decode, which no correct server sends).
async fn next_frame(ws: &mut Ws) -> Option<(ServerFrame, usize)> {
    loop {
        match ws.next().await? {
            Ok(Message::Binary(bytes)) => {
                return decode_server(&bytes).ok().map(|f| (f, bytes.len()));
            }
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}
