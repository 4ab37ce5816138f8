//! Payments through Stripe (docs/PAYMENTS.md): the webhook intake and the checkout.
//!
//! Webhooks are the only source of truth for money. `POST /v1/payments/stripe/webhook` checks
//! the `Stripe-Signature` header ([`signature`]), reads the event ([`stripe_event`]), stores
//! the raw event once by its Stripe event id ([`inbox`]) and answers `200` at once; the tick
//! writer takes the stored events into its next tick, so their effect is in the event log. A
//! redelivery or a concurrent delivery of the same event stores nothing the second time, and the
//! world applies each event id once.
//!
//! # Layout
//! - [`signature`]: the `Stripe-Signature` header, checked as Stripe specifies.
//! - [`stripe_event`]: a Stripe event read into what the world takes
//!   ([`loh_world::payments::Payment`]).
//! - [`inbox`]: the `stripe_events` table (SQL, PostgreSQL or SQLite), the tick writer's
//!   [`loh_tick_writer::payments::PaymentInbox`].
//! - [`checkout`]: the Checkout Session a player pays through (`async-stripe`), and the
//!   products' Stripe prices.
//! - [`routes`]: the webhook and checkout handlers.

pub mod checkout;
pub mod inbox;
pub mod routes;
pub mod signature;
pub mod stripe_event;

pub use inbox::SqlInbox;
use secrecy::SecretString;
use std::time::Duration;

/// How the game takes payments. Without a webhook secret the payment routes answer
/// `503 payments_disabled`.
#[derive(Clone, Debug)]
pub struct PaymentsConfig {
    /// The endpoint's signing secret (`whsec_…`), from the Stripe dashboard.
    pub webhook_secret: Option<SecretString>,
    /// The API secret key (`sk_…`) the checkout calls Stripe with.
    pub secret_key: Option<SecretString>,
    /// Where the Stripe API answers (tests point it at a local server).
    pub api_base: String,
    /// How long one call to the Stripe API may take.
    pub api_timeout: Duration,
    /// The Stripe price of each product on sale; a product without one is not sold.
    pub prices: checkout::Prices,
    /// Where Checkout sends the player after paying, and after giving up.
    pub success_url: String,
    pub cancel_url: String,
    /// How old (or how far ahead) a signature's timestamp may be.
    pub tolerance: Duration,
}

impl Default for PaymentsConfig {
    fn default() -> Self {
        PaymentsConfig {
            webhook_secret: None,
            secret_key: None,
            api_base: "https://api.stripe.com".into(),
            api_timeout: checkout::API_TIMEOUT,
            prices: checkout::Prices::default(),
            success_url: "http://127.0.0.1:7777/paid".into(),
            cancel_url: "http://127.0.0.1:7777/cancelled".into(),
            tolerance: signature::TOLERANCE,
        }
    }
}
