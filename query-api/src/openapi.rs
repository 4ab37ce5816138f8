//! The OpenAPI document, generated from the handlers and wire types.

use crate::{routes, wire};
use utoipa::OpenApi;

/// The query API's OpenAPI description (served on `/openapi.json`).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "loh query API",
        description = "Read models of Legends of Hastinapur over HTTP/JSON. Every error is \
                       {\"error\":{\"code\",\"message\"}}."
    ),
    paths(routes::player_position, routes::healthz, routes::metrics),
    components(schemas(wire::PlayerPosition, wire::Health, wire::ErrorBody, wire::ErrorDetail)),
    tags((name = "players", description = "Per-player read models"),
         (name = "operations", description = "Health and metrics"))
)]
pub struct ApiDoc;

/// The document as JSON.
pub fn json() -> serde_json::Value {
    serde_json::to_value(ApiDoc::openapi()).unwrap_or_default()
}
