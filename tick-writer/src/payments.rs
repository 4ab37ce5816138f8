//! The payment inbox: Stripe events the front door verified and stored, waiting for the world.
//!
//! Each tick the writer takes the waiting ones ([`PaymentInbox::waiting`]) as inputs of the
//! step ([`loh_world::step::TickInputs::payments`]), journaled with the tick; after the tick
//! commits it marks them applied. The world applies a Stripe event once (its events carry the
//! event id), so a crash between the commit and the mark, a redelivery stored twice or two
//! writers' worth of polling change nothing a second time: what the world already has is only
//! marked. The inbox lives where the front door stores it (`loh-gateway`, SQL).

use async_trait::async_trait;
use loh_world::payments::Payment;

/// An inbox failure: logged, and the payments wait for a later tick.
pub type InboxError = Box<dyn std::error::Error + Send + Sync>;

/// Stripe events stored and not yet applied.
#[async_trait]
pub trait PaymentInbox: Send + Sync + 'static {
    /// Up to `limit` payments not marked applied, in the order they were stored.
    async fn waiting(&self, limit: usize) -> Result<Vec<Payment>, InboxError>;

    /// Marks the Stripe events `ids` applied at `at_us` (microseconds since the Unix epoch).
    async fn mark_applied(&self, ids: &[String], at_us: i64) -> Result<(), InboxError>;
}

/// Payments taken into one tick at most.
pub const PAYMENTS_PER_TICK: usize = 64;
