//! `POST /v1/payments/stripe/webhook` and `POST /v1/payments/checkout`.

use super::{PaymentsConfig, SqlInbox, signature, stripe_event};
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use std::time::Duration;

/// Largest webhook body taken (Stripe's events are far smaller).
pub const MAX_WEBHOOK_BODY: usize = 256 * 1024;

/// What the payment routes share.
#[derive(Clone, Debug)]
pub struct PaymentRoutes {
    pub config: PaymentsConfig,
    pub inbox: SqlInbox,
}

fn disabled() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "payments_disabled",
        "payments are not configured on this server",
    )
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// `POST /v1/payments/stripe/webhook`: verified, stored once, `200 {"received": true,
/// "duplicate": …}`; `400` for a bad or stale signature or a malformed event (nothing stored).
pub async fn webhook(State(state): State<AppState>, req: Request) -> Result<Response, ApiError> {
    let payments = &state.payments;
    let Some(secret) = &payments.config.webhook_secret else {
        return Err(disabled());
    };
    let header = req
        .headers()
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let read = axum::body::to_bytes(req.into_body(), MAX_WEBHOOK_BODY);
    let body = match tokio::time::timeout(Duration::from_secs(10), read).await {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "the body is too large",
            ));
        }
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                "the body took too long to arrive",
            ));
        }
    };
    signature::verify(
        secret.expose_secret().as_bytes(),
        header.as_deref(),
        &body,
        unix_now(),
        payments.config.tolerance,
    )
    .map_err(|e| {
        tracing::warn!(error = %e, "Stripe webhook refused");
        ApiError::bad_request(e.code(), e.to_string())
    })?;
    let payload = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("bad_event", "the event is not UTF-8"))?;
    let event = stripe_event::read(&body).map_err(|e| {
        tracing::warn!(error = %e, "Stripe webhook: malformed event");
        ApiError::bad_request("bad_event", e.to_string())
    })?;
    let now_us = loh_tick_writer::tick::now_us();
    let new = payments
        .inbox
        .store(&event, payload, now_us)
        .await
        .map_err(ApiError::internal)?;
    tracing::info!(
        event_id = %event.id,
        kind = %event.kind,
        new,
        applies = event.payment.is_some(),
        "Stripe event stored"
    );
    Ok((
        StatusCode::OK,
        Json(serde_json::json!({"received": true, "duplicate": !new})),
    )
        .into_response())
}
