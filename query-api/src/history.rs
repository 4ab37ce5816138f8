//! A player's histories, newest first in keyset pages, with the player's own token or an
//! analyst token: the wallet ledger and the trade history.

use crate::access::readable;
use crate::error::{ApiError, ErrorBody};
use crate::page::{PageQuery, encode_cursor, more};
use crate::players::ItemStack;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::{Json, Router, routing::get};
use loh_projections::{profile, wallet};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/players/{player_id}/wallet/ledger", get(wallet_ledger))
        .route("/v1/players/{player_id}/trades", get(trades))
}

/// One change of a balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LedgerEntry {
    /// The position of the event that made the change.
    pub position: i64,
    pub currency: String,
    /// Signed amount.
    pub amount: i64,
    /// The mint source, burn sink or move (`shop`, `trade`, `dropped`, `picked_up`, `death`, …).
    pub reason: String,
    pub balance_after: i64,
    pub occurred_at_us: i64,
}

/// A page of the ledger, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LedgerPage {
    pub entries: Vec<LedgerEntry>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A player's wallet ledger, newest first. Own token or analyst token.
#[utoipa::path(get, path = "/v1/players/{player_id}/wallet/ledger", tag = "players",
    params(("player_id" = Uuid, Path, description = "The player's id"), PageQuery),
    security(("bearer" = [])),
    responses((status = 200, body = LedgerPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn wallet_ledger(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(player_id): Path<String>,
    Query(page): Query<PageQuery>,
) -> Result<Json<LedgerPage>, ApiError> {
    let player_id = readable(&state, &headers, &player_id).await?;
    let limit = page.limit()?;
    let before: Option<i64> = page.cursor()?;
    let mut entries: Vec<LedgerEntry> = wallet::ledger(&state.read, player_id, before, limit + 1)
        .await?
        .into_iter()
        .map(|r| LedgerEntry {
            position: r.position,
            currency: r.currency,
            amount: r.amount,
            reason: r.reason,
            balance_after: r.balance_after,
            occurred_at_us: r.occurred_at_us,
        })
        .collect();
    let next_cursor = more(&mut entries, limit).map(|last| encode_cursor(&last.position));
    Ok(Json(LedgerPage {
        entries,
        next_cursor,
    }))
}

/// One side of a settled trade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TradeView {
    pub position: i64,
    pub with_player: Uuid,
    pub gave: Vec<ItemStack>,
    pub got: Vec<ItemStack>,
    pub tick: i64,
    pub occurred_at_us: i64,
}

/// A page of trades, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TradePage {
    pub trades: Vec<TradeView>,
    pub next_cursor: Option<String>,
}

/// A player's trade history, newest first. Own token or analyst token.
#[utoipa::path(get, path = "/v1/players/{player_id}/trades", tag = "players",
    params(("player_id" = Uuid, Path, description = "The player's id"), PageQuery),
    security(("bearer" = [])),
    responses((status = 200, body = TradePage), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn trades(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(player_id): Path<String>,
    Query(page): Query<PageQuery>,
) -> Result<Json<TradePage>, ApiError> {
    let player_id = readable(&state, &headers, &player_id).await?;
    let limit = page.limit()?;
    let before: Option<i64> = page.cursor()?;
    let stacks = |s: Vec<_>| s.into_iter().map(ItemStack::from).collect();
    let mut trades: Vec<TradeView> = profile::trades(&state.read, player_id, before, limit + 1)
        .await?
        .into_iter()
        .map(|r| TradeView {
            position: r.position,
            with_player: r.with_player,
            gave: stacks(r.gave),
            got: stacks(r.got),
            tick: r.tick,
            occurred_at_us: r.occurred_at_us,
        })
        .collect();
    let next_cursor = more(&mut trades, limit).map(|last| encode_cursor(&last.position));
    Ok(Json(TradePage {
        trades,
        next_cursor,
    }))
}
