//! `POST /v1/payments/checkout`: a Stripe Checkout Session for one product, created with the
//! `async-stripe` client, whose URL the player opens to pay.
//!
//! The session carries who pays and for what: `client_reference_id` is the player id, and the
//! metadata `player_id` and `product` (on a subscription also `subscription_data.metadata`, which
//! its invoices carry) come back in the webhooks, which alone credit anything. Each product's
//! Stripe price id comes from the configuration ([`Prices`]); a product without one is not on
//! sale. Every request to Stripe carries an idempotency key, so a client retrying with the same
//! key gets the same session.

use loh_world::payments::{PRODUCTS, Product, product};
use secrecy::{ExposeSecret, SecretString};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use stripe::{
    Client, ClientBuilder, IdempotencyKey, IdempotentKeyError, RequestStrategy, StripeError,
    StripeRequest,
};
use stripe_checkout::CheckoutSessionMode;
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionPaymentIntentData,
    CreateCheckoutSessionSubscriptionData,
};
use uuid::Uuid;

/// How long one call to Stripe may take by default.
pub const API_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest idempotency key a client may send (`Idempotency-Key`), in characters.
pub const MAX_CLIENT_KEY: usize = 64;

/// The Stripe price id of each product on sale (`product=price_…`, checked against
/// [`PRODUCTS`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prices(BTreeMap<&'static str, String>);

/// A price list that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PriceError {
    /// An entry is not `product=price_id`.
    #[error("a price is given as product=price_id, not {0:?}")]
    Malformed(String),
    /// An entry names a product the game does not sell.
    #[error("no product {0:?} (products: bonds_1, bonds_5, membership, premium)")]
    UnknownProduct(String),
    /// A product is priced twice.
    #[error("product {0:?} is priced twice")]
    Twice(String),
}

impl Prices {
    /// Reads `product=price_id` entries (`bonds_5=price_1Pq…`).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Prices, PriceError> {
        let mut prices = BTreeMap::new();
        for entry in entries {
            let entry = entry.as_ref().trim();
            let (name, price) = entry
                .split_once('=')
                .map(|(n, p)| (n.trim(), p.trim()))
                .filter(|(n, p)| !n.is_empty() && is_stripe_id(p))
                .ok_or_else(|| PriceError::Malformed(entry.to_owned()))?;
            let product =
                product(name).ok_or_else(|| PriceError::UnknownProduct(name.to_owned()))?;
            if prices.insert(product.id, price.to_owned()).is_some() {
                return Err(PriceError::Twice(name.to_owned()));
            }
        }
        Ok(Prices(prices))
    }

    /// The product `id` and its price id, when it is on sale.
    pub fn get(&self, id: &str) -> Option<(&'static Product, &str)> {
        let product = PRODUCTS.iter().find(|p| p.id == id)?;
        self.0
            .get(product.id)
            .map(|price| (product, price.as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Whether `s` looks like a Stripe object id: 1 to 255 of `A-Z a-z 0-9 _`.
fn is_stripe_id(s: &str) -> bool {
    (1..=255).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Why a checkout failed. Nothing was stored in any case.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    /// The product is not on sale: `400 unknown_product`.
    #[error("no such product on sale")]
    UnknownProduct,
    /// Stripe answered with an error (status): `502 stripe_error`; the player may retry.
    #[error("Stripe refused the session (status {0}): {1}")]
    Stripe(u16, String),
    /// Stripe did not answer in time: `504 stripe_timeout`; the player may retry with the same
    /// idempotency key.
    #[error("Stripe did not answer in time")]
    Timeout,
    /// Stripe could not be reached, or its answer was not a session with a URL: `502
    /// stripe_unavailable`.
    #[error("Stripe could not be used: {0}")]
    Unavailable(String),
}

/// A created Checkout Session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    /// Where the player pays.
    pub url: String,
}

/// The checkout's Stripe client and what it sells.
#[derive(Clone, Debug)]
pub struct Checkout {
    client: Client,
    prices: Prices,
    success_url: String,
    cancel_url: String,
}

impl Checkout {
    /// A client of the Stripe API at `api_base` (the real one, or a test server) with the secret
    /// key, each call bounded by `timeout`.
    pub fn new(
        secret_key: &SecretString,
        api_base: &str,
        timeout: Duration,
        prices: Prices,
        success_url: &str,
        cancel_url: &str,
    ) -> Result<Checkout, StripeError> {
        // async-stripe appends `v1/…` to the base as written: keep exactly one slash between.
        let base = format!("{}/", api_base.trim_end_matches('/'));
        let client = ClientBuilder::new(secret_key.expose_secret())
            .url(base)
            .timeout(timeout)
            .request_strategy(RequestStrategy::Once)
            .app_info("loh", Some(env!("CARGO_PKG_VERSION").to_owned()), None)
            .build()?;
        Ok(Checkout {
            client,
            prices,
            success_url: success_url.to_owned(),
            cancel_url: cancel_url.to_owned(),
        })
    }

    /// The idempotency key of a checkout: the player's own key when the client sent one (so its
    /// retries name the same session, and two players' keys never meet), else a fresh one.
    /// Stripe takes 1 to 255 characters: a client key is at most [`MAX_CLIENT_KEY`].
    pub fn idempotency_key(
        player_id: Uuid,
        client_key: Option<&str>,
    ) -> Result<IdempotencyKey, IdempotentKeyError> {
        let key = match client_key {
            Some(k) => format!("loh-checkout-{player_id}-{k}"),
            None => format!("loh-checkout-{player_id}-{}", Uuid::new_v4().simple()),
        };
        IdempotencyKey::new(key)
    }

    /// The request for `product` bought by `player_id` (public for the tests of its shape).
    pub fn request(
        &self,
        player_id: Uuid,
        product: &str,
    ) -> Result<CreateCheckoutSession, CheckoutError> {
        let (product, price) = self
            .prices
            .get(product)
            .ok_or(CheckoutError::UnknownProduct)?;
        let metadata = HashMap::from([
            ("player_id".to_owned(), player_id.to_string()),
            ("product".to_owned(), product.id.to_owned()),
        ]);
        let mut line = CreateCheckoutSessionLineItems::new();
        line.price = Some(price.to_owned());
        line.quantity = Some(1);
        let mut req = CreateCheckoutSession::new()
            .line_items(vec![line])
            .client_reference_id(player_id.to_string())
            .metadata(metadata.clone())
            .success_url(self.success_url.clone())
            .cancel_url(self.cancel_url.clone());
        if product.subscription {
            let mut data = CreateCheckoutSessionSubscriptionData::new();
            data.metadata = Some(metadata);
            req = req
                .mode(CheckoutSessionMode::Subscription)
                .subscription_data(data);
        } else {
            let mut data = CreateCheckoutSessionPaymentIntentData::new();
            data.metadata = Some(metadata);
            req = req
                .mode(CheckoutSessionMode::Payment)
                .payment_intent_data(data);
        }
        Ok(req)
    }

    /// Creates the session for `product` bought by `player_id`, once per idempotency key.
    pub async fn create(
        &self,
        player_id: Uuid,
        product: &str,
        key: IdempotencyKey,
    ) -> Result<Session, CheckoutError> {
        let req = self.request(player_id, product)?;
        let session = req
            .customize()
            .request_strategy(RequestStrategy::Idempotent(key))
            .send(&self.client)
            .await
            .map_err(|e| match e {
                StripeError::Timeout => CheckoutError::Timeout,
                StripeError::Stripe(err, status) => {
                    CheckoutError::Stripe(status, err.message.unwrap_or_default())
                }
                other => CheckoutError::Unavailable(other.to_string()),
            })?;
        let url = session
            .url
            .ok_or_else(|| CheckoutError::Unavailable("the session has no url".into()))?;
        Ok(Session {
            id: session.id.to_string(),
            url,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_name_known_products_once_each() {
        let prices = Prices::parse(&["bonds_5=price_5", " membership = price_m "]).unwrap();
        assert_eq!(prices.get("bonds_5").unwrap().1, "price_5");
        assert_eq!(prices.get("membership").unwrap().1, "price_m");
        assert!(prices.get("bonds_1").is_none(), "not priced, not on sale");
        assert!(prices.get("gold").is_none());
        assert_eq!(
            Prices::parse(&["gold=price_1"]),
            Err(PriceError::UnknownProduct("gold".into()))
        );
        for bad in [
            "bonds_5",
            "bonds_5=",
            "=price_1",
            "bonds_5=price 1",
            "bonds_5=pr&ce",
        ] {
            assert_eq!(
                Prices::parse(&[bad]),
                Err(PriceError::Malformed(bad.into())),
                "{bad}"
            );
        }
        assert_eq!(
            Prices::parse(&["bonds_1=price_a", "bonds_1=price_b"]),
            Err(PriceError::Twice("bonds_1".into()))
        );
    }

    #[test]
    fn a_client_key_names_the_same_request_only_for_the_same_player() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let k = |p, c| Checkout::idempotency_key(p, c).unwrap().as_str().to_owned();
        assert_eq!(k(a, Some("x1")), k(a, Some("x1")));
        assert_ne!(k(a, Some("x1")), k(b, Some("x1")));
        assert_ne!(k(a, None), k(a, None));
        assert!(Checkout::idempotency_key(a, Some(&"x".repeat(300))).is_err());
    }
}
