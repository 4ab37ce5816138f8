//! Players' display names, for read endpoints that show people rather than ids.
//!
//! Not a read model: the names are the accounts' (table `accounts`, migration
//! `0002_accounts.sql`, written by the gateway at registration and never changed), read here so
//! that the query API keeps never naming a table. A display name is public: it is what the
//! player typed at registration, shown to everyone who sees them.

use crate::Result;
use crate::db::ReadDb;
use sqlx::Row;
use std::collections::HashMap;
use uuid::Uuid;

/// The most ids one lookup binds (the query API asks for a page at a time).
pub const MAX_IDS: usize = 500;

/// The most ids one `IN (…)` list binds ([`loh_events::store::lookup_chunks`]).
const LOOKUP_CHUNK: usize = 128;

/// The display names of those of `ids` that have an account (at most [`MAX_IDS`] are looked up).
pub async fn display_names(db: &ReadDb, ids: &[Uuid]) -> Result<HashMap<Uuid, String>> {
    let ids = &ids[..ids.len().min(MAX_IDS)];
    let mut out = HashMap::with_capacity(ids.len());
    // Lists of a few lengths only: each length is another statement every connection keeps.
    for chunk in loh_events::store::lookup_chunks(ids, LOOKUP_CHUNK) {
        let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT player_id, display_name FROM accounts WHERE player_id IN ({})",
            placeholders.join(", ")
        );
        // Only numbered placeholders are formatted in; the ids are bound.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in &chunk {
            query = query.bind(id.to_string());
        }
        for r in query.fetch_all(db.pool()).await? {
            let id: String = r.try_get("player_id")?;
            let name: String = r.try_get("display_name")?;
            if let Ok(id) = Uuid::parse_str(&id) {
                out.insert(id, name);
            }
        }
    }
    Ok(out)
}
