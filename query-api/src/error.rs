//! The error of every endpoint and its body.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Every error: `{"error":{"code","message"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// The code (stable, snake_case) and a human-readable message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

/// An HTTP error: a status, a stable snake_case code and a message safe to show; details go to
/// the logs.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 `bad_request`: the request is malformed (e.g. a player id that is not a UUID). The
    /// client must fix it; retrying the same request fails again.
    #[error("{0}")]
    BadRequest(String),
    /// 401 `unauthorized`: no valid Bearer access token (missing, malformed, expired, or not
    /// signed by the game server's key). Log in again.
    #[error("{0}")]
    Unauthorized(String),
    /// 403 `forbidden`: the token is valid but does not grant this (another player's data, or
    /// an analyst endpoint without an analyst token).
    #[error("{0}")]
    Forbidden(String),
    /// 404 `not_found`: no such resource (yet: the read model may lag the log slightly).
    #[error("{0}")]
    NotFound(String),
    /// 405 `method_not_allowed`: the path exists for other methods.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 503 `unavailable`: the read database does not answer. Retry later.
    #[error("the read database is unavailable")]
    Unavailable,
    /// 500 `internal`: a fault on our side, logged with its cause. Retry later.
    #[error("internal error")]
    Internal,
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code of the error body.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Unavailable => "unavailable",
            ApiError::Internal => "internal",
        }
    }

    /// The body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code().to_owned(),
                message: self.to_string(),
            },
        }
    }
}

impl From<loh_projections::Error> for ApiError {
    fn from(e: loh_projections::Error) -> ApiError {
        match e {
            loh_projections::Error::Database(sqlx::Error::PoolTimedOut)
            | loh_projections::Error::Database(sqlx::Error::PoolClosed)
            | loh_projections::Error::Database(sqlx::Error::Io(_)) => {
                tracing::warn!(error = %e, "read database unavailable");
                ApiError::Unavailable
            }
            e => {
                tracing::error!(error = %e, "query failed");
                ApiError::Internal
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), Json(self.body())).into_response();
        if matches!(self, ApiError::Unauthorized(_)) {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}
