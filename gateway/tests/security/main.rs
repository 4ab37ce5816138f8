//! The security suite: one case per attack on the front door, against the real game server,
//! PostgreSQL and Redis. Each test names the attack and asserts the documented answer
//! (`docs/SECURITY.md`).

mod checkout;
mod helpers;
mod names;
mod payments;
mod proxies;
mod sessions;

use futures::StreamExt;
use helpers::*;
use loh_commands::{ClientFrame, Command, MAX_CLIENT_FRAME, ServerFrame};
use loh_gateway::auth::tokens::{AUDIENCE, Claims, ISSUER};
use loh_testkit::client::*;
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

/// A logged-in player: id, login answer.
async fn player(server: &Server, name: &str) -> (Uuid, serde_json::Value) {
    let id = register(server.addr, name).await.parse().unwrap();
    (id, login(server.addr, name).await)
}

fn claims(sub: Uuid, sid: &str) -> Claims {
    let now = now_secs();
    Claims {
        sub,
        sid: sid.to_owned(),
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        typ: "access".into(),
        iat: now,
        exp: now + 600,
        jti: Uuid::new_v4(),
        role: None,
    }
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

async fn assert_hello_refused(server: &Server, token: &str) {
    let (_ws, answer) = hello(server.addr, token).await;
    assert_eq!(error_code(&answer), Some("unauthorized"), "{answer:?}");
}

#[tokio::test]
async fn a_token_with_alg_none_is_refused() {
    let server = Server::start().await;
    let (id, session) = player(&server, "nonealg").await;
    let sid = server
        .tokens
        .verify(session["access_token"].as_str().unwrap())
        .unwrap()
        .sid;
    let header = b64(br#"{"alg":"none","typ":"JWT"}"#);
    let body = b64(&serde_json::to_vec(&claims(id, &sid)).unwrap());
    assert_hello_refused(&server, &format!("{header}.{body}.")).await;
}

#[tokio::test]
async fn an_hs256_token_keyed_with_the_public_key_is_refused() {
    let server = Server::start().await;
    let (id, session) = player(&server, "hsconfuse").await;
    let sid = server
        .tokens
        .verify(session["access_token"].as_str().unwrap())
        .unwrap()
        .sid;
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims(id, &sid),
        &jsonwebtoken::EncodingKey::from_secret(key().public_pem().as_bytes()).unwrap(),
    )
    .unwrap();
    assert_hello_refused(&server, &forged).await;
}

#[tokio::test]
async fn tokens_with_a_wrong_aud_iss_or_typ_are_refused() {
    let server = Server::start().await;
    let (id, session) = player(&server, "wrongclaim").await;
    let sid = server
        .tokens
        .verify(session["access_token"].as_str().unwrap())
        .unwrap()
        .sid;
    let good = claims(id, &sid);
    // The control: the same claims as issued are accepted.
    let (_ws, answer) = hello(server.addr, &server.tokens.issue_claims(&good)).await;
    assert!(
        matches!(answer, Some(ServerFrame::Welcome { .. })),
        "{answer:?}"
    );
    for bad in [
        Claims {
            aud: "loh-analyst".into(),
            ..good.clone()
        },
        Claims {
            iss: "someone-else".into(),
            ..good.clone()
        },
        Claims {
            typ: "refresh".into(),
            ..good.clone()
        },
    ] {
        assert_hello_refused(&server, &server.tokens.issue_claims(&bad)).await;
    }
    // An analyst's token (loh analyst-token) reads the query API but opens no game session.
    assert_hello_refused(&server, &server.tokens.issue_analyst(good.sub, 600)).await;
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let server = Server::start().await;
    let (id, session) = player(&server, "expired").await;
    let sid = server
        .tokens
        .verify(session["access_token"].as_str().unwrap())
        .unwrap()
        .sid;
    let expired = Claims {
        exp: now_secs() - 60,
        iat: now_secs() - 960,
        ..claims(id, &sid)
    };
    assert_hello_refused(&server, &server.tokens.issue_claims(&expired)).await;
}

#[tokio::test]
async fn reusing_a_spent_refresh_token_revokes_the_whole_family() {
    let server = Server::start().await;
    let (_, first) = player(&server, "reuser").await;
    let old = first["refresh_token"].as_str().unwrap();
    let res = server
        .signed_post(
            "/v1/auth/refresh",
            &json!({"refresh_token": old}),
            &first,
            now_secs(),
            &nonce(),
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    let second: serde_json::Value = res.json().await.unwrap();
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_ne!(
        second["key_id"], first["key_id"],
        "the signing key rotates too"
    );

    // The thief replays the spent token: refused, and the family is gone.
    let res = server
        .signed_post(
            "/v1/auth/refresh",
            &json!({"refresh_token": old}),
            &second,
            now_secs(),
            &nonce(),
            None,
        )
        .await;
    assert_eq!(res.status(), 401);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "refresh_token_reused");
    let new = second["refresh_token"].as_str().unwrap();
    let res = server
        .signed_post(
            "/v1/auth/refresh",
            &json!({"refresh_token": new}),
            &second,
            now_secs(),
            &nonce(),
            None,
        )
        .await;
    assert_eq!(
        res.status(),
        401,
        "the legitimate token died with its family"
    );
    assert_hello_refused(&server, second["access_token"].as_str().unwrap()).await;
}

#[tokio::test]
async fn an_access_token_used_after_logout_is_refused_and_its_connection_closed() {
    let server = Server::start().await;
    let (_, session) = player(&server, "leaver").await;
    let access = session["access_token"].as_str().unwrap();
    let (mut live, welcome) = hello(server.addr, access).await;
    assert!(matches!(welcome, Some(ServerFrame::Welcome { .. })));

    let res = server
        .signed_post(
            "/v1/auth/logout",
            &json!({}),
            &session,
            now_secs(),
            &nonce(),
            Some(access),
        )
        .await;
    assert_eq!(res.status(), 204);
    assert_eq!(
        error_code(&next_frame(&mut live).await),
        Some("session_closed")
    );
    assert_hello_refused(&server, access).await;
    let again = server
        .signed_post(
            "/v1/auth/logout",
            &json!({}),
            &session,
            now_secs(),
            &nonce(),
            Some(access),
        )
        .await;
    assert_eq!(again.status(), 401);
}

#[tokio::test]
async fn a_replayed_signed_request_is_refused() {
    let server = Server::start().await;
    let (_, session) = player(&server, "replayer").await;
    let body = json!({"refresh_token": session["refresh_token"]});
    let (ts, n) = (now_secs(), nonce());
    let first = server
        .signed_post("/v1/auth/refresh", &body, &session, ts, &n, None)
        .await;
    assert_eq!(first.status(), 200);
    let replay = server
        .signed_post("/v1/auth/refresh", &body, &session, ts, &n, None)
        .await;
    assert_eq!(replay.status(), 401);
    let err: serde_json::Value = replay.json().await.unwrap();
    assert_eq!(err["error"]["code"], "replayed_request");
}

#[tokio::test]
async fn a_signed_request_with_a_stale_timestamp_or_a_bad_signature_is_refused() {
    let server = Server::start().await;
    let (_, session) = player(&server, "stale").await;
    let access = session["access_token"].as_str().unwrap();
    let stale = server
        .signed_post(
            "/v1/auth/logout",
            &json!({}),
            &session,
            now_secs() - 301,
            &nonce(),
            Some(access),
        )
        .await;
    assert_eq!(stale.status(), 401);
    let err: serde_json::Value = stale.json().await.unwrap();
    assert_eq!(err["error"]["code"], "stale_request");
    // Unsigned, from a native client: refused too.
    let unsigned = server
        .http
        .post(server.url("/v1/auth/logout"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    // Signed with someone else's key.
    let (_, other) = player(&server, "other").await;
    let forged = server
        .signed_post(
            "/v1/auth/logout",
            &json!({}),
            &other,
            now_secs(),
            &nonce(),
            Some(access),
        )
        .await;
    assert_eq!(forged.status(), 401);
}

#[tokio::test]
async fn a_cross_site_post_without_the_csrf_token_is_refused() {
    let server = Server::start().await;
    register(server.addr, "browser").await;
    // A browser login from the allowed origin gets a CSRF token and cookie.
    let res = server
        .http
        .post(server.url("/v1/auth/login"))
        .header("origin", ALLOWED_ORIGIN)
        .header("sec-fetch-site", "cross-site")
        .json(&json!({"username": "browser", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    let session: serde_json::Value = res.json().await.unwrap();
    let access = session["access_token"].as_str().unwrap();
    let csrf = session["csrf_token"].as_str().unwrap();

    // A forged cross-site form post from another site.
    let evil = server
        .http
        .post(server.url("/v1/auth/logout"))
        .header("origin", "https://evil.example")
        .header("sec-fetch-site", "cross-site")
        .header("cookie", format!("loh_csrf={csrf}"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(evil.status(), 403);
    // From the right origin but without the token.
    let no_token = server
        .http
        .post(server.url("/v1/auth/logout"))
        .header("origin", ALLOWED_ORIGIN)
        .header("cookie", format!("loh_csrf={csrf}"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), 403);
    let err: serde_json::Value = no_token.json().await.unwrap();
    assert_eq!(err["error"]["code"], "csrf_failed");
    // With it: logged out.
    let ok = server
        .http
        .post(server.url("/v1/auth/logout"))
        .header("origin", ALLOWED_ORIGIN)
        .header("cookie", format!("loh_csrf={csrf}"))
        .header("x-csrf-token", csrf)
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 204);
}

#[tokio::test]
async fn a_websocket_handshake_from_a_foreign_origin_is_refused() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let server = Server::start().await;
    let mut req = format!("ws://{}/v1/ws", server.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    let err = tokio_tungstenite::connect_async(req).await.unwrap_err();
    let tokio_tungstenite::tungstenite::Error::Http(res) = err else {
        panic!("expected an HTTP refusal, got {err:?}");
    };
    assert_eq!(res.status(), 403);
    let mut req = format!("ws://{}/v1/ws", server.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("origin", ALLOWED_ORIGIN.parse().unwrap());
    assert!(tokio_tungstenite::connect_async(req).await.is_ok());
}

/// A logged-in socket, past Welcome.
async fn joined(server: &Server, name: &str) -> Ws {
    let (_, session) = player(server, name).await;
    let (ws, welcome) = hello(server.addr, session["access_token"].as_str().unwrap()).await;
    assert!(
        matches!(welcome, Some(ServerFrame::Welcome { .. })),
        "{welcome:?}"
    );
    ws
}

async fn still_answers(ws: &mut Ws) {
    send(ws, &ClientFrame::Ping { nonce: 99 }).await;
    assert_eq!(next_frame(ws).await, Some(ServerFrame::Pong { nonce: 99 }));
}

#[tokio::test]
async fn an_oversized_frame_is_answered_frame_too_large_and_closed() {
    let server = Server::start().await;
    let mut ws = joined(&server, "bigframe").await;
    send_raw(&mut ws, vec![0xc0; MAX_CLIENT_FRAME + 1]).await;
    assert_eq!(
        error_code(&next_frame(&mut ws).await),
        Some("frame_too_large")
    );
    assert_eq!(next_frame(&mut ws).await, None, "the server closed");
}

#[tokio::test]
async fn an_array_header_claiming_four_billion_elements_is_a_bad_frame() {
    let server = Server::start().await;
    let mut ws = joined(&server, "bigarray").await;
    // {"Command": [ <2^32-1 elements follow> ...
    let mut bytes = vec![0x81, 0xa7];
    bytes.extend_from_slice(b"Command");
    bytes.extend_from_slice(&[0xdd, 0xff, 0xff, 0xff, 0xff, 0x01]);
    send_raw(&mut ws, bytes).await;
    assert_eq!(error_code(&next_frame(&mut ws).await), Some("bad_frame"));
    still_answers(&mut ws).await;
}

#[tokio::test]
async fn a_thousand_deep_nesting_is_a_bad_frame() {
    let server = Server::start().await;
    let mut ws = joined(&server, "deepnest").await;
    let mut bytes = vec![0x91; 1000];
    bytes.push(0xc0);
    send_raw(&mut ws, bytes).await;
    assert_eq!(error_code(&next_frame(&mut ws).await), Some("bad_frame"));
    still_answers(&mut ws).await;
}

#[tokio::test]
async fn a_client_that_never_reads_is_disconnected_and_the_tick_goes_on() {
    let server = Server::start().await;
    let (_, session) = player(&server, "sloth").await;
    // A small receive window, as a hostile client would pick.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(server.addr).await.unwrap();
    let stream = tokio_tungstenite::MaybeTlsStream::Plain(stream);
    let (mut ws, _) =
        tokio_tungstenite::client_async(format!("ws://{}/v1/ws", server.addr), stream)
            .await
            .unwrap();
    send(
        &mut ws,
        &ClientFrame::Hello {
            protocol: 1,
            token: session["access_token"].as_str().unwrap().to_owned(),
        },
    )
    .await;
    assert!(matches!(
        next_frame(&mut ws).await,
        Some(ServerFrame::Welcome { .. })
    ));
    // Flood pings and never read the pongs (nor the tick updates).
    let (mut sink, _unread) = ws.split();
    let flood = tokio::spawn(async move {
        use futures::SinkExt;
        let ping = loh_commands::encode_client(&ClientFrame::Ping { nonce: 1 });
        for _ in 0..200_000 {
            if sink
                .send(tokio_tungstenite::tungstenite::Message::Binary(
                    ping.clone().into(),
                ))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    // Meanwhile another player plays on.
    let mut other = joined(&server, "busy").await;
    send(
        &mut other,
        &ClientFrame::Command {
            seq: 1,
            cmd: Command::Say {
                text: "still ticking".into(),
            },
        },
    )
    .await;
    assert!(matches!(
        next_frame(&mut other).await,
        Some(ServerFrame::Accepted { seq: 1, .. })
    ));

    let started = Instant::now();
    while server.metric("loh_slow_client_disconnects_total").await < 1.0 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the sloth was never dropped"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    send(
        &mut other,
        &ClientFrame::Command {
            seq: 2,
            cmd: Command::Say {
                text: "and on".into(),
            },
        },
    )
    .await;
    assert!(matches!(
        next_frame(&mut other).await,
        Some(ServerFrame::Accepted { seq: 2, .. })
    ));
    flood.abort();
}

#[tokio::test]
async fn slow_headers_cannot_hold_a_connection() {
    let server = Server::start().await;
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    // Trickle one header line every 200 ms; the 1 s header timeout closes the connection.
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "still open after 20 s"
        );
        if tcp.write_all(b"X-Slow: 1\r\n").await.is_err() {
            break;
        }
        match tokio::time::timeout(Duration::from_millis(200), tcp.read(&mut buf)).await {
            Err(_) => continue,
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(_)) => continue, // a 408 answer, then the close
        }
    }
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "closed for another reason"
    );
}

#[tokio::test]
async fn a_login_flood_from_one_ip_gets_429_with_retry_after() {
    let server = Server::start().await;
    let mut limited = 0;
    for i in 0..30 {
        let res = server
            .http
            .post(server.url("/v1/auth/login"))
            .json(&json!({"username": format!("ghost{i}"), "password": "wrong password"}))
            .send()
            .await
            .unwrap();
        match res.status().as_u16() {
            401 => {}
            429 => {
                let retry: u64 = res.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(retry >= 1);
                limited += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(limited >= 15, "only {limited} of 30 were limited");
}

#[tokio::test]
async fn wrong_passwords_and_unknown_users_get_the_same_answer() {
    let server = Server::start().await;
    register(server.addr, "known").await;
    let mut bodies = Vec::new();
    for name in ["known", "unknown"] {
        let res = server
            .http
            .post(server.url("/v1/auth/login"))
            .json(&json!({"username": name, "password": "not the password"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        bodies.push(res.text().await.unwrap());
    }
    assert_eq!(bodies[0], bodies[1]);
}

#[tokio::test]
async fn a_second_login_takes_the_session_over() {
    let server = Server::start().await;
    let (id, first) = player(&server, "twice").await;
    let (mut old, _) = hello(server.addr, first["access_token"].as_str().unwrap()).await;
    let second = login(server.addr, "twice").await;
    let (mut new, welcome) = hello(server.addr, second["access_token"].as_str().unwrap()).await;
    assert!(matches!(welcome, Some(ServerFrame::Welcome { .. })));
    assert_eq!(
        error_code(&next_frame(&mut old).await),
        Some("session_closed")
    );
    assert!(server.sessions.lock_holder(id).await.unwrap().is_some());
    still_answers(&mut new).await;
}

#[tokio::test]
async fn commands_over_the_per_tick_budget_are_rejected_rate_limited_and_counted() {
    let server = Server::start_with(loh_gateway::limits::Limits {
        outbound_queue: 256,
        ..test_limits()
    })
    .await;
    let mut ws = joined(&server, "spammer").await;
    for seq in 1..=30 {
        send(
            &mut ws,
            &ClientFrame::Command {
                seq,
                cmd: Command::Say {
                    text: format!("line {seq}"),
                },
            },
        )
        .await;
    }
    let mut limited = 0;
    for _ in 0..30 {
        match next_frame(&mut ws).await {
            Some(ServerFrame::Rejected { code, .. }) if code == "rate_limited" => limited += 1,
            Some(ServerFrame::Accepted { .. } | ServerFrame::Rejected { .. }) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        limited > 0,
        "30 commands in one burst stayed within the budget"
    );
    assert!(server.metric("loh_commands_rate_limited_total").await >= limited as f64);
}

#[tokio::test]
async fn the_jwks_document_verifies_the_issued_tokens() {
    let server = Server::start().await;
    let (_, session) = player(&server, "jwks").await;
    let jwks: jsonwebtoken::jwk::JwkSet = server
        .http
        .get(server.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwks.keys[0]).unwrap();
    let claims = jsonwebtoken::decode::<Claims>(
        session["access_token"].as_str().unwrap(),
        &key,
        &loh_gateway::auth::tokens::validation(),
    )
    .unwrap()
    .claims;
    assert_eq!(claims.typ, "access");
}

// ---- No single client stops, stalls or starves the world (issue 11). ----

#[tokio::test]
async fn a_command_whose_seq_the_journal_cannot_store_is_refused_and_the_world_goes_on() {
    let server = Server::start().await;
    let mut ws = joined(&server, "hugeseq").await;
    // The frame of the report: {"Command": {"seq": 9223372036854775813, "cmd": {"Say": {"text": "x"}}}}
    command(
        &mut ws,
        9_223_372_036_854_775_813,
        Command::Say { text: "x".into() },
    )
    .await;
    match answer(&mut ws).await {
        ServerFrame::Rejected { code, .. } => assert_eq!(code, "bad_seq"),
        other => panic!("unexpected {other:?}"),
    }
    command(
        &mut ws,
        1,
        Command::Say {
            text: "still here".into(),
        },
    )
    .await;
    assert!(matches!(
        answer(&mut ws).await,
        ServerFrame::Accepted { seq: 1, .. }
    ));
    assert!(server.metric("loh_commands_out_of_bounds_total").await >= 1.0);
}

#[tokio::test]
async fn a_huge_identifier_is_refused_bad_command_and_not_echoed() {
    let server = Server::start().await;
    let mut ws = joined(&server, "bigrecipe").await;
    let recipe = "q".repeat(60 * 1024);
    command(&mut ws, 1, Command::Produce { recipe }).await;
    match answer(&mut ws).await {
        ServerFrame::Rejected { code, message, .. } => {
            assert_eq!(code, "bad_command");
            assert!(
                !message.contains("qqqq"),
                "echoed: {}…",
                &message[..40.min(message.len())]
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    still_answers(&mut ws).await;
}

#[tokio::test]
async fn registrations_from_one_address_are_rate_limited() {
    let server = Server::start_with(loh_gateway::limits::Limits {
        register_per_ip: loh_gateway::limits::Rate {
            burst: 3,
            per: Duration::from_secs(60),
        },
        ..test_limits()
    })
    .await;
    let mut statuses = Vec::new();
    for i in 0..5 {
        let res = server
            .http
            .post(server.url("/v1/auth/register"))
            .json(&json!({"username": format!("reg{i}"), "password": "long enough password"}))
            .send()
            .await
            .unwrap();
        statuses.push(res.status().as_u16());
    }
    assert_eq!(statuses, vec![201, 201, 201, 429, 429]);
}

#[tokio::test]
async fn a_full_password_hashing_queue_answers_503_with_retry_after() {
    let server = Server::start_with(loh_gateway::limits::Limits {
        hash_queue: 0,
        login_per_ip: loh_gateway::limits::Rate {
            burst: 100,
            per: Duration::from_millis(1),
        },
        ..test_limits()
    })
    .await;
    let attempts = (0..12).map(|i| {
        let (http, url) = (server.http.clone(), server.url("/v1/auth/login"));
        async move {
            let res = http
                .post(url)
                .json(&json!({"username": format!("nobody{i}"), "password": "wrong password"}))
                .send()
                .await
                .unwrap();
            let retry = res.headers().get("retry-after").cloned();
            (res.status().as_u16(), retry)
        }
    });
    let answers = futures::future::join_all(attempts).await;
    let busy: Vec<_> = answers.iter().filter(|(s, _)| *s == 503).collect();
    assert!(
        !busy.is_empty(),
        "12 logins at once fit 2 hashing slots: {answers:?}"
    );
    assert!(busy.iter().all(|(_, retry)| retry.is_some()));
    assert!(answers.iter().all(|(s, _)| *s == 503 || *s == 401));
}

#[tokio::test]
async fn one_address_cannot_hold_every_connection_slot() {
    let server = Server::start_with(loh_gateway::limits::Limits {
        max_connections_per_ip: 2,
        ..test_limits()
    })
    .await;
    let hold = |ip: [u8; 4]| async move {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(std::net::SocketAddr::from((ip, 0))).unwrap();
        socket.connect(server.addr).await.unwrap()
    };
    let _a = hold([127, 0, 0, 1]).await;
    let _b = hold([127, 0, 0, 1]).await;
    let mut third = hold([127, 0, 0, 1]).await;
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .ok();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), third.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "the third is closed unanswered"
    );
    // Another address still gets in.
    let mut other = hold([127, 0, 0, 2]).await;
    other
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let n = tokio::time::timeout(Duration::from_secs(5), other.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1"));
    // Give 127.0.0.1 its places back to read the metrics.
    drop((_a, _b, third, other));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        server
            .metric("loh_connections_closed_total{reason=\"address_limit\"}")
            .await
            >= 1.0
    );
}

#[tokio::test]
async fn upgraded_websockets_count_against_the_connection_limit() {
    let server = Server::start_with(loh_gateway::limits::Limits {
        max_connections: 2,
        ..test_limits()
    })
    .await;
    // Accounts first (each request's connection is given back when it ends).
    let (_, one) = player(&server, "slotone").await;
    let (_, two) = player(&server, "slottwo").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (ws1, w1) = hello(server.addr, one["access_token"].as_str().unwrap()).await;
    let (ws2, w2) = hello(server.addr, two["access_token"].as_str().unwrap()).await;
    assert!(matches!(w1, Some(ServerFrame::Welcome { .. })));
    assert!(matches!(w2, Some(ServerFrame::Welcome { .. })));
    // Both slots are held by live WebSockets: a third connection is refused at accept.
    let mut third = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .ok();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), third.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "refused while both sockets live"
    );
    // Closing the sockets gives the places back (and lets the metrics be read).
    drop((ws1, ws2, third));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        server
            .metric("loh_connections_closed_total{reason=\"connection_limit\"}")
            .await
            >= 1.0
    );
}

#[tokio::test]
async fn every_connection_the_server_closes_is_counted_by_reason() {
    let server = Server::start().await;
    let mut ws = joined(&server, "counted").await;
    send_raw(&mut ws, vec![0xc0; MAX_CLIENT_FRAME + 1]).await;
    assert_eq!(
        error_code(&next_frame(&mut ws).await),
        Some("frame_too_large")
    );
    assert_eq!(next_frame(&mut ws).await, None);
    let mut ws = joined(&server, "leaver").await;
    ws.close(None).await.ok();
    drop(ws);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let too_large = server
            .metric("loh_connections_closed_total{reason=\"frame_too_large\"}")
            .await;
        let client = server
            .metric("loh_connections_closed_total{reason=\"client_closed\"}")
            .await;
        if too_large >= 1.0 && client >= 1.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "closes not counted: {too_large} {client}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A brute-forcer spreading guesses over the worlds gains nothing: failed logins for one account
/// from one address are counted in Redis, by every world's game server together (5 per 30 s).
#[tokio::test]
async fn failed_logins_are_counted_across_worlds() {
    let world1 = Server::start().await;
    let world2 = world1.beside("world2").await;
    register(world1.addr, "victim").await;
    let mut statuses = Vec::new();
    for i in 0..8 {
        let server = if i % 2 == 0 { &world1 } else { &world2 };
        let res = server
            .http
            .post(server.url("/v1/auth/login"))
            .json(&json!({"username": "victim", "password": "wrong password"}))
            .send()
            .await
            .unwrap();
        statuses.push(res.status().as_u16());
    }
    assert_eq!(
        statuses,
        [401, 401, 401, 401, 401, 429, 429, 429],
        "one budget of 5 for both worlds"
    );
    // Another address is not locked out (as in one world: the budget is per account and IP).
    let keys: Vec<String> = {
        let client = redis::Client::open(loh_testkit::redis_url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        redis::cmd("KEYS")
            .arg(format!("{}:rl:login_fail:*", world1.prefix))
            .query_async(&mut conn)
            .await
            .unwrap()
    };
    assert_eq!(
        keys.len(),
        1,
        "one bucket, for victim from 127.0.0.1: {keys:?}"
    );
}

/// A character lives in one world: a `Hello` to another world is answered `other_world` naming
/// the world it lives in, closed, and changes nothing (no character is made there, and the
/// connection in its own world plays on).
#[tokio::test]
async fn a_player_whose_character_lives_in_another_world_is_told_where() {
    let world1 = Server::start().await;
    let world2 = world1.beside("world2").await;
    let account = register_and_login(world1.addr, "homebody").await;
    let (mut home, _) = hello(world1.addr, &account.token).await;
    recv_until(&mut home, Duration::from_secs(5), |f| {
        matches!(f, ServerFrame::Snapshot { .. })
    })
    .await
    .expect("joined world 1");
    let (mut away, told) = hello(world2.addr, &account.token).await;
    assert!(
        matches!(&told, Some(ServerFrame::Error { code, message })
            if code == "other_world" && message.contains("world1")),
        "{told:?}"
    );
    assert!(
        recv_until(&mut away, Duration::from_secs(5), |_| false)
            .await
            .is_none(),
        "closed"
    );
    // The first world's connection was not taken over: it still gets its updates.
    recv_until(&mut home, Duration::from_secs(5), |f| {
        matches!(f, ServerFrame::TickUpdate { .. })
    })
    .await
    .expect("world 1 plays on");
    let pool = sqlx::PgPool::connect(&world1.db_url).await.unwrap();
    let (in_world2,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM events WHERE shard = 'world2' AND stream_id LIKE $1")
            .bind(format!("%{}%", account.player_id))
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(in_world2, 0, "no character was made in world 2");
}

/// A login anywhere closes the older connection at once: a lock taken through one instance's
/// session store is announced to every instance following the same Redis prefix.
#[tokio::test]
async fn a_lock_taken_on_one_instance_is_announced_to_every_other() {
    let prefix = loh_testkit::unique_name("takeover");
    let store = |p: String| async move {
        loh_gateway::auth::sessions::SessionStore::redis(&loh_testkit::redis_url(), &p)
            .await
            .unwrap()
    };
    let (here, there) = (store(prefix.clone()).await, store(prefix).await);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let cancel = tokio_util::sync::CancellationToken::new();
    let follow = cancel.clone();
    tokio::spawn(async move {
        there
            .takeovers(follow, move |player, owner| {
                let _ = tx.send((player, owner.to_owned()));
            })
            .await
    });
    let player = Uuid::new_v4();
    // The subscription takes a moment; take the lock until the notice comes.
    let notice = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            here.take_lock(player, "instance-a:1").await.unwrap();
            if let Ok(Some(n)) = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
                return n;
            }
        }
    })
    .await
    .expect("the takeover is announced");
    assert_eq!(notice, (player, "instance-a:1".to_owned()));
    cancel.cancel();
}
