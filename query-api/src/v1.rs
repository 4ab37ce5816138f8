//! The `/v1` read endpoints over the read models of `loh-projections`.
//!
//! - Player data (own token, or an analyst token; another player's → 403): inventory, bank,
//!   wallet and its ledger, skills, trade history.
//! - Public: profiles, leaderboards (pages, rank lookup, around a player).
//! - Analysts (analyst token): the economy per hour over a time range, as JSON or CSV.
//!
//! Lists are paginated by keyset with an opaque `cursor` (base64url of the last row's sort key);
//! leaderboard pages carry an `ETag` (the skills projection's checkpoint) and `Cache-Control`.

use crate::auth::Caller;
use crate::cache::economy_table;
use crate::{ApiError, AppState};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, routing::get};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use loh_events::Skill;
use loh_projections::skills::skill_name;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// The `/v1` routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/players/{player_id}/inventory", get(inventory))
        .route("/v1/players/{player_id}/bank", get(bank))
        .route("/v1/players/{player_id}/wallet", get(wallet))
        .route("/v1/players/{player_id}/wallet/ledger", get(wallet_ledger))
        .route("/v1/players/{player_id}/skills", get(skills))
        .route("/v1/players/{player_id}/trades", get(trades))
        .route("/v1/players/{player_id}/profile", get(profile))
        .route("/v1/leaderboards/{board}", get(leaderboard))
        .route("/v1/leaderboards/{board}/players/{player_id}", get(rank))
        .route(
            "/v1/leaderboards/{board}/players/{player_id}/around",
            get(around),
        )
        .route("/v1/economy/flows", get(economy_flows))
        .route("/v1/economy/supply", get(economy_supply))
        .route("/v1/economy/trades", get(economy_trades))
        .route("/v1/economy/xp", get(economy_xp))
}

// ---- Access ----

/// The caller of the request's Bearer access token.
pub async fn caller(state: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let Some(tokens) = &state.tokens else {
        return Err(ApiError::Unauthorized(
            "this server verifies no tokens (no public key configured)".into(),
        ));
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| ApiError::Unauthorized("a Bearer access token is required".into()))?;
    tokens
        .caller(token.trim())
        .map_err(|_| ApiError::Unauthorized("the access token is not valid".into()))
}

/// The player id of the path, readable by the request's caller.
async fn readable(
    state: &AppState,
    headers: &HeaderMap,
    player_id: &str,
) -> Result<Uuid, ApiError> {
    let player_id = parse_player(player_id)?;
    let caller = caller(state, headers).await?;
    if caller.may_read(player_id) {
        Ok(player_id)
    } else {
        Err(ApiError::Forbidden(
            "a player reads only their own data".into(),
        ))
    }
}

async fn analyst(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if caller(state, headers).await?.analyst {
        Ok(())
    } else {
        Err(ApiError::Forbidden("an analyst token is required".into()))
    }
}

fn parse_player(s: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(s).map_err(|_| ApiError::BadRequest("player_id must be a UUID".into()))
}

async fn checkpoint(state: &AppState, projection: &str) -> Result<u64, ApiError> {
    Ok(state.read.checkpoint(projection).await?)
}

// ---- Cursors and pages ----

/// Query of a paginated list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
pub struct PageQuery {
    /// Most entries in the page: 1–200, 50 by default.
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page; absent for the first page.
    pub cursor: Option<String>,
}

impl PageQuery {
    fn limit(&self) -> Result<i64, ApiError> {
        match self.limit.unwrap_or(50) {
            n @ 1..=200 => Ok(n.into()),
            _ => Err(ApiError::BadRequest("limit must be 1–200".into())),
        }
    }

    fn cursor<T: DeserializeOwned>(&self) -> Result<Option<T>, ApiError> {
        self.cursor.as_deref().map(decode_cursor).transpose()
    }
}

fn encode_cursor<T: Serialize>(key: &T) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).unwrap_or_default())
}

fn decode_cursor<T: DeserializeOwned>(s: &str) -> Result<T, ApiError> {
    URL_SAFE_NO_PAD
        .decode(s)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| ApiError::BadRequest("the cursor is not one this API gave out".into()))
}

/// A bound SQL value.
enum Arg {
    Int(i64),
    Text(String),
}

/// SQL with `$n` placeholders added as values are bound.
#[derive(Default)]
pub(crate) struct Sql {
    text: String,
    args: Vec<Arg>,
}

impl Sql {
    fn new(text: &str) -> Sql {
        Sql {
            text: text.to_owned(),
            args: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, text: &str) -> &mut Sql {
        self.text.push_str(text);
        self
    }

    pub(crate) fn int(&mut self, v: i64) -> &mut Sql {
        self.args.push(Arg::Int(v));
        let n = self.args.len();
        self.text.push_str(&format!("${n}"));
        self
    }

    pub(crate) fn str(&mut self, v: &str) -> &mut Sql {
        self.args.push(Arg::Text(v.to_owned()));
        let n = self.args.len();
        self.text.push_str(&format!("${n}"));
        self
    }

    pub(crate) async fn fetch(self, state: &AppState) -> Result<Vec<AnyRow>, ApiError> {
        let mut q = sqlx::query(AssertSqlSafe(self.text));
        for a in self.args {
            q = match a {
                Arg::Int(v) => q.bind(v),
                Arg::Text(v) => q.bind(v),
            };
        }
        Ok(q.fetch_all(state.read.pool()).await?)
    }
}

// ---- Player data ----

/// A stack of one item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ItemStack {
    pub item: String,
    pub qty: i64,
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
    container: &str,
) -> Result<Vec<ItemStack>, ApiError> {
    let mut q = Sql::new("SELECT item, qty FROM rm_holdings WHERE player_id = ");
    q.str(&player_id.to_string())
        .push(" AND container = ")
        .str(container)
        .push(" ORDER BY item");
    q.fetch(state)
        .await?
        .iter()
        .map(|r| {
            Ok(ItemStack {
                item: r.try_get("item")?,
                qty: r.try_get("qty")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// A player's inventory (per item) and equipment. Own token or analyst token.
#[utoipa::path(get, path = "/v1/players/{player_id}/inventory", tag = "players",
    params(("player_id" = Uuid, Path, description = "The player's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = InventoryView),
        (status = 401, description = "`unauthorized`", body = crate::wire::ErrorBody),
        (status = 403, description = "`forbidden`: another player's data", body = crate::wire::ErrorBody),
    ))]
pub async fn inventory(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(player_id): Path<String>,
) -> Result<Json<InventoryView>, ApiError> {
    let player_id = readable(&state, &headers, &player_id).await?;
    let as_of_position = checkpoint(&state, "holdings").await?;
    let items = stacks(&state, player_id, "inventory").await?;
    let mut q = Sql::new("SELECT equip_slot, item FROM rm_equipment WHERE player_id = ");
    q.str(&player_id.to_string()).push(" ORDER BY equip_slot");
    let equipment = q
        .fetch(&state)
        .await?
        .iter()
        .map(|r| {
            Ok(Worn {
                slot: r.try_get("equip_slot")?,
                item: r.try_get("item")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
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
    responses((status = 200, body = BankView), (status = 401, body = crate::wire::ErrorBody),
        (status = 403, body = crate::wire::ErrorBody)))]
pub async fn bank(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(player_id): Path<String>,
) -> Result<Json<BankView>, ApiError> {
    let player_id = readable(&state, &headers, &player_id).await?;
    let as_of_position = checkpoint(&state, "holdings").await?;
    let items = stacks(&state, player_id, "bank").await?;
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
    responses((status = 200, body = WalletView), (status = 401, body = crate::wire::ErrorBody),
        (status = 403, body = crate::wire::ErrorBody)))]
pub async fn wallet(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(player_id): Path<String>,
) -> Result<Json<WalletView>, ApiError> {
    let player_id = readable(&state, &headers, &player_id).await?;
    let as_of_position = checkpoint(&state, "wallet").await?;
    let mut q = Sql::new("SELECT currency, balance FROM rm_wallet WHERE player_id = ");
    q.str(&player_id.to_string()).push(" ORDER BY currency");
    let mut balances: Vec<Balance> = q
        .fetch(&state)
        .await?
        .iter()
        .map(|r| {
            Ok(Balance {
                currency: r.try_get("currency")?,
                balance: r.try_get("balance")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
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
    responses((status = 200, body = LedgerPage), (status = 400, body = crate::wire::ErrorBody),
        (status = 401, body = crate::wire::ErrorBody), (status = 403, body = crate::wire::ErrorBody)))]
pub async fn wallet_ledger(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(player_id): Path<String>,
    Query(page): Query<PageQuery>,
) -> Result<Json<LedgerPage>, ApiError> {
    let player_id = readable(&state, &headers, &player_id).await?;
    let limit = page.limit()?;
    let after: Option<i64> = page.cursor()?;
    let mut q = Sql::new(
        "SELECT position, currency, amount, reason, balance_after, occurred_at_us \
         FROM rm_wallet_ledger WHERE player_id = ",
    );
    q.str(&player_id.to_string());
    if let Some(position) = after {
        q.push(" AND position < ").int(position);
    }
    q.push(" ORDER BY position DESC LIMIT ").int(limit + 1);
    let mut entries: Vec<LedgerEntry> = q
        .fetch(&state)
        .await?
        .iter()
        .map(|r| {
            Ok(LedgerEntry {
                position: r.try_get("position")?,
                currency: r.try_get("currency")?,
                amount: r.try_get("amount")?,
                reason: r.try_get("reason")?,
                balance_after: r.try_get("balance_after")?,
                occurred_at_us: r.try_get("occurred_at_us")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    let next_cursor = more(&mut entries, limit).map(|last| encode_cursor(&last.position));
    Ok(Json(LedgerPage {
        entries,
        next_cursor,
    }))
}

/// Trims a `limit + 1` fetch to `limit`; the last kept row when there is more.
fn more<T>(rows: &mut Vec<T>, limit: i64) -> Option<&T> {
    if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last()
    } else {
        None
    }
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

/// A player's skills. Own token or analyst token.
#[utoipa::path(get, path = "/v1/players/{player_id}/skills", tag = "players",
    params(("player_id" = Uuid, Path, description = "The player's id")),
    security(("bearer" = [])),
    responses((status = 200, body = SkillsView), (status = 401, body = crate::wire::ErrorBody),
        (status = 403, body = crate::wire::ErrorBody), (status = 404, body = crate::wire::ErrorBody)))]
pub async fn skills(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(player_id): Path<String>,
) -> Result<Json<SkillsView>, ApiError> {
    let player_id = readable(&state, &headers, &player_id).await?;
    let as_of_position = checkpoint(&state, "skills").await?;
    let overall = entry_of(&state, &Board::Overall, player_id).await?;
    let mut skills = Vec::new();
    for skill in Skill::ALL {
        let e = entry_of(&state, &Board::Skill(skill_name(skill)), player_id).await?;
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

fn parse_stacks(json: &str) -> Vec<ItemStack> {
    #[derive(Deserialize)]
    struct S {
        item: String,
        qty: i64,
    }
    serde_json::from_str::<Vec<S>>(json)
        .unwrap_or_default()
        .into_iter()
        .map(|s| ItemStack {
            item: s.item,
            qty: s.qty,
        })
        .collect()
}

/// A player's trade history, newest first. Own token or analyst token.
#[utoipa::path(get, path = "/v1/players/{player_id}/trades", tag = "players",
    params(("player_id" = Uuid, Path, description = "The player's id"), PageQuery),
    security(("bearer" = [])),
    responses((status = 200, body = TradePage), (status = 401, body = crate::wire::ErrorBody),
        (status = 403, body = crate::wire::ErrorBody)))]
pub async fn trades(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(player_id): Path<String>,
    Query(page): Query<PageQuery>,
) -> Result<Json<TradePage>, ApiError> {
    let player_id = readable(&state, &headers, &player_id).await?;
    let limit = page.limit()?;
    let after: Option<i64> = page.cursor()?;
    let mut q = Sql::new(
        "SELECT position, with_player, gave, got, tick, occurred_at_us \
         FROM rm_trade_history WHERE player_id = ",
    );
    q.str(&player_id.to_string());
    if let Some(position) = after {
        q.push(" AND position < ").int(position);
    }
    q.push(" ORDER BY position DESC LIMIT ").int(limit + 1);
    let mut trades = Vec::new();
    for r in q.fetch(&state).await? {
        let with: String = r.try_get("with_player")?;
        let gave: String = r.try_get("gave")?;
        let got: String = r.try_get("got")?;
        trades.push(TradeView {
            position: r.try_get("position")?,
            with_player: Uuid::parse_str(&with).map_err(|_| ApiError::Internal)?,
            gave: parse_stacks(&gave),
            got: parse_stacks(&got),
            tick: r.try_get("tick")?,
            occurred_at_us: r.try_get("occurred_at_us")?,
        });
    }
    let next_cursor = more(&mut trades, limit).map(|last| encode_cursor(&last.position));
    Ok(Json(TradePage {
        trades,
        next_cursor,
    }))
}

/// A public profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProfileView {
    pub player_id: Uuid,
    pub online: bool,
    pub members: bool,
    /// When the player first entered the world (µs since the Unix epoch).
    pub spawned_at_us: i64,
    /// When a session last opened or closed.
    pub last_seen_us: Option<i64>,
    pub deaths: i64,
    pub kills: i64,
    pub total_level: i64,
    pub total_xp: i64,
    pub overall_rank: i64,
}

/// A player's public profile and online status.
#[utoipa::path(get, path = "/v1/players/{player_id}/profile", tag = "public",
    params(("player_id" = Uuid, Path, description = "The player's id")),
    responses((status = 200, body = ProfileView), (status = 404, body = crate::wire::ErrorBody)))]
pub async fn profile(
    State(state): State<AppState>,
    Path(player_id): Path<String>,
) -> Result<Json<ProfileView>, ApiError> {
    let player_id = parse_player(&player_id)?;
    let mut q = Sql::new(
        "SELECT online, members, spawned_at_us, last_seen_us, deaths, kills \
         FROM rm_profile WHERE player_id = ",
    );
    q.str(&player_id.to_string());
    let rows = q.fetch(&state).await?;
    let r = rows
        .first()
        .ok_or_else(|| ApiError::NotFound(format!("no player {player_id}")))?;
    let overall = entry_of(&state, &Board::Overall, player_id).await;
    let (total_level, total_xp, overall_rank) = match overall {
        Ok(e) => (e.level, e.xp, e.rank),
        Err(ApiError::NotFound(_)) => (0, 0, 0),
        Err(e) => return Err(e),
    };
    Ok(Json(ProfileView {
        player_id,
        online: r.try_get::<i64, _>("online")? != 0,
        members: r.try_get::<i64, _>("members")? != 0,
        spawned_at_us: r.try_get("spawned_at_us")?,
        last_seen_us: r.try_get("last_seen_us")?,
        deaths: r.try_get("deaths")?,
        kills: r.try_get("kills")?,
        total_level,
        total_xp,
        overall_rank,
    }))
}

// ---- Leaderboards ----

/// A leaderboard: `overall` (total level, then total XP) or one skill (level, then XP); ties go
/// to who got there first, then to the player id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Board {
    Overall,
    Skill(String),
}

impl Board {
    fn parse(s: &str) -> Result<Board, ApiError> {
        if s == "overall" {
            return Ok(Board::Overall);
        }
        Skill::ALL
            .iter()
            .map(|k| skill_name(*k))
            .find(|k| k == s)
            .map(Board::Skill)
            .ok_or_else(|| {
                ApiError::NotFound(format!("no leaderboard {s:?} (overall or a skill name)"))
            })
    }

    pub(crate) fn name(&self) -> String {
        match self {
            Board::Overall => "overall".into(),
            Board::Skill(s) => s.clone(),
        }
    }

    /// `SELECT player_id, lvl, xp, reached FROM … WHERE <board>` (more conditions follow).
    pub(crate) fn select(&self) -> Sql {
        match self {
            Board::Overall => Sql::new(
                "SELECT player_id, total_level AS lvl, total_xp AS xp, reached_position AS reached \
                 FROM rm_skill_totals WHERE 1 = 1",
            ),
            Board::Skill(skill) => {
                let mut q = Sql::new(
                    "SELECT player_id, level AS lvl, xp, reached_position AS reached \
                     FROM rm_skills WHERE skill = ",
                );
                q.str(skill);
                q
            }
        }
    }

    fn count(&self) -> Sql {
        match self {
            Board::Overall => Sql::new("SELECT COUNT(*) AS n FROM rm_skill_totals WHERE 1 = 1"),
            Board::Skill(skill) => {
                let mut q = Sql::new("SELECT COUNT(*) AS n FROM rm_skills WHERE skill = ");
                q.str(skill);
                q
            }
        }
    }

    fn columns(&self) -> (&'static str, &'static str) {
        match self {
            Board::Overall => ("total_level", "total_xp"),
            Board::Skill(_) => ("level", "xp"),
        }
    }
}

/// The sort key of a leaderboard row (and the content of a leaderboard cursor, with its rank).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Key {
    pub(crate) level: i64,
    pub(crate) xp: i64,
    pub(crate) reached: i64,
    pub(crate) player: String,
    pub(crate) rank: i64,
}

/// Appends ` AND (rows ahead of key)` (`ahead`) or behind it.
fn beyond(q: &mut Sql, board: &Board, key: &Key, ahead: bool) {
    let (lvl, xp) = board.columns();
    let (gt, lt) = if ahead { (">", "<") } else { ("<", ">") };
    q.push(&format!(" AND ({lvl} {gt} ")).int(key.level);
    q.push(&format!(" OR ({lvl} = ")).int(key.level);
    q.push(&format!(" AND {xp} {gt} ")).int(key.xp);
    q.push(&format!(") OR ({lvl} = ")).int(key.level);
    q.push(&format!(" AND {xp} = ")).int(key.xp);
    q.push(&format!(" AND reached_position {lt} "))
        .int(key.reached);
    q.push(&format!(") OR ({lvl} = ")).int(key.level);
    q.push(&format!(" AND {xp} = ")).int(key.xp);
    q.push(" AND reached_position = ").int(key.reached);
    q.push(&format!(" AND player_id {lt} ")).str(&key.player);
    q.push("))");
}

pub(crate) fn order(board: &Board, reverse: bool) -> String {
    let (lvl, xp) = board.columns();
    if reverse {
        format!(" ORDER BY {lvl} ASC, {xp} ASC, reached_position DESC, player_id DESC")
    } else {
        format!(" ORDER BY {lvl} DESC, {xp} DESC, reached_position ASC, player_id ASC")
    }
}

fn keys(rows: &[AnyRow], first_rank: i64, step: i64) -> Result<Vec<Key>, ApiError> {
    rows.iter()
        .enumerate()
        .map(|(i, r)| {
            Ok(Key {
                player: r.try_get("player_id")?,
                level: r.try_get("lvl")?,
                xp: r.try_get("xp")?,
                reached: r.try_get("reached")?,
                rank: first_rank + step * i as i64,
            })
        })
        .collect()
}

/// One leaderboard entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LeaderboardEntry {
    /// 1 for the best.
    pub rank: i64,
    pub player_id: Uuid,
    /// The total level (overall) or the skill's level.
    pub level: i64,
    /// The total XP (overall) or the skill's XP.
    pub xp: i64,
}

impl TryFrom<Key> for LeaderboardEntry {
    type Error = ApiError;
    fn try_from(k: Key) -> Result<LeaderboardEntry, ApiError> {
        Ok(LeaderboardEntry {
            rank: k.rank,
            player_id: Uuid::parse_str(&k.player).map_err(|_| ApiError::Internal)?,
            level: k.level,
            xp: k.xp,
        })
    }
}

/// A page of a leaderboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LeaderboardPage {
    pub board: String,
    pub as_of_position: u64,
    pub entries: Vec<LeaderboardEntry>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

async fn entry_of(
    state: &AppState,
    board: &Board,
    player_id: Uuid,
) -> Result<LeaderboardEntry, ApiError> {
    let mut q = board.select();
    q.push(" AND player_id = ").str(&player_id.to_string());
    let rows = q.fetch(state).await?;
    let mut key = keys(&rows, 0, 0)?
        .pop()
        .ok_or_else(|| ApiError::NotFound(format!("{player_id} is not on the leaderboard")))?;
    let mut count = board.count();
    beyond(&mut count, board, &key, true);
    let ahead: i64 = count
        .fetch(state)
        .await?
        .first()
        .map(|r| r.try_get("n"))
        .transpose()?
        .unwrap_or(0);
    key.rank = ahead + 1;
    key.try_into()
}

const LEADERBOARD_CACHE: &str = "public, max-age=5";

/// The ETag of every leaderboard page: the skills projection's checkpoint (nothing on a board
/// changes without it moving).
fn leaderboard_etag(checkpoint: u64) -> String {
    format!("W/\"skills-{checkpoint}\"")
}

fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
}

fn cached(etag: &str, body: Option<axum::body::Bytes>) -> Response {
    let mut response = match body {
        Some(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        None => StatusCode::NOT_MODIFIED.into_response(),
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(LEADERBOARD_CACHE),
    );
    response
}

/// A page of a leaderboard, best first. Public; `ETag` and `Cache-Control` (`If-None-Match`
/// gives 304).
#[utoipa::path(get, path = "/v1/leaderboards/{board}", tag = "public",
    params(("board" = String, Path, description = "`overall` or a skill name (`attack`, `woodcutting`, …)"), PageQuery),
    responses((status = 200, body = LeaderboardPage), (status = 304, description = "Not modified"),
        (status = 400, body = crate::wire::ErrorBody), (status = 404, body = crate::wire::ErrorBody)))]
pub async fn leaderboard(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(board): Path<String>,
    Query(page): Query<PageQuery>,
) -> Result<Response, ApiError> {
    let board = Board::parse(&board)?;
    let limit = page.limit()?;
    let after: Option<Key> = page.cursor()?;
    let snapshot = state.boards.snapshot(&state, &board).await?;
    let etag = leaderboard_etag(snapshot.at);
    if not_modified(&headers, &etag) {
        return Ok(cached(&etag, None));
    }
    let body = snapshot.rendered(limit, page.cursor.as_deref(), || {
        let mut rows = snapshot.page(after.as_ref(), limit as usize + 1).to_vec();
        let next_cursor = more(&mut rows, limit).map(encode_cursor);
        let entries = rows
            .into_iter()
            .map(TryInto::try_into)
            .collect::<Result<_, _>>()?;
        let page = LeaderboardPage {
            board: board.name(),
            as_of_position: snapshot.at,
            entries,
            next_cursor,
        };
        serde_json::to_vec(&page)
            .map(axum::body::Bytes::from)
            .map_err(|_| ApiError::Internal)
    })?;
    Ok(cached(&etag, Some(body)))
}

/// A player's rank on a leaderboard. Public.
#[utoipa::path(get, path = "/v1/leaderboards/{board}/players/{player_id}", tag = "public",
    params(("board" = String, Path, description = "`overall` or a skill name"),
           ("player_id" = Uuid, Path, description = "The player's id")),
    responses((status = 200, body = LeaderboardEntry), (status = 404, body = crate::wire::ErrorBody)))]
pub async fn rank(
    State(state): State<AppState>,
    Path((board, player_id)): Path<(String, String)>,
) -> Result<Json<LeaderboardEntry>, ApiError> {
    let board = Board::parse(&board)?;
    let player_id = parse_player(&player_id)?;
    let snapshot = state.boards.snapshot(&state, &board).await?;
    match snapshot.entry(&player_id.to_string()) {
        Some(key) => Ok(Json(key.clone().try_into()?)),
        None => Err(ApiError::NotFound(format!(
            "{player_id} is not on the leaderboard"
        ))),
    }
}

/// How many neighbours on each side.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
pub struct AroundQuery {
    /// Entries above and below the player: 0–50, 5 by default.
    pub n: Option<u32>,
}

/// The entries around a player ("around me"), the player included. Public.
#[utoipa::path(get, path = "/v1/leaderboards/{board}/players/{player_id}/around", tag = "public",
    params(("board" = String, Path, description = "`overall` or a skill name"),
           ("player_id" = Uuid, Path, description = "The player's id"), AroundQuery),
    responses((status = 200, body = LeaderboardPage), (status = 404, body = crate::wire::ErrorBody)))]
pub async fn around(
    State(state): State<AppState>,
    Path((board, player_id)): Path<(String, String)>,
    Query(query): Query<AroundQuery>,
) -> Result<Json<LeaderboardPage>, ApiError> {
    let board = Board::parse(&board)?;
    let player_id = parse_player(&player_id)?;
    let n = match query.n.unwrap_or(5) {
        n @ 0..=50 => i64::from(n),
        _ => return Err(ApiError::BadRequest("n must be 0–50".into())),
    };
    let snapshot = state.boards.snapshot(&state, &board).await?;
    let me = snapshot
        .entry(&player_id.to_string())
        .ok_or_else(|| ApiError::NotFound(format!("{player_id} is not on the leaderboard")))?;
    Ok(Json(LeaderboardPage {
        board: board.name(),
        as_of_position: snapshot.at,
        entries: snapshot
            .ranks(me.rank - n, me.rank + n)
            .iter()
            .cloned()
            .map(TryInto::try_into)
            .collect::<Result<_, _>>()?,
        next_cursor: None,
    }))
}

// ---- Economy (analysts) ----

/// A time range and the output format.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
pub struct RangeQuery {
    /// From this Unix second (inclusive; rounded down to the hour by the data). Default: all.
    pub from: Option<i64>,
    /// Until this Unix second (exclusive). Default: all.
    pub to: Option<i64>,
    /// Only this item (flows) or skill (XP).
    pub item: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// Rows of an economy endpoint: column names and values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Table {
    pub columns: Vec<String>,
    /// One array per row, in `columns` order.
    #[schema(value_type = Vec<Vec<Object>>)]
    pub rows: Vec<Vec<serde_json::Value>>,
}

/// The most rows an economy endpoint returns (narrow the range for more).
pub const MAX_ECONOMY_ROWS: i64 = 100_000;

async fn table(state: &AppState, mut q: Sql, columns: &[(&str, bool)]) -> Result<Table, ApiError> {
    q.push(" LIMIT ").int(MAX_ECONOMY_ROWS);
    let rows = q.fetch(state).await?;
    let rows = rows
        .iter()
        .map(|r| {
            columns
                .iter()
                .map(|(c, int)| {
                    Ok(if *int {
                        serde_json::Value::from(r.try_get::<i64, _>(*c)?)
                    } else {
                        serde_json::Value::from(r.try_get::<String, _>(*c)?)
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
        })
        .collect::<Result<_, _>>()?;
    Ok(Table {
        columns: columns.iter().map(|(c, _)| (*c).to_owned()).collect(),
        rows,
    })
}

fn respond(t: Table, format: Option<&str>) -> Result<Response, ApiError> {
    match format.unwrap_or("json") {
        "json" => Ok(Json(t).into_response()),
        "csv" => {
            let mut out = t.columns.join(",");
            out.push('\n');
            for row in &t.rows {
                let cells: Vec<String> = row
                    .iter()
                    .map(|v| match v {
                        serde_json::Value::String(s) => csv_cell(s),
                        other => other.to_string(),
                    })
                    .collect();
                out.push_str(&cells.join(","));
                out.push('\n');
            }
            Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], out).into_response())
        }
        _ => Err(ApiError::BadRequest("format is json or csv".into())),
    }
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn range(q: &mut Sql, r: &RangeQuery, column: Option<&str>) {
    if let Some(from) = r.from {
        q.push(" AND hour >= ").int(from - from.rem_euclid(3600));
    }
    if let Some(to) = r.to {
        q.push(" AND hour < ").int(to);
    }
    if let (Some(item), Some(column)) = (&r.item, column) {
        q.push(&format!(" AND {column} = ")).str(item);
    }
}

/// Items minted (by source) and burned (by sink) per hour. Analyst token.
#[utoipa::path(get, path = "/v1/economy/flows", tag = "economy", params(RangeQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "Columns hour, item, flow, reason, qty (JSON or CSV)", body = Table),
        (status = 401, body = crate::wire::ErrorBody), (status = 403, body = crate::wire::ErrorBody)))]
pub async fn economy_flows(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(r): Query<RangeQuery>,
) -> Result<Response, ApiError> {
    analyst(&state, &headers).await?;
    let mut q = Sql::new("SELECT hour, item, flow, reason, qty FROM rm_economy_hourly WHERE 1 = 1");
    range(&mut q, &r, Some("item"));
    q.push(" ORDER BY hour, item, flow, reason");
    let columns = [
        ("hour", true),
        ("item", false),
        ("flow", false),
        ("reason", false),
        ("qty", true),
    ];
    let t = economy_table(&state, "flows", &r, || table(&state, q, &columns)).await?;
    respond(t, r.format.as_deref())
}

/// Per item: minted and burned since the start, and in circulation (coins: `item = coins`).
/// Analyst token.
#[utoipa::path(get, path = "/v1/economy/supply", tag = "economy", params(RangeQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "Columns item, minted, burned, in_circulation", body = Table),
        (status = 401, body = crate::wire::ErrorBody), (status = 403, body = crate::wire::ErrorBody)))]
pub async fn economy_supply(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(r): Query<RangeQuery>,
) -> Result<Response, ApiError> {
    analyst(&state, &headers).await?;
    let mut q = Sql::new(
        "SELECT item, minted, burned, minted - burned AS in_circulation FROM rm_item_supply \
         WHERE 1 = 1",
    );
    if let Some(item) = &r.item {
        q.push(" AND item = ").str(item);
    }
    q.push(" ORDER BY item");
    let t = table(
        &state,
        q,
        &[
            ("item", false),
            ("minted", true),
            ("burned", true),
            ("in_circulation", true),
        ],
    )
    .await?;
    respond(t, r.format.as_deref())
}

/// Items changing hands in settled trades per hour (`item = *` counts the trades). Analyst
/// token.
#[utoipa::path(get, path = "/v1/economy/trades", tag = "economy", params(RangeQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "Columns hour, item, qty, trades", body = Table),
        (status = 401, body = crate::wire::ErrorBody), (status = 403, body = crate::wire::ErrorBody)))]
pub async fn economy_trades(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(r): Query<RangeQuery>,
) -> Result<Response, ApiError> {
    analyst(&state, &headers).await?;
    let mut q = Sql::new("SELECT hour, item, qty, trades FROM rm_trade_hourly WHERE 1 = 1");
    range(&mut q, &r, Some("item"));
    q.push(" ORDER BY hour, item");
    let columns = [
        ("hour", true),
        ("item", false),
        ("qty", true),
        ("trades", true),
    ];
    let t = economy_table(&state, "trades", &r, || table(&state, q, &columns)).await?;
    respond(t, r.format.as_deref())
}

/// XP gained per hour and skill (`item` filters by skill). Analyst token.
#[utoipa::path(get, path = "/v1/economy/xp", tag = "economy", params(RangeQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "Columns hour, skill, xp", body = Table),
        (status = 401, body = crate::wire::ErrorBody), (status = 403, body = crate::wire::ErrorBody)))]
pub async fn economy_xp(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(r): Query<RangeQuery>,
) -> Result<Response, ApiError> {
    analyst(&state, &headers).await?;
    let mut q = Sql::new("SELECT hour, skill, xp FROM rm_xp_hourly WHERE 1 = 1");
    range(&mut q, &r, Some("skill"));
    q.push(" ORDER BY hour, skill");
    let columns = [("hour", true), ("skill", false), ("xp", true)];
    let t = economy_table(&state, "xp", &r, || table(&state, q, &columns)).await?;
    respond(t, r.format.as_deref())
}
