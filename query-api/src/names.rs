//! Players' display names for the public endpoints (leaderboards, profiles), cached in this
//! process: a name is set at registration and never changes, so a known one is never looked up
//! again. Ids without an account (an imported log, a test history) are looked up each time and
//! shown as `null`.

use crate::error::ApiError;
use loh_projections::ReadDb;
use std::collections::HashMap;
use std::sync::Mutex;
use uuid::Uuid;

/// Names kept before the cache is emptied and refilled (each entry is some 60 bytes).
const MAX_CACHED: usize = 200_000;

/// The cache of display names by player id.
#[derive(Debug, Default)]
pub struct NameCache {
    known: Mutex<HashMap<Uuid, String>>,
}

impl NameCache {
    /// The names of those of `ids` that have an account.
    pub async fn resolve(
        &self,
        db: &ReadDb,
        ids: &[Uuid],
    ) -> Result<HashMap<Uuid, String>, ApiError> {
        let mut out = HashMap::with_capacity(ids.len());
        let mut missing = Vec::new();
        {
            let known = self.known.lock().expect("the name cache");
            for id in ids {
                match known.get(id) {
                    Some(name) => {
                        out.insert(*id, name.clone());
                    }
                    None => missing.push(*id),
                }
            }
        }
        for chunk in missing.chunks(loh_projections::player_names::MAX_IDS) {
            let found = loh_projections::player_names::display_names(db, chunk).await?;
            let mut known = self.known.lock().expect("the name cache");
            if known.len() + found.len() > MAX_CACHED {
                known.clear();
            }
            for (id, name) in found {
                known.insert(id, name.clone());
                out.insert(id, name);
            }
        }
        Ok(out)
    }

    /// The name of one player, if they have an account.
    pub async fn one(&self, db: &ReadDb, id: Uuid) -> Result<Option<String>, ApiError> {
        Ok(self.resolve(db, &[id]).await?.remove(&id))
    }
}
