//! Live game connections by session, so that logout and refresh-token re-use close them at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Live game connections by session, so that logout and refresh-token re-use close them at once
/// on this instance (other instances notice at their next lock renewal).
#[derive(Clone, Debug, Default)]
pub struct Kicks {
    by_sid: Arc<Mutex<HashMap<String, Vec<CancellationToken>>>>,
    /// Each player's live connections here, with the owner of the lock each took.
    by_player: Arc<Mutex<HashMap<Uuid, Vec<Owned>>>>,
}

/// A connection's lock owner and its token.
type Owned = (String, CancellationToken);

impl Kicks {
    /// Registers a connection of session `sid`; cancelled when the session ends.
    pub fn register(&self, sid: &str) -> CancellationToken {
        let token = CancellationToken::new();
        let mut map = self.by_sid.lock().expect("kicks lock");
        let list = map.entry(sid.to_owned()).or_default();
        list.retain(|t| !t.is_cancelled());
        list.push(token.clone());
        token
    }

    /// Registers the connection of `player` holding the single-session lock as `owner`, with
    /// its `token` from [`Kicks::register`].
    pub fn register_owner(&self, player: Uuid, owner: &str, token: &CancellationToken) {
        let mut map = self.by_player.lock().expect("kicks lock");
        let list = map.entry(player).or_default();
        list.retain(|(_, t)| !t.is_cancelled());
        list.push((owner.to_owned(), token.clone()));
    }

    /// Closes `player`'s connections here other than `owner`'s: another connection, on this
    /// instance or any other of any world, took the player's lock.
    pub fn taken_over(&self, player: Uuid, owner: &str) {
        let mut map = self.by_player.lock().expect("kicks lock");
        if let Some(list) = map.get_mut(&player) {
            list.retain(|(held, token)| {
                if held != owner {
                    token.cancel();
                }
                !token.is_cancelled()
            });
            if list.is_empty() {
                map.remove(&player);
            }
        }
    }

    /// Forgets a closed connection.
    pub fn unregister(&self, sid: &str, token: &CancellationToken) {
        token.cancel();
        self.by_player
            .lock()
            .expect("kicks lock")
            .retain(|_, list| {
                list.retain(|(_, t)| !t.is_cancelled());
                !list.is_empty()
            });
        let mut map = self.by_sid.lock().expect("kicks lock");
        if let Some(list) = map.get_mut(sid) {
            list.retain(|t| !t.is_cancelled());
            if list.is_empty() {
                map.remove(sid);
            }
        }
    }

    /// Closes every connection of session `sid`.
    pub fn kick(&self, sid: &str) {
        let list = self.by_sid.lock().expect("kicks lock").remove(sid);
        for token in list.into_iter().flatten() {
            token.cancel();
        }
    }
}
