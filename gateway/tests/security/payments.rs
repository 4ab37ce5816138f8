//! The Stripe webhook (docs/PAYMENTS.md): signed exactly as Stripe signs, against the real game
//! server and PostgreSQL. A verified event reaches the world within a tick, once, whether the
//! player is online or not; anything else is a `400` and changes nothing.

use crate::helpers::*;
use loh_events::{EventBody, EventStore, PgEventStore};
use loh_gateway::payments::signature::sign;
use loh_testkit::client::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use uuid::Uuid;

fn checkout(event_id: &str, player_id: Uuid, purchase: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": event_id, "object": "event", "type": "checkout.session.completed",
        "created": now_secs(), "livemode": false,
        "data": {"object": {
            "id": format!("cs_{purchase}"), "object": "checkout.session", "mode": "payment",
            "payment_status": "paid", "status": "complete", "payment_intent": purchase,
            "metadata": {"player_id": player_id.to_string(), "product": "bonds_5"}
        }}
    }))
    .unwrap()
}

fn refund(event_id: &str, purchase: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": event_id, "object": "event", "type": "charge.refunded",
        "data": {"object": {"id": "ch_1", "object": "charge", "payment_intent": purchase,
                            "refunded": true}}
    }))
    .unwrap()
}

async fn post(server: &Server, body: Vec<u8>, signature: Option<String>) -> (u16, Value) {
    let mut req = server
        .http
        .post(server.url("/v1/payments/stripe/webhook"))
        .header("content-type", "application/json")
        .body(body);
    if let Some(sig) = signature {
        req = req.header("Stripe-Signature", sig);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn deliver(server: &Server, body: Vec<u8>) -> (u16, Value) {
    let sig = sign(WEBHOOK_SECRET.as_bytes(), now_secs(), &body);
    post(server, body, Some(sig)).await
}

/// Every payment event in the log.
async fn payment_events(server: &Server) -> Vec<EventBody> {
    let store = PgEventStore::connect(&server.db_url, "world1")
        .await
        .unwrap();
    let mut out = Vec::new();
    let mut from = 1;
    loop {
        let batch = store.read_from(from, 1_000).await.unwrap();
        let Some(last) = batch.last() else { break };
        from = last.position + 1;
        for e in batch {
            let body = e.body().unwrap();
            if loh_world::view::is_payment(&body) {
                out.push(body);
            }
        }
    }
    out
}

/// Waits (5 s at most) until the log holds `n` payment events; then a few ticks more, so
/// that anything extra would show.
async fn wait_for_payments(server: &Server, n: usize) -> Vec<EventBody> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while payment_events(server).await.len() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    payment_events(server).await
}

async fn stored_events(server: &Server) -> i64 {
    let pool = sqlx::PgPool::connect(&server.db_url).await.unwrap();
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM stripe_events")
        .fetch_one(&pool)
        .await
        .unwrap();
    n
}

fn credited(events: &[EventBody]) -> Vec<(Uuid, u32)> {
    events
        .iter()
        .filter_map(|e| match e {
            EventBody::PurchaseCredited {
                player_id, bonds, ..
            } => Some((*player_id, *bonds)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_signed_checkout_gives_an_offline_player_bonds_within_a_tick() {
    let server = Server::start().await;
    let player: Uuid = register(server.addr, "buyer").await.parse().unwrap();
    let started = Instant::now();
    let (status, body) = deliver(&server, checkout("evt_offline", player, "pi_1")).await;
    assert_eq!(
        (status, body["received"].as_bool()),
        (200, Some(true)),
        "{body}"
    );
    let events = wait_for_payments(&server, 1).await;
    assert_eq!(credited(&events), [(player, 5)]);
    // The server ticks every 50 ms; a tick or two, with room for a loaded machine.
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn an_online_player_sees_the_bonds_arrive_in_a_tick_update() {
    let server = Server::start().await;
    let account = register_and_login(server.addr, "online").await;
    let player: Uuid = account.player_id.parse().unwrap();
    let (mut ws, welcome) = hello(server.addr, &account.token).await;
    assert!(matches!(
        welcome,
        Some(loh_commands::ServerFrame::Welcome { .. })
    ));
    // The tick that brings the join snapshot carries no update (its events are in the
    // snapshot): pay once the snapshot is in.
    let snapshot = recv_until(&mut ws, Duration::from_secs(5), |f| {
        matches!(f, loh_commands::ServerFrame::Snapshot { .. })
    })
    .await;
    assert!(snapshot.is_some(), "the join snapshot comes");
    let (status, _) = deliver(&server, checkout("evt_online", player, "pi_2")).await;
    assert_eq!(status, 200);
    let seen = recv_until(&mut ws, Duration::from_secs(5), |f| {
        format!("{f:?}").contains("PurchaseCredited")
    })
    .await;
    assert!(seen.is_some(), "the buyer is told of the purchase");
    assert_eq!(
        credited(&wait_for_payments(&server, 1).await),
        [(player, 5)]
    );
}

#[tokio::test]
async fn the_same_event_delivered_ten_times_and_concurrently_credits_once() {
    let server = Server::start().await;
    let player = Uuid::new_v4();
    let body = checkout("evt_again", player, "pi_3");
    let concurrent: Vec<_> = (0..10).map(|_| deliver(&server, body.clone())).collect();
    let answers = futures::future::join_all(concurrent).await;
    let mut fresh = 0;
    for (status, answer) in &answers {
        assert_eq!(*status, 200, "{answer}");
        fresh += usize::from(answer["duplicate"] == json!(false));
    }
    assert_eq!(fresh, 1, "stored once: {answers:?}");
    wait_for_payments(&server, 1).await;
    for _ in 0..10 {
        let (status, answer) = deliver(&server, body.clone()).await;
        assert_eq!((status, &answer["duplicate"]), (200, &json!(true)));
    }
    let events = wait_for_payments(&server, 2).await;
    assert_eq!(credited(&events), [(player, 5)]);
    assert_eq!(events.len(), 1, "nothing else: {events:?}");
    assert_eq!(stored_events(&server).await, 1);
}

#[tokio::test]
async fn a_bad_stale_or_changed_signature_or_a_malformed_body_is_a_400_and_changes_nothing() {
    let server = Server::start().await;
    let body = checkout("evt_bad", Uuid::new_v4(), "pi_4");
    let now = now_secs();
    let other = sign(b"whsec_not_ours", now, &body);
    let stale = sign(WEBHOOK_SECRET.as_bytes(), now - 301, &body);
    let changed = {
        let sig = sign(WEBHOOK_SECRET.as_bytes(), now, &body);
        let mut b = body.clone();
        let at = b.windows(7).position(|w| w == b"bonds_5").unwrap();
        b[at + 6] = b'9';
        (b, sig)
    };
    let not_json = b"{\"id\": \"evt_x\", oops".to_vec();
    let cases = [
        (body.clone(), None, "bad_signature_header"),
        (
            body.clone(),
            Some("t=abc".to_owned()),
            "bad_signature_header",
        ),
        (body.clone(), Some(other), "bad_signature"),
        (body.clone(), Some(stale), "stale_signature"),
        (changed.0, Some(changed.1), "bad_signature"),
        (
            not_json.clone(),
            Some(sign(WEBHOOK_SECRET.as_bytes(), now, &not_json)),
            "bad_event",
        ),
    ];
    for (body, sig, code) in cases {
        let (status, answer) = post(&server, body, sig).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (400, Some(code))
        );
    }
    assert!(wait_for_payments(&server, 0).await.is_empty());
    assert_eq!(stored_events(&server).await, 0);
}

#[tokio::test]
async fn an_unknown_event_type_is_a_200_and_ignored() {
    let server = Server::start().await;
    let body = serde_json::to_vec(&json!({"id": "evt_other", "type": "customer.created",
        "data": {"object": {"id": "cus_1", "object": "customer"}}}))
    .unwrap();
    let (status, answer) = deliver(&server, body).await;
    assert_eq!((status, answer["received"].as_bool()), (200, Some(true)));
    assert!(wait_for_payments(&server, 0).await.is_empty());
}

#[tokio::test]
async fn a_refund_burns_the_purchase_bonds_once_and_a_refund_of_nothing_is_noted() {
    let server = Server::start().await;
    let player = Uuid::new_v4();
    deliver(&server, checkout("evt_buy", player, "pi_5")).await;
    wait_for_payments(&server, 1).await;
    deliver(&server, refund("evt_refund", "pi_5")).await;
    deliver(&server, refund("evt_refund", "pi_5")).await;
    deliver(&server, refund("evt_refund_unknown", "pi_unknown")).await;
    let events = wait_for_payments(&server, 3).await;
    let burned: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            EventBody::BondsClawedBack {
                player_id, bank, ..
            } => Some((*player_id, *bank)),
            _ => None,
        })
        .collect();
    assert_eq!(burned, [(player, 5)]);
    assert!(events.iter().any(|e| matches!(e,
        EventBody::PaymentNoted { payment, note } if payment == "evt_refund_unknown" && note == "unknown_purchase")));
    assert_eq!(events.len(), 3, "{events:?}");
}
