//! `POST /v1/payments/checkout` (docs/PAYMENTS.md) against a stand-in for the Stripe API on
//! loopback: the exact request the server sends Stripe (path, form fields with the metadata,
//! the secret key, the idempotency key), the URL it answers, and a typed error with nothing
//! sent or stored for every bad input and every Stripe failure.

use crate::helpers::*;
use loh_gateway::payments::PaymentsConfig;
use loh_gateway::payments::checkout::Prices;
use loh_testkit::client::*;
use loh_testkit::stripe::{Answer, FakeStripe, Recorded};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const SECRET_KEY: &str = "sk_test_loh_checkout";
const SUCCESS: &str = "https://play.loh.example/paid";
const CANCEL: &str = "https://play.loh.example/cancelled";

async fn server_with(stripe: &FakeStripe, secret_key: Option<&str>) -> Server {
    Server::start_with_payments(
        test_limits(),
        PaymentsConfig {
            webhook_secret: Some(WEBHOOK_SECRET.into()),
            secret_key: secret_key.map(Into::into),
            api_base: stripe.base(),
            api_timeout: Duration::from_millis(600),
            prices: Prices::parse(&["bonds_5=price_bonds5", "membership=price_member"]).unwrap(),
            success_url: SUCCESS.into(),
            cancel_url: CANCEL.into(),
            ..Default::default()
        },
    )
    .await
}

async fn post(server: &Server, token: Option<&str>, body: &str, key: Option<&str>) -> (u16, Value) {
    let mut req = server
        .http
        .post(server.url("/v1/payments/checkout"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn form(r: &Recorded) -> BTreeMap<&str, &str> {
    let map: BTreeMap<&str, &str> = r
        .form
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(map.len(), r.form.len(), "no field twice: {:?}", r.form);
    map
}

async fn stored_events(server: &Server) -> i64 {
    let pool = sqlx::PgPool::connect(&server.db_url).await.unwrap();
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM stripe_events")
        .fetch_one(&pool)
        .await
        .unwrap();
    n
}

#[tokio::test]
async fn a_checkout_sends_stripe_the_exact_session_request_and_answers_its_url() {
    let stripe = FakeStripe::start().await;
    let server = server_with(&stripe, Some(SECRET_KEY)).await;
    let account = register_and_login(server.addr, "shopper").await;
    let pid = account.player_id.as_str();

    let (status, body) = post(
        &server,
        Some(&account.token),
        r#"{"product":"bonds_5"}"#,
        Some("retry-1"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["session_id"], "cs_test_1");
    assert_eq!(body["url"], FakeStripe::session_url("cs_test_1"));

    let sent = stripe.recorded();
    assert_eq!(sent.len(), 1, "one request: {sent:?}");
    let r = &sent[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/v1/checkout/sessions")
    );
    assert_eq!(r.headers["authorization"], format!("Bearer {SECRET_KEY}"));
    assert_eq!(
        r.headers["idempotency-key"],
        format!("loh-checkout-{pid}-retry-1")
    );
    assert_eq!(
        r.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    assert!(r.headers.contains_key("stripe-version"));
    let want: BTreeMap<&str, &str> = [
        ("mode", "payment"),
        ("line_items[0][price]", "price_bonds5"),
        ("line_items[0][quantity]", "1"),
        ("client_reference_id", pid),
        ("metadata[player_id]", pid),
        ("metadata[product]", "bonds_5"),
        ("payment_intent_data[metadata][player_id]", pid),
        ("payment_intent_data[metadata][product]", "bonds_5"),
        ("success_url", SUCCESS),
        ("cancel_url", CANCEL),
    ]
    .into();
    assert_eq!(form(r), want, "the form as sent: {}", r.body);

    // A subscription: mode subscription, the metadata on the subscription too (its invoices
    // carry it). Without a client key, a fresh idempotency key each time.
    let (status, body) = post(
        &server,
        Some(&account.token),
        r#"{"product":"membership"}"#,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["url"], FakeStripe::session_url("cs_test_2"));
    let sent = stripe.recorded();
    let r = &sent[1];
    let want: BTreeMap<&str, &str> = [
        ("mode", "subscription"),
        ("line_items[0][price]", "price_member"),
        ("line_items[0][quantity]", "1"),
        ("client_reference_id", pid),
        ("metadata[player_id]", pid),
        ("metadata[product]", "membership"),
        ("subscription_data[metadata][player_id]", pid),
        ("subscription_data[metadata][product]", "membership"),
        ("success_url", SUCCESS),
        ("cancel_url", CANCEL),
    ]
    .into();
    assert_eq!(form(r), want, "the form as sent: {}", r.body);
    let key = &r.headers["idempotency-key"];
    assert!(
        key.starts_with(&format!("loh-checkout-{pid}-")) && key.len() > 60,
        "{key}"
    );

    // The same client key again names the same Stripe request.
    post(
        &server,
        Some(&account.token),
        r#"{"product":"bonds_5"}"#,
        Some("retry-1"),
    )
    .await;
    assert_eq!(
        stripe.recorded()[2].headers["idempotency-key"],
        format!("loh-checkout-{pid}-retry-1")
    );
    assert_eq!(
        stored_events(&server).await,
        0,
        "a checkout credits nothing"
    );
}

#[tokio::test]
async fn bad_checkout_input_and_stripe_failures_are_typed_errors_and_change_nothing() {
    let stripe = FakeStripe::start().await;
    let server = server_with(&stripe, Some(SECRET_KEY)).await;
    let account = register_and_login(server.addr, "haggler").await;
    let token = Some(account.token.as_str());
    let good = r#"{"product":"bonds_5"}"#;

    // Refused before Stripe is asked.
    for (who, body, key, status, code) in [
        (None, good, None, 401, "unauthorized"),
        (Some("not-a-token"), good, None, 401, "unauthorized"),
        (token, "{", None, 400, "bad_json"),
        (token, r#"{"product":5}"#, None, 400, "bad_json"),
        (
            token,
            r#"{"product":"bonds_5","price":"price_free"}"#,
            None,
            400,
            "bad_json",
        ),
        (token, r#"{"product":"gold"}"#, None, 400, "unknown_product"),
        // A real product without a configured price is not on sale.
        (
            token,
            r#"{"product":"bonds_1"}"#,
            None,
            400,
            "unknown_product",
        ),
        (
            token,
            good,
            Some("no spaces allowed"),
            400,
            "bad_idempotency_key",
        ),
    ] {
        let (got, answer) = post(&server, who, body, key).await;
        assert_eq!(
            (got, answer["error"]["code"].as_str()),
            (status, Some(code)),
            "{body} {key:?}: {answer}"
        );
    }
    assert!(stripe.recorded().is_empty(), "Stripe was never asked");

    // Stripe refuses: 502, the player may try again.
    stripe.answer(Answer::Error(400));
    let (status, answer) = post(&server, token, good, None).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (502, Some("stripe_error")),
        "{answer}"
    );
    stripe.answer(Answer::Error(500));
    let (status, answer) = post(&server, token, good, None).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (502, Some("stripe_error")),
        "{answer}"
    );

    // Stripe does not answer: 504 within the configured timeout (600 ms).
    stripe.answer(Answer::Hang);
    let started = Instant::now();
    let (status, answer) = post(&server, token, good, None).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (504, Some("stripe_timeout")),
        "{answer}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(stripe.recorded().len(), 3, "one attempt each, no retries");
    assert_eq!(stored_events(&server).await, 0);
}

#[tokio::test]
async fn without_a_stripe_secret_key_the_checkout_is_disabled() {
    let stripe = FakeStripe::start().await;
    let server = server_with(&stripe, None).await;
    let account = register_and_login(server.addr, "window").await;
    let (status, answer) = post(
        &server,
        Some(&account.token),
        r#"{"product":"bonds_5"}"#,
        None,
    )
    .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (503, Some("payments_disabled"))
    );
    assert!(stripe.recorded().is_empty());
}

/// The checkout is called with the access token in `Authorization`, which a cross-site page
/// cannot make a browser send; a page that tries anyway (a browser's request names its
/// `Origin`) is refused before Stripe is asked, as is one without the token.
#[tokio::test]
async fn a_checkout_from_a_foreign_origin_or_without_the_token_reaches_no_stripe() {
    let stripe = FakeStripe::start().await;
    let server = server_with(&stripe, Some(SECRET_KEY)).await;
    let account = register_and_login(server.addr, "origin").await;
    let res = server
        .http
        .post(server.url("/v1/payments/checkout"))
        .header("content-type", "application/json")
        .header("origin", "https://evil.example")
        .bearer_auth(&account.token)
        .body(r#"{"product":"bonds_5"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_origin");
    let (status, _) = post(&server, None, r#"{"product":"bonds_5"}"#, None).await;
    assert_eq!(status, 401);
    assert!(stripe.recorded().is_empty(), "Stripe was never asked");
    assert_eq!(stored_events(&server).await, 0);
}
