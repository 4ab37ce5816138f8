//! No client stops the world: every value a client sends is bounded before the tick, a command
//! the store could not hold is refused alone, and the tick commits for everyone else.
//!
//! These drive the real tick writer on a real PostgreSQL store (a scratch database per test).

use loh_commands::{Command, ServerFrame, decode_server};
use loh_events::pg::PgEventStore;
use loh_events::{ChainVerifier, EventStore};
use loh_testkit::TestDb;
use loh_tick_writer::metrics::TickMetrics;
use loh_tick_writer::tick::{Frame, Intake, Pacing, TickWriter};
use loh_world::{MapConfig, World};
use proptest::prelude::*;
use std::sync::Arc;
use tokio::sync::mpsc;
use uuid::Uuid;

struct Table {
    _db: TestDb,
    store: Arc<dyn EventStore>,
    writer: TickWriter,
    inboxes: Vec<(Uuid, mpsc::Receiver<Frame>)>,
}

async fn table(db: TestDb, shard: &str, players: u128) -> Table {
    let pool = db.pool().await;
    let store = PgEventStore::new(pool, shard);
    store.migrate().await.unwrap();
    let store: Arc<dyn EventStore> = Arc::new(store);
    let mut writer = TickWriter::start(
        store.clone(),
        World::new(MapConfig::default()),
        Pacing::Fixed { tick_ms: 400 },
        TickMetrics::default(),
    )
    .await
    .unwrap();
    let mut inboxes = Vec::new();
    for n in 1..=players {
        let player_id = Uuid::from_u128(n);
        inboxes.push((player_id, connect(&mut writer, player_id, n as u64)));
    }
    writer.run_tick().await.unwrap(); // the spawns
    Table {
        _db: db,
        store,
        writer,
        inboxes,
    }
}

fn connect(writer: &mut TickWriter, player_id: Uuid, conn_id: u64) -> mpsc::Receiver<Frame> {
    loh_testkit::writer::connect(writer, player_id, conn_id, 4096)
}

fn send(writer: &mut TickWriter, player_id: Uuid, seq: u64, cmd: Command) {
    writer.take(Intake::Command {
        player_id,
        seq,
        cmd,
        received_at_us: 0,
    });
}

/// The answers (`Accepted`/`Rejected`) waiting in an inbox, as `(seq, code)`; `code` is
/// `"accepted"` for an accepted command.
fn answers(rx: &mut mpsc::Receiver<Frame>) -> Vec<(u64, String, String)> {
    let mut out = Vec::new();
    while let Ok(frame) = rx.try_recv() {
        match decode_server(&frame).expect("the server's frames decode") {
            ServerFrame::Accepted { seq, .. } => out.push((seq, "accepted".into(), String::new())),
            ServerFrame::Rejected {
                seq, code, message, ..
            } => out.push((seq, code, message)),
            _ => {}
        }
    }
    out
}

async fn journal_seqs(store: &dyn EventStore, player_id: Uuid) -> Vec<u64> {
    let rows = store.read_journal(0, 100_000).await.unwrap();
    rows.iter()
        .filter(|r| r.player_id == player_id)
        .map(|r| r.seq)
        .collect()
}

async fn assert_chain_verifies(store: &dyn EventStore) {
    let mut verifier = ChainVerifier::new();
    for event in store.read_from(1, 1_000_000).await.unwrap() {
        verifier.check(&event).expect("the chain verifies");
    }
}

const HUGE_SEQ: u64 = 9_223_372_036_854_775_813;

#[tokio::test]
async fn a_seq_the_journal_cannot_store_is_refused_alone_and_the_tick_commits_for_everyone() {
    let mut t = table(TestDb::create().await, "w", 2).await;
    let (a, b) = (t.inboxes[0].0, t.inboxes[1].0);
    send(
        &mut t.writer,
        a,
        HUGE_SEQ,
        Command::Say { text: "x".into() },
    );
    send(
        &mut t.writer,
        b,
        1,
        Command::Say {
            text: "hello".into(),
        },
    );
    t.writer.run_tick().await.expect("the tick commits");

    let got_a = answers(&mut t.inboxes[0].1);
    assert_eq!(got_a.len(), 1);
    assert_eq!((got_a[0].0, got_a[0].1.as_str()), (HUGE_SEQ, "bad_seq"));
    assert_eq!(answers(&mut t.inboxes[1].1)[0].1, "accepted");
    assert!(
        journal_seqs(&*t.store, a).await.is_empty(),
        "never journaled"
    );
    assert_eq!(journal_seqs(&*t.store, b).await, vec![1]);

    // The writer goes on, and the same player's next sane seq is decided.
    send(&mut t.writer, a, 1, Command::Say { text: "ok".into() });
    t.writer.run_tick().await.unwrap();
    assert_eq!(answers(&mut t.inboxes[0].1)[0].1, "accepted");
    assert_chain_verifies(&*t.store).await;
}

#[tokio::test]
async fn a_seq_far_above_the_last_decided_one_and_seq_zero_are_refused() {
    let mut t = table(TestDb::create().await, "w", 1).await;
    let a = t.inboxes[0].0;
    send(&mut t.writer, a, 0, Command::Say { text: "x".into() });
    send(
        &mut t.writer,
        a,
        loh_commands::MAX_SEQ_AHEAD + 1,
        Command::Say { text: "x".into() },
    );
    t.writer.run_tick().await.unwrap();
    let codes: Vec<String> = answers(&mut t.inboxes[0].1)
        .into_iter()
        .map(|(_, c, _)| c)
        .collect();
    assert_eq!(codes, vec!["bad_seq", "bad_seq"]);
    assert!(journal_seqs(&*t.store, a).await.is_empty());
}

#[tokio::test]
async fn a_64_kib_recipe_is_refused_unjournaled_and_the_rejection_does_not_echo_it() {
    let mut t = table(TestDb::create().await, "w", 1).await;
    let a = t.inboxes[0].0;
    let recipe = "z".repeat(64 * 1024);
    send(&mut t.writer, a, 1, Command::Produce { recipe });
    // An unknown but well-formed id reaches the world, whose answer names nothing back.
    send(
        &mut t.writer,
        a,
        2,
        Command::Produce {
            recipe: "zzzzzzzz_unknown".into(),
        },
    );
    t.writer.run_tick().await.unwrap();
    let got = answers(&mut t.inboxes[0].1);
    assert_eq!(got[0].1, "bad_command");
    assert!(
        got[0].2.len() < 200,
        "a short fixed message: {:?}",
        got[0].2
    );
    assert_eq!(got[1].1, "no_such_recipe");
    assert!(!got[1].2.contains("zzzz"), "no echo: {:?}", got[1].2);
    assert_eq!(journal_seqs(&*t.store, a).await, vec![2]);
}

#[tokio::test]
async fn a_third_chat_line_in_one_tick_is_rate_limited_and_may_be_sent_again() {
    let mut t = table(TestDb::create().await, "w", 1).await;
    let a = t.inboxes[0].0;
    for seq in 1..=3 {
        send(
            &mut t.writer,
            a,
            seq,
            Command::Say {
                text: "spam".into(),
            },
        );
    }
    t.writer.run_tick().await.unwrap();
    let codes: Vec<String> = answers(&mut t.inboxes[0].1)
        .into_iter()
        .map(|(_, c, _)| c)
        .collect();
    assert_eq!(codes, vec!["accepted", "accepted", "rate_limited"]);
    send(
        &mut t.writer,
        a,
        3,
        Command::Say {
            text: "spam".into(),
        },
    );
    t.writer.run_tick().await.unwrap();
    assert_eq!(answers(&mut t.inboxes[0].1)[0].1, "accepted");
}

#[tokio::test]
async fn a_repeated_rejection_is_answered_with_its_original_code_and_message() {
    let mut t = table(TestDb::create().await, "w", 1).await;
    let a = t.inboxes[0].0;
    // A new character's inventory slot 27 is empty.
    send(&mut t.writer, a, 1, Command::MoveItem { from: 27, to: 0 });
    t.writer.run_tick().await.unwrap();
    let first = answers(&mut t.inboxes[0].1);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].1, "empty_slot");
    send(&mut t.writer, a, 1, Command::MoveItem { from: 27, to: 0 });
    t.writer.run_tick().await.unwrap();
    assert_eq!(
        answers(&mut t.inboxes[0].1),
        first,
        "the remembered outcome"
    );
}

#[tokio::test]
async fn outcomes_are_forgotten_when_the_player_disconnects() {
    let mut t = table(TestDb::create().await, "w", 1).await;
    let a = t.inboxes[0].0;
    send(&mut t.writer, a, 1, Command::Say { text: "hi".into() });
    t.writer.run_tick().await.unwrap();
    // While connected, a repeat gets the original outcome.
    send(&mut t.writer, a, 1, Command::Say { text: "hi".into() });
    t.writer.run_tick().await.unwrap();
    let got = answers(&mut t.inboxes[0].1);
    assert_eq!(got[1].1, "accepted", "the remembered outcome");

    t.writer.take(Intake::Disconnect {
        player_id: a,
        conn_id: 1,
    });
    let mut rx = connect(&mut t.writer, a, 2);
    send(&mut t.writer, a, 1, Command::Say { text: "hi".into() });
    t.writer.run_tick().await.unwrap();
    assert_eq!(
        answers(&mut rx)[0].1,
        "duplicate_seq",
        "the outcome was freed with the session; the seq is still never applied twice"
    );
}

/// Any command a client can encode, with any seq: strings of any length and alphabet (NUL,
/// control characters, astral planes), ids of any value.
fn any_command() -> impl Strategy<Value = Command> {
    let text = prop_oneof![
        ".{0,12}",
        "[a-z_]{0,40}",
        proptest::collection::vec(any::<char>(), 0..300).prop_map(|c| c.into_iter().collect()),
        (0usize..70_000).prop_map(|n| "\0".repeat(n)),
    ];
    let uuid = prop_oneof![
        (1u128..=4).prop_map(Uuid::from_u128),
        any::<u128>().prop_map(Uuid::from_u128)
    ];
    prop_oneof![
        (any::<i32>(), any::<i32>(), any::<bool>()).prop_map(|(x, y, run)| Command::Move {
            x: 3200 + x % 40,
            y: 3200 + y % 40,
            run
        }),
        (any::<i32>(), any::<i32>(), any::<bool>()).prop_map(|(x, y, run)| Command::WalkTo {
            x,
            y,
            run
        }),
        text.clone().prop_map(|text| Command::Say { text }),
        (any::<u8>(), any::<u8>()).prop_map(|(from, to)| Command::MoveItem { from, to }),
        any::<u8>().prop_map(|slot| Command::DropItem { slot }),
        any::<u64>().prop_map(|ground_id| Command::PickUp { ground_id }),
        (text.clone(), any::<u32>()).prop_map(|(item, qty)| Command::BankWithdraw { item, qty }),
        text.clone()
            .prop_map(|equip_slot| Command::Unequip { equip_slot }),
        text.clone().prop_map(|recipe| Command::Produce { recipe }),
        (text.clone(), text.clone(), any::<u32>()).prop_map(|(shop, item, qty)| Command::Buy {
            shop,
            item,
            qty
        }),
        (text.clone(), any::<u8>(), any::<u32>()).prop_map(|(shop, slot, qty)| Command::Sell {
            shop,
            slot,
            qty
        }),
        text.clone()
            .prop_map(|style| Command::SetAttackStyle { style }),
        (text.clone(), any::<bool>()).prop_map(|(prayer, on)| Command::Pray { prayer, on }),
        any::<u32>().prop_map(|npc| Command::AttackNpc { npc }),
        uuid.clone()
            .prop_map(|player_id| Command::TradeRequest { player_id }),
        uuid.clone()
            .prop_map(|player_id| Command::AddFriend { player_id }),
        (uuid, text.clone()).prop_map(|(to, text)| Command::PrivateMessage { to, text }),
        Just(Command::BankDepositAll),
        Just(Command::TradeAccept),
        Just(Command::ReclaimGrave),
        prop::option::of(text).prop_map(|spell| Command::SetAutocast { spell }),
    ]
}

fn any_seq() -> impl Strategy<Value = u64> {
    prop_oneof![
        1u64..20,
        any::<u64>(),
        Just(0),
        Just(u64::MAX),
        Just(HUGE_SEQ)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_commands_from_several_players_never_stop_the_tick_and_the_log_verifies(
        ticks in proptest::collection::vec(
            proptest::collection::vec((0usize..3, any_seq(), any_command()), 0..8),
            1..8,
        )
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let mut t = table(TestDb::create().await, "w", 3).await;
            let mut sent = 0usize;
            for tick in ticks {
                for (who, seq, cmd) in tick {
                    let player = t.inboxes[who].0;
                    send(&mut t.writer, player, seq, cmd);
                    sent += 1;
                }
                t.writer.run_tick().await.expect("the tick never stops");
            }
            let mut answered = 0;
            for (_, rx) in &mut t.inboxes {
                answered += answers(rx).len();
            }
            assert_eq!(answered, sent, "every command answered exactly once");
            assert_chain_verifies(&*t.store).await;
        });
    }
}
