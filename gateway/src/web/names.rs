//! `GET /v1/names?ids=<uuid>,<uuid>,…` (Bearer): the display names of players, for a client that
//! meets an id it has no name for — a friend who is not in view, the sender of a private
//! message, a trade partner after a reload. The world's frames name the players in view
//! (`PlayerSeen.name`); everyone else is one lookup away.
//!
//! Display names are public in the game (leaderboards, profiles, above players' heads); the route
//! still needs a live access token, and takes at most [`MAX_IDS`] ids a request, so it is no
//! cheaper a way to list accounts than the leaderboards. Ids without an account are left out.

use crate::auth::routes::bearer;
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use std::collections::BTreeMap;
use uuid::Uuid;

/// Ids one request may ask for.
pub const MAX_IDS: usize = 100;

#[derive(Debug, Deserialize)]
pub struct NamesQuery {
    ids: Option<String>,
}

fn bad_ids(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad_ids", message)
}

/// The ids of `?ids=`: comma-separated UUIDs, 1 to [`MAX_IDS`] of them, repeats ignored.
fn parse_ids(ids: &str) -> Result<Vec<Uuid>, ApiError> {
    let mut out: Vec<Uuid> = Vec::new();
    for part in ids.split(',') {
        if out.len() == MAX_IDS {
            return Err(bad_ids(format!("at most {MAX_IDS} ids a request")));
        }
        let id = Uuid::parse_str(part.trim())
            .map_err(|_| bad_ids("ids are UUIDs separated by commas"))?;
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

/// `200 {"names": {"<uuid>": "<display name>", …}}`; `400 bad_ids`, `401` without a live token.
pub async fn names(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<NamesQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    bearer(&state, &headers).await?;
    let ids = parse_ids(q.ids.as_deref().unwrap_or_default())?;
    let found = state
        .accounts
        .display_names(&ids)
        .await
        .map_err(ApiError::internal)?;
    let names: BTreeMap<String, String> = found
        .into_iter()
        .map(|(id, name)| (id.to_string(), name))
        .collect();
    Ok(Json(serde_json::json!({ "names": names })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuids_separated_by_commas_at_most_a_hundred() {
        let a = Uuid::from_u128(1);
        let b = Uuid::from_u128(2);
        assert_eq!(parse_ids(&format!("{a}, {b},{a}")).unwrap(), [a, b]);
        for bad in ["", "x", &format!("{a},"), &format!("{a};{b}")] {
            assert!(parse_ids(bad).is_err(), "{bad:?}");
        }
        let hundred: Vec<String> = (0..100).map(|i| Uuid::from_u128(i).to_string()).collect();
        assert_eq!(parse_ids(&hundred.join(",")).unwrap().len(), 100);
        let more: Vec<String> = (0..101).map(|i| Uuid::from_u128(i).to_string()).collect();
        assert!(parse_ids(&more.join(",")).is_err());
    }
}
