//! Public leaderboards (no token): pages best first, a player's rank, the entries around a
//! player. Answered from the in-process snapshot of each board ([`crate::boards`]); pages carry
//! an `ETag` (the skills projection's checkpoint) and `Cache-Control`.

use crate::access::parse_player;
use crate::error::{ApiError, ErrorBody};
use crate::page::{PageQuery, encode_cursor, more};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, routing::get};
use loh_projections::skills::{Board, Standing};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/leaderboards/{board}", get(leaderboard))
        .route("/v1/leaderboards/{board}/players/{player_id}", get(rank))
        .route(
            "/v1/leaderboards/{board}/players/{player_id}/around",
            get(around),
        )
}

/// The board of the path: `overall` or a skill name.
fn parse_board(s: &str) -> Result<Board, ApiError> {
    Board::parse(s).ok_or_else(|| {
        ApiError::NotFound(format!("no leaderboard {s:?} (overall or a skill name)"))
    })
}

/// 404: `player_id` is not on the board.
pub(crate) fn not_on_board(player_id: Uuid) -> ApiError {
    ApiError::NotFound(format!("{player_id} is not on the leaderboard"))
}

/// The content of a leaderboard cursor: the sort key of the page's last entry, and its rank.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Cursor {
    level: i64,
    xp: i64,
    reached: i64,
    player: Uuid,
    rank: i64,
}

impl From<&Standing> for Cursor {
    fn from(s: &Standing) -> Cursor {
        Cursor {
            level: s.level,
            xp: s.xp,
            reached: s.reached_position,
            player: s.player_id,
            rank: s.rank,
        }
    }
}

impl From<Cursor> for Standing {
    fn from(c: Cursor) -> Standing {
        Standing {
            rank: c.rank,
            player_id: c.player,
            level: c.level,
            xp: c.xp,
            reached_position: c.reached,
        }
    }
}

/// One leaderboard entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LeaderboardEntry {
    /// 1 for the best.
    pub rank: i64,
    pub player_id: Uuid,
    /// The player's display name, as they registered it; `null` for an id without an account.
    #[serde(default)]
    pub name: Option<String>,
    /// The total level (overall) or the skill's level.
    pub level: i64,
    /// The total XP (overall) or the skill's XP.
    pub xp: i64,
}

impl LeaderboardEntry {
    /// The entry of `s`, named from `names`.
    fn named(s: &Standing, names: &HashMap<Uuid, String>) -> LeaderboardEntry {
        LeaderboardEntry {
            rank: s.rank,
            player_id: s.player_id,
            name: names.get(&s.player_id).cloned(),
            level: s.level,
            xp: s.xp,
        }
    }
}

/// The names of the players of `rows`.
async fn names_of(state: &AppState, rows: &[Standing]) -> Result<HashMap<Uuid, String>, ApiError> {
    let ids: Vec<Uuid> = rows.iter().map(|s| s.player_id).collect();
    state.names.resolve(&state.read, &ids).await
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
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn leaderboard(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(board): Path<String>,
    Query(page): Query<PageQuery>,
) -> Result<Response, ApiError> {
    let board = parse_board(&board)?;
    let limit = page.limit()?;
    let after: Option<Standing> = page.cursor::<Cursor>()?.map(Standing::from);
    let snapshot = state
        .boards
        .snapshot(&state.read, state.ranks.as_ref(), board)
        .await?;
    let etag = leaderboard_etag(snapshot.at);
    if not_modified(&headers, &etag) {
        return Ok(cached(&etag, None));
    }
    let names = names_of(&state, snapshot.page(after.as_ref(), limit as usize + 1)).await?;
    let body = snapshot.rendered(limit, page.cursor.as_deref(), || {
        let mut rows = snapshot.page(after.as_ref(), limit as usize + 1).to_vec();
        let next_cursor = more(&mut rows, limit).map(|last| encode_cursor(&Cursor::from(last)));
        let page = LeaderboardPage {
            board: board.name(),
            as_of_position: snapshot.at,
            entries: rows
                .iter()
                .map(|s| LeaderboardEntry::named(s, &names))
                .collect(),
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
    responses((status = 200, body = LeaderboardEntry), (status = 404, body = ErrorBody)))]
pub async fn rank(
    State(state): State<AppState>,
    Path((board, player_id)): Path<(String, String)>,
) -> Result<Json<LeaderboardEntry>, ApiError> {
    let board = parse_board(&board)?;
    let player_id = parse_player(&player_id)?;
    let snapshot = state
        .boards
        .snapshot(&state.read, state.ranks.as_ref(), board)
        .await?;
    match snapshot.entry(player_id) {
        Some(standing) => {
            let names = names_of(&state, std::slice::from_ref(standing)).await?;
            Ok(Json(LeaderboardEntry::named(standing, &names)))
        }
        None => Err(not_on_board(player_id)),
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
    responses((status = 200, body = LeaderboardPage), (status = 404, body = ErrorBody)))]
pub async fn around(
    State(state): State<AppState>,
    Path((board, player_id)): Path<(String, String)>,
    Query(query): Query<AroundQuery>,
) -> Result<Json<LeaderboardPage>, ApiError> {
    let board = parse_board(&board)?;
    let player_id = parse_player(&player_id)?;
    let n = match query.n.unwrap_or(5) {
        n @ 0..=50 => i64::from(n),
        _ => return Err(ApiError::BadRequest("n must be 0–50".into())),
    };
    let snapshot = state
        .boards
        .snapshot(&state.read, state.ranks.as_ref(), board)
        .await?;
    let me = snapshot
        .entry(player_id)
        .ok_or_else(|| not_on_board(player_id))?;
    let rows = snapshot.ranks(me.rank - n, me.rank + n);
    let names = names_of(&state, rows).await?;
    Ok(Json(LeaderboardPage {
        board: board.name(),
        as_of_position: snapshot.at,
        entries: rows
            .iter()
            .map(|s| LeaderboardEntry::named(s, &names))
            .collect(),
        next_cursor: None,
    }))
}
