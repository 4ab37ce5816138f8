//! A game client for tests, speaking as an independent client would: the auth routes over HTTP
//! (reqwest, JSON), then the WebSocket (tokio-tungstenite) with one MessagePack frame per binary
//! message (`docs/protocol.md`). Every read waits 10 s at most.

use futures::{SinkExt, StreamExt};
use loh_commands::{
    ClientFrame, Command, PROTOCOL_VERSION, ServerFrame, decode_server, encode_client,
};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// A client's WebSocket.
pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The password of every account the tests make.
pub const PASSWORD: &str = "correct horse battery";

/// How long a read waits for the server before the test fails.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A registered and logged-in player.
#[derive(Debug, Clone)]
pub struct Account {
    pub player_id: String,
    /// The access token, for `Hello`.
    pub token: String,
    /// The whole login answer (token pair, request-signing key).
    pub login: Value,
}

/// Registers `username` (with [`PASSWORD`]) on the game server at `game`; returns the player id.
pub async fn register(game: SocketAddr, username: &str) -> String {
    let res = reqwest::Client::new()
        .post(format!("http://{game}/v1/auth/register"))
        .json(&json!({"username": username, "password": PASSWORD}))
        .send()
        .await
        .expect("the game server answers");
    assert_eq!(res.status(), 201, "register {username}");
    let body: Value = res.json().await.expect("a JSON answer");
    body["player_id"].as_str().expect("a player_id").to_owned()
}

/// Logs `username` in as a native client (no Origin); returns the login answer.
pub async fn login(game: SocketAddr, username: &str) -> Value {
    let res = reqwest::Client::new()
        .post(format!("http://{game}/v1/auth/login"))
        .json(&json!({"username": username, "password": PASSWORD}))
        .send()
        .await
        .expect("the game server answers");
    assert_eq!(res.status(), 200, "login {username}");
    res.json().await.expect("a JSON answer")
}

/// Registers and logs in `username`.
pub async fn register_and_login(game: SocketAddr, username: &str) -> Account {
    let player_id = register(game, username).await;
    let login = login(game, username).await;
    Account {
        player_id,
        token: login["access_token"]
            .as_str()
            .expect("an access_token")
            .to_owned(),
        login,
    }
}

/// Opens the WebSocket (no Origin) without saying anything.
pub async fn open(game: SocketAddr) -> Ws {
    tokio_tungstenite::connect_async(format!("ws://{game}/v1/ws"))
        .await
        .expect("the WebSocket upgrade succeeds")
        .0
}

/// Opens the WebSocket and says `Hello` with `token`; returns the socket and the answer
/// (`Welcome`, or an `Error`; `None` when the server closed at once).
pub async fn hello(game: SocketAddr, token: &str) -> (Ws, Option<ServerFrame>) {
    let mut ws = open(game).await;
    send(
        &mut ws,
        &ClientFrame::Hello {
            protocol: PROTOCOL_VERSION,
            token: token.to_owned(),
        },
    )
    .await;
    let answer = next_frame(&mut ws).await;
    (ws, answer)
}

/// Sends one frame.
pub async fn send(ws: &mut Ws, frame: &ClientFrame) {
    send_raw(ws, encode_client(frame)).await;
}

/// Sends `bytes` as one binary message, whatever they hold.
pub async fn send_raw(ws: &mut Ws, bytes: Vec<u8>) {
    ws.send(Message::Binary(bytes.into()))
        .await
        .expect("the socket takes the message");
}

/// Sends command `cmd` with sequence number `seq`.
pub async fn command(ws: &mut Ws, seq: u64, cmd: Command) {
    send(ws, &ClientFrame::Command { seq, cmd }).await;
}

/// The next server frame of any kind; `None` when the socket closed.
pub async fn recv(ws: &mut Ws) -> Option<ServerFrame> {
    recv_until(ws, READ_TIMEOUT, |_| true).await
}

/// Reads frames until one satisfies `wanted` and returns it, dropping the others; `None` when
/// the socket closed first. Fails the test after `timeout`.
pub async fn recv_until(
    ws: &mut Ws,
    timeout: Duration,
    mut wanted: impl FnMut(&ServerFrame) -> bool,
) -> Option<ServerFrame> {
    let read = async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Binary(bytes))) => {
                    let frame = decode_server(&bytes).expect("a valid server frame");
                    if wanted(&frame) {
                        return Some(frame);
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return None,
                Some(Ok(other)) => panic!("unexpected message {other:?}"),
            }
        }
    };
    tokio::time::timeout(timeout, read)
        .await
        .unwrap_or_else(|_| panic!("no wanted frame within {timeout:?}"))
}

/// The next frame that is not a `TickUpdate` or a `Snapshot` (the view); `None` when the socket
/// closed.
pub async fn next_frame(ws: &mut Ws) -> Option<ServerFrame> {
    recv_until(ws, READ_TIMEOUT, |f| {
        !matches!(
            f,
            ServerFrame::TickUpdate { .. } | ServerFrame::Snapshot { .. }
        )
    })
    .await
}

/// The next frame that is not a `TickUpdate` or a `Snapshot` (a command's `Accepted` or
/// `Rejected`, a `Pong`, an `Error`); fails the test when the socket closed.
pub async fn answer(ws: &mut Ws) -> ServerFrame {
    next_frame(ws)
        .await
        .expect("the server answered before closing")
}

/// The code of an `Error` frame.
pub fn error_code(frame: &Option<ServerFrame>) -> Option<&str> {
    match frame {
        Some(ServerFrame::Error { code, .. }) => Some(code),
        _ => None,
    }
}
