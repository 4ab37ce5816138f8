//! The WebSocket gateway: `GET /v1/ws`, MessagePack frames per PROTOCOL.md.
//!
//! A connection must open with `Hello` carrying a valid access token; then its commands go to
//! the tick loop's intake, and the loop's answers come back through a bounded queue. A client
//! that stops reading fills that queue and is disconnected; the tick never waits for it.

use crate::server::AppState;
use crate::tick::{Intake, OUTBOUND_QUEUE, now_us};
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures::SinkExt;
use loh_commands::{
    ClientFrame, FrameError, MAX_CLIENT_FRAME, PROTOCOL_VERSION, ServerFrame, decode_client,
    encode_server,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tracing::{Instrument, debug, info_span};
use uuid::Uuid;

/// Time a client has to send `Hello`.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection silent this long is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

/// The upgrade handler.
pub async fn ws_handler(State(state): State<AppState>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(MAX_CLIENT_FRAME + 1024)
        .max_frame_size(MAX_CLIENT_FRAME + 1024)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .on_upgrade(move |socket| {
            let conn_id = NEXT_CONN.fetch_add(1, Ordering::Relaxed);
            connection(state, socket, conn_id).instrument(info_span!("ws", conn_id))
        })
}

async fn send(socket: &mut WebSocket, frame: &ServerFrame) -> bool {
    socket
        .send(Message::Binary(encode_server(frame).into()))
        .await
        .is_ok()
}

async fn connection(state: AppState, mut socket: WebSocket, conn_id: u64) {
    let Some(player_id) = hello(&state, &mut socket).await else {
        let _ = socket.close().await;
        return;
    };
    let (out_tx, mut out_rx) = mpsc::channel(OUTBOUND_QUEUE);
    let (reply_tx, reply_rx) = oneshot::channel();
    let connect = Intake::Connect {
        player_id,
        conn_id,
        outbound: out_tx,
        reply: reply_tx,
    };
    if state.tick.intake.send(connect).await.is_err() {
        send(
            &mut socket,
            &ServerFrame::error("unavailable", "the world is stopping"),
        )
        .await;
        return;
    }
    let Ok(joined) = reply_rx.await else { return };
    let welcome = ServerFrame::Welcome {
        player_id: player_id.to_string(),
        tick: joined.tick,
        tick_ms: state.tick.tick_ms,
        last_seq: joined.last_seq,
    };
    if send(&mut socket, &welcome).await {
        session(&state, &mut socket, &mut out_rx, player_id)
            .instrument(info_span!("session", %player_id))
            .await;
    }
    let _ = state
        .tick
        .intake
        .send(Intake::Disconnect { player_id, conn_id })
        .await;
    let _ = socket.close().await;
}

/// Reads frames until `Hello` with a valid token arrives; answers `Error` otherwise.
async fn hello(state: &AppState, socket: &mut WebSocket) -> Option<Uuid> {
    let msg = tokio::time::timeout(HELLO_TIMEOUT, socket.recv())
        .await
        .ok()??
        .ok()?;
    let frame = match msg {
        Message::Binary(bytes) => decode_client(&bytes),
        Message::Text(_) => Err(FrameError::Malformed(
            "frames are binary MessagePack".into(),
        )),
        _ => return None,
    };
    let (protocol, token) = match frame {
        Ok(ClientFrame::Hello { protocol, token }) => (protocol, token),
        Ok(_) => {
            send(
                socket,
                &ServerFrame::error("hello_required", "the first frame must be Hello"),
            )
            .await;
            return None;
        }
        Err(e) => {
            send(socket, &ServerFrame::error(e.code(), e.to_string())).await;
            return None;
        }
    };
    if protocol != PROTOCOL_VERSION {
        let message = format!("this server speaks protocol {PROTOCOL_VERSION}");
        send(socket, &ServerFrame::error("unsupported_protocol", message)).await;
        return None;
    }
    match state.tokens.verify(&token) {
        Ok(id) => Some(id),
        Err(e) => {
            send(socket, &ServerFrame::error(e.code, e.message)).await;
            None
        }
    }
}

async fn session(
    state: &AppState,
    socket: &mut WebSocket,
    out_rx: &mut mpsc::Receiver<ServerFrame>,
    player_id: Uuid,
) {
    loop {
        tokio::select! {
            out = out_rx.recv() => match out {
                Some(frame) => {
                    if !send(socket, &frame).await {
                        return;
                    }
                }
                // The tick loop dropped us: taken over by a new login, or too slow.
                None => {
                    send(socket, &ServerFrame::error("session_closed", "session closed by the server")).await;
                    return;
                }
            },
            msg = tokio::time::timeout(IDLE_TIMEOUT, socket.recv()) => {
                let Ok(Some(Ok(msg))) = msg else { return };
                let bytes = match msg {
                    Message::Binary(bytes) => bytes,
                    Message::Close(_) => return,
                    Message::Ping(_) | Message::Pong(_) => continue,
                    Message::Text(_) => {
                        send(socket, &ServerFrame::error("bad_frame", "frames are binary MessagePack")).await;
                        continue;
                    }
                };
                match decode_client(&bytes) {
                    Ok(ClientFrame::Ping { nonce }) => {
                        if !send(socket, &ServerFrame::Pong { nonce }).await {
                            return;
                        }
                    }
                    Ok(ClientFrame::Command { seq, cmd }) => {
                        let intake = Intake::Command { player_id, seq, cmd, received_at_us: now_us() };
                        if state.tick.intake.try_send(intake).is_err() {
                            let busy = ServerFrame::Rejected {
                                seq,
                                tick: state.tick.current_tick(),
                                code: "server_busy".into(),
                                message: "the world is overloaded; retry with the same seq".into(),
                            };
                            if !send(socket, &busy).await {
                                return;
                            }
                        }
                    }
                    Ok(ClientFrame::Hello { .. }) => {
                        send(socket, &ServerFrame::error("already_hello", "Hello was already sent")).await;
                    }
                    Err(e) => {
                        debug!(error = %e, "bad client frame");
                        send(socket, &ServerFrame::error(e.code(), e.to_string())).await;
                        if matches!(e, FrameError::TooLarge(_)) {
                            return;
                        }
                    }
                }
            }
        }
    }
}
