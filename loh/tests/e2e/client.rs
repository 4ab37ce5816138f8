//! A game client for tests: HTTP auth with reqwest, the WebSocket with tokio-tungstenite and
//! MessagePack frames, as an independent client would speak them.

use futures::{SinkExt, StreamExt};
use loh_commands::{ClientFrame, Command, ServerFrame, decode_server, encode_client};
use std::net::SocketAddr;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct Account {
    pub player_id: String,
    pub token: String,
}

/// Registers and logs in `username`.
pub async fn register_and_login(game: SocketAddr, username: &str) -> Account {
    let http = reqwest::Client::new();
    let creds = serde_json::json!({"username": username, "password": "correct horse battery"});
    let res = http
        .post(format!("http://{game}/v1/auth/register"))
        .json(&creds)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "register");
    let body: serde_json::Value = res.json().await.unwrap();
    let player_id = body["player_id"].as_str().unwrap().to_owned();
    let res = http
        .post(format!("http://{game}/v1/auth/login"))
        .json(&creds)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "login");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    Account {
        player_id,
        token: body["access_token"].as_str().unwrap().to_owned(),
    }
}

/// Opens the WebSocket and says Hello; returns the socket and the Welcome frame.
pub async fn connect(game: SocketAddr, token: &str) -> (Ws, ServerFrame) {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{game}/v1/ws"))
        .await
        .unwrap();
    send(
        &mut ws,
        &ClientFrame::Hello {
            protocol: 1,
            token: token.to_owned(),
        },
    )
    .await;
    let welcome = recv(&mut ws).await;
    (ws, welcome)
}

pub async fn send(ws: &mut Ws, frame: &ClientFrame) {
    ws.send(Message::Binary(encode_client(frame).into()))
        .await
        .unwrap();
}

pub async fn command(ws: &mut Ws, seq: u64, cmd: Command) {
    send(ws, &ClientFrame::Command { seq, cmd }).await;
}

/// The next server frame (10 s at most).
pub async fn recv(ws: &mut Ws) -> ServerFrame {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a frame within 10 s")
            .expect("the socket is open")
            .expect("a valid WebSocket message");
        match msg {
            Message::Binary(bytes) => return decode_server(&bytes).expect("a valid frame"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected message {other:?}"),
        }
    }
}

/// The next frame that answers a command (Accepted or Rejected), skipping tick updates.
pub async fn answer(ws: &mut Ws) -> ServerFrame {
    loop {
        match recv(ws).await {
            ServerFrame::TickUpdate { .. } => continue,
            other => return other,
        }
    }
}
