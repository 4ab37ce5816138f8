//! `POST /v1/payments/stripe/webhook` and `POST /v1/payments/checkout`.

use super::checkout::{Checkout, CheckoutError, MAX_CLIENT_KEY};
use super::{PaymentsConfig, SqlInbox, signature, stripe_event};
use crate::error::ApiError;
use crate::state::{AppState, RawBody, parse_json};
use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
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
    /// The checkout's Stripe client: with a webhook secret and an API key only (a payment
    /// nothing would credit is never taken).
    pub checkout: Option<Checkout>,
}

/// The checkout's Stripe client for `config`, when payments are on and an API key is given.
pub fn checkout_client(config: &PaymentsConfig) -> Result<Option<Checkout>, stripe::StripeError> {
    let (Some(_), Some(key)) = (&config.webhook_secret, &config.secret_key) else {
        return Ok(None);
    };
    Checkout::new(
        key,
        &config.api_base,
        config.api_timeout,
        config.prices.clone(),
        &config.success_url,
        &config.cancel_url,
    )
    .map(Some)
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

/// The body of `POST /v1/payments/checkout`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckoutBody {
    /// A product id (`bonds_5`, `membership`, …).
    pub product: String,
}

/// `POST /v1/payments/checkout` (Bearer): `200 {"url", "session_id"}`, the Checkout Session the
/// player pays through. `401` without a live token, `400 bad_json` / `unknown_product` /
/// `bad_idempotency_key`, `502 stripe_error` / `stripe_unavailable`, `504 stripe_timeout`,
/// `503 payments_disabled`; nothing is stored in any case (the webhook alone credits).
pub async fn checkout(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawBody(bytes): RawBody,
) -> Result<Response, ApiError> {
    state.origins.check(&headers)?;
    let Some(checkout) = &state.payments.checkout else {
        return Err(disabled());
    };
    let claims = crate::auth::routes::bearer(&state, &headers).await?;
    let body: CheckoutBody = parse_json(&headers, &bytes)?;
    let client_key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .filter(|k| {
                    (1..=MAX_CLIENT_KEY).contains(&k.len())
                        && k.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                })
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "bad_idempotency_key",
                        "Idempotency-Key is 1 to 64 of A-Z a-z 0-9 - _",
                    )
                })?,
        ),
    };
    let key = Checkout::idempotency_key(claims.sub, client_key).map_err(|_| {
        ApiError::bad_request(
            "bad_idempotency_key",
            "Idempotency-Key is 1 to 64 of A-Z a-z 0-9 - _",
        )
    })?;
    let session = checkout
        .create(claims.sub, &body.product, key)
        .await
        .map_err(|e| {
            match &e {
                CheckoutError::UnknownProduct => {}
                _ => tracing::warn!(error = %e, player_id = %claims.sub, "checkout failed"),
            }
            match e {
                CheckoutError::UnknownProduct => {
                    ApiError::bad_request("unknown_product", "no such product on sale")
                }
                CheckoutError::Stripe(..) => ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "stripe_error",
                    "the payment provider refused the checkout",
                ),
                CheckoutError::Timeout => ApiError::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    "stripe_timeout",
                    "the payment provider did not answer in time",
                ),
                CheckoutError::Unavailable(_) => ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "stripe_unavailable",
                    "the payment provider could not be reached",
                ),
            }
        })?;
    tracing::info!(player_id = %claims.sub, product = %body.product, session = %session.id, "checkout session created");
    Ok(Json(serde_json::json!({"url": session.url, "session_id": session.id})).into_response())
}
