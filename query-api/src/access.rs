//! Who may read what: the caller of a request's Bearer access token, a player's own data (or an
//! analyst's), the analysts' endpoints.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;
use axum::http::{HeaderMap, header};
use uuid::Uuid;

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

/// The player id of the path, readable by the request's caller (the player, or an analyst).
pub async fn readable(
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

/// Ok when the request's caller is an analyst.
pub async fn analyst(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if caller(state, headers).await?.analyst {
        Ok(())
    } else {
        Err(ApiError::Forbidden("an analyst token is required".into()))
    }
}

/// The player id of a path.
pub fn parse_player(s: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(s).map_err(|_| ApiError::BadRequest("player_id must be a UUID".into()))
}
