//! The `stripe_events` table (migration `0007_payments.sql`), in the same database as the
//! accounts (PostgreSQL, or the embedded SQLite file), reached through `sqlx::AnyPool`.

use super::stripe_event::StripeEvent;
use async_trait::async_trait;
use loh_tick_writer::payments::{InboxError, PaymentInbox};
use loh_world::payments::Payment;
use sqlx::AnyPool;

/// The payment inbox over SQL.
#[derive(Clone, Debug)]
pub struct SqlInbox {
    pool: AnyPool,
}

impl SqlInbox {
    pub fn new(pool: AnyPool) -> SqlInbox {
        SqlInbox { pool }
    }

    /// Stores a verified event once: `true` when it is new, `false` when its id was stored
    /// before (a redelivery, or a concurrent delivery that stored it first). An event the world
    /// does not act on is stored as applied.
    pub async fn store(
        &self,
        event: &StripeEvent,
        payload: &str,
        now_us: i64,
    ) -> Result<bool, sqlx::Error> {
        let input = event
            .payment
            .as_ref()
            .map(|p| serde_json::to_string(p).expect("payments encode"));
        let applied = input.is_none().then_some(now_us);
        let done = sqlx::query(
            "INSERT INTO stripe_events \
             (event_id, event_type, payload, input, received_at_us, applied_at_us) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(&event.id)
        .bind(&event.kind)
        .bind(payload)
        .bind(input)
        .bind(now_us)
        .bind(applied)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// How many stored events wait for the world.
    pub async fn waiting_count(&self) -> Result<i64, sqlx::Error> {
        let (n,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM stripe_events WHERE applied_at_us IS NULL")
                .fetch_one(&self.pool)
                .await?;
        Ok(n)
    }
}

#[async_trait]
impl PaymentInbox for SqlInbox {
    async fn waiting(&self, limit: usize) -> Result<Vec<Payment>, InboxError> {
        let rows: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT event_id, input FROM stripe_events WHERE applied_at_us IS NULL \
             ORDER BY received_at_us, event_id LIMIT $1",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for (id, input) in rows {
            match input.as_deref().map(serde_json::from_str::<Payment>) {
                Some(Ok(p)) if p.id == id => out.push(p),
                _ => tracing::error!(event_id = %id, "a stored Stripe event has no readable input"),
            }
        }
        Ok(out)
    }

    async fn mark_applied(&self, ids: &[String], at_us: i64) -> Result<(), InboxError> {
        let mut tx = self.pool.begin().await?;
        for id in ids {
            sqlx::query(
                "UPDATE stripe_events SET applied_at_us = $1 \
                 WHERE event_id = $2 AND applied_at_us IS NULL",
            )
            .bind(at_us)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
