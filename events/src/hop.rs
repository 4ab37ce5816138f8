//! World hops (ARCHITECTURE.md, invariant 11): what travels with a character from one world's
//! log to another's, and the hand-off record the store keeps between them.
//!
//! A hop is recorded twice: `CharacterDeparted` in the source world's log (the character leaves
//! it; everything it held is burned with sink `hop`) and `CharacterArrived` in the destination's
//! (the same [`CharacterState`] and [`CharacterState::hash`]; everything is minted again with
//! source `hop`). Between the two, the store's `hops` outbox (migration 0011) holds the state:
//! written in the departure tick's transaction, marked arrived in the arrival tick's.

use crate::{AttackStyle, Hash, ItemQty, Tier};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The sink of a departure's burns and the source of an arrival's mints.
pub const HOP: &str = "hop";

/// A character's position-independent state: what it carries from one world to another.
/// Field order and shape are part of the stored events (and of the hash): never reorder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CharacterState {
    /// The character's stream version after its departure: the arrival continues from it, so
    /// a character's stream versions only grow across worlds.
    pub version: u64,
    /// XP per skill, in [`crate::Skill::ALL`] order.
    pub xp: Vec<u32>,
    pub hitpoints: u32,
    pub prayer_points: u32,
    /// The 28 inventory slots, in order.
    pub inventory: Vec<Option<ItemQty>>,
    /// The bank, by item.
    pub bank: Vec<ItemQty>,
    /// The 11 equipment slots, in [`crate::EquipSlot::ALL`] order.
    pub equipment: Vec<Option<String>>,
    pub members: bool,
    pub tier: Tier,
    pub paid_through: i64,
    pub style: AttackStyle,
    pub friends: Vec<Uuid>,
    pub ignores: Vec<Uuid>,
}

impl CharacterState {
    /// SHA-256 of the state's canonical bytes (its JSON, fields in declaration order).
    pub fn hash(&self) -> Hash {
        let bytes = serde_json::to_vec(self).expect("a character state always encodes");
        Sha256::digest(&bytes).into()
    }

    /// [`CharacterState::hash`] in lower-case hex, as the events carry it.
    pub fn hash_hex(&self) -> String {
        hex::encode(self.hash())
    }

    /// Every item the character holds (inventory, bank, worn), as `(item, qty)`, in that order.
    pub fn items(&self) -> impl Iterator<Item = (&str, u32)> {
        let inventory = self
            .inventory
            .iter()
            .flatten()
            .map(|s| (s.item.as_str(), s.qty));
        let bank = self.bank.iter().map(|s| (s.item.as_str(), s.qty));
        let worn = self.equipment.iter().flatten().map(|i| (i.as_str(), 1));
        inventory.chain(bank).chain(worn)
    }
}

/// A hop as the store's outbox holds it: written with the departure, taken by the destination
/// world's writer as an arrival.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hop {
    pub hop: Uuid,
    pub player_id: Uuid,
    pub from: String,
    pub to: String,
    pub state: CharacterState,
    /// [`CharacterState::hash_hex`] as the departure recorded it.
    pub state_hash: String,
    /// The departure's position in the source world's log.
    pub departed_position: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> CharacterState {
        CharacterState {
            version: 9,
            xp: vec![0; 11],
            hitpoints: 10,
            prayer_points: 1,
            inventory: vec![
                Some(ItemQty {
                    item: "coins".into(),
                    qty: 25,
                }),
                None,
            ],
            bank: vec![ItemQty {
                item: "logs".into(),
                qty: 3,
            }],
            equipment: vec![Some("bronze_sword".into()), None],
            members: false,
            tier: Tier::Free,
            paid_through: 0,
            style: AttackStyle::Accurate,
            friends: vec![],
            ignores: vec![],
        }
    }

    #[test]
    fn the_hash_changes_with_any_item_and_lists_everything_held() {
        let a = state();
        let mut b = state();
        b.bank[0].qty = 4;
        assert_ne!(a.hash(), b.hash());
        assert_eq!(a.hash(), state().hash());
        let items: Vec<_> = a.items().collect();
        assert_eq!(
            items,
            [("coins", 25), ("logs", 3), ("bronze_sword", 1)],
            "inventory, bank, worn"
        );
    }
}

/// The outbox's writes inside a tick's append transaction, and its reads (PostgreSQL).
#[cfg(feature = "store")]
pub(crate) mod pg {
    use super::Hop;
    use crate::pg::{limit_i64, map_db_error, to_i64, to_u64};
    use crate::{Error, EventBody, NewEvent, Result, StoredEvent};
    use sqlx::PgConnection;
    use uuid::Uuid;

    /// For each departure among `events` (sealed from `batch`): its hop is written and the
    /// character's home moves to the destination (refused when it lives in another world than
    /// this one); for each arrival: its hop, in flight to this world with the same state hash, is
    /// marked arrived (refused otherwise). In the caller's transaction.
    pub(crate) async fn record(
        conn: &mut PgConnection,
        shard: &str,
        batch: &[NewEvent],
        events: &[StoredEvent],
    ) -> Result<()> {
        for (new, stored) in batch.iter().zip(events) {
            match &new.body {
                EventBody::CharacterDeparted {
                    player_id,
                    hop,
                    to,
                    state,
                    state_hash,
                } => {
                    let bytes = serde_json::to_vec(state).map_err(Error::codec)?;
                    sqlx::query(
                        "INSERT INTO hops (hop_id, player_id, from_shard, to_shard, state, \
                         state_hash, departed_position, departed_at_us) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(hop)
                    .bind(player_id)
                    .bind(shard)
                    .bind(to)
                    .bind(bytes)
                    .bind(state_hash)
                    .bind(to_i64(stored.position, "position")?)
                    .bind(new.occurred_at_us)
                    .execute(&mut *conn)
                    .await
                    .map_err(map_db_error)?;
                    let moved: Option<(String,)> = sqlx::query_as(
                        "INSERT INTO characters (player_id, shard, since_us) VALUES ($1, $2, $3) \
                         ON CONFLICT (player_id) DO UPDATE \
                         SET shard = excluded.shard, since_us = excluded.since_us \
                         WHERE characters.shard = $4 RETURNING shard",
                    )
                    .bind(player_id.to_string())
                    .bind(to)
                    .bind(new.occurred_at_us)
                    .bind(shard)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(map_db_error)?;
                    if moved.is_none() {
                        return Err(Error::Conflict(format!(
                            "hop {hop}: character {player_id} does not live in {shard}"
                        )));
                    }
                }
                EventBody::CharacterArrived {
                    hop, state_hash, ..
                } => {
                    let done = sqlx::query(
                        "UPDATE hops SET arrived_position = $1, arrived_at_us = $2 \
                         WHERE hop_id = $3 AND to_shard = $4 AND state_hash = $5 \
                           AND arrived_position IS NULL",
                    )
                    .bind(to_i64(stored.position, "position")?)
                    .bind(new.occurred_at_us)
                    .bind(hop)
                    .bind(shard)
                    .bind(state_hash)
                    .execute(&mut *conn)
                    .await
                    .map_err(map_db_error)?;
                    if done.rows_affected() != 1 {
                        return Err(Error::Conflict(format!(
                            "hop {hop} is not in flight to {shard} with that state"
                        )));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// A `hops` row as read: hop, player, from, to, state, state hash, departed position.
    pub(super) type Row = (Uuid, Uuid, String, String, Vec<u8>, String, i64);

    /// Up to `limit` hops in flight to `shard`, in the order their departures committed.
    pub(crate) async fn arriving(
        pool: &sqlx::PgPool,
        shard: &str,
        limit: usize,
    ) -> Result<Vec<Hop>> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT hop_id, player_id, from_shard, to_shard, state, state_hash, \
             departed_position FROM hops WHERE to_shard = $1 AND arrived_position IS NULL \
             ORDER BY id LIMIT $2",
        )
        .bind(shard)
        .bind(limit_i64(limit))
        .fetch_all(pool)
        .await?;
        rows.into_iter().map(hop_from_row).collect()
    }

    pub(super) fn hop_from_row(
        (hop, player_id, from, to, state, state_hash, departed): Row,
    ) -> Result<Hop> {
        Ok(Hop {
            hop,
            player_id,
            from,
            to,
            state: serde_json::from_slice(&state).map_err(Error::codec)?,
            state_hash,
            departed_position: to_u64(departed, "departed_position")?,
        })
    }
}

/// The same for the embedded SQLite store.
#[cfg(feature = "store")]
pub(crate) mod sqlite {
    use super::Hop;
    use crate::pg::{limit_i64, to_i64};
    use crate::{Error, EventBody, NewEvent, Result, StoredEvent};
    use sqlx::SqliteConnection;

    /// As [`super::pg::record`].
    pub(crate) async fn record(
        conn: &mut SqliteConnection,
        shard: &str,
        batch: &[NewEvent],
        events: &[StoredEvent],
        map_db_error: fn(sqlx::Error) -> Error,
    ) -> Result<()> {
        for (new, stored) in batch.iter().zip(events) {
            match &new.body {
                EventBody::CharacterDeparted {
                    player_id,
                    hop,
                    to,
                    state,
                    state_hash,
                } => {
                    let bytes = serde_json::to_vec(state).map_err(Error::codec)?;
                    sqlx::query(
                        "INSERT INTO hops (hop_id, player_id, from_shard, to_shard, state, \
                         state_hash, departed_position, departed_at_us) \
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    )
                    .bind(hop)
                    .bind(player_id)
                    .bind(shard)
                    .bind(to)
                    .bind(bytes)
                    .bind(state_hash)
                    .bind(to_i64(stored.position, "position")?)
                    .bind(new.occurred_at_us)
                    .execute(&mut *conn)
                    .await
                    .map_err(map_db_error)?;
                    let moved: Option<(String,)> = sqlx::query_as(
                        "INSERT INTO characters (player_id, shard, since_us) VALUES (?, ?, ?) \
                         ON CONFLICT (player_id) DO UPDATE \
                         SET shard = excluded.shard, since_us = excluded.since_us \
                         WHERE characters.shard = ? RETURNING shard",
                    )
                    .bind(player_id.to_string())
                    .bind(to)
                    .bind(new.occurred_at_us)
                    .bind(shard)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(map_db_error)?;
                    if moved.is_none() {
                        return Err(Error::Conflict(format!(
                            "hop {hop}: character {player_id} does not live in {shard}"
                        )));
                    }
                }
                EventBody::CharacterArrived {
                    hop, state_hash, ..
                } => {
                    let done = sqlx::query(
                        "UPDATE hops SET arrived_position = ?, arrived_at_us = ? \
                         WHERE hop_id = ? AND to_shard = ? AND state_hash = ? \
                           AND arrived_position IS NULL",
                    )
                    .bind(to_i64(stored.position, "position")?)
                    .bind(new.occurred_at_us)
                    .bind(hop)
                    .bind(shard)
                    .bind(state_hash)
                    .execute(&mut *conn)
                    .await
                    .map_err(map_db_error)?;
                    if done.rows_affected() != 1 {
                        return Err(Error::Conflict(format!(
                            "hop {hop} is not in flight to {shard} with that state"
                        )));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// As [`super::pg::arriving`].
    pub(crate) async fn arriving(
        pool: &sqlx::SqlitePool,
        shard: &str,
        limit: usize,
    ) -> Result<Vec<Hop>> {
        let rows: Vec<super::pg::Row> = sqlx::query_as(
            "SELECT hop_id, player_id, from_shard, to_shard, state, state_hash, \
             departed_position FROM hops WHERE to_shard = ? AND arrived_position IS NULL \
             ORDER BY id LIMIT ?",
        )
        .bind(shard)
        .bind(limit_i64(limit))
        .fetch_all(pool)
        .await?;
        rows.into_iter().map(super::pg::hop_from_row).collect()
    }
}
