//! Access tokens: the rules live in `loh-auth`; here, the front door's `401` for a token that
//! does not verify.

use crate::error::ApiError;
use axum::http::StatusCode;
pub use loh_auth::keys::*;
pub use loh_auth::tokens::*;

/// `401 unauthorized`.
pub fn unauthorized() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "missing or invalid access token",
    )
}
