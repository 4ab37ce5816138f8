//! The canonical bytes and the hash cover every field of the envelope.

use crate::fixtures::moved;
use loh_events::{GENESIS_HASH, StoredEvent};
use uuid::Uuid;

fn sealed() -> StoredEvent {
    let mut event = moved(Uuid::new_v4(), 2, 9);
    event.causation_id = Some(Uuid::new_v4());
    StoredEvent::seal("world-1", 5, GENESIS_HASH, &event).expect("seal")
}

type Change = (&'static str, fn(&mut StoredEvent));

const CHANGES: &[Change] = &[
    ("position", |e| e.position += 1),
    ("shard", |e| e.shard.push('x')),
    ("stream_id", |e| e.stream_id.push('x')),
    ("stream_version", |e| e.stream_version += 1),
    ("tick", |e| e.tick += 1),
    ("schema_version", |e| e.schema_version += 1),
    ("event_id", |e| e.event_id = Uuid::new_v4()),
    ("correlation_id", |e| e.correlation_id = Uuid::new_v4()),
    ("causation_id to another", |e| {
        e.causation_id = Some(Uuid::new_v4())
    }),
    ("causation_id to none", |e| e.causation_id = None),
    ("occurred_at_us", |e| e.occurred_at_us += 1),
    ("kind", |e| e.kind.push('x')),
    ("payload, one byte", |e| e.payload[3] ^= 1),
    ("payload, one more byte", |e| e.payload.push(b' ')),
    ("bytes moved from shard to stream_id", |e| {
        let c = e.shard.pop().expect("non-empty shard");
        e.stream_id.insert(0, c);
    }),
];

#[test]
fn canonical_bytes_and_hash_change_when_any_field_changes() {
    let original = sealed();
    assert_eq!(original.compute_hash(), original.hash);
    for (field, change) in CHANGES {
        let mut changed = original.clone();
        change(&mut changed);
        assert_ne!(
            changed.canonical_bytes(),
            original.canonical_bytes(),
            "canonical bytes ignore a change of {field}"
        );
        assert_ne!(
            changed.compute_hash(),
            original.hash,
            "hash ignores a change of {field}"
        );
    }
}

#[test]
fn the_hash_covers_the_previous_hash() {
    let original = sealed();
    let mut relinked = original.clone();
    relinked.prev_hash[31] ^= 1;
    assert_eq!(relinked.canonical_bytes(), original.canonical_bytes());
    assert_ne!(relinked.compute_hash(), original.hash);
}
