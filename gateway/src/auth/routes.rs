//! The auth routes: register, login, refresh, logout (PROTOCOL.md) and the JWKS document.

use super::csrf;
use super::sessions::{Issued, Rotation, sid_of_refresh};
use super::signing::{SignedHeaders, bad_signature};
use super::tokens::{ACCESS_TTL_SECS, Claims, unauthorized};
use crate::error::ApiError;
use crate::state::{AppState, JsonBody, RawBody};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use std::net::IpAddr;

pub use loh_commands::auth::{Credentials, RefreshBody};

#[derive(Serialize)]
struct Registered {
    player_id: String,
}

/// The answer of login and refresh.
#[derive(Serialize)]
struct TokenPair {
    access_token: String,
    refresh_token: String,
    token_type: &'static str,
    expires_in: i64,
    refresh_expires_in: u64,
    /// Key id and base64url key of the session's HMAC request-signing key.
    key_id: String,
    signing_key: String,
    /// Browser clients only: echo it in `X-CSRF-Token` (it is also set as a cookie).
    #[serde(skip_serializing_if = "Option::is_none")]
    csrf_token: Option<String>,
}

fn now_secs() -> i64 {
    loh_tick_writer::tick::now_us() / 1_000_000
}

fn peer_ip(ext: &axum::http::Extensions) -> IpAddr {
    crate::http::client_ip(ext)
}

fn pair(state: &AppState, issued: &Issued, headers: &HeaderMap) -> Response {
    let browser = csrf::is_browser(headers);
    let csrf_token =
        browser.then(|| csrf::issue(state.csrf_secret(), &issued.sid, issued.expires_at));
    let body = TokenPair {
        access_token: state.tokens.issue(issued.player_id, &issued.sid),
        refresh_token: issued.refresh_token.clone(),
        token_type: "Bearer",
        expires_in: ACCESS_TTL_SECS,
        refresh_expires_in: state.sessions.refresh_ttl().as_secs(),
        key_id: issued.key_id.clone(),
        signing_key: URL_SAFE_NO_PAD.encode(&issued.signing_key),
        csrf_token: csrf_token.clone(),
    };
    let mut res = Json(body).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(token) = csrf_token
        && let Ok(v) = HeaderValue::from_str(&csrf::cookie(&token, issued.expires_at - now_secs()))
    {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

/// `POST /v1/auth/register`.
pub async fn register(
    State(state): State<AppState>,
    headers: HeaderMap,
    ext: axum::http::Extensions,
    JsonBody(body): JsonBody<Credentials>,
) -> Result<Response, Response> {
    state
        .origins
        .check(&headers)
        .map_err(|e| e.into_response())?;
    state
        .rate
        .register(peer_ip(&ext))
        .await
        .map_err(|e| e.into_response())?;
    let player_id = state
        .accounts
        .register(&body.username, &body.password)
        .await
        .map_err(|e| e.into_response())?;
    Ok((
        StatusCode::CREATED,
        Json(Registered {
            player_id: player_id.to_string(),
        }),
    )
        .into_response())
}

/// `POST /v1/auth/login`.
pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    ext: axum::http::Extensions,
    JsonBody(body): JsonBody<Credentials>,
) -> Result<Response, Response> {
    state
        .origins
        .check(&headers)
        .map_err(|e| e.into_response())?;
    let ip = peer_ip(&ext);
    state.rate.login(ip).await.map_err(|e| e.into_response())?;
    let account = super::normalise_username(&body.username)
        .unwrap_or_else(|_| body.username.trim().chars().take(32).collect());
    state
        .rate
        .login_failure_budget(&account, ip)
        .await
        .map_err(|e| e.into_response())?;
    let player_id = state
        .accounts
        .login(&body.username, &body.password)
        .await
        .map_err(|e| e.into_response())?;
    let issued = state
        .sessions
        .create(player_id)
        .await
        .map_err(|e| ApiError::session_store(e).into_response())?;
    Ok(pair(&state, &issued, &headers))
}

/// Checks that a session-bound unsafe call really comes from the session's client: the CSRF
/// token for a browser, an HMAC signature with the session's key otherwise.
async fn check_integrity(
    state: &AppState,
    headers: &HeaderMap,
    method: &Method,
    uri: &Uri,
    body: &[u8],
    sid: &str,
) -> Result<(), ApiError> {
    if csrf::is_browser(headers) {
        return csrf::verify(state.csrf_secret(), sid, headers, now_secs());
    }
    let signed = SignedHeaders::read(headers)?.ok_or_else(bad_signature)?;
    let (key_sid, key) = state
        .sessions
        .signing_key(&signed.key_id)
        .await
        .map_err(ApiError::session_store)?
        .ok_or_else(bad_signature)?;
    if key_sid != sid {
        return Err(bad_signature());
    }
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    signed.check(&key, method.as_str(), path, body, now_secs())?;
    let fresh = state
        .sessions
        .use_nonce(&signed.key_id, &signed.nonce)
        .await
        .map_err(ApiError::session_store)?;
    if !fresh {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "replayed_request",
            "this nonce was already used",
        ));
    }
    Ok(())
}

fn invalid_refresh() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
        "the refresh token is invalid, spent or expired",
    )
}

/// `POST /v1/auth/refresh`.
pub async fn refresh(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    RawBody(bytes): RawBody,
) -> Result<Response, ApiError> {
    state.origins.check(&headers)?;
    let body: RefreshBody = crate::server::parse_json(&headers, &bytes)?;
    let sid = sid_of_refresh(&body.refresh_token).ok_or_else(invalid_refresh)?;
    check_integrity(&state, &headers, &method, &uri, &bytes, sid).await?;
    match state
        .sessions
        .rotate(&body.refresh_token)
        .await
        .map_err(ApiError::session_store)?
    {
        Rotation::Rotated(issued) => Ok(pair(&state, &issued, &headers)),
        Rotation::Reused => {
            tracing::warn!(sid, "refresh token re-used; the family is revoked");
            state.kicks.kick(sid);
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "refresh_token_reused",
                "this refresh token was already used; the session is revoked",
            ))
        }
        Rotation::Invalid => Err(invalid_refresh()),
    }
}

/// The claims of the request's `Authorization: Bearer` token, whose session is still live.
pub async fn bearer(state: &AppState, headers: &HeaderMap) -> Result<Claims, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(unauthorized)?;
    live_claims(state, token).await
}

/// The claims of an access token whose session is still live.
pub async fn live_claims(state: &AppState, token: &str) -> Result<Claims, ApiError> {
    let claims = state.tokens.verify(token).map_err(|_| unauthorized())?;
    let live = state
        .sessions
        .is_live(&claims.sid)
        .await
        .map_err(ApiError::session_store)?;
    if live {
        Ok(claims)
    } else {
        Err(unauthorized())
    }
}

/// `POST /v1/auth/logout` (Bearer).
pub async fn logout(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    RawBody(bytes): RawBody,
) -> Result<Response, ApiError> {
    state.origins.check(&headers)?;
    let claims = bearer(&state, &headers).await?;
    check_integrity(&state, &headers, &method, &uri, &bytes, &claims.sid).await?;
    state
        .sessions
        .revoke(&claims.sid)
        .await
        .map_err(ApiError::session_store)?;
    state.kicks.kick(&claims.sid);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /.well-known/jwks.json`.
pub async fn jwks(State(state): State<AppState>) -> Response {
    let mut res = Json(state.tokens.key().jwks().clone()).into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    res
}
