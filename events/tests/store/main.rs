//! Behaviour of the event store, written once and run against both backends: PostgreSQL (a
//! fresh database per test, `LOH_TEST_PG`) and the embedded SQLite store (a temporary file).
//!
//! Each generic test below runs as `postgres::<name>` and `sqlite::<name>`.

mod backends;
mod canonical;
mod fixtures;

use backends::{Backend, SHARD};
use fixtures::{batch, command, moved, moves, rejected};
use loh_events::{
    AppendBatch, ChainBreak, ChainVerifier, Error, EventBody, EventStore, GENESIS_HASH, Outcome,
    Snapshot, StoredEvent, player_stream,
};
use std::collections::HashSet;
use std::time::Duration;
use uuid::Uuid;

/// Runs each listed generic test against both backends.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name::<crate::backends::Pg>().await
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name::<crate::backends::Sqlite>().await
                }
            )*
        }
    };
}

on_both_backends!(
    a_reader_following_positions_sees_every_concurrent_append_once_in_order,
    a_fenced_out_writer_cannot_append,
    the_database_refuses_an_insert_with_a_stale_epoch_or_a_gap,
    the_database_refuses_updates_and_deletes_of_the_log,
    appending_the_same_batch_twice_stores_it_once,
    a_batch_with_only_some_event_ids_stored_is_a_conflict,
    a_batch_whose_event_ids_are_stored_with_other_events_is_a_conflict,
    a_taken_stream_version_is_a_conflict_and_leaves_no_gap,
    the_hash_chain_verifies_and_pinpoints_a_tampered_payload,
    read_stream_returns_a_streams_events_in_version_order,
    the_journal_round_trips_and_reports_each_players_last_seq,
    an_empty_batch_writes_nothing_and_returns_the_head,
    snapshots_round_trip_newest_first_are_never_updated_and_prune_to_the_newest,
    a_world_announces_itself_and_the_latest_announcement_stands,
);

async fn read_all(store: &impl EventStore) -> Vec<StoredEvent> {
    store.read_from(1, usize::MAX).await.expect("read")
}

async fn a_reader_following_positions_sees_every_concurrent_append_once_in_order<B: Backend>() {
    const WRITERS: usize = 8;
    const APPENDS: u64 = 50;
    let backend = B::new().await;
    let lease = backend.store().acquire().await.expect("lease");
    // Batches of 1, 2 or 3 events.
    let per_writer: u64 = (0..APPENDS).map(|i| i % 3 + 1).sum();
    let total = per_writer * WRITERS as u64;

    let reader = {
        let store = backend.store();
        tokio::spawn(async move {
            let mut seen = Vec::with_capacity(total as usize);
            let mut verifier = ChainVerifier::new();
            while (seen.len() as u64) < total {
                let next = seen.len() as u64 + 1;
                let page = store.read_from(next, 64).await.expect("read");
                for (i, event) in page.iter().enumerate() {
                    assert_eq!(
                        event.position,
                        next + i as u64,
                        "the reader skipped or repeated"
                    );
                    verifier.check(event).expect("chain");
                    seen.push(event.event_id);
                }
                if page.is_empty() {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            seen
        })
    };

    let writers: Vec<_> = (0..WRITERS)
        .map(|_| {
            // Postgres: every COMMIT is held back a random few ms, so commits land late and in
            // an order unrelated to when each writer started.
            let store = backend.late_committing_store();
            tokio::spawn(async move {
                let player = Uuid::new_v4();
                let mut version = 1;
                let mut written = Vec::new();
                for i in 0..APPENDS {
                    let n = i % 3 + 1;
                    let appended = store
                        .append(lease, batch(moves(player, version, n, i)))
                        .await
                        .expect("append");
                    version += n;
                    let positions: Vec<u64> = appended.events.iter().map(|e| e.position).collect();
                    let first = positions[0];
                    assert_eq!(positions, (first..first + n).collect::<Vec<_>>());
                    written.extend(appended.events.iter().map(|e| e.event_id));
                }
                written
            })
        })
        .collect();

    let mut written = HashSet::new();
    for writer in writers {
        written.extend(writer.await.expect("writer"));
    }
    let seen = tokio::time::timeout(Duration::from_secs(120), reader)
        .await
        .expect("reader caught up")
        .expect("reader");
    assert_eq!(seen.len() as u64, total);
    assert_eq!(seen.iter().copied().collect::<HashSet<_>>(), written);
    let head = backend.store().head().await.expect("head");
    assert_eq!(head.position, total);
}

async fn a_fenced_out_writer_cannot_append<B: Backend>() {
    let backend = B::new().await;
    let player = Uuid::new_v4();
    let zombie = backend.store();
    let old = zombie.acquire().await.expect("lease");
    zombie
        .append(old, batch(moves(player, 1, 2, 1)))
        .await
        .expect("append under the first lease");

    let successor = backend.second_writer().await;
    let new = successor.acquire().await.expect("lease");
    assert!(new.epoch > old.epoch);

    let refused = zombie.append(old, batch(moves(player, 3, 1, 2))).await;
    assert!(matches!(refused, Err(Error::Fenced)), "{refused:?}");
    let refused = zombie
        .append(
            old,
            AppendBatch {
                events: Vec::new(),
                journal: vec![command(player, 1, 2, Outcome::Accepted)],
            },
        )
        .await;
    assert!(matches!(refused, Err(Error::Fenced)), "{refused:?}");
    assert!(
        zombie
            .read_journal(0, 10)
            .await
            .expect("journal")
            .is_empty()
    );

    let appended = successor
        .append(new, batch(moves(player, 3, 1, 2)))
        .await
        .expect("append under the new lease");
    assert_eq!(appended.events[0].position, 3);
    assert_eq!(read_all(&successor).await.len(), 3);
}

async fn the_database_refuses_an_insert_with_a_stale_epoch_or_a_gap<B: Backend>() {
    let backend = B::new().await;
    let store = backend.store();
    let old = store.acquire().await.expect("lease");
    let head = store
        .append(old, batch(moves(Uuid::new_v4(), 1, 2, 1)))
        .await
        .expect("append")
        .head;
    let new = backend
        .second_writer()
        .await
        .acquire()
        .await
        .expect("lease");

    // A correctly sealed next event, written by SQL that skips every check of the store.
    let next = StoredEvent::seal(
        SHARD,
        head.position + 1,
        head.hash,
        &moved(Uuid::new_v4(), 1, 2),
    )
    .expect("seal");
    let stale = backend.raw_insert(&next, old.epoch).await;
    assert!(
        stale.as_ref().is_err_and(|e| e.contains("fenced")),
        "{stale:?}"
    );

    let gap = StoredEvent::seal(
        SHARD,
        head.position + 2,
        head.hash,
        &moved(Uuid::new_v4(), 1, 2),
    )
    .expect("seal");
    let refused = backend.raw_insert(&gap, new.epoch).await;
    assert!(refused.is_err(), "an insert past head + 1 was accepted");

    let unlinked = StoredEvent::seal(
        SHARD,
        head.position + 1,
        GENESIS_HASH,
        &moved(Uuid::new_v4(), 1, 2),
    )
    .expect("seal");
    let refused = backend.raw_insert(&unlinked, new.epoch).await;
    assert!(
        refused.is_err(),
        "an insert not linked to the head was accepted"
    );

    // The same event under the current epoch is accepted, and the database advanced the head.
    backend
        .raw_insert(&next, new.epoch)
        .await
        .expect("insert under the current epoch");
    let head = store.head().await.expect("head");
    assert_eq!((head.position, head.hash), (next.position, next.hash));
}

async fn the_database_refuses_updates_and_deletes_of_the_log<B: Backend>() {
    let backend = B::new().await;
    let store = backend.store();
    let lease = store.acquire().await.expect("lease");
    let player = Uuid::new_v4();
    store
        .append(
            lease,
            AppendBatch {
                events: moves(player, 1, 3, 1),
                journal: vec![command(player, 1, 1, Outcome::Accepted)],
            },
        )
        .await
        .expect("append");
    let before = read_all(&store).await;

    let (journal, column) = B::JOURNAL;
    let mut statements: Vec<String> = vec![
        "UPDATE events SET kind = 'PlayerSaid'".into(),
        "UPDATE events SET payload = payload WHERE position = 2".into(),
        "DELETE FROM events WHERE position = 3".into(),
        "DELETE FROM events".into(),
        format!("UPDATE {journal} SET {column} = {column} + 1"),
        format!("DELETE FROM {journal}"),
    ];
    if B::HAS_TRUNCATE {
        statements.extend(["TRUNCATE events".into(), format!("TRUNCATE {journal}")]);
    }
    for sql in statements {
        let result = backend.raw(&sql).await;
        assert!(
            result.as_ref().is_err_and(|e| e.contains("append-only")),
            "{sql}: {result:?}"
        );
    }
    assert_eq!(read_all(&store).await, before);
    assert_eq!(store.read_journal(0, 10).await.expect("journal").len(), 1);
}

async fn appending_the_same_batch_twice_stores_it_once<B: Backend>() {
    let backend = B::new().await;
    let store = backend.store();
    let lease = store.acquire().await.expect("lease");
    let player = Uuid::new_v4();
    let tick = AppendBatch {
        events: moves(player, 1, 4, 1),
        journal: vec![command(player, 1, 1, Outcome::Accepted)],
    };
    let first = store.append(lease, tick.clone()).await.expect("append");
    assert!(!first.already_stored);
    let again = store.append(lease, tick).await.expect("retry");
    assert!(again.already_stored);
    assert_eq!(again.events, first.events);
    assert_eq!(again.head, first.head);
    assert_eq!(store.head().await.expect("head"), first.head);
    assert_eq!(read_all(&store).await, first.events);
    assert_eq!(store.read_journal(0, 10).await.expect("journal").len(), 1);
}

async fn a_batch_with_only_some_event_ids_stored_is_a_conflict<B: Backend>() {
    let backend = B::new().await;
    let store = backend.store();
    let lease = store.acquire().await.expect("lease");
    let player = Uuid::new_v4();
    let events = moves(player, 1, 3, 1);
    let head = store
        .append(lease, batch(events.clone()))
        .await
        .expect("append")
        .head;

    for overlapping in [
        // Starts with a stored event, then a new one.
        vec![events[0].clone(), moved(player, 4, 2)],
        // Starts with a new event, then a stored one.
        vec![moved(player, 4, 2), events[2].clone()],
    ] {
        let result = store.append(lease, batch(overlapping)).await;
        assert!(matches!(result, Err(Error::Conflict(_))), "{result:?}");
    }
    assert_eq!(store.head().await.expect("head"), head);
}

async fn a_batch_whose_event_ids_are_stored_with_other_events_is_a_conflict<B: Backend>() {
    let backend = B::new().await;
    let store = backend.store();
    let lease = store.acquire().await.expect("lease");
    let player = Uuid::new_v4();
    let events = moves(player, 1, 3, 1);
    let stored = store
        .append(lease, batch(events.clone()))
        .await
        .expect("append");

    // The same ids (as a log whose ids are its ticks and indexes would give a second batch of
    // the same tick) over other events: not a retry, and nothing of it is taken.
    let mut other = events.clone();
    if let EventBody::PlayerMoved { x, .. } = &mut other[1].body {
        *x += 5;
    }
    let mut later = events.clone();
    later[2].occurred_at_us += 1;
    for different in [other, later] {
        let result = store.append(lease, batch(different)).await;
        assert!(matches!(result, Err(Error::Conflict(_))), "{result:?}");
    }
    assert_eq!(store.head().await.expect("head"), stored.head);
    assert_eq!(read_all(&store).await, stored.events);
    // The batch itself is still a retry.
    let again = store.append(lease, batch(events)).await.expect("retry");
    assert!(again.already_stored);
}

async fn a_taken_stream_version_is_a_conflict_and_leaves_no_gap<B: Backend>() {
    let backend = B::new().await;
    let store = backend.store();
    let lease = store.acquire().await.expect("lease");
    let player = Uuid::new_v4();
    store
        .append(lease, batch(moves(player, 1, 2, 1)))
        .await
        .expect("append");

    let taken = store
        .append(
            lease,
            batch(vec![moved(Uuid::new_v4(), 1, 2), moved(player, 2, 2)]),
        )
        .await;
    assert!(matches!(taken, Err(Error::Conflict(_))), "{taken:?}");

    let next = store
        .append(lease, batch(vec![moved(player, 3, 2)]))
        .await
        .expect("append after the conflict");
    assert_eq!(next.events[0].position, 3);
    let mut verifier = ChainVerifier::new();
    for event in read_all(&store).await {
        verifier.check(&event).expect("chain");
    }
    assert_eq!(verifier.checked(), 3);
}

async fn the_hash_chain_verifies_and_pinpoints_a_tampered_payload<B: Backend>() {
    let backend = B::new().await;
    let store = backend.store();
    let lease = store.acquire().await.expect("lease");
    let mut last = None;
    for tick in 1..=4 {
        let events = (0..3).map(|_| moved(Uuid::new_v4(), 1, tick)).collect();
        last = Some(store.append(lease, batch(events)).await.expect("append"));
    }
    let head = store.head().await.expect("head");
    // The Rust code never writes the head: the database's insert trigger advanced it, also for
    // the Postgres store's COPY.
    assert_eq!(head, last.expect("appended").head);

    let events = read_all(&store).await;
    assert_eq!(events.len(), 12);
    let mut verifier = ChainVerifier::new();
    for event in &events {
        verifier.check(event).expect("untouched chain verifies");
        event.body().expect("decodes");
    }
    assert_eq!(verifier.head_hash(), head.hash);

    let mut payload = events[6].payload.clone();
    payload[5] ^= 0x01;
    backend.tamper_payload(7, payload).await;

    let mut verifier = ChainVerifier::new();
    let broken = read_all(&store)
        .await
        .iter()
        .find_map(|event| verifier.check(event).err());
    assert_eq!(broken, Some(ChainBreak::HashMismatch { position: 7 }));
}

async fn read_stream_returns_a_streams_events_in_version_order<B: Backend>() {
    let backend = B::new().await;
    let store = backend.store();
    let lease = store.acquire().await.expect("lease");
    let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
    for tick in 0..5 {
        let events = vec![moved(alice, tick + 1, tick), moved(bob, tick + 1, tick)];
        store.append(lease, batch(events)).await.expect("append");
    }

    let stream = store
        .read_stream(&player_stream(alice), 1, 100)
        .await
        .expect("stream");
    assert_eq!(
        stream.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    assert!(stream.iter().all(|e| e.stream_id == player_stream(alice)));
    assert!(stream.windows(2).all(|w| w[0].position < w[1].position));
    let body = stream[0].body().expect("decodes");
    assert_eq!(body.player_id(), Some(alice));

    let tail = store
        .read_stream(&player_stream(bob), 3, 2)
        .await
        .expect("stream");
    assert_eq!(
        tail.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        vec![3, 4]
    );
    assert!(
        store
            .read_stream("player-nobody", 1, 10)
            .await
            .expect("stream")
            .is_empty()
    );
}

async fn the_journal_round_trips_and_reports_each_players_last_seq<B: Backend>() {
    let backend = B::new().await;
    let store = backend.store();
    let lease = store.acquire().await.expect("lease");
    let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());

    let tick1 = vec![
        command(alice, 1, 1, Outcome::Accepted),
        command(bob, 7, 1, rejected("too_far")),
        command(alice, 2, 1, rejected("busy")),
    ];
    store
        .append(
            lease,
            AppendBatch {
                events: vec![moved(alice, 1, 1)],
                journal: tick1.clone(),
            },
        )
        .await
        .expect("append");
    // A tick with only rejected commands still stores its journal.
    let tick2 = vec![command(bob, 8, 2, rejected("stunned"))];
    let only_journal = store
        .append(
            lease,
            AppendBatch {
                events: Vec::new(),
                journal: tick2.clone(),
            },
        )
        .await
        .expect("append journal only");
    assert!(only_journal.events.is_empty());
    assert_eq!(only_journal.head.position, 1);
    // A repeated (player, seq) is not an error, and the rest of its batch, events included, is
    // stored. SQLite skips the repeat; PostgreSQL's rows per tick store it again (the tick writer
    // never sends one: it refuses a seq at or below the player's last).
    let repeat = command(alice, 2, 3, Outcome::Accepted);
    let with_repeat = store
        .append(
            lease,
            AppendBatch {
                events: vec![moved(alice, 2, 3)],
                journal: vec![repeat, command(alice, 3, 3, Outcome::Accepted)],
            },
        )
        .await
        .expect("append with a repeated seq");
    assert_eq!(with_repeat.head.position, 2);
    assert_eq!(store.read_from(2, 10).await.expect("read").len(), 1);

    let journal = store.read_journal(0, 100).await.expect("journal");
    let tick3: &[(Uuid, u64)] = if B::SKIPS_REPEATED_SEQ {
        &[(alice, 3)]
    } else {
        &[(alice, 2), (alice, 3)]
    };
    assert_eq!(journal.len(), 4 + tick3.len());
    assert_eq!(journal[..3], tick1[..]);
    assert_eq!(journal[3..4], tick2[..]);
    let stored3: Vec<(Uuid, u64)> = journal[4..].iter().map(|e| (e.player_id, e.seq)).collect();
    assert_eq!(stored3, tick3);
    // A page may end inside a tick's entries.
    assert_eq!(store.read_journal(0, 2).await.expect("journal"), tick1[..2]);

    let from_tick2 = store.read_journal(2, 1).await.expect("journal");
    assert_eq!(from_tick2, tick2);

    let mut last = store.last_seqs().await.expect("last seqs");
    last.sort();
    let mut expected = vec![(alice, 3), (bob, 8)];
    expected.sort();
    assert_eq!(last, expected);
}

async fn an_empty_batch_writes_nothing_and_returns_the_head<B: Backend>() {
    let backend = B::new().await;
    let store = backend.store();
    let lease = store.acquire().await.expect("lease");
    let empty = store
        .append(lease, AppendBatch::default())
        .await
        .expect("empty");
    assert_eq!(empty.head.position, 0);
    assert_eq!(empty.head.hash, GENESIS_HASH);
    let head = store
        .append(lease, batch(moves(Uuid::new_v4(), 1, 2, 1)))
        .await
        .expect("append")
        .head;
    let empty = store
        .append(lease, AppendBatch::default())
        .await
        .expect("empty");
    assert_eq!(empty.head, head);
    assert!(empty.events.is_empty() && !empty.already_stored);
    assert_eq!(read_all(&store).await.len(), 2);
}

async fn a_world_announces_itself_and_the_latest_announcement_stands<B: Backend>() {
    let backend = B::new().await;
    let store = backend.store();
    assert!(store.worlds().await.expect("list").is_empty());
    let entry = |population: u64, open: bool, at: i64| loh_events::WorldEntry {
        shard: backends::SHARD.into(),
        address: "wss://w1.example.com".into(),
        members: true,
        population,
        open,
        updated_at_us: at,
    };
    store.announce(&entry(3, true, 10)).await.expect("announce");
    store
        .announce(&entry(7, true, 20))
        .await
        .expect("announce again");
    assert_eq!(store.worlds().await.expect("list"), [entry(7, true, 20)]);
    store.announce(&entry(0, false, 30)).await.expect("closing");
    assert_eq!(store.worlds().await.expect("list"), [entry(0, false, 30)]);
}

async fn snapshots_round_trip_newest_first_are_never_updated_and_prune_to_the_newest<B: Backend>() {
    let backend = B::new().await;
    let store = backend.store();
    assert!(
        store
            .snapshot_positions()
            .await
            .expect("positions")
            .is_empty()
    );
    assert!(store.snapshot(1).await.expect("read").is_none());
    let snapshot = |position: u64| Snapshot {
        position,
        hash: [position as u8; 32],
        tick: position * 10,
        state: vec![position as u8; 1000 + position as usize],
        state_hash: [7; 32],
        signature: format!("sig{position}"),
        created_at_us: 5,
    };
    for p in [3, 1, 2] {
        store.put_snapshot(&snapshot(p)).await.expect("put");
    }
    // The same position again keeps the first.
    let mut again = snapshot(2);
    again.state = vec![9; 3];
    store.put_snapshot(&again).await.expect("put again");
    assert_eq!(
        store.snapshot_positions().await.expect("positions"),
        vec![3, 2, 1]
    );
    assert_eq!(store.snapshot(2).await.expect("read"), Some(snapshot(2)));
    let refused = backend.raw("UPDATE snapshots SET state = state").await;
    assert!(
        refused.as_ref().is_err_and(|e| e.contains("append-only")),
        "{refused:?}"
    );
    assert_eq!(store.prune_snapshots(2).await.expect("prune"), 1);
    assert_eq!(
        store.snapshot_positions().await.expect("positions"),
        vec![3, 2]
    );
    assert_eq!(store.snapshot(3).await.expect("read"), Some(snapshot(3)));
    assert_eq!(store.prune_snapshots(2).await.expect("prune"), 0);
}

/// A full disk (SQLITE_FULL) makes SQLite roll the tick's transaction back by itself; sqlx's
/// ROLLBACK after it then fails and the connection stayed "in a transaction": put back in the
/// pool, every later append that drew it failed with "non-zero transaction depth" until the
/// process ended (seen with the data folder's filesystem filled and freed). The pool
/// (`pool_options`) now closes a connection that comes back inside a transaction. Here the disk
/// is "full" by `PRAGMA max_page_count`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_after_a_full_disk_every_append_succeeds() {
    use loh_events::sqlite::SqliteEventStore;
    let (_dir, pool) = nearly_full(4, &[]).await;
    let store = SqliteEventStore::new(pool, SHARD);
    let lease = store.acquire().await.expect("lease");
    let player = Uuid::new_v4();
    let mut big = command(player, 1, 1, Outcome::Accepted);
    big.command = vec![7; 256 * 1024];
    let refused = store
        .append(
            lease,
            AppendBatch {
                events: Vec::new(),
                journal: vec![big],
            },
        )
        .await;
    assert!(
        matches!(&refused, Err(e) if e.to_string().contains("full")),
        "{refused:?}"
    );
    // Small appends still fit; more of them than the pool has connections, so none may draw a
    // broken one.
    for seq in 1..=12 {
        store
            .append(
                lease,
                AppendBatch {
                    events: Vec::new(),
                    journal: vec![command(player, seq, seq + 1, Outcome::Accepted)],
                },
            )
            .await
            .unwrap_or_else(|e| panic!("append {seq} after the full disk: {e}"));
    }
    assert_eq!(store.read_journal(0, 100).await.unwrap().len(), 12);
}

/// The same full disk met by another user of the shared pool (a read model, accounts, the
/// payment inbox): SQLite rolls the transaction back by itself, sqlx's ROLLBACK after it fails,
/// and the connection went back to the pool still counted "in a transaction". The next `begin`
/// on it opened a savepoint instead of a transaction, and dropping that rolled back to the
/// savepoint without ending the transaction SQLite had started: the write lock stayed held, and
/// every append of the tick writer failed "database is locked" (seen for 7 minutes in a `loh
/// chaos --disk-mib` campaign after the fourth full disk). The pool now closes such connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_a_full_disk_in_another_pool_user_leaves_no_write_lock_behind() {
    use loh_events::sqlite::SqliteEventStore;
    let (_dir, pool) = nearly_full(2, &["CREATE TABLE read_model (b BLOB)"]).await;
    let store = SqliteEventStore::new(pool.clone(), SHARD);
    let lease = store.acquire().await.expect("lease");

    // A read model's transaction meets the full disk.
    let mut tx = pool.begin().await.unwrap();
    let refused = sqlx::query("INSERT INTO read_model (b) VALUES (?)")
        .bind(vec![7u8; 256 * 1024])
        .execute(&mut *tx)
        .await;
    assert!(
        matches!(&refused, Err(e) if e.to_string().contains("full")),
        "{refused:?}"
    );
    drop(tx);
    // The read model's next transaction writes and then fails on something else.
    {
        let mut tx = pool.begin().await.unwrap();
        sqlx::query("INSERT INTO read_model (b) VALUES (x'00')")
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    // Both connections at once, so the one the full disk met is among them.
    let held = [pool.acquire().await.unwrap(), pool.acquire().await.unwrap()];
    for conn in &held {
        assert!(
            !sqlx::Connection::is_in_transaction(&**conn),
            "a connection came back from the pool inside a transaction"
        );
    }
    drop(held);
    let player = Uuid::new_v4();
    for seq in 1..=4 {
        store
            .append(
                lease,
                AppendBatch {
                    events: Vec::new(),
                    journal: vec![command(player, seq, seq + 1, Outcome::Accepted)],
                },
            )
            .await
            .unwrap_or_else(|e| panic!("append {seq} after the read model's full disk: {e}"));
    }
}

/// A tick's `COPY` larger than one `CopyData` message goes in pieces of `COPY_CHUNK` bytes, rows
/// split across them, and arrives whole: every event in order with its chain unbroken, every
/// journal entry as it was sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_a_copy_sent_in_many_pieces_arrives_whole() {
    use loh_events::PgEventStore;
    use loh_events::pg::{COPY_CHUNK, copy_binary};
    let db = loh_testkit::TestDb::create().await;
    let store = PgEventStore::new(db.pool().await, "world-copy");
    store.migrate().await.expect("migrate");
    let lease = store.acquire().await.expect("lease");
    let events = moves(Uuid::new_v4(), 1, 4_000, 1);
    let journal: Vec<_> = (1..=4_000)
        .map(|seq| command(Uuid::new_v4(), seq, 1, rejected("no_move")))
        .collect();
    let appended = store
        .append(
            lease,
            AppendBatch {
                events: events.clone(),
                journal: journal.clone(),
            },
        )
        .await
        .expect("append");
    assert_eq!(appended.head.position, 4_000);

    let stored = read_all(&store).await;
    let copied = copy_binary(&stored, lease.epoch).expect("encode").len();
    assert!(
        copied > 3 * COPY_CHUNK,
        "the events' COPY ({copied} B) spans several pieces"
    );
    let ids: Vec<Uuid> = stored.iter().map(|e| e.event_id).collect();
    let sent: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
    assert_eq!(ids, sent);
    let mut verifier = ChainVerifier::new();
    for event in &stored {
        verifier.check(event).expect("the chain verifies");
    }
    assert_eq!(verifier.head_hash(), appended.head.hash);
    assert_eq!(
        store.read_journal(0, 10_000).await.expect("journal"),
        journal
    );
}

/// Issue 11: on PostgreSQL a tick's journal is one row (migration 0015), however many commands
/// it holds, and the SQL function investigators query (`loh_journal_entries`, behind the view
/// `command_journal_entries`) decodes it entry for entry as the store does; a page of
/// `read_journal` may end inside a tick's row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_a_ticks_journal_is_one_row_that_sql_decodes_as_the_store_does() {
    use loh_events::PgEventStore;
    type Entry = (
        i64,
        Uuid,
        Uuid,
        i64,
        i64,
        Vec<u8>,
        Option<String>,
        Option<String>,
    );
    let db = loh_testkit::TestDb::create().await;
    let pool = db.pool().await;
    let store = PgEventStore::new(pool.clone(), "world-journal");
    store.migrate().await.expect("migrate");
    let lease = store.acquire().await.expect("lease");
    let player = Uuid::new_v4();
    let mut tick1: Vec<_> = (1..=2_500)
        .map(|seq| {
            let outcome = match seq % 3 {
                0 => Outcome::Accepted,
                1 => rejected("too_far"),
                _ => Outcome::Rejected {
                    code: String::new(),
                    message: "ünïcode — ok".into(),
                },
            };
            command(Uuid::new_v4(), seq, 1, outcome)
        })
        .collect();
    tick1[7].command = Vec::new();
    tick1[8].command = vec![0xff; 70_000];
    tick1[9].seq = i64::MAX as u64;
    let tick2 = vec![command(player, 4, 2, Outcome::Accepted)];
    for (events, journal) in [(moves(player, 1, 3, 1), &tick1), (Vec::new(), &tick2)] {
        store
            .append(
                lease,
                AppendBatch {
                    events,
                    journal: journal.clone(),
                },
            )
            .await
            .expect("append");
    }
    let count = |table: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
                "SELECT count(*) FROM {table}"
            )))
            .fetch_one(&pool)
            .await
            .expect("count")
        }
    };

    let all: Vec<_> = tick1.iter().chain(&tick2).cloned().collect();
    assert_eq!(store.read_journal(0, 10_000).await.expect("journal"), all);
    assert_eq!(store.read_journal(2, 10).await.expect("journal"), tick2);
    // Rows are read a few at a time: twenty ticks of one command each come back whole and in
    // order, from any tick.
    let later: Vec<_> = (3..23)
        .map(|tick| command(player, tick + 2, tick, Outcome::Accepted))
        .collect();
    for entry in &later {
        let journal = vec![entry.clone()];
        store
            .append(
                lease,
                AppendBatch {
                    events: Vec::new(),
                    journal,
                },
            )
            .await
            .expect("append a later tick");
    }
    assert_eq!(store.read_journal(3, 100).await.expect("journal"), later);
    assert_eq!(
        store.read_journal(10, 11).await.expect("journal"),
        later[7..18]
    );
    let all: Vec<_> = all.into_iter().chain(later).collect();
    assert_eq!(
        store.read_journal(0, 1_000).await.expect("journal"),
        tick1[..1_000]
    );
    assert_eq!(count("command_journal_ticks").await, 22, "one row a tick");
    assert_eq!(count("command_journal").await, 0, "no row a command");
    assert_eq!(count("command_journal_entries").await, 2_521);
    let mut last = store.last_seqs().await.expect("last seqs");
    last.sort();
    let mut expected: Vec<(Uuid, u64)> = all.iter().map(|e| (e.player_id, e.seq)).collect();
    expected.retain(|&(p, seq)| p != player || seq == 24);
    expected.sort();
    assert_eq!(last, expected);

    let decoded: Vec<Entry> = sqlx::query_as(
        "SELECT t.tick, e.command_id, e.player_id, e.seq, e.received_at_us, e.command, \
                e.outcome_code, e.outcome_message \
         FROM command_journal_ticks t, LATERAL loh_journal_entries(t.journal) e \
         ORDER BY t.tick, t.id, e.ord",
    )
    .fetch_all(&pool)
    .await
    .expect("decode in SQL");
    let expected: Vec<Entry> = all
        .iter()
        .map(|e| {
            let (code, message) = match &e.outcome {
                Outcome::Accepted => (None, None),
                Outcome::Rejected { code, message } => (Some(code.clone()), Some(message.clone())),
            };
            (
                e.tick as i64,
                e.command_id,
                e.player_id,
                e.seq as i64,
                e.received_at_us,
                e.command.clone(),
                code,
                message,
            )
        })
        .collect();
    assert_eq!(decoded, expected);
}

/// Issue 14: on PostgreSQL each world's log and journal are partitions of their own, created
/// with the world's sequencer row, so a world's log can be detached and moved; and the
/// database's rules hold on a partition named directly as on the parent: no update, delete or
/// truncate, no gap or stale epoch, no row of another world.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_each_world_logs_into_partitions_of_its_own_that_keep_every_rule() {
    use loh_events::PgEventStore;
    use sqlx::{AssertSqlSafe, Executor, Row};
    let db = loh_testkit::TestDb::create().await;
    let pool = db.pool().await;
    let (a, b) = ("world-a", "world.b");
    let store_a = PgEventStore::new(pool.clone(), a);
    store_a.migrate().await.expect("migrate");
    let store_b = PgEventStore::new(pool.clone(), b);
    let player = Uuid::new_v4();
    for store in [&store_a, &store_b] {
        let lease = store.acquire().await.expect("lease");
        store
            .append(
                lease,
                AppendBatch {
                    events: moves(player, 1, 3, 1),
                    journal: vec![command(player, 1, 1, Outcome::Accepted)],
                },
            )
            .await
            .expect("append");
    }
    let placed = |table: &'static str| {
        let pool = pool.clone();
        async move {
            let rows = sqlx::query(AssertSqlSafe(format!(
                "SELECT tableoid::regclass::text AS part, shard, count(*) AS n FROM {table} \
                 GROUP BY 1, 2 ORDER BY 2"
            )))
            .fetch_all(&pool)
            .await
            .expect("partitions");
            rows.iter()
                .map(|r| {
                    (
                        r.get::<String, _>("part"),
                        r.get::<String, _>("shard"),
                        r.get::<i64, _>("n"),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    let events = placed("events").await;
    let journal = placed("command_journal_ticks").await;
    assert_eq!(
        events
            .iter()
            .map(|(_, s, n)| (s.as_str(), *n))
            .collect::<Vec<_>>(),
        [(a, 3), (b, 3)]
    );
    assert_eq!(
        journal
            .iter()
            .map(|(_, s, n)| (s.as_str(), *n))
            .collect::<Vec<_>>(),
        [(a, 1), (b, 1)]
    );
    assert!(
        events[0].0 != events[1].0 && events.iter().all(|(p, _, _)| p != "events"),
        "each world's events in a partition of its own: {events:?}"
    );
    assert!(
        journal[0].0 != journal[1].0
            && journal.iter().all(|(p, _, _)| p != "command_journal_ticks"),
        "each world's journal in a partition of its own: {journal:?}"
    );

    let (part_a, journal_a) = (events[0].0.clone(), journal[0].0.clone());
    for sql in [
        format!("UPDATE {part_a} SET kind = 'PlayerSaid'"),
        format!("DELETE FROM {part_a} WHERE position = 3"),
        format!("TRUNCATE {part_a}"),
        format!("UPDATE {journal_a} SET tick = 9"),
        format!("DELETE FROM {journal_a}"),
        format!("TRUNCATE {journal_a}"),
    ] {
        let refused = pool.execute(AssertSqlSafe(sql.clone())).await;
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.to_string().contains("append-only")),
            "{sql}: {refused:?}"
        );
    }

    // Inserts naming the partition itself are sequenced like inserts through the parent.
    let head = store_a.head().await.expect("head");
    let insert = |event: StoredEvent, epoch: i64| {
        let (pool, part) = (pool.clone(), part_a.clone());
        async move { crate::backends::insert_into(&pool, &part, &event, epoch).await }
    };
    let lease = store_a.acquire().await.expect("lease");
    let gap = StoredEvent::seal(a, head.position + 2, head.hash, &moved(player, 9, 2)).unwrap();
    let refused = insert(gap, lease.epoch).await;
    assert!(refused.is_err(), "a gap through the partition: {refused:?}");
    let next = StoredEvent::seal(a, head.position + 1, head.hash, &moved(player, 4, 2)).unwrap();
    let stale = insert(next.clone(), lease.epoch - 1).await;
    assert!(
        stale.as_ref().is_err_and(|e| e.contains("fenced")),
        "a stale epoch through the partition: {stale:?}"
    );
    let other = StoredEvent::seal(b, 4, head.hash, &moved(player, 4, 2)).unwrap();
    let refused = insert(other, lease.epoch).await;
    assert!(
        refused.is_err(),
        "another world's row in world a's partition: {refused:?}"
    );
    insert(next.clone(), lease.epoch)
        .await
        .expect("the next event through the partition");
    let moved_head = store_a.head().await.expect("head");
    assert_eq!(
        (moved_head.position, moved_head.hash),
        (next.position, next.hash)
    );

    // The log's keys hold on each world's partition (migration 0014): a taken stream version or
    // event id of world a is refused there, while world b holds the same stream versions.
    let after = next.position + 1;
    let taken_version = StoredEvent::seal(a, after, next.hash, &moved(player, 2, 3)).unwrap();
    let refused = insert(taken_version, lease.epoch).await;
    assert!(
        refused.as_ref().is_err_and(|e| e.contains("ev_stream_")),
        "a taken stream version through the partition: {refused:?}"
    );
    let mut reused = moved(player, 9, 3);
    reused.event_id = next.event_id;
    let taken_id = StoredEvent::seal(a, after, next.hash, &reused).unwrap();
    let refused = insert(taken_id, lease.epoch).await;
    assert!(
        refused.as_ref().is_err_and(|e| e.contains("ev_id_")),
        "a taken event id through the partition: {refused:?}"
    );
    assert_eq!(partition_keys(&pool, &part_a).await, LOG_KEYS);

    // A world with no sequencer row has no partition: nothing of it can be stored.
    let nowhere = StoredEvent::seal("nowhere", 1, GENESIS_HASH, &moved(player, 1, 1)).unwrap();
    let refused = pool
        .execute(AssertSqlSafe(format!(
            "INSERT INTO events SELECT 'nowhere', 1, stream_id, stream_version, tick, \
             schema_version, '{}', correlation_id, causation_id, occurred_at_us, kind, payload, \
             prev_hash, hash, epoch FROM events WHERE shard = '{a}' AND position = 1",
            nowhere.event_id
        )))
        .await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.to_string().contains("no partition")),
        "{refused:?}"
    );
}

/// The unique indexes of each world's events partition (migration 0014), by column list.
const LOG_KEYS: [&str; 3] = [
    "(\"position\")",
    "(event_id)",
    "(stream_id, stream_version)",
];

/// The column lists of `table`'s unique indexes, sorted; empty when it has none.
async fn partition_keys(pool: &sqlx::PgPool, table: &str) -> Vec<String> {
    let defs: Vec<String> = sqlx::query_scalar(
        "SELECT indexdef FROM pg_indexes WHERE tablename = $1 AND indexdef LIKE 'CREATE UNIQUE%'",
    )
    .bind(table)
    .fetch_all(pool)
    .await
    .expect("indexes");
    let mut keys: Vec<String> = defs
        .iter()
        .map(|d| d[d.rfind(" (").expect("a column list") + 1..].to_owned())
        .collect();
    keys.sort();
    keys
}

/// Issue 11: migration 0014 moves the log's keys from the partitioned table, where they had to
/// begin with the world's name, to each world's partition without it: a world stored before the
/// migration gets them from it, a world made after gets them with its partitions, the parent
/// keeps none, and a world moved out gets no partition back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_the_logs_keys_are_on_each_worlds_partition_for_worlds_old_and_new() {
    use loh_events::PgEventStore;
    let db = loh_testkit::TestDb::create().await;
    let pool = db.pool().await;
    loh_migrations::POSTGRES
        .run_to(13, &pool)
        .await
        .expect("migrations up to 0013");
    let old = PgEventStore::new(pool.clone(), "old-world");
    let player = Uuid::new_v4();
    let lease = old.acquire().await.expect("lease");
    old.append(lease, batch(moves(player, 1, 3, 1)))
        .await
        .expect("append before 0014");
    let with_shard = [
        "(shard, \"position\")",
        "(shard, event_id)",
        "(shard, stream_id, stream_version)",
    ];
    assert_eq!(
        partition_keys(&pool, "events").await,
        with_shard,
        "0012's keys"
    );
    assert_eq!(
        partition_keys(&pool, &old.events_partition().await.expect("partition")).await,
        with_shard,
        "0012's keys, cloned onto the partition"
    );

    // A world moved to another database: its partition detached and dropped here (SCALING.md,
    // "Moving a world's log to its own PostgreSQL"), its sequencer row kept (rows of
    // `event_shards` are never deleted). The migration must not make its partition again: the
    // missing partition is the fence against a writer still pointed at this database.
    let moved_away = PgEventStore::new(pool.clone(), "moved-world");
    let moved_lease = moved_away.acquire().await.expect("lease");
    let moved_part = moved_away.events_partition().await.expect("partition");
    for sql in [
        format!("ALTER TABLE events DETACH PARTITION \"{moved_part}\""),
        format!("DROP TABLE \"{moved_part}\""),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&pool)
            .await
            .expect("move the world out");
    }

    old.migrate().await.expect("0014");
    let exists: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
        .bind(format!("\"{moved_part}\""))
        .fetch_one(&pool)
        .await
        .expect("to_regclass");
    assert_eq!(exists, None, "0014 made a moved world's partition again");
    let fenced = moved_away
        .append(moved_lease, batch(moves(player, 1, 1, 1)))
        .await;
    assert!(
        fenced
            .as_ref()
            .is_err_and(|e| e.to_string().contains("no partition")),
        "{fenced:?}"
    );
    let new = PgEventStore::new(pool.clone(), "new-world");
    let lease_new = new.acquire().await.expect("lease");
    new.append(lease_new, batch(moves(player, 1, 3, 1)))
        .await
        .expect("append after 0014");
    assert!(
        partition_keys(&pool, "events").await.is_empty(),
        "the parent keeps no key"
    );
    for world in [&old, &new] {
        assert_eq!(
            partition_keys(&pool, &world.events_partition().await.expect("partition")).await,
            LOG_KEYS,
            "{}",
            world.shard()
        );
    }
    // The keys refuse through the store as before: a taken stream version is a conflict.
    let refused = old.append(lease, batch(moves(player, 3, 1, 2))).await;
    assert!(
        matches!(refused, Err(loh_events::Error::Conflict(ref m)) if m.contains("ev_stream_")),
        "{refused:?}"
    );
    assert_eq!(read_all(&old).await.len(), 3);
    // A journal-only batch appended twice (a retry after a COMMIT not heard of) is stored once:
    // since 0015 its tick's row meets itself on `command_journal_ticks_retry_key`.
    let twice = vec![command(player, 5, 2, Outcome::Accepted)];
    for _ in 0..2 {
        old.append(
            lease,
            AppendBatch {
                events: Vec::new(),
                journal: twice.clone(),
            },
        )
        .await
        .expect("a journal-only append");
    }
    assert_eq!(old.read_journal(2, 10).await.expect("journal"), twice);
}

/// A migrated embedded database with a lease taken and `setup` run, then a pool of `connections`
/// ([`loh_events::sqlite::pool_options`]) on it with room for four pages more: a disk about to
/// be full, by `PRAGMA max_page_count`.
async fn nearly_full(connections: u32, setup: &[&str]) -> (tempfile::TempDir, sqlx::SqlitePool) {
    use loh_events::sqlite::SqliteEventStore;
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.db");
    let pages: i64 = {
        let store = SqliteEventStore::open(path.to_str().unwrap(), SHARD)
            .await
            .unwrap();
        store.acquire().await.expect("lease");
        for sql in setup {
            sqlx::query(sqlx::AssertSqlSafe(*sql))
                .execute(store.pool())
                .await
                .unwrap();
        }
        sqlx::query_scalar("PRAGMA page_count")
            .fetch_one(store.pool())
            .await
            .unwrap()
    };
    let options = SqliteConnectOptions::new()
        .filename(&path)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(std::time::Duration::from_secs(1))
        .foreign_keys(true)
        .pragma("max_page_count", (pages + 4).to_string());
    let pool = loh_events::sqlite::pool_options()
        .max_connections(connections)
        .connect_with(options)
        .await
        .unwrap();
    (dir, pool)
}
