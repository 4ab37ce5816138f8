//! The `membership` read model: each player's membership tier and paid-through time, the debt
//! refunds left on the account, and the history of purchases and what refunds did to them
//! (docs/PAYMENTS.md). Bonds held are in [`crate::holdings`] (item `bond`).
//!
//! Tables (migration `0007_payments.sql`):
//! - `rm_membership (player_id, tier, paid_through, debt_bonds, debt_days)`: `tier` is `free`,
//!   `member` or `premium`; `paid_through` in Unix seconds.
//! - `rm_purchases (player_id, position, payment, purchase, what, product, bonds, days,
//!   occurred_at_us)`: one row per payment event about the player; `what` is `credited`,
//!   `membership`, `clawed_back`, `shortened`, `debt` or `reinstated`; `payment` the Stripe
//!   event id.
//!
//! Reads: [`get`] (a player's membership), [`purchases`] (one player's or everyone's history,
//! newest first, by keyset).

use crate::db::ReadDb;
use crate::flows::player;
use crate::fold::{Projection, RowOp, TableDef, Value};
use crate::select::Select;
use crate::{Error, Result};
use loh_events::{EventBody, StoredEvent, Tier};
use sqlx::Row;
use uuid::Uuid;

pub const MEMBERSHIP: TableDef = TableDef {
    name: "rm_membership",
    key: &["player_id"],
    columns: &[
        "player_id",
        "tier",
        "paid_through",
        "debt_bonds",
        "debt_days",
    ],
    ddl: "(player_id TEXT PRIMARY KEY, tier TEXT NOT NULL DEFAULT 'free', \
          paid_through BIGINT NOT NULL DEFAULT 0, debt_bonds BIGINT NOT NULL DEFAULT 0, \
          debt_days BIGINT NOT NULL DEFAULT 0)",
    indexes: &[],
};

pub const PURCHASES: TableDef = TableDef {
    name: "rm_purchases",
    key: &["player_id", "position"],
    columns: &[
        "player_id",
        "position",
        "payment",
        "purchase",
        "what",
        "product",
        "bonds",
        "days",
        "occurred_at_us",
    ],
    ddl: "(player_id TEXT NOT NULL, position BIGINT NOT NULL, payment TEXT NOT NULL, \
          purchase TEXT NOT NULL, what TEXT NOT NULL, product TEXT NOT NULL, \
          bonds BIGINT NOT NULL, days BIGINT NOT NULL, occurred_at_us BIGINT NOT NULL, \
          PRIMARY KEY (player_id, position))",
    indexes: &["CREATE INDEX IF NOT EXISTS rm_purchases_position ON rm_purchases (position)"],
};

/// The fold.
#[derive(Debug, Clone, Copy, Default)]
pub struct Membership;

impl Membership {
    pub const NAME: &'static str = "membership";
}

fn tier_ops(player_id: Uuid, tier: Option<Tier>, paid_through: i64) -> RowOp {
    let mut values = vec![("paid_through", Value::int(paid_through))];
    if let Some(tier) = tier {
        values.push(("tier", Value::text(tier.as_str())));
    }
    RowOp::Upsert {
        table: MEMBERSHIP.name,
        key: vec![("player_id", player(player_id))],
        values,
    }
}

/// A purchase-history row.
struct History<'a> {
    player_id: Uuid,
    payment: &'a str,
    purchase: &'a str,
    what: &'static str,
    product: &'a str,
    bonds: u32,
    days: u32,
}

impl History<'_> {
    fn op(self, event: &StoredEvent) -> RowOp {
        RowOp::Upsert {
            table: PURCHASES.name,
            key: vec![
                ("player_id", player(self.player_id)),
                ("position", Value::int(event.position as i64)),
            ],
            values: vec![
                ("payment", Value::text(self.payment)),
                ("purchase", Value::text(self.purchase)),
                ("what", Value::text(self.what)),
                ("product", Value::text(self.product)),
                ("bonds", Value::int(i64::from(self.bonds))),
                ("days", Value::int(i64::from(self.days))),
                ("occurred_at_us", Value::int(event.occurred_at_us)),
            ],
        }
    }
}

impl Projection for Membership {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn tables(&self) -> &'static [TableDef] {
        &[MEMBERSHIP, PURCHASES]
    }

    fn fold(&self, event: &StoredEvent, body: &EventBody) -> loh_events::Result<Vec<RowOp>> {
        use EventBody as E;
        let ops = match body {
            E::MembershipChanged { player_id, members } => {
                let (tier, until) = if *members {
                    (Tier::Member, i64::MAX)
                } else {
                    (Tier::Free, 0)
                };
                vec![tier_ops(*player_id, Some(tier), until)]
            }
            E::BondRedeemed {
                player_id,
                tier,
                paid_through,
                ..
            } => vec![tier_ops(*player_id, Some(*tier), *paid_through)],
            E::MembershipLapsed { player_id } => vec![RowOp::Upsert {
                table: MEMBERSHIP.name,
                key: vec![("player_id", player(*player_id))],
                values: vec![("tier", Value::text(Tier::Free.as_str()))],
            }],
            E::PurchaseCredited {
                player_id,
                payment,
                purchase,
                product,
                bonds,
            } => vec![
                History {
                    player_id: *player_id,
                    payment,
                    purchase,
                    what: "credited",
                    product,
                    bonds: *bonds,
                    days: 0,
                }
                .op(event),
            ],
            E::MembershipExtended {
                player_id,
                payment,
                purchase,
                tier,
                paid_through,
            } => vec![
                tier_ops(*player_id, Some(*tier), *paid_through),
                History {
                    player_id: *player_id,
                    payment,
                    purchase,
                    what: "membership",
                    product: tier.as_str(),
                    bonds: 0,
                    days: 0,
                }
                .op(event),
            ],
            E::BondsClawedBack {
                player_id,
                payment,
                purchase,
                bank,
                inventory,
            } => vec![
                History {
                    player_id: *player_id,
                    payment,
                    purchase,
                    what: "clawed_back",
                    product: "",
                    bonds: inventory.iter().fold(*bank, |n, s| n.saturating_add(s.qty)),
                    days: 0,
                }
                .op(event),
            ],
            E::MembershipShortened {
                player_id,
                payment,
                purchase,
                days,
                paid_through,
            } => vec![
                tier_ops(*player_id, None, *paid_through),
                History {
                    player_id: *player_id,
                    payment,
                    purchase,
                    what: "shortened",
                    product: "",
                    bonds: 0,
                    days: *days,
                }
                .op(event),
            ],
            E::PurchaseDebtRecorded {
                player_id,
                payment,
                purchase,
                bonds,
                days,
            } => {
                let key = || vec![("player_id", player(*player_id))];
                vec![
                    RowOp::Increment {
                        table: MEMBERSHIP.name,
                        key: key(),
                        column: "debt_bonds",
                        by: (*bonds).into(),
                    },
                    RowOp::Increment {
                        table: MEMBERSHIP.name,
                        key: key(),
                        column: "debt_days",
                        by: (*days).into(),
                    },
                    History {
                        player_id: *player_id,
                        payment,
                        purchase,
                        what: "debt",
                        product: "",
                        bonds: *bonds,
                        days: *days,
                    }
                    .op(event),
                ]
            }
            E::PurchaseReinstated {
                player_id,
                payment,
                purchase,
                bonds,
                days,
                paid_through,
            } => vec![
                // The purchase's debt is cleared.
                RowOp::Statement {
                    table: MEMBERSHIP.name,
                    sql: "UPDATE {rm_membership} SET \
                          debt_bonds = debt_bonds - (SELECT COALESCE(SUM(bonds), 0) \
                            FROM {rm_purchases} WHERE player_id = $1 AND purchase = $2 \
                            AND what = 'debt'), \
                          debt_days = debt_days - (SELECT COALESCE(SUM(days), 0) \
                            FROM {rm_purchases} WHERE player_id = $1 AND purchase = $2 \
                            AND what = 'debt') \
                          WHERE player_id = $1",
                    values: vec![player(*player_id), Value::text(purchase.clone())],
                },
                tier_ops(*player_id, None, *paid_through),
                History {
                    player_id: *player_id,
                    payment,
                    purchase,
                    what: "reinstated",
                    product: "",
                    bonds: *bonds,
                    days: *days,
                }
                .op(event),
            ],
            _ => Vec::new(),
        };
        Ok(ops)
    }
}

/// A player's membership (a row of `rm_membership`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipRow {
    pub tier: String,
    /// Unix seconds.
    pub paid_through: i64,
    pub debt_bonds: i64,
    pub debt_days: i64,
}

/// The membership of `player_id`; `None` for a player who never had one.
pub async fn get(db: &ReadDb, player_id: Uuid) -> Result<Option<MembershipRow>> {
    let row = sqlx::query(
        "SELECT tier, paid_through, debt_bonds, debt_days FROM rm_membership \
         WHERE player_id = $1",
    )
    .bind(player_id.to_string())
    .fetch_optional(db.pool())
    .await?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(MembershipRow {
        tier: r.try_get("tier")?,
        paid_through: r.try_get("paid_through")?,
        debt_bonds: r.try_get("debt_bonds")?,
        debt_days: r.try_get("debt_days")?,
    }))
}

/// A row of the purchase history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurchaseRow {
    pub player_id: Uuid,
    pub position: i64,
    pub payment: String,
    pub purchase: String,
    pub what: String,
    pub product: String,
    pub bonds: i64,
    pub days: i64,
    pub occurred_at_us: i64,
}

/// At most `limit` rows of `player_id`'s purchase history (everyone's when `None`), newest
/// first; only those before position `before` when given (the keyset of the next page).
pub async fn purchases(
    db: &ReadDb,
    player_id: Option<Uuid>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<PurchaseRow>> {
    let mut q = Select::new(
        "SELECT player_id, position, payment, purchase, what, product, bonds, days, \
         occurred_at_us FROM rm_purchases WHERE 1 = 1",
    );
    if let Some(p) = player_id {
        q.push(" AND player_id = ").text(p.to_string());
    }
    if let Some(position) = before {
        q.push(" AND position < ").int(position);
    }
    q.push(" ORDER BY position DESC, player_id LIMIT ")
        .int(limit);
    let mut out = Vec::new();
    for r in q.fetch_all(db).await? {
        let id: String = r.try_get("player_id")?;
        out.push(PurchaseRow {
            player_id: Uuid::parse_str(&id)
                .map_err(|e| Error::Invalid(format!("rm_purchases.player_id {id:?}: {e}")))?,
            position: r.try_get("position")?,
            payment: r.try_get("payment")?,
            purchase: r.try_get("purchase")?,
            what: r.try_get("what")?,
            product: r.try_get("product")?,
            bonds: r.try_get("bonds")?,
            days: r.try_get("days")?,
            occurred_at_us: r.try_get("occurred_at_us")?,
        });
    }
    Ok(out)
}
