//! The JSON bodies of the auth routes (PROTOCOL.md, "HTTP auth").

use serde::Deserialize;

/// `POST /v1/auth/register` and `POST /v1/auth/login`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// `POST /v1/auth/refresh`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RefreshBody {
    pub refresh_token: String,
}
