//! The analysts' economy endpoints (an analyst token): the economy per hour over a time range,
//! as JSON or CSV. Hourly tables of closed, settled ranges come from the Redis cache when one is
//! configured ([`crate::cache`]).

use crate::access::analyst;
use crate::cache::{EconomyQuery, Sources, economy_table};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, routing::get};
use loh_projections::economy::{self, Hours};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/economy/flows", get(economy_flows))
        .route("/v1/economy/supply", get(economy_supply))
        .route("/v1/economy/trades", get(economy_trades))
        .route("/v1/economy/xp", get(economy_xp))
}

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

impl RangeQuery {
    fn hours(&self) -> Hours {
        Hours {
            from: self.from,
            to: self.to,
        }
    }

    /// What the cache knows this query of `endpoint` by.
    fn cached_as<'a>(&'a self, endpoint: &'a str) -> EconomyQuery<'a> {
        EconomyQuery {
            endpoint,
            from: self.from,
            to: self.to,
            item: self.item.as_deref(),
        }
    }
}

/// Rows of an economy endpoint: column names and values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Table {
    pub columns: Vec<String>,
    /// One array per row, in `columns` order.
    #[schema(value_type = Vec<Vec<Object>>)]
    pub rows: Vec<Vec<serde_json::Value>>,
}

impl Table {
    fn new(columns: &[&str], rows: Vec<Vec<Value>>) -> Table {
        Table {
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            rows,
        }
    }
}

/// The most rows an economy endpoint returns (narrow the range for more).
pub const MAX_ECONOMY_ROWS: i64 = 100_000;

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

/// The table of `r` for `endpoint`: cached when the range is closed and final, else `compute`d.
async fn hourly<F, Fut>(
    state: &AppState,
    endpoint: &str,
    r: &RangeQuery,
    compute: F,
) -> Result<Table, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Table, ApiError>>,
{
    let sources = Sources {
        read: &state.read,
        store: &*state.store,
        http: state.metrics.http(),
    };
    economy_table(
        state.cache.as_ref(),
        sources,
        r.cached_as(endpoint),
        compute,
    )
    .await
}

/// Items minted (by source) and burned (by sink) per hour. Analyst token.
#[utoipa::path(get, path = "/v1/economy/flows", tag = "economy", params(RangeQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "Columns hour, item, flow, reason, qty (JSON or CSV)", body = Table),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn economy_flows(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(r): Query<RangeQuery>,
) -> Result<Response, ApiError> {
    analyst(&state, &headers).await?;
    let t = hourly(&state, "flows", &r, async || {
        let rows = economy::flows(&state.read, r.hours(), r.item.as_deref(), MAX_ECONOMY_ROWS)
            .await?
            .into_iter()
            .map(|f| {
                vec![
                    f.hour.into(),
                    f.item.into(),
                    f.flow.into(),
                    f.reason.into(),
                    f.qty.into(),
                ]
            })
            .collect();
        Ok(Table::new(&["hour", "item", "flow", "reason", "qty"], rows))
    })
    .await?;
    respond(t, r.format.as_deref())
}

/// Per item: minted and burned since the start, and in circulation (coins: `item = coins`).
/// Analyst token.
#[utoipa::path(get, path = "/v1/economy/supply", tag = "economy", params(RangeQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "Columns item, minted, burned, in_circulation", body = Table),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn economy_supply(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(r): Query<RangeQuery>,
) -> Result<Response, ApiError> {
    analyst(&state, &headers).await?;
    let rows = economy::supply(&state.read, r.item.as_deref(), MAX_ECONOMY_ROWS)
        .await?
        .into_iter()
        .map(|s| {
            vec![
                s.item.into(),
                s.minted.into(),
                s.burned.into(),
                s.in_circulation.into(),
            ]
        })
        .collect();
    let t = Table::new(&["item", "minted", "burned", "in_circulation"], rows);
    respond(t, r.format.as_deref())
}

/// Items changing hands in settled trades per hour (`item = *` counts the trades). Analyst
/// token.
#[utoipa::path(get, path = "/v1/economy/trades", tag = "economy", params(RangeQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "Columns hour, item, qty, trades", body = Table),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn economy_trades(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(r): Query<RangeQuery>,
) -> Result<Response, ApiError> {
    analyst(&state, &headers).await?;
    let t = hourly(&state, "trades", &r, async || {
        let rows =
            economy::trade_volume(&state.read, r.hours(), r.item.as_deref(), MAX_ECONOMY_ROWS)
                .await?
                .into_iter()
                .map(|t| vec![t.hour.into(), t.item.into(), t.qty.into(), t.trades.into()])
                .collect();
        Ok(Table::new(&["hour", "item", "qty", "trades"], rows))
    })
    .await?;
    respond(t, r.format.as_deref())
}

/// XP gained per hour and skill (`item` filters by skill). Analyst token.
#[utoipa::path(get, path = "/v1/economy/xp", tag = "economy", params(RangeQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "Columns hour, skill, xp", body = Table),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn economy_xp(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(r): Query<RangeQuery>,
) -> Result<Response, ApiError> {
    analyst(&state, &headers).await?;
    let t = hourly(&state, "xp", &r, async || {
        let rows = economy::xp(&state.read, r.hours(), r.item.as_deref(), MAX_ECONOMY_ROWS)
            .await?
            .into_iter()
            .map(|x| vec![x.hour.into(), x.skill.into(), x.xp.into()])
            .collect();
        Ok(Table::new(&["hour", "skill", "xp"], rows))
    })
    .await?;
    respond(t, r.format.as_deref())
}
