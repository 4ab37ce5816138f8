//! The premium wallet (docs/PAYMENTS.md): a player's membership (tier, paid-through time, bonds
//! held, debt) and purchase history, with the player's own token or an analyst token; every
//! player's purchase history for analysts.

use crate::access::{analyst, readable};
use crate::error::{ApiError, ErrorBody};
use crate::page::{PageQuery, encode_cursor, more};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::{Json, Router, routing::get};
use loh_projections::holdings::{self, Container};
use loh_projections::membership::{self, Membership, PurchaseRow};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/players/{player_id}/membership", get(player_membership))
        .route("/v1/players/{player_id}/purchases", get(player_purchases))
        .route("/v1/economy/purchases", get(all_purchases))
}

/// A player's membership and bonds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MembershipView {
    pub player_id: Uuid,
    /// Every event up to this log position is reflected (the membership read model's).
    pub as_of_position: u64,
    /// `free`, `member` or `premium`.
    pub tier: String,
    /// Until when the membership is paid (Unix seconds; 0 when never a member).
    pub paid_through: i64,
    /// Bonds in the inventory and the bank.
    pub bonds_held: i64,
    /// What refunds could not claw back: bonds and days of membership.
    pub debt_bonds: i64,
    pub debt_days: i64,
}

/// A player's membership, bonds held and debt. Own token or analyst token.
#[utoipa::path(get, path = "/v1/players/{player_id}/membership", tag = "players",
    params(("player_id" = Uuid, Path, description = "The player's id")),
    security(("bearer" = [])),
    responses((status = 200, body = MembershipView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn player_membership(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(player_id): Path<String>,
) -> Result<Json<MembershipView>, ApiError> {
    let player_id = readable(&state, &headers, &player_id).await?;
    let as_of_position = state.read.checkpoint(Membership::NAME).await?;
    let m = membership::get(&state.read, player_id).await?;
    let mut bonds_held = 0;
    for container in [Container::Inventory, Container::Bank] {
        bonds_held += holdings::stacks(&state.read, player_id, container)
            .await?
            .iter()
            .filter(|s| s.item == loh_events::value::BOND)
            .map(|s| s.qty)
            .sum::<i64>();
    }
    Ok(Json(MembershipView {
        player_id,
        as_of_position,
        tier: m.as_ref().map_or_else(|| "free".into(), |m| m.tier.clone()),
        paid_through: m.as_ref().map_or(0, |m| m.paid_through),
        bonds_held,
        debt_bonds: m.as_ref().map_or(0, |m| m.debt_bonds),
        debt_days: m.as_ref().map_or(0, |m| m.debt_days),
    }))
}

/// One payment event about a player.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PurchaseView {
    pub player_id: Uuid,
    /// The position of the event.
    pub position: i64,
    /// The Stripe event id.
    pub payment: String,
    /// The purchase (Stripe payment intent, invoice or charge).
    pub purchase: String,
    /// `credited`, `membership`, `clawed_back`, `shortened`, `debt` or `reinstated`.
    pub what: String,
    pub product: String,
    pub bonds: i64,
    pub days: i64,
    pub occurred_at_us: i64,
}

impl From<PurchaseRow> for PurchaseView {
    fn from(r: PurchaseRow) -> PurchaseView {
        PurchaseView {
            player_id: r.player_id,
            position: r.position,
            payment: r.payment,
            purchase: r.purchase,
            what: r.what,
            product: r.product,
            bonds: r.bonds,
            days: r.days,
            occurred_at_us: r.occurred_at_us,
        }
    }
}

/// A page of purchase history, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PurchasePage {
    pub purchases: Vec<PurchaseView>,
    pub next_cursor: Option<String>,
}

async fn page(
    state: &AppState,
    player_id: Option<Uuid>,
    page: PageQuery,
) -> Result<Json<PurchasePage>, ApiError> {
    let limit = page.limit()?;
    let before: Option<i64> = page.cursor()?;
    let mut purchases: Vec<PurchaseView> =
        membership::purchases(&state.read, player_id, before, limit + 1)
            .await?
            .into_iter()
            .map(PurchaseView::from)
            .collect();
    let next_cursor = more(&mut purchases, limit).map(|last| encode_cursor(&last.position));
    Ok(Json(PurchasePage {
        purchases,
        next_cursor,
    }))
}

/// A player's purchase history, newest first. Own token or analyst token.
#[utoipa::path(get, path = "/v1/players/{player_id}/purchases", tag = "players",
    params(("player_id" = Uuid, Path, description = "The player's id"), PageQuery),
    security(("bearer" = [])),
    responses((status = 200, body = PurchasePage), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn player_purchases(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(player_id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Json<PurchasePage>, ApiError> {
    let player_id = readable(&state, &headers, &player_id).await?;
    page(&state, Some(player_id), q).await
}

/// Every player's purchase history, newest first. Analyst token.
#[utoipa::path(get, path = "/v1/economy/purchases", tag = "economy",
    params(PageQuery),
    security(("bearer" = [])),
    responses((status = 200, body = PurchasePage), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn all_purchases(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Result<Json<PurchasePage>, ApiError> {
    analyst(&state, &headers).await?;
    page(&state, None, q).await
}
