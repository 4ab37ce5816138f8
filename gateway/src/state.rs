//! The state every handler shares, and the request-body extractors that answer their faults
//! with the error body of PROTOCOL.md. A leaf: the routes, the WebSocket and the server use it.

use crate::auth::Accounts;
use crate::auth::csrf::OriginPolicy;
use crate::auth::kicks::Kicks;
use crate::auth::sessions::SessionStore;
use crate::auth::tokens::Tokens;
use crate::error::ApiError;
use crate::limits::{Limits, RateLimits};
use crate::metrics::ConnMetrics;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use loh_tick_writer::metrics::TickMetrics;
use loh_tick_writer::tick::TickHandle;
use prometheus_client::registry::Registry;
use serde::de::DeserializeOwned;
use std::sync::Arc;

/// Shared state of the HTTP handlers.
#[derive(Clone)]
pub struct AppState {
    pub tick: TickHandle,
    pub tokens: Tokens,
    pub accounts: Accounts,
    pub registry: Arc<Registry>,
    pub sessions: SessionStore,
    pub origins: OriginPolicy,
    pub rate: RateLimits,
    pub limits: Arc<Limits>,
    pub kicks: Kicks,
    pub metrics: TickMetrics,
    /// Connections closed, by reason.
    pub conn_metrics: ConnMetrics,
    /// This process's id, part of the owner of every single-session lock it takes.
    pub instance: Arc<str>,
    /// The content document of `GET /v1/content`, encoded once.
    pub content: Arc<crate::web::content::ContentDoc>,
    /// The payment routes' configuration and inbox.
    pub payments: Arc<crate::payments::routes::PaymentRoutes>,
    /// This world's store: where characters live (`character_home`).
    pub store: Arc<dyn loh_events::EventStore>,
    /// Checks of dependencies the process added (`/healthz`).
    pub probes: crate::health::Probes,
}

impl AppState {
    /// The HMAC key of CSRF tokens (derived from the RSA key, so shared by every instance).
    pub fn csrf_secret(&self) -> &[u8] {
        self.tokens.key().derived_secret()
    }
}

/// A request body read within the body timeout and size limit.
pub struct RawBody(pub axum::body::Bytes);

impl FromRequest<AppState> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let too_large = || {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "the body is too large",
            )
        };
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > state.limits.max_body) {
            return Err(too_large());
        }
        let read = axum::body::to_bytes(req.into_body(), state.limits.max_body);
        match tokio::time::timeout(state.limits.body_timeout, read).await {
            Err(_) => Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                "the body took too long to arrive",
            )),
            Ok(Err(_)) => Err(too_large()),
            Ok(Ok(bytes)) => Ok(RawBody(bytes)),
        }
    }
}

/// Parses a JSON body, checking its media type; faults answer with the error body.
pub fn parse_json<T: DeserializeOwned>(headers: &HeaderMap, bytes: &[u8]) -> Result<T, ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send application/json",
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|_| ApiError::bad_request("bad_json", "the body is not the expected JSON"))
}

/// A JSON body whose faults answer with the error body of PROTOCOL.md.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let headers = req.headers().clone();
        let RawBody(bytes) = RawBody::from_request(req, state).await?;
        parse_json(&headers, &bytes).map(JsonBody)
    }
}
