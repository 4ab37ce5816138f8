//! Live game connections by session, so that logout and refresh-token re-use close them at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// Live game connections by session, so that logout and refresh-token re-use close them at once
/// on this instance (other instances notice at their next lock renewal).
#[derive(Clone, Debug, Default)]
pub struct Kicks {
    by_sid: Arc<Mutex<HashMap<String, Vec<CancellationToken>>>>,
}

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

    /// Forgets a closed connection.
    pub fn unregister(&self, sid: &str, token: &CancellationToken) {
        token.cancel();
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
