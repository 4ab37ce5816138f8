//! A Stripe event read into what the world takes. Only the fields used are read, and each is
//! bounded; an event that is not JSON, or has no `id`, `type` and `data.object`, is malformed
//! (`400`). Types the game does not act on are stored and ignored.
//!
//! | type | world input |
//! |---|---|
//! | `checkout.session.completed` (mode `payment`, `payment_status` `paid`), `checkout.session.async_payment_succeeded` | [`PaymentKind::Paid`] |
//! | `invoice.paid` | [`PaymentKind::Renewed`], paid through the latest line's period end |
//! | `charge.refunded`, `charge.dispute.created` | [`PaymentKind::ClawBack`] |
//! | `charge.dispute.closed` with status `won` | [`PaymentKind::DisputeWon`] |
//!
//! The purchase a refund or dispute names is its payment intent (else its invoice, else the
//! charge); a purchase is keyed the same way (payment intent, else the session or invoice id).
//! The player and product come from the metadata the checkout set (`player_id`, `product`).

use loh_world::payments::{Payment, PaymentKind};
use serde_json::Value;
use uuid::Uuid;

/// Longest id taken (event, payment intent, invoice, charge).
const MAX_ID: usize = 255;

/// A verified Stripe event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeEvent {
    pub id: String,
    pub kind: String,
    /// What the world takes from it; `None` for a type (or a state) the game does not act on.
    pub payment: Option<Payment>,
}

/// Why an event could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed event: {0}")]
pub struct Malformed(pub &'static str);

fn id_like(s: &str) -> bool {
    (1..=MAX_ID).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key)?.as_str().filter(|s| id_like(s))
}

/// The id of a field that is an id or an expanded object with an id.
fn id_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    match v.get(key)? {
        Value::String(s) => Some(s.as_str()).filter(|s| id_like(s)),
        o @ Value::Object(_) => text(o, "id"),
        _ => None,
    }
}

/// The `player_id` and `product` metadata of the first of `objects` that has both.
fn metadata<'a>(objects: &[Option<&'a Value>]) -> Option<(Uuid, &'a str)> {
    objects.iter().flatten().find_map(|o| {
        let m = o.get("metadata")?;
        let player = m.get("player_id")?.as_str()?.parse().ok()?;
        Some((player, text(m, "product")?))
    })
}

/// Reads a Stripe event.
pub fn read(payload: &[u8]) -> Result<StripeEvent, Malformed> {
    let event: Value = serde_json::from_slice(payload).map_err(|_| Malformed("not JSON"))?;
    let id = text(&event, "id").ok_or(Malformed("no id"))?.to_owned();
    let kind = event
        .get("type")
        .and_then(Value::as_str)
        .filter(|s| (1..=MAX_ID).contains(&s.len()))
        .ok_or(Malformed("no type"))?
        .to_owned();
    let object = event
        .get("data")
        .and_then(|d| d.get("object"))
        .filter(|o| o.is_object())
        .ok_or(Malformed("no data.object"))?;
    let what = what(&kind, object);
    Ok(StripeEvent {
        payment: what.map(|what| Payment {
            id: id.clone(),
            what,
        }),
        id,
        kind,
    })
}

fn what(kind: &str, o: &Value) -> Option<PaymentKind> {
    match kind {
        "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
            let paid = o.get("payment_status").and_then(Value::as_str) == Some("paid");
            let one_off = o.get("mode").and_then(Value::as_str) == Some("payment");
            if !(paid && one_off) {
                return None;
            }
            let (player_id, product) = metadata(&[Some(o)])?;
            let purchase = id_of(o, "payment_intent").or_else(|| text(o, "id"))?;
            Some(PaymentKind::Paid {
                player_id,
                purchase: purchase.to_owned(),
                product: product.to_owned(),
            })
        }
        "invoice.paid" => {
            let lines: Vec<&Value> = o
                .get("lines")
                .and_then(|l| l.get("data"))
                .and_then(Value::as_array)
                .map(|a| a.iter().collect())
                .unwrap_or_default();
            let subscription = o.get("subscription_details");
            let parent = o.get("parent").and_then(|p| p.get("subscription_details"));
            let mut sources = vec![subscription, parent, Some(o)];
            sources.extend(lines.iter().map(|l| Some(*l)));
            let (player_id, product) = metadata(&sources)?;
            let paid_through = lines
                .iter()
                .filter_map(|l| l.get("period")?.get("end")?.as_i64())
                .max()
                .or_else(|| o.get("period_end")?.as_i64())?;
            let purchase = id_of(o, "payment_intent").or_else(|| text(o, "id"))?;
            Some(PaymentKind::Renewed {
                player_id,
                purchase: purchase.to_owned(),
                product: product.to_owned(),
                paid_through,
            })
        }
        "charge.refunded" => {
            let purchase = id_of(o, "payment_intent")
                .or_else(|| id_of(o, "invoice"))
                .or_else(|| text(o, "id"))?;
            Some(PaymentKind::ClawBack {
                purchase: purchase.to_owned(),
            })
        }
        "charge.dispute.created" | "charge.dispute.closed" => {
            let purchase = id_of(o, "payment_intent").or_else(|| id_of(o, "charge"))?;
            let purchase = purchase.to_owned();
            if kind == "charge.dispute.created" {
                Some(PaymentKind::ClawBack { purchase })
            } else if o.get("status").and_then(Value::as_str) == Some("won") {
                Some(PaymentKind::DisputeWon { purchase })
            } else {
                None
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PLAYER: &str = "6f1c2a4e-0d1b-4c39-9a57-3f0f0e7b9a11";

    fn event(kind: &str, object: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({"id": "evt_1", "object": "event", "type": kind,
            "data": {"object": object}}))
        .unwrap()
    }

    #[test]
    fn a_paid_checkout_session_is_a_purchase_keyed_by_its_payment_intent() {
        let e = read(&event(
            "checkout.session.completed",
            json!({"id": "cs_1", "mode": "payment", "payment_status": "paid",
                   "payment_intent": "pi_1",
                   "metadata": {"player_id": PLAYER, "product": "bonds_5"}}),
        ))
        .unwrap();
        assert_eq!(
            e.payment.unwrap().what,
            PaymentKind::Paid {
                player_id: PLAYER.parse().unwrap(),
                purchase: "pi_1".into(),
                product: "bonds_5".into()
            }
        );
    }

    #[test]
    fn an_unpaid_session_and_an_unknown_type_are_read_and_ignored() {
        let unpaid = json!({"id": "cs_1", "mode": "payment", "payment_status": "unpaid",
            "metadata": {"player_id": PLAYER, "product": "bonds_5"}});
        assert_eq!(
            read(&event("checkout.session.completed", unpaid))
                .unwrap()
                .payment,
            None
        );
        let other = read(&event("customer.created", json!({"id": "cus_1"}))).unwrap();
        assert_eq!(
            (other.kind.as_str(), other.payment),
            ("customer.created", None)
        );
    }

    #[test]
    fn an_invoice_is_paid_through_its_latest_period_end() {
        let e = read(&event(
            "invoice.paid",
            json!({"id": "in_1", "payment_intent": null,
                   "parent": {"subscription_details": {"metadata":
                       {"player_id": PLAYER, "product": "membership"}}},
                   "lines": {"data": [{"period": {"start": 1, "end": 100}},
                                      {"period": {"start": 1, "end": 200}}]}}),
        ))
        .unwrap();
        assert!(matches!(e.payment.unwrap().what,
            PaymentKind::Renewed { paid_through: 200, ref purchase, .. } if purchase == "in_1"));
    }

    #[test]
    fn refunds_and_disputes_name_the_payment_intent() {
        let refund = read(&event(
            "charge.refunded",
            json!({"id": "ch_1", "payment_intent": "pi_1"}),
        ));
        assert_eq!(
            refund.unwrap().payment.unwrap().what,
            PaymentKind::ClawBack {
                purchase: "pi_1".into()
            }
        );
        let won =
            json!({"id": "dp_1", "charge": "ch_1", "payment_intent": "pi_1", "status": "won"});
        assert_eq!(
            read(&event("charge.dispute.closed", won))
                .unwrap()
                .payment
                .unwrap()
                .what,
            PaymentKind::DisputeWon {
                purchase: "pi_1".into()
            }
        );
        let lost = json!({"id": "dp_1", "charge": "ch_1", "status": "lost"});
        assert_eq!(
            read(&event("charge.dispute.closed", lost)).unwrap().payment,
            None
        );
    }

    #[test]
    fn what_is_not_an_event_is_malformed() {
        for bad in [
            &b"nope"[..],
            b"{}",
            br#"{"id":"evt_1","type":"x"}"#,
            br#"{"id":"evt 1!","type":"x","data":{"object":{}}}"#,
        ] {
            assert!(read(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
