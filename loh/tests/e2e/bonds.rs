//! Bonds and membership end to end through the `loh up` binary, with real WebSocket clients
//! (docs/PAYMENTS.md): a player checks out (against a stand-in for the Stripe API on loopback),
//! Stripe's webhook (signed here exactly as Stripe signs) credits the bonds, the player trades
//! one to another player through both trade screens, who redeems it; a refund of the purchase
//! then shortens the redeemer's membership and `loh replay scan` flags the moved bonds. And a
//! subscription paid through a few seconds from now lapses by the tick's clock, after which the
//! members zone's border refuses the player. Each test runs embedded and on the real services
//! (a scratch PostgreSQL, NATS, Redis).

use crate::process::{LohUp, loh, on_services, start};
use hmac::{Hmac, Mac};
use loh_commands::{Command, ServerFrame};
use loh_testkit::client::{Account, Ws, answer, command, hello, recv_until, register_and_login};
use loh_testkit::stripe::FakeStripe;
use serde_json::{Value, json};
use sha2::Sha256;
use std::path::Path;
use std::time::{Duration, Instant};

const WEBHOOK_SECRET: &str = "whsec_e2e_bonds";
const SECRET_KEY: &str = "sk_test_e2e_bonds";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Where a test's `loh up` keeps its world: the embedded data folder, or the real services.
struct Backing {
    data: tempfile::TempDir,
    /// The scratch database and the shard (also the stream's and Redis keys' name), on the
    /// real services.
    services: Option<(loh_testkit::TestDb, String)>,
}

impl Backing {
    async fn new(services: bool) -> Backing {
        let data = tempfile::tempdir().unwrap();
        let services = if services {
            Some((
                loh_testkit::TestDb::create().await,
                loh_testkit::unique_name("bonds"),
            ))
        } else {
            None
        };
        Backing { data, services }
    }

    /// `loh` with this backing's environment.
    fn loh(&self) -> std::process::Command {
        let mut cmd = match &self.services {
            Some((db, shard)) => on_services(&db.url, &loh_testkit::nats_url(), self.path(), shard),
            None => {
                let mut cmd = loh();
                cmd.env_remove("LOH_SHARD");
                cmd
            }
        };
        cmd.env_remove("LOH_DATA_DIR");
        cmd
    }

    fn path(&self) -> &Path {
        self.data.path()
    }
}

impl Drop for Backing {
    fn drop(&mut self) {
        if let Some((_, shard)) = &self.services {
            let stream = loh_nats::EventStreamDef::for_shard(shard).name;
            let _ = std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(async {
                        if let Ok(c) = async_nats::connect(loh_testkit::nats_url()).await {
                            let _ = async_nats::jetstream::new(c).delete_stream(stream).await;
                        }
                    })
            })
            .join();
        }
    }
}

/// `loh up` on `backing` with payments on, the Stripe API at `stripe`, 100 ms ticks.
async fn up(backing: &Backing, stripe: &FakeStripe) -> LohUp {
    let data = backing.path();
    let mut cmd = backing.loh();
    cmd.env("LOH_STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .env("LOH_STRIPE_SECRET_KEY", SECRET_KEY)
        .env_remove("LOH_STRIPE_PRICES");
    let base = stripe.base();
    start(
        cmd,
        data,
        &[
            "--tick-ms",
            "100",
            "--stripe-api-base",
            &base,
            "--stripe-prices",
            "bonds_5=price_bonds5,membership=price_member",
        ],
    )
    .await
}

/// Posts `event` to the webhook, signed as Stripe signs: `t=<unix>,v1=<hex HMAC-SHA256 of
/// "<t>.<body>" keyed with the endpoint secret>`.
async fn deliver(game: &LohUp, event: &Value) {
    let body = serde_json::to_vec(event).unwrap();
    let t = now();
    let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&body);
    let v1 = hex::encode(mac.finalize().into_bytes());
    let res = reqwest::Client::new()
        .post(format!("http://{}/v1/payments/stripe/webhook", game.game))
        .header("Stripe-Signature", format!("t={t},v1={v1}"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        200,
        "{}",
        res.text().await.unwrap_or_default()
    );
}

/// GET `path` of the query API with `token`, polled until `done` holds (15 s at most).
async fn query_until(
    game: &LohUp,
    path: &str,
    token: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let url = format!("http://{}{path}", game.query);
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
            if done(&last) {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{path} never became what the test waits for; last answer {last}");
}

fn held(list: &Value, item: &str) -> i64 {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["item"] == item)
        .map(|s| s["qty"].as_i64().unwrap())
        .sum()
}

/// A connected player: the socket and the next command's seq.
struct Player {
    account: Account,
    ws: Ws,
    seq: u64,
    /// The first empty inventory slot at the session's start (where a new item goes).
    free_slot: u8,
}

impl Player {
    async fn connect(game: &LohUp, name: &str) -> Player {
        let account = register_and_login(game.game, name).await;
        let (mut ws, welcome) = hello(game.game, &account.token).await;
        assert!(
            matches!(welcome, Some(ServerFrame::Welcome { .. })),
            "{welcome:?}"
        );
        let snapshot = recv_until(&mut ws, Duration::from_secs(10), |f| {
            matches!(f, ServerFrame::Snapshot { .. })
        })
        .await
        .expect("a snapshot");
        let ServerFrame::Snapshot { you, .. } = snapshot else {
            unreachable!()
        };
        let you: Value = serde_json::to_value(&*you).unwrap();
        let free_slot = you["inventory"]
            .as_array()
            .expect("the inventory's slots")
            .iter()
            .position(Value::is_null)
            .expect("a free slot") as u8;
        Player {
            account,
            ws,
            seq: 0,
            free_slot,
        }
    }

    fn id(&self) -> uuid::Uuid {
        self.account.player_id.parse().unwrap()
    }

    /// Sends `cmd` and returns the answer (`Accepted` or `Rejected`).
    async fn send(&mut self, cmd: Command) -> ServerFrame {
        self.seq += 1;
        command(&mut self.ws, self.seq, cmd.clone()).await;
        let got = answer(&mut self.ws).await;
        match &got {
            ServerFrame::Accepted { seq, .. } | ServerFrame::Rejected { seq, .. }
                if *seq == self.seq => {}
            other => panic!("{cmd:?}: unexpected {other:?}"),
        }
        got
    }

    async fn ok(&mut self, cmd: Command) {
        let got = self.send(cmd.clone()).await;
        assert!(
            matches!(got, ServerFrame::Accepted { .. }),
            "{cmd:?}: {got:?}"
        );
    }

    /// Walks to `(x, y)` (legs of at most 32 tiles, the longest path) and waits until there.
    async fn walk_to(&mut self, game: &LohUp, x: i64, y: i64) {
        let path = format!("/v1/players/{}/position", self.account.player_id);
        let token = self.account.token.clone();
        loop {
            let at = query_until(game, &path, &token, |_| true).await;
            let (px, py) = (at["x"].as_i64().unwrap(), at["y"].as_i64().unwrap());
            if (px, py) == (x, y) {
                return;
            }
            let step = |from: i64, to: i64| from + (to - from).clamp(-32, 32);
            let (tx, ty) = (step(px, x), step(py, y));
            self.ok(Command::WalkTo {
                x: tx as i32,
                y: ty as i32,
                run: true,
            })
            .await;
            query_until(game, &path, &token, |p| p["x"] == tx && p["y"] == ty).await;
        }
    }

    /// Reads this player's frames until a `TickUpdate` holds an event of `kind` (10 s at most).
    async fn wait_for_event(&mut self, kind: &str) {
        let found = recv_until(&mut self.ws, Duration::from_secs(10), |f| match f {
            ServerFrame::TickUpdate { events, .. } => events.iter().any(|e| {
                e.as_map()
                    .is_some_and(|m| m.iter().any(|(k, _)| k.as_str() == Some(kind)))
            }),
            _ => false,
        })
        .await;
        assert!(found.is_some(), "the socket closed before {kind}");
    }
}

/// An analyst's token for `backing`'s key, minted with `loh analyst-token` as an operator does.
fn analyst_token(backing: &Backing) -> String {
    let out = backing
        .loh()
        .args(["analyst-token", "--data-dir"])
        .arg(backing.path())
        .output()
        .expect("run loh");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The `(flow, reason, qty)` rows of an `/v1/economy/flows` table, summed over its hours.
fn flows_of(table: &Value) -> Vec<(String, String, i64)> {
    let columns: Vec<&str> = table["columns"]
        .as_array()
        .map(|c| c.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let at = |name: &str| columns.iter().position(|c| *c == name);
    let (Some(flow), Some(reason), Some(qty)) = (at("flow"), at("reason"), at("qty")) else {
        return Vec::new();
    };
    let mut out: Vec<(String, String, i64)> = Vec::new();
    for row in table["rows"].as_array().into_iter().flatten() {
        let key = (
            row[flow].as_str().unwrap_or_default().to_owned(),
            row[reason].as_str().unwrap_or_default().to_owned(),
        );
        let n = row[qty].as_i64().unwrap_or_default();
        match out.iter_mut().find(|(f, r, _)| (f, r) == (&key.0, &key.1)) {
            Some(found) => found.2 += n,
            None => out.push((key.0, key.1, n)),
        }
    }
    out
}

/// `loh replay scan --json` on the backing's store: (rule, player) of every finding.
fn scan(backing: &Backing) -> Vec<(String, String)> {
    let out = backing
        .loh()
        .args(["replay", "scan", "--json", "--data-dir"])
        .arg(backing.path())
        .output()
        .expect("run loh");
    let findings: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(
        out.status.success(),
        findings.as_array().unwrap().is_empty(),
        "scan exits non-zero when it finds something"
    );
    findings
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_owned(),
                f["player"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bond_bought_traded_and_redeemed_is_clawed_back_from_the_redeemer_and_flagged() {
    bought_traded_redeemed_refunded(false).await;
}

/// The same on the real services. (It once failed here one run in two on a busy machine: a
/// refund more than a second after the redemption took back thirteen whole days, not fourteen,
/// so the redeemer stayed a member; the world now takes back what is left to the second —
/// `a_refund_takes_back_what_is_left_of_the_membership_to_the_second` in `world/src/payments.rs`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_the_real_services_a_bond_bought_traded_and_redeemed_is_clawed_back_and_flagged() {
    bought_traded_redeemed_refunded(true).await;
}

async fn bought_traded_redeemed_refunded(services: bool) {
    let dir = Backing::new(services).await;
    let stripe = FakeStripe::start().await;
    let game = up(&dir, &stripe).await;
    let mut a = Player::connect(&game, "yudhi").await;
    let mut b = Player::connect(&game, "sanjaya").await;

    // A checks out five bonds; the session carries A and the product.
    let res = reqwest::Client::new()
        .post(format!("http://{}/v1/payments/checkout", game.game))
        .bearer_auth(&a.account.token)
        .json(&json!({"product": "bonds_5"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let session: Value = res.json().await.unwrap();
    assert_eq!(session["url"], FakeStripe::session_url("cs_test_1"));
    let sent = stripe.recorded();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].headers["authorization"],
        format!("Bearer {SECRET_KEY}")
    );
    let metadata: serde_json::Map<String, Value> = sent[0]
        .form
        .iter()
        .filter_map(|(k, v)| {
            let key = k.strip_prefix("metadata[")?.strip_suffix(']')?;
            Some((key.to_owned(), Value::from(v.as_str())))
        })
        .collect();
    assert_eq!(metadata["player_id"], a.account.player_id.as_str());

    // Stripe says it is paid: the metadata comes back on the completed session.
    deliver(
        &game,
        &json!({
            "id": "evt_e2e_paid", "object": "event", "type": "checkout.session.completed",
            "data": {"object": {"id": session["session_id"], "object": "checkout.session",
                "mode": "payment", "payment_status": "paid", "payment_intent": "pi_e2e_bonds",
                "client_reference_id": a.account.player_id, "metadata": metadata}}
        }),
    )
    .await;
    a.wait_for_event("PurchaseCredited").await;
    let bank_path = format!("/v1/players/{}/bank", a.account.player_id);
    query_until(&game, &bank_path, &a.account.token, |b| {
        held(b, "bond") == 5
    })
    .await;

    // A takes one bond out of the bank and trades it to B: request both ways, offer, then
    // both accept the offer screen and both accept the confirm screen.
    a.walk_to(&game, 3227, 3225).await;
    a.ok(Command::BankWithdraw {
        item: "bond".into(),
        qty: 1,
    })
    .await;
    a.ok(Command::TradeRequest { player_id: b.id() }).await;
    b.ok(Command::TradeRequest { player_id: a.id() }).await;
    a.ok(Command::TradeOffer {
        slot: a.free_slot,
        qty: 1,
    })
    .await;
    a.ok(Command::TradeAccept).await;
    b.ok(Command::TradeAccept).await;
    a.ok(Command::TradeAccept).await;
    b.ok(Command::TradeAccept).await;
    b.wait_for_event("TradeSettled").await;

    // B redeems it: membership for 14 days.
    let started = now();
    b.ok(Command::RedeemBond { slot: b.free_slot }).await;
    let membership_b = format!("/v1/players/{}/membership", b.account.player_id);
    // (bonds_held comes from the holdings read model, which may trail by a moment.)
    let member = query_until(&game, &membership_b, &b.account.token, |m| {
        m["tier"] == "member" && m["bonds_held"] == 0
    })
    .await;
    let paid_through = member["paid_through"].as_i64().unwrap();
    let fourteen_days = 14 * 86_400;
    assert!(
        (started..=now() + 1).contains(&(paid_through - fourteen_days)),
        "{member}"
    );

    // The purchase is refunded more than a second after the redemption: A's four bonds burn,
    // what is left of B's 14 days is taken back, to the second, so B lapses.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    deliver(
        &game,
        &json!({
            "id": "evt_e2e_refund", "object": "event", "type": "charge.refunded",
            "data": {"object": {"id": "ch_e2e", "object": "charge",
                "payment_intent": "pi_e2e_bonds", "refunded": true}}
        }),
    )
    .await;
    b.wait_for_event("MembershipShortened").await;
    let shortened = query_until(&game, &membership_b, &b.account.token, |m| {
        m["tier"] == "free"
    })
    .await;
    let until = shortened["paid_through"].as_i64().unwrap();
    assert!(
        (paid_through - fourteen_days + 1..=now()).contains(&until),
        "paid through the refund's tick: {shortened}"
    );
    query_until(&game, &bank_path, &a.account.token, |b| {
        held(b, "bond") == 0
    })
    .await;
    let membership_a = format!("/v1/players/{}/membership", a.account.player_id);
    let a_view = query_until(&game, &membership_a, &a.account.token, |m| {
        m["bonds_held"] == 0
    })
    .await;
    assert_eq!(
        (a_view["debt_bonds"].as_i64(), a_view["debt_days"].as_i64()),
        (Some(0), Some(0))
    );

    // The economy counts bonds by source and sink: five minted by the purchase, one burned by
    // the redemption, the other four by the refund.
    let analyst = analyst_token(&dir);
    let flows = query_until(&game, "/v1/economy/flows?item=bond", &analyst, |t| {
        flows_of(t).contains(&("burned".to_owned(), "refund".to_owned(), 4))
    })
    .await;
    let mut flows = flows_of(&flows);
    flows.sort();
    assert_eq!(
        flows,
        [
            ("burned".to_owned(), "redeem".to_owned(), 1),
            ("burned".to_owned(), "refund".to_owned(), 4),
            ("minted".to_owned(), "purchase".to_owned(), 5),
        ]
    );

    drop(game);
    let findings = scan(&dir);
    assert!(
        findings.contains(&(
            "refunded_bonds_moved".to_owned(),
            a.account.player_id.clone()
        )),
        "{findings:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_subscription_lapses_at_its_paid_through_time_and_the_members_border_then_refuses() {
    subscription_lapses(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_the_real_services_a_subscription_lapses_and_the_members_border_then_refuses() {
    subscription_lapses(true).await;
}

async fn subscription_lapses(services: bool) {
    let dir = Backing::new(services).await;
    let stripe = FakeStripe::start().await;
    let game = up(&dir, &stripe).await;
    let mut c = Player::connect(&game, "vidura").await;

    // To the last tile before the members quarry (x 3291 on).
    c.walk_to(&game, 3290, 3210).await;
    assert!(matches!(
        c.send(Command::Move { x: 3291, y: 3210, run: false }).await,
        ServerFrame::Rejected { ref code, .. } if code == "members_only"
    ));

    // C checks out the membership subscription; its invoice, paid through a few seconds from
    // now, carries the subscription's metadata the checkout set.
    let res = reqwest::Client::new()
        .post(format!("http://{}/v1/payments/checkout", game.game))
        .bearer_auth(&c.account.token)
        .json(&json!({"product": "membership"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let sent = stripe.recorded();
    let form: std::collections::BTreeMap<&str, &str> = sent[0]
        .form
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(form["mode"], "subscription");
    assert_eq!(form["line_items[0][price]"], "price_member");
    let metadata = json!({
        "player_id": form["subscription_data[metadata][player_id]"],
        "product": form["subscription_data[metadata][product]"],
    });
    assert_eq!(metadata["player_id"], c.account.player_id.as_str());
    let paid_through = now() + 4;
    deliver(
        &game,
        &json!({
            "id": "evt_e2e_invoice", "object": "event", "type": "invoice.paid",
            "data": {"object": {"id": "in_e2e", "object": "invoice", "status": "paid",
                "subscription": "sub_e2e",
                "subscription_details": {"metadata": metadata},
                "lines": {"object": "list", "data": [{"period": {"start": now(), "end": paid_through}}]}}}
        }),
    )
    .await;
    c.wait_for_event("MembershipExtended").await;
    let membership = format!("/v1/players/{}/membership", c.account.player_id);
    let view = query_until(&game, &membership, &c.account.token, |m| {
        m["tier"] == "member"
    })
    .await;
    assert_eq!(view["paid_through"], paid_through);

    // A member crosses, and comes back out.
    c.ok(Command::Move {
        x: 3291,
        y: 3210,
        run: false,
    })
    .await;
    c.ok(Command::Move {
        x: 3290,
        y: 3210,
        run: false,
    })
    .await;

    // The tick whose clock reaches the paid-through time lapses it; the border refuses again.
    c.wait_for_event("MembershipLapsed").await;
    let lapsed_at = Instant::now();
    assert!(
        now() >= paid_through,
        "lapsed early: now {} < {paid_through}",
        now()
    );
    assert!(matches!(
        c.send(Command::Move { x: 3291, y: 3210, run: false }).await,
        ServerFrame::Rejected { ref code, .. } if code == "members_only"
    ));
    query_until(&game, &membership, &c.account.token, |m| {
        m["tier"] == "free"
    })
    .await;
    assert!(lapsed_at.elapsed() < Duration::from_secs(15));
}
