//! A player's current state — position and last chat line, inventory, bank, wallet and skills —
//! to the player's own token or an analyst token. Other players learn where someone is from the
//! game's view (within sight), never from here.

use crate::access::readable;
use crate::error::{ApiError, ErrorBody};
use crate::leaderboards::not_on_board;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::{Json, Router, routing::get};
use loh_events::Skill;
use loh_projections::holdings::{self, Container, Holdings};
use loh_projections::skills::{self, Board, Skills, Standing, skill_name};
use loh_projections::wallet::{self, Wallet};
use loh_projections::{player_position, player_position::PlayerPositionView};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/players/{player_id}/position", get(player_position))
        .route("/v1/players/{player_id}/inventory", get(inventory))
        .route("/v1/players/{player_id}/bank", get(bank))
        .route("/v1/players/{player_id}/wallet", get(wallet))
        .route("/v1/players/{player_id}/skills", get(skills))
}

/// A player's tile and last chat line, as of a log position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PlayerPosition {
    pub player_id: Uuid,
    /// The world the player is in (the world whose log last moved them).
    pub world: String,
    /// Tile x.
    pub x: i64,
    /// Tile y.
    pub y: i64,
    /// The last line the player said in local chat, if any.
    pub last_say: Option<String>,
    /// The tick of `last_say`.
    pub last_say_tick: Option<i64>,
    /// The read model reflects every event up to this position of `world`'s log.
    pub as_of_position: u64,
    /// Position, in `world`'s log, of the last event that changed this player's entry.
    pub last_event_position: u64,
}

impl From<PlayerPositionView> for PlayerPosition {
    fn from(v: PlayerPositionView) -> PlayerPosition {
        PlayerPosition {
            player_id: v.row.player_id,
            world: v.row.world,
            x: v.row.x,
            y: v.row.y,
            last_say: v.row.last_say,
            last_say_tick: v.row.last_say_tick,
            as_of_position: v.as_of_position,
            last_event_position: v.row.last_position,
        }
    }
}

/// A player's tile and last chat line (own or analyst token).
#[utoipa::path(
    get,
    path = "/v1/players/{player_id}/position",
    tag = "players",
    params(("player_id" = Uuid, Path, description = "The player's id (a UUID)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The player's position", body = PlayerPosition),
        (status = 400, description = "`bad_request`: the id is not a UUID", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no valid access token", body = ErrorBody),
        (status = 403, description = "`forbidden`: another player's position", body = ErrorBody),
        (status = 404, description = "`not_found`: no such player (or not projected yet)", body = ErrorBody),
        (status = 503, description = "`unavailable`: the read database does not answer", body = ErrorBody),
    )
)]
pub async fn player_position(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(player_id): Path<String>,
) -> Result<Json<PlayerPosition>, ApiError> {
    let player_id = readable(&state, &headers, &player_id).await?;
    match player_position::get(&state.read, player_id).await? {
        Some(view) => Ok(Json(view.into())),
        None => Err(ApiError::NotFound(format!("no player {player_id}"))),
    }
}

/// A stack of one item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ItemStack {
    pub item: String,
    pub qty: i64,
}

impl From<holdings::Stack> for ItemStack {
    fn from(s: holdings::Stack) -> ItemStack {
        ItemStack {
            item: s.item,
            qty: s.qty,
        }
    }
}

/// A worn item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Worn {
    /// `head`, `cape`, `neck`, `ammo`, `weapon`, `body`, `shield`, `legs`, `hands`, `feet`, `ring`.
    pub slot: String,
    pub item: String,
}

/// What a player carries (counted per item) and wears.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InventoryView {
    pub player_id: Uuid,
    /// Every event up to this log position is reflected.
    pub as_of_position: u64,
    pub items: Vec<ItemStack>,
    pub equipment: Vec<Worn>,
}

/// What a player keeps in the bank.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BankView {
    pub player_id: Uuid,
    pub as_of_position: u64,
    pub items: Vec<ItemStack>,
}

async fn stacks(
    state: &AppState,
    player_id: Uuid,
    container: Container,
) -> Result<Vec<ItemStack>, ApiError> {
    let stacks = holdings::stacks(&state.read, player_id, container).await?;
    Ok(stacks.into_iter().map(ItemStack::from).collect())
}

/// A player's inventory (per item) and equipment. Own token or analyst token.
#[utoipa::path(get, path = "/v1/players/{player_id}/inventory", tag = "players",
    params(("player_id" = Uuid, Path, description = "The player's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = InventoryView),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`forbidden`: another player's data", body = ErrorBody),
    ))]
pub async fn inventory(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(player_id): Path<String>,
) -> Result<Json<InventoryView>, ApiError> {
    let player_id = readable(&state, &headers, &player_id).await?;
    let as_of_position = state.read.checkpoint(Holdings::NAME).await?;
    let items = stacks(&state, player_id, Container::Inventory).await?;
    let equipment = holdings::worn(&state.read, player_id)
        .await?
        .into_iter()
        .map(|w| Worn {
            slot: w.slot,
            item: w.item,
        })
        .collect();
    Ok(Json(InventoryView {
        player_id,
        as_of_position,
        items,
        equipment,
    }))
}

/// A player's bank. Own token or analyst token.
#[utoipa::path(get, path = "/v1/players/{player_id}/bank", tag = "players",
    params(("player_id" = Uuid, Path, description = "The player's id")),
    security(("bearer" = [])),
    responses((status = 200, body = BankView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn bank(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(player_id): Path<String>,
) -> Result<Json<BankView>, ApiError> {
    let player_id = readable(&state, &headers, &player_id).await?;
    let as_of_position = state.read.checkpoint(Holdings::NAME).await?;
    let items = stacks(&state, player_id, Container::Bank).await?;
    Ok(Json(BankView {
        player_id,
        as_of_position,
        items,
    }))
}

/// A balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Balance {
    /// `coins` (the only currency of the game so far).
    pub currency: String,
    pub balance: i64,
}

/// A player's balances (coins: inventory and bank together).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WalletView {
    pub player_id: Uuid,
    pub as_of_position: u64,
    pub balances: Vec<Balance>,
}

/// A player's wallet. Own token or analyst token.
#[utoipa::path(get, path = "/v1/players/{player_id}/wallet", tag = "players",
    params(("player_id" = Uuid, Path, description = "The player's id")),
    security(("bearer" = [])),
    responses((status = 200, body = WalletView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn wallet(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(player_id): Path<String>,
) -> Result<Json<WalletView>, ApiError> {
    let player_id = readable(&state, &headers, &player_id).await?;
    let as_of_position = state.read.checkpoint(Wallet::NAME).await?;
    let mut balances: Vec<Balance> = wallet::balances(&state.read, player_id)
        .await?
        .into_iter()
        .map(|b| Balance {
            currency: b.currency,
            balance: b.balance,
        })
        .collect();
    if !balances.iter().any(|b| b.currency == "coins") {
        balances.insert(
            0,
            Balance {
                currency: "coins".into(),
                balance: 0,
            },
        );
    }
    Ok(Json(WalletView {
        player_id,
        as_of_position,
        balances,
    }))
}

/// One skill of a player.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SkillView {
    pub skill: String,
    pub level: i64,
    pub xp: i64,
    /// The player's rank on this skill's leaderboard.
    pub rank: i64,
}

/// A player's skills, totals and overall rank.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SkillsView {
    pub player_id: Uuid,
    pub as_of_position: u64,
    pub total_level: i64,
    pub total_xp: i64,
    pub overall_rank: i64,
    pub skills: Vec<SkillView>,
}

/// The player's standing on `board`, ranked; 404 when not on it.
async fn standing(state: &AppState, board: Board, player_id: Uuid) -> Result<Standing, ApiError> {
    skills::standing(&state.read, board, player_id)
        .await?
        .ok_or_else(|| not_on_board(player_id))
}

/// A player's skills. Own token or analyst token.
#[utoipa::path(get, path = "/v1/players/{player_id}/skills", tag = "players",
    params(("player_id" = Uuid, Path, description = "The player's id")),
    security(("bearer" = [])),
    responses((status = 200, body = SkillsView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn skills(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(player_id): Path<String>,
) -> Result<Json<SkillsView>, ApiError> {
    let player_id = readable(&state, &headers, &player_id).await?;
    let as_of_position = state.read.checkpoint(Skills::NAME).await?;
    let overall = standing(&state, Board::Overall, player_id).await?;
    let mut skills = Vec::new();
    for skill in Skill::ALL {
        let e = standing(&state, Board::Skill(skill), player_id).await?;
        skills.push(SkillView {
            skill: skill_name(skill),
            level: e.level,
            xp: e.xp,
            rank: e.rank,
        });
    }
    Ok(Json(SkillsView {
        player_id,
        as_of_position,
        total_level: overall.level,
        total_xp: overall.xp,
        overall_rank: overall.rank,
        skills,
    }))
}
