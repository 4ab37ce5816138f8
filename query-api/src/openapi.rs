//! The OpenAPI document, generated from the handlers and wire types, and its route.

use crate::economy::{self, Table};
use crate::error::{ErrorBody, ErrorDetail};
use crate::history::{self, LedgerEntry, LedgerPage, TradePage, TradeView};
use crate::leaderboards::{self, LeaderboardEntry, LeaderboardPage};
use crate::operations::{self, Health};
use crate::payments::{self, MembershipView, PurchasePage, PurchaseView};
use crate::players::{
    self, Balance, BankView, InventoryView, ItemStack, PlayerPosition, SkillView, SkillsView,
    WalletView, Worn,
};
use crate::profiles::{self, ProfileView};
use crate::state::AppState;
use crate::worlds::{self, WorldStatus, WorldView, WorldsView};
use axum::{Json, Router, routing::get};
use utoipa::OpenApi;

/// The query API's OpenAPI description (served on `/openapi.json`).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "loh query API",
        description = "Read models of Legends of Hastinapur over HTTP/JSON. Every error is \
                       {\"error\":{\"code\",\"message\"}}."
    ),
    paths(players::player_position, operations::healthz, operations::metrics,
          players::inventory, players::bank, players::wallet, history::wallet_ledger,
          players::skills, history::trades,
          profiles::profile, leaderboards::leaderboard, leaderboards::rank, leaderboards::around,
          economy::economy_flows, economy::economy_supply, economy::economy_trades,
          economy::economy_xp, payments::player_membership, payments::player_purchases,
          payments::all_purchases, worlds::worlds),
    components(schemas(PlayerPosition, Health, ErrorBody, ErrorDetail,
        ItemStack, Worn, InventoryView, BankView, Balance, WalletView,
        LedgerEntry, LedgerPage, SkillView, SkillsView, TradeView,
        TradePage, ProfileView, LeaderboardEntry, LeaderboardPage, Table, MembershipView,
        PurchaseView, PurchasePage, WorldView, WorldsView, WorldStatus)),
    modifiers(&BearerAuth),
    tags((name = "players", description = "Per-player read models: the player's own Bearer \
                                           access token, or an analyst token"),
         (name = "public", description = "Profiles, leaderboards and the world list, no token"),
         (name = "economy", description = "Analysts only (a token with role = analyst)"),
         (name = "operations", description = "Health and metrics"))
)]
pub struct ApiDoc;

/// The `bearer` security scheme: an RS256 access token of the game server.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The document as JSON.
pub fn json() -> serde_json::Value {
    serde_json::to_value(ApiDoc::openapi()).unwrap_or_default()
}

/// The route of the document: `/openapi.json`.
pub fn routes() -> Router<AppState> {
    Router::new().route("/openapi.json", get(document))
}

async fn document() -> Json<serde_json::Value> {
    Json(json())
}
