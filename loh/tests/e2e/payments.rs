//! Payments end to end (docs/PAYMENTS.md): a Stripe event signed as Stripe signs it reaches the
//! world once however often it is delivered, the query API shows the bonds in the bank after
//! projection, a refund takes them back, and the log still verifies and re-simulates byte for
//! byte. Once on the real services, once embedded.

use crate::{settings, unique_name};
use loh::app::{self, Running};
use loh::config::{Backing, Settings};
use loh::embedded::DataDir;
use loh_gateway::payments::signature::sign;
use loh_nats::EventStreamDef;
use loh_testkit::client::register_and_login;
use loh_testkit::{TestDb, nats_url};
use serde_json::{Value, json};
use std::time::Duration;

const SECRET: &str = "whsec_e2e";

fn with_payments(mut s: Settings) -> Settings {
    s.payments.webhook_secret = Some(SECRET.into());
    s
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn deliver(running: &Running, event: &Value) -> Value {
    let body = serde_json::to_vec(event).unwrap();
    let res = reqwest::Client::new()
        .post(format!(
            "http://{}/v1/payments/stripe/webhook",
            running.game_addr.unwrap()
        ))
        .header("Stripe-Signature", sign(SECRET.as_bytes(), now(), &body))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// Polls the query API until the player's bank holds `qty` bonds, 15 s at most.
async fn wait_for_bonds(running: &Running, player_id: &str, token: &str, qty: i64) {
    let url = format!(
        "http://{}/v1/players/{player_id}/bank",
        running.query_addr.unwrap()
    );
    let mut last = Value::Null;
    for _ in 0..150 {
        let res = reqwest::Client::new()
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        if res.status() == 200 {
            last = res.json().await.unwrap();
            let held = last["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["item"] == "bond")
                .map_or(0, |s| s["qty"].as_i64().unwrap());
            if held == qty {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the bank never held {qty} bonds; last answer {last}");
}

/// The player's premium wallet from the query API: membership view and purchase history.
async fn wallet(running: &Running, player_id: &str, token: &str) -> (Value, Vec<String>) {
    let get = |path: String| {
        let url = format!("http://{}{path}", running.query_addr.unwrap());
        async move {
            let res = reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            res.json::<Value>().await.unwrap()
        }
    };
    let membership = get(format!("/v1/players/{player_id}/membership")).await;
    let history = get(format!("/v1/players/{player_id}/purchases")).await;
    let what = history["purchases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["what"].as_str().unwrap().to_owned())
        .collect();
    (membership, what)
}

/// A player who is not connected buys five bonds (the event delivered ten times, five at
/// once), then is refunded.
async fn buy_and_refund(running: &Running, username: &str) {
    let account = register_and_login(running.game_addr.unwrap(), username).await;
    let paid = json!({
        "id": format!("evt_paid_{username}"), "object": "event",
        "type": "checkout.session.completed",
        "data": {"object": {"id": "cs_1", "object": "checkout.session", "mode": "payment",
            "payment_status": "paid", "payment_intent": format!("pi_{username}"),
            "metadata": {"player_id": account.player_id, "product": "bonds_5"}}}
    });
    let at_once: Vec<_> = (0..5).map(|_| deliver(running, &paid)).collect();
    let answers = futures::future::join_all(at_once).await;
    assert_eq!(
        answers.iter().filter(|a| a["duplicate"] == false).count(),
        1,
        "{answers:?}"
    );
    for _ in 0..5 {
        assert_eq!(deliver(running, &paid).await["duplicate"], true);
    }
    wait_for_bonds(running, &account.player_id, &account.token, 5).await;
    let (membership, history) = wallet_with(running, &account, 1).await;
    assert_eq!(membership["bonds_held"], 5, "{membership}");
    assert_eq!(membership["tier"], "free");
    assert_eq!(history, ["credited"]);

    let refunded = json!({
        "id": format!("evt_refund_{username}"), "object": "event", "type": "charge.refunded",
        "data": {"object": {"id": "ch_1", "object": "charge",
            "payment_intent": format!("pi_{username}"), "refunded": true}}
    });
    deliver(running, &refunded).await;
    deliver(running, &refunded).await;
    wait_for_bonds(running, &account.player_id, &account.token, 0).await;
    let (membership, history) = wallet_with(running, &account, 2).await;
    assert_eq!(history, ["clawed_back", "credited"]);
    assert_eq!(membership["bonds_held"], 0);
}

/// The wallet once the purchase history has `n` rows (the membership read model may trail
/// the holdings one by a moment), 10 s at most.
async fn wallet_with(
    running: &Running,
    account: &loh_testkit::client::Account,
    n: usize,
) -> (Value, Vec<String>) {
    for _ in 0..100 {
        let (membership, history) = wallet(running, &account.player_id, &account.token).await;
        if history.len() >= n {
            return (membership, history);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the purchase history never reached {n} rows");
}

/// `loh replay <what>` on `backing`'s store: its exit status and output.
fn replay(what: &str, backing: &Backing) -> (bool, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_loh"));
    cmd.args(["replay", what])
        .env_remove("LOH_DATA_DIR")
        .env_remove("LOH_SHARD")
        .env_remove("DATABASE_URL");
    match backing {
        Backing::Embedded(dir) => {
            cmd.arg("--data-dir").arg(dir.root());
        }
        Backing::Services { database_url, .. } => {
            use secrecy::ExposeSecret;
            cmd.env("DATABASE_URL", database_url.expose_secret());
            if what == "verify" {
                // On PostgreSQL verify wants the server's public key; this test checks the chain.
                cmd.arg("--skip-signatures");
            }
        }
    }
    let out = cmd.output().expect("run loh");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn assert_log_replays(backing: &Backing) {
    let (ok, out) = replay("resimulate", backing);
    assert!(ok && out.contains("identical"), "{out}");
    let (ok, out) = replay("verify", backing);
    assert!(ok, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bonds_bought_and_refunded_on_postgres_show_in_the_query_api_and_the_log_replays() {
    let db = TestDb::create().await;
    let stream = EventStreamDef {
        name: unique_name("PAY").to_uppercase(),
        subject_prefix: unique_name("pay"),
        replicas: 1,
    };
    let backing = Backing::Services {
        database_url: db.url.clone().into(),
        nats_url: nats_url().into(),
    };
    let running = app::start_up(
        backing.clone(),
        with_payments(settings(Some(stream.clone()))),
    )
    .await
    .unwrap();
    buy_and_refund(&running, "karna").await;
    running.shutdown().await.unwrap();
    assert_log_replays(&backing);
    let client = async_nats::connect(nats_url()).await.unwrap();
    let _ = async_nats::jetstream::new(client)
        .delete_stream(&stream.name)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bonds_bought_and_refunded_embedded_show_in_the_query_api_and_the_log_replays() {
    let dir = tempfile::tempdir().unwrap();
    let backing = Backing::Embedded(DataDir::open(dir.path()).unwrap());
    let running = app::start_up(backing.clone(), with_payments(settings(None)))
        .await
        .unwrap();
    buy_and_refund(&running, "drona").await;
    running.shutdown().await.unwrap();
    assert_log_replays(&backing);
}
