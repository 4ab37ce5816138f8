//! Reading the whole log: events in position order and the journal in tick order.

use crate::Result;
use loh_events::{EventStore, JournalEntry, StoredEvent};

/// Events read per batch.
pub const BATCH: usize = 5_000;

/// A forward cursor over the events of a store, batch by batch.
pub struct EventCursor<'a> {
    store: &'a dyn EventStore,
    next: u64,
    buf: std::collections::VecDeque<StoredEvent>,
    done: bool,
}

impl<'a> EventCursor<'a> {
    pub fn new(store: &'a dyn EventStore, from: u64) -> EventCursor<'a> {
        EventCursor {
            store,
            next: from.max(1),
            buf: Default::default(),
            done: false,
        }
    }

    async fn fill(&mut self) -> Result<()> {
        if self.buf.is_empty() && !self.done {
            let batch = self.store.read_from(self.next, BATCH).await?;
            match batch.last() {
                Some(last) => self.next = last.position + 1,
                None => self.done = true,
            }
            self.buf.extend(batch);
        }
        Ok(())
    }

    /// The next event, if any.
    pub async fn next(&mut self) -> Result<Option<StoredEvent>> {
        self.fill().await?;
        Ok(self.buf.pop_front())
    }

    /// The next event without taking it.
    pub async fn peek(&mut self) -> Result<Option<&StoredEvent>> {
        self.fill().await?;
        Ok(self.buf.front())
    }
}

/// Every journal entry with `from_tick <= tick <= to_tick`, ordered by tick then insertion.
pub async fn journal(
    store: &dyn EventStore,
    from_tick: u64,
    to_tick: Option<u64>,
) -> Result<Vec<JournalEntry>> {
    let mut out: Vec<JournalEntry> = Vec::new();
    let (mut tick, mut skip, mut limit) = (from_tick, 0usize, BATCH);
    loop {
        let batch = store.read_journal(tick, limit).await?;
        let full = batch.len() == limit;
        let fresh: Vec<JournalEntry> = batch.into_iter().skip(skip).collect();
        let Some(last) = fresh.last() else {
            if full {
                // One tick holds more than `limit` entries: read it whole.
                limit *= 2;
                continue;
            }
            break;
        };
        let last_tick = last.tick;
        let at_last = fresh.iter().filter(|e| e.tick == last_tick).count();
        skip = if last_tick == tick {
            skip + at_last
        } else {
            at_last
        };
        tick = last_tick;
        let past_end = to_tick.is_some_and(|t| last_tick > t);
        out.extend(
            fresh
                .into_iter()
                .filter(|e| to_tick.is_none_or(|t| e.tick <= t)),
        );
        if !full || past_end {
            break;
        }
    }
    Ok(out)
}
