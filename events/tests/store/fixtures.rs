//! Builders of events, batches and journal entries.

use loh_events::{AppendBatch, EventBody, JournalEntry, NewEvent, Outcome, player_stream};
use uuid::Uuid;

/// A player's move as the `version`-th event of its stream, decided at `tick`.
pub fn moved(player_id: Uuid, version: u64, tick: u64) -> NewEvent {
    NewEvent {
        event_id: Uuid::new_v4(),
        stream_id: player_stream(player_id),
        stream_version: version,
        tick,
        correlation_id: Uuid::new_v4(),
        causation_id: version.is_multiple_of(2).then(Uuid::new_v4),
        occurred_at_us: 1_700_000_000_000_000 + tick as i64 * 400_000,
        body: EventBody::PlayerMoved {
            player_id,
            from_x: version as i32,
            from_y: 7,
            x: version as i32 + 1,
            y: 7,
            running: version.is_multiple_of(3),
            path_to: None,
        },
    }
}

/// Versions `first..first + n` of one player's stream, all at `tick`.
pub fn moves(player_id: Uuid, first: u64, n: u64, tick: u64) -> Vec<NewEvent> {
    (first..first + n)
        .map(|v| moved(player_id, v, tick))
        .collect()
}

/// A batch of events and no journal.
pub fn batch(events: Vec<NewEvent>) -> AppendBatch {
    AppendBatch {
        events,
        journal: Vec::new(),
    }
}

/// A journal entry of `player_id`'s command number `seq`.
pub fn command(player_id: Uuid, seq: u64, tick: u64, outcome: Outcome) -> JournalEntry {
    JournalEntry {
        command_id: Uuid::new_v4(),
        tick,
        player_id,
        seq,
        command: vec![0x92, seq as u8, 0xc3],
        outcome,
        received_at_us: 1_700_000_000_000_000 + tick as i64 * 400_000 + seq as i64,
    }
}

pub fn rejected(code: &str) -> Outcome {
    Outcome::Rejected {
        code: code.to_owned(),
        message: format!("{code}: not now"),
    }
}
