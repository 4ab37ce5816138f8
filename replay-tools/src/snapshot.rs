//! Starting from a snapshot (`--from-snapshot` of `state` and `resimulate`): the newest snapshot
//! that matches the log (its hash at its position, its bytes' hash), is signed by the server's
//! key over exactly those, restores onto the shard's fresh world and lies within the asked
//! moment. Every newer one refused is reported with why; with none left, the caller folds from
//! position 1.

use crate::{Error, Result};
use loh_auth::{SnapshotClaims, check_snapshot};
use loh_events::{EventStore, Hash, Snapshot, StoredEvent, newest_snapshot};
use loh_world::World;

/// A world restored from a snapshot.
#[derive(Debug, Clone)]
pub struct Start {
    pub world: World,
    /// The last event folded into it, and its hash.
    pub position: u64,
    pub hash: Hash,
    /// The tick of the event at `position`, and the tick the state is at (the writer's tick
    /// when it saved it: at or after the event's).
    pub event_tick: u64,
    pub tick: u64,
}

/// The newest usable snapshot of `store` restored onto `fresh`, with the snapshots refused on
/// the way (position, why). `within` says whether the snapshot's event (the last one folded
/// into it) lies within the moment asked for. `public_pem`: the server's public key (SPKI PEM).
pub async fn newest(
    store: &dyn EventStore,
    fresh: &World,
    public_pem: &str,
    within: impl Fn(&StoredEvent) -> bool,
) -> Result<(Option<Start>, Vec<(u64, String)>)> {
    let public = loh_auth::checkpoint::public_key(public_pem).map_err(Error::Input)?;
    let shard = store.shard().to_owned();
    let accept = |s: &Snapshot, event: &StoredEvent| -> Result<Start, String> {
        if !within(event) {
            return Err("it lies after the moment asked for".into());
        }
        let claims = SnapshotClaims::new(&shard, s.position, &s.hash, s.tick, &s.state_hash);
        check_snapshot(&s.signature, &claims, &public)
            .map_err(|e| format!("bad signature: {e}"))?;
        let world = fresh.restored(&s.state).map_err(|e| e.to_string())?;
        if world.tick() != s.tick {
            return Err(format!(
                "its state is at tick {}, its row says {}",
                world.tick(),
                s.tick
            ));
        }
        Ok(Start {
            world,
            position: s.position,
            hash: s.hash,
            event_tick: event.tick,
            tick: s.tick,
        })
    };
    let (found, refused) = newest_snapshot(store, accept).await?;
    Ok((found.map(|f| f.value), refused))
}
