//! The WebSocket gateway: `GET /v1/ws`, MessagePack frames per PROTOCOL.md.
//!
//! The handshake is refused for a foreign `Origin` (`403`) and over the per-IP handshake rate
//! (`429`). A connection must open with `Hello` carrying a live access token; the player's
//! single-session lock is then taken over for this connection (a second login takes over; the
//! older connection is told `session_closed`). Frames are size-checked, structure-checked
//! ([`crate::limits::check_msgpack`]) and only then decoded.
//!
//! Each connection has one reader and one writer task. The writer owns the socket's sending
//! half and drains two bounded queues: the tick loop's frames and the reader's replies (`Pong`,
//! `Error`, gateway rejections); it pings the client every `ping_interval` and gives every write
//! `write_timeout`. The tick loop only ever `try_send`s, and a reader whose reply queue is full
//! drops the connection, so a client that stops reading is disconnected without stalling the
//! tick or growing memory.

use crate::auth::routes::live_claims;
use crate::metrics::Close;
use crate::state::AppState;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use governor::{DefaultDirectRateLimiter, RateLimiter};
use loh_commands::{
    ClientFrame, FrameError, MAX_CLIENT_FRAME, PROTOCOL_VERSION, ServerFrame, encode_server,
};
use loh_tick_writer::tick::{Intake, now_us};
use prometheus_client::metrics::counter::Counter;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info_span};
use uuid::Uuid;

/// How every encoded `Hop` frame begins (a one-key map whose key is `Hop`): the tick loop sends
/// it before it lets go of a session whose character hopped to another world.
const HOP_FRAME: &[u8] = b"\x81\xa3Hop";

/// Replies the reader may queue for the writer; a full queue means the client stopped reading.
const REPLY_QUEUE: usize = 32;

/// The writer sends what is already queued in one write, up to about this many bytes: a tick's
/// answer and its `TickUpdate` leave in one system call and, mostly, one TCP segment.
const COALESCE_BYTES: usize = 64 * 1024;

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

/// The upgrade handler.
pub async fn ws_handler(
    State(state): State<AppState>,
    headers: HeaderMap,
    ext: axum::http::Extensions,
    ws: WebSocketUpgrade,
) -> Response {
    if let Err(e) = state.origins.check(&headers) {
        return e.into_response();
    }
    let ip = crate::http::client_ip(&ext);
    if let Err(too_many) = state.rate.handshake(ip).await {
        return too_many.into_response();
    }
    // The connection's place under the connection caps lives as long as the socket.
    let slot = crate::http::slot(&ext);
    // Shared by the connection's two tasks: held by value, the state (about 1 KiB) would be
    // copied into each, and twice into the reader's.
    let state = Arc::new(state);
    ws.max_message_size(MAX_CLIENT_FRAME + 1024)
        .max_frame_size(MAX_CLIENT_FRAME + 1024)
        // Held by every connection for its life: a Hello (the largest usual frame) fits whole;
        // a larger frame is read in several reads.
        .read_buffer_size(2 * 1024)
        // Frames wait in the buffer only until the writer's flush (`write_loop`): a batch is at
        // most COALESCE_BYTES and one frame, under the cap.
        .write_buffer_size(COALESCE_BYTES)
        .max_write_buffer_size(loh_commands::MAX_SERVER_FRAME + COALESCE_BYTES + 64 * 1024)
        .on_upgrade(move |socket| {
            let conn_id = NEXT_CONN.fetch_add(1, Ordering::Relaxed);
            async move {
                let _slot = slot;
                let metrics = state.conn_metrics.clone();
                let reason = connection(state, socket, conn_id).await;
                metrics.closed(reason);
            }
            .instrument(info_span!("ws", conn_id))
        })
}

/// A message's payload bytes (close enough to what it puts in the write buffer).
fn wire_len(msg: &Message) -> usize {
    match msg {
        Message::Binary(b) => b.len(),
        Message::Text(t) => t.len(),
        Message::Ping(b) | Message::Pong(b) => b.len(),
        Message::Close(_) => 2,
    }
}

fn binary(frame: &ServerFrame) -> Message {
    Message::Binary(encode_server(frame).into())
}

/// Serves one connection; returns why it ended.
async fn connection(state: Arc<AppState>, socket: WebSocket, conn_id: u64) -> Close {
    let (mut sink, mut stream) = socket.split();
    // Boxed: the connection's future lives as long as the connection and is sized for its
    // largest await, which would be the setup's (docs/BENCHMARKS.md, memory per player).
    let Joining {
        claims,
        owner,
        out_rx,
        welcome,
    } = match Box::pin(join(&state, &mut sink, &mut stream, conn_id)).await {
        Ok(joined) => joined,
        Err(reason) => return reason,
    };
    let player_id = claims.sub;
    let kick = state.kicks.register(&claims.sid);
    state.kicks.register_owner(player_id, &owner, &kick);
    let (replies_tx, replies_rx) = mpsc::channel(REPLY_QUEUE);
    let done = CancellationToken::new();
    let _ = replies_tx.try_send(welcome);
    let writer = tokio::spawn(
        write_loop(
            state.limits.clone(),
            state.metrics.slow_disconnects.clone(),
            sink,
            out_rx,
            replies_rx,
            done.clone(),
        )
        .instrument(info_span!("writer", %player_id)),
    );
    let read = read_loop(
        &state,
        &mut stream,
        replies_tx,
        Session {
            player_id,
            sid: &claims.sid,
            owner: &owner,
            kick: &kick,
            done: &done,
        },
    )
    .instrument(info_span!("session", %player_id))
    .await;
    // The reader dropped the reply queue: the writer flushes what is queued, then closes.
    let written = writer.await.unwrap_or(Close::write_error);
    let reason = read.unwrap_or(written);
    state.kicks.unregister(&claims.sid, &kick);
    Box::pin(leave(&state, player_id, &owner, conn_id, reason)).await
}

/// What a connection that joined the world holds.
struct Joining {
    claims: crate::auth::tokens::Claims,
    /// This connection's name on the session lock.
    owner: String,
    out_rx: mpsc::Receiver<bytes::Bytes>,
    /// The encoded `Welcome`.
    welcome: Message,
}

/// From the first frame to the world's `Welcome`: the token, the character's world, the session
/// lock, then the tick loop's place for the session. `Err`: the client was told why, if it can
/// be, and the connection ends for that reason.
async fn join(
    state: &AppState,
    sink: &mut SplitSink<WebSocket, Message>,
    stream: &mut SplitStream<WebSocket>,
    conn_id: u64,
) -> Result<Joining, Close> {
    let write_timeout = state.limits.write_timeout;
    let say = async |sink: &mut SplitSink<WebSocket, Message>, frame: ServerFrame| {
        let _ = tokio::time::timeout(write_timeout, sink.send(binary(&frame))).await;
    };
    let claims = match hello(state, stream).await {
        Ok(claims) => claims,
        Err(Some(frame)) => {
            let too_large =
                matches!(&frame, ServerFrame::Error { code, .. } if code == "frame_too_large");
            say(sink, frame).await;
            let _ = tokio::time::timeout(write_timeout, sink.close()).await;
            return Err(if too_large {
                Close::frame_too_large
            } else {
                Close::hello_failed
            });
        }
        Err(None) => return Err(Close::hello_failed),
    };
    let player_id = claims.sub;
    // A character lives in one world (the first it entered, or the last it hopped to; the hop's
    // departure moves its home in the same transaction): a player whose character is elsewhere
    // is told where, and nothing here changes.
    match state.store.character_home(player_id, now_us()).await {
        Ok(home) if home == state.store.shard() => {}
        Ok(home) => {
            say(
                sink,
                ServerFrame::error(
                    "other_world",
                    format!("your character is in world {home}; play there (GET /v1/worlds)"),
                ),
            )
            .await;
            return Err(Close::other_world);
        }
        Err(e) => {
            tracing::error!(error = %e, "reading where the character lives");
            say(sink, ServerFrame::error("unavailable", "try again shortly")).await;
            return Err(Close::unavailable);
        }
    }
    let owner = format!("{}:{conn_id}", state.instance);
    if let Err(e) = state.sessions.take_lock(player_id, &owner).await {
        tracing::error!(error = %e, "taking the session lock");
        say(sink, ServerFrame::error("unavailable", "try again shortly")).await;
        return Err(Close::unavailable);
    }
    // Others see the name the player registered with; without it they see the id alone.
    let name = match state.accounts.display_name(player_id).await {
        Ok(name) => name.map(Arc::from),
        Err(e) => {
            tracing::warn!(error = %e, %player_id, "reading the display name");
            None
        }
    };
    let (out_tx, out_rx) = mpsc::channel(state.limits.outbound_queue.max(1));
    let (reply_tx, reply_rx) = oneshot::channel();
    let connect = Intake::Connect {
        player_id,
        conn_id,
        name,
        outbound: out_tx,
        reply: reply_tx,
    };
    if state.tick.intake.send(connect).await.is_err() {
        say(
            sink,
            ServerFrame::error("unavailable", "the world is stopping"),
        )
        .await;
        let _ = state.sessions.release_lock(player_id, &owner).await;
        return Err(Close::unavailable);
    }
    let Ok(joined) = reply_rx.await else {
        return Err(Close::unavailable);
    };
    let welcome = binary(&ServerFrame::Welcome {
        player_id: player_id.to_string(),
        tick: joined.tick,
        tick_ms: state.tick.tick_ms,
        last_seq: joined.last_seq,
    });
    Ok(Joining {
        claims,
        owner,
        out_rx,
        welcome,
    })
}

/// After the session's loops: lets go of the session lock, tells the tick loop the connection
/// is gone, and returns why it ended (`reason`, refined).
async fn leave(
    state: &AppState,
    player_id: Uuid,
    owner: &str,
    conn_id: u64,
    mut reason: Close,
) -> Close {
    if reason == Close::taken_over
        && let Ok(Some(holder)) = state.sessions.lock_holder(player_id).await
        && holder == owner
    {
        // The tick loop let go of us, yet no newer login holds the session: it dropped a
        // client whose queue of frames was full.
        reason = Close::slow_reader;
    }
    if let Err(e) = state.sessions.release_lock(player_id, owner).await {
        debug!(error = %e, "releasing the session lock");
    }
    let _ = state
        .tick
        .intake
        .send(Intake::Disconnect { player_id, conn_id })
        .await;
    reason
}

/// Reads frames until `Hello` with a live token arrives. `Err(Some(frame))`: answer and close.
async fn hello(
    state: &AppState,
    stream: &mut SplitStream<WebSocket>,
) -> Result<crate::auth::tokens::Claims, Option<ServerFrame>> {
    let msg = tokio::time::timeout(state.limits.hello_timeout, stream.next())
        .await
        .map_err(|_| None)?
        .ok_or(None)?
        .map_err(|_| None)?;
    let frame = match msg {
        Message::Binary(bytes) => crate::limits::decode_frame(&bytes),
        Message::Text(_) => Err(FrameError::Malformed(
            "frames are binary MessagePack".into(),
        )),
        _ => return Err(None),
    };
    let (protocol, token) = match frame {
        Ok(ClientFrame::Hello { protocol, token }) => (protocol, token),
        Ok(_) => {
            return Err(Some(ServerFrame::error(
                "hello_required",
                "the first frame must be Hello",
            )));
        }
        Err(e) => return Err(Some(ServerFrame::error(e.code(), e.to_string()))),
    };
    if protocol != PROTOCOL_VERSION {
        let message = format!("this server speaks protocol {PROTOCOL_VERSION}");
        return Err(Some(ServerFrame::error("unsupported_protocol", message)));
    }
    live_claims(state, &token)
        .await
        .map_err(|e| Some(ServerFrame::error(e.code, e.message)))
}

/// Sends everything queued for the client, pings it, and closes when either queue closes;
/// returns why it stopped (`client_closed` when the reader ended first).
async fn write_loop(
    limits: Arc<crate::limits::Limits>,
    slow_disconnects: Counter,
    mut sink: SplitSink<WebSocket, Message>,
    mut out_rx: mpsc::Receiver<bytes::Bytes>,
    mut replies: mpsc::Receiver<Message>,
    done: CancellationToken,
) -> Close {
    let mut reason = Close::client_closed;
    let mut hopped = false;
    let mut ping = tokio::time::interval(limits.ping_interval);
    ping.tick().await;
    loop {
        let msg = tokio::select! {
            biased;
            reply = replies.recv() => match reply {
                Some(msg) => msg,
                None => break,
            },
            frame = out_rx.recv() => match frame {
                // Encoded once by the tick loop; sent as it is.
                Some(frame) => {
                    hopped |= frame.starts_with(HOP_FRAME);
                    Message::Binary(frame)
                }
                // The character hopped to another world: the client was told where (`Hop`).
                None if hopped => {
                    reason = Close::hopped;
                    break;
                }
                // The tick loop dropped us: taken over by a new login, or too slow to read (the
                // caller tells which).
                None => {
                    let closed = ServerFrame::error("session_closed", "session closed by the server");
                    let _ = tokio::time::timeout(limits.write_timeout, sink.send(binary(&closed))).await;
                    reason = Close::taken_over;
                    break;
                }
            },
            _ = ping.tick() => Message::Ping(Vec::new().into()),
        };
        // What else is queued already goes in the same write, then everything is flushed.
        let batch = async {
            let mut bytes = wire_len(&msg);
            sink.feed(msg).await?;
            while bytes < COALESCE_BYTES {
                let next = match replies.try_recv() {
                    Ok(reply) => reply,
                    Err(_) => match out_rx.try_recv() {
                        Ok(frame) => {
                            hopped |= frame.starts_with(HOP_FRAME);
                            Message::Binary(frame)
                        }
                        // Empty, or closed: the select above sees the close next.
                        Err(_) => break,
                    },
                };
                bytes += wire_len(&next);
                sink.feed(next).await?;
            }
            sink.flush().await
        };
        match tokio::time::timeout(limits.write_timeout, batch).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                debug!(error = %e, "write failed");
                reason = Close::write_error;
                break;
            }
            Err(_) => {
                debug!("write timed out; the client stopped reading");
                slow_disconnects.inc();
                reason = Close::write_timeout;
                break;
            }
        }
    }
    done.cancel();
    let _ = tokio::time::timeout(limits.write_timeout, sink.close()).await;
    reason
}

struct Session<'a> {
    player_id: Uuid,
    sid: &'a str,
    owner: &'a str,
    kick: &'a CancellationToken,
    done: &'a CancellationToken,
}

/// Reads the client's frames until the connection ends; returns why, or `None` when the writer
/// ended first (its reason stands).
async fn read_loop(
    state: &AppState,
    stream: &mut SplitStream<WebSocket>,
    replies: mpsc::Sender<Message>,
    s: Session<'_>,
) -> Option<Close> {
    let limits = &state.limits;
    let budget: DefaultDirectRateLimiter =
        RateLimiter::direct(crate::limits::rate_quota(limits.commands_per_conn));
    let mut renew = tokio::time::interval(state.sessions.lock_ttl() / 3);
    renew.tick().await;
    // A full reply queue means the client is not reading: drop it.
    let reply = |frame: ServerFrame| -> bool {
        if replies.try_send(binary(&frame)).is_ok() {
            true
        } else {
            state.metrics.slow_disconnects.inc();
            false
        }
    };
    loop {
        let msg = tokio::select! {
            _ = s.done.cancelled() => return None,
            _ = s.kick.cancelled() => {
                let _ = replies.try_send(binary(&ServerFrame::error("session_closed", "the session ended")));
                return Some(Close::session_ended);
            }
            _ = renew.tick() => {
                // Boxed, as in `connection`: every `lock_ttl / 3`, not worth their size in
                // every connection's future.
                let held = Box::pin(state.sessions.renew_lock(s.player_id, s.owner)).await;
                let live = Box::pin(state.sessions.is_live(s.sid)).await;
                match (held, live) {
                    (Ok(false), _) | (_, Ok(false)) => {
                        let _ = replies.try_send(binary(&ServerFrame::error("session_closed", "the session was taken over or ended")));
                        return Some(Close::session_ended);
                    }
                    (Err(e), _) | (_, Err(e)) => debug!(error = %e, "session store unreachable; keeping the connection"),
                    _ => {}
                }
                continue;
            }
            msg = tokio::time::timeout(limits.idle_timeout, stream.next()) => msg,
        };
        let msg = match msg {
            Err(_idle) => return Some(Close::idle),
            Ok(Some(Ok(msg))) => msg,
            Ok(None | Some(Err(_))) => return Some(Close::client_closed),
        };
        let bytes = match msg {
            Message::Binary(bytes) => bytes,
            Message::Close(_) => return Some(Close::client_closed),
            Message::Ping(_) | Message::Pong(_) => continue,
            Message::Text(_) => {
                if !reply(ServerFrame::error(
                    "bad_frame",
                    "frames are binary MessagePack",
                )) {
                    return Some(Close::slow_reader);
                }
                continue;
            }
        };
        let answer = match crate::limits::decode_frame(&bytes) {
            Ok(ClientFrame::Ping { nonce }) => Some(ServerFrame::Pong { nonce }),
            Ok(ClientFrame::Command { seq, cmd }) => {
                if let Err(e) = loh_commands::check_seq(seq).and_then(|()| cmd.check_bounds()) {
                    // Out of bounds: refused here, never queued for the tick.
                    state.metrics.out_of_bounds.inc();
                    Some(ServerFrame::Rejected {
                        seq,
                        tick: state.tick.current_tick(),
                        code: e.code().as_str().into(),
                        message: e.to_string(),
                    })
                } else if budget.check().is_err() {
                    state.metrics.rate_limited.inc();
                    Some(ServerFrame::Rejected {
                        seq,
                        tick: state.tick.current_tick(),
                        code: loh_commands::RejectionCode::RateLimited.as_str().into(),
                        message: "too many commands; send the same seq again later".into(),
                    })
                } else {
                    let intake = Intake::Command {
                        player_id: s.player_id,
                        seq,
                        cmd,
                        received_at_us: now_us(),
                    };
                    state
                        .tick
                        .intake
                        .try_send(intake)
                        .err()
                        .map(|_| ServerFrame::Rejected {
                            seq,
                            tick: state.tick.current_tick(),
                            code: loh_commands::RejectionCode::ServerBusy.as_str().into(),
                            message: "the world is overloaded; retry with the same seq".into(),
                        })
                }
            }
            Ok(ClientFrame::Hello { .. }) => Some(ServerFrame::error(
                "already_hello",
                "Hello was already sent",
            )),
            Err(e) => {
                debug!(error = %e, "bad client frame");
                let too_large = matches!(e, FrameError::TooLarge(_));
                let _ = reply(ServerFrame::error(e.code(), e.to_string()));
                if too_large {
                    return Some(Close::frame_too_large);
                }
                None
            }
        };
        if let Some(frame) = answer
            && !reply(frame)
        {
            return Some(Close::slow_reader);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hop_frame_is_told_from_every_other_frame_by_its_first_bytes() {
        let hop = ServerFrame::Hop {
            world: "world2".into(),
            address: "ws://w2".into(),
        };
        assert!(encode_server(&hop).starts_with(HOP_FRAME));
        for other in [
            ServerFrame::Pong { nonce: 1 },
            ServerFrame::error("session_closed", "x"),
            ServerFrame::Accepted { seq: 1, tick: 1 },
        ] {
            assert!(!encode_server(&other).starts_with(HOP_FRAME));
        }
    }
}
