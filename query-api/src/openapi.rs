//! The OpenAPI document, generated from the handlers and wire types.

use crate::{routes, v1, wire};
use utoipa::OpenApi;

/// The query API's OpenAPI description (served on `/openapi.json`).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "loh query API",
        description = "Read models of Legends of Hastinapur over HTTP/JSON. Every error is \
                       {\"error\":{\"code\",\"message\"}}."
    ),
    paths(routes::player_position, routes::healthz, routes::metrics,
          v1::inventory, v1::bank, v1::wallet, v1::wallet_ledger, v1::skills, v1::trades,
          v1::profile, v1::leaderboard, v1::rank, v1::around,
          v1::economy_flows, v1::economy_supply, v1::economy_trades, v1::economy_xp),
    components(schemas(wire::PlayerPosition, wire::Health, wire::ErrorBody, wire::ErrorDetail,
        v1::ItemStack, v1::Worn, v1::InventoryView, v1::BankView, v1::Balance, v1::WalletView,
        v1::LedgerEntry, v1::LedgerPage, v1::SkillView, v1::SkillsView, v1::TradeView,
        v1::TradePage, v1::ProfileView, v1::LeaderboardEntry, v1::LeaderboardPage, v1::Table)),
    modifiers(&BearerAuth),
    tags((name = "players", description = "Per-player read models: the player's own Bearer \
                                           access token, or an analyst token"),
         (name = "public", description = "Profiles and leaderboards, no token"),
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
