//! A client that folds its `Snapshot` and then every `TickUpdate` holds exactly the server's
//! view: after every tick of a random multi-player history, its own tile, the other players it
//! is shown (each online, within view and on the tile the world says), the NPCs in view and the
//! ground items in view are those of the world. Interest is squeezed (2 other players, a small
//! byte budget) so that the bounds are exercised too.

use loh_commands::{Command, ServerFrame, decode_server};
use loh_tick_writer::fanout::ViewLimits;
use loh_tick_writer::tick::{Frame, Intake, TickWriter};
use loh_world::social::VIEW_DISTANCE;
use loh_world::{World, chebyshev};
use proptest::prelude::*;
use rmpv::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use tokio::sync::mpsc;
use uuid::Uuid;

const PLAYERS: u128 = 5;

/// What a client knows, folded from the frames it received.
#[derive(Debug, Default)]
struct Picture {
    joined: bool,
    me: (i64, i64),
    players: BTreeMap<Uuid, (i64, i64)>,
    npcs: BTreeMap<u64, (i64, i64)>,
    ground: BTreeSet<u64>,
}

fn field<'a>(v: &'a Value, key: &str) -> &'a Value {
    v.as_map()
        .and_then(|m| m.iter().find(|(k, _)| k.as_str() == Some(key)))
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no {key} in {v}"))
}

fn int(v: &Value, key: &str) -> i64 {
    field(v, key).as_i64().unwrap()
}

fn id(v: &Value, key: &str) -> Uuid {
    field(v, key).as_str().unwrap().parse().unwrap()
}

fn tile(v: &Value) -> (i64, i64) {
    (int(v, "x"), int(v, "y"))
}

impl Picture {
    fn fold(&mut self, me: Uuid, frame: ServerFrame) {
        match frame {
            ServerFrame::Snapshot {
                you,
                players,
                npcs,
                ground,
                ..
            } => {
                assert!(!self.joined, "one snapshot per session");
                self.joined = true;
                self.me = tile(&you);
                for p in players {
                    self.players.insert(id(&p, "player_id"), tile(&p));
                }
                for n in npcs {
                    self.npcs.insert(int(&n, "npc") as u64, tile(&n));
                }
                for g in ground {
                    self.ground.insert(int(&g, "ground_id") as u64);
                }
            }
            ServerFrame::TickUpdate { events, .. } => {
                assert!(self.joined, "a TickUpdate before the snapshot");
                for e in events {
                    let (kind, body) = &e.as_map().unwrap()[0];
                    self.event(me, kind.as_str().unwrap(), body);
                }
            }
            _ => {}
        }
    }

    fn event(&mut self, me: Uuid, kind: &str, b: &Value) {
        let add_ground = |ground: &mut BTreeSet<u64>, list: &Value| {
            for g in list.as_array().unwrap() {
                ground.insert(int(g, "ground_id") as u64);
            }
        };
        match kind {
            "PlayerSpawned" | "PlayerMoved" | "PlayerDied" => {
                let who = id(b, "player_id");
                if who == me {
                    self.me = tile(b);
                } else if let Some(at) = self.players.get_mut(&who) {
                    *at = tile(b);
                }
                if kind == "PlayerDied" {
                    add_ground(&mut self.ground, field(b, "dropped"));
                }
            }
            "PlayerAppeared" => {
                self.players.insert(id(b, "player_id"), tile(b));
            }
            "PlayerDisappeared" => {
                self.players.remove(&id(b, "player_id"));
            }
            "NpcSpawned" | "NpcAppeared" => {
                self.npcs.insert(int(b, "npc") as u64, tile(b));
            }
            "NpcMoved" => {
                if let Some(at) = self.npcs.get_mut(&(int(b, "npc") as u64)) {
                    *at = tile(b);
                }
            }
            "NpcDied" => {
                self.npcs.remove(&(int(b, "npc") as u64));
                add_ground(&mut self.ground, field(b, "loot"));
            }
            "NpcDisappeared" => {
                self.npcs.remove(&(int(b, "npc") as u64));
            }
            "ItemDropped" => {
                self.ground
                    .insert(int(field(b, "ground"), "ground_id") as u64);
            }
            "GroundItemAppeared" => {
                self.ground.insert(int(b, "ground_id") as u64);
            }
            "ItemPickedUp" | "GroundItemDespawned" | "GroundItemDisappeared" => {
                self.ground.remove(&(int(b, "ground_id") as u64));
            }
            _ => {}
        }
    }

    /// Checks the picture against what `world` says `me` can see.
    fn check(&self, me: Uuid, world: &World, max_players: usize) {
        let v = world.player(me).unwrap();
        let here = (i64::from(v.x), i64::from(v.y));
        assert_eq!(self.me, here, "own tile");
        assert!(
            self.players.len() <= max_players,
            "{} shown",
            self.players.len()
        );
        for (p, at) in &self.players {
            let o = world.player(*p).unwrap();
            assert!(o.online, "{p} shown but offline");
            assert!(
                chebyshev(v.x, v.y, o.x, o.y) <= VIEW_DISTANCE,
                "{p} shown but out of view"
            );
            assert_eq!(*at, (i64::from(o.x), i64::from(o.y)), "{p}'s tile");
        }
        let npcs: BTreeMap<u64, (i64, i64)> = world
            .npcs_in_view(v.x, v.y)
            .map(|(id, n)| (u64::from(id), (i64::from(n.x), i64::from(n.y))))
            .collect();
        assert_eq!(self.npcs, npcs, "NPCs in view");
        let ground: BTreeSet<u64> = world
            .ground_in_view(me, v.x, v.y)
            .map(|g| g.ground_id)
            .collect();
        assert_eq!(self.ground, ground, "ground items in view");
    }
}

async fn run(ticks: Vec<Vec<(Uuid, Command)>>, max_bytes: usize) {
    let view = ViewLimits {
        max_players: 2,
        max_bytes,
    };
    let (_dir, _store, writer) = loh_testkit::writer::embedded_writer().await;
    let mut writer = writer.with_view_limits(view);
    let mut clients: Vec<(Uuid, mpsc::Receiver<Frame>, Picture)> = Vec::new();
    for n in 0..PLAYERS {
        let player_id = loh_testkit::history::player(n, PLAYERS);
        let rx = loh_testkit::writer::connect(&mut writer, player_id, n as u64, 100_000);
        clients.push((player_id, rx, Picture::default()));
    }
    let mut seqs: HashMap<Uuid, u64> = HashMap::new();
    let mut all = vec![Vec::new()];
    all.extend(ticks);
    for tick in all {
        send_and_tick(&mut writer, &mut seqs, tick).await;
        for (me, rx, picture) in &mut clients {
            while let Ok(frame) = rx.try_recv() {
                picture.fold(*me, decode_server(&frame).unwrap());
            }
            picture.check(*me, writer.world(), view.max_players);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn a_client_folding_snapshot_and_updates_holds_exactly_the_servers_view(
        ticks in loh_testkit::history::ticks(PLAYERS),
        max_bytes in prop_oneof![Just(512usize), Just(4096usize)],
    ) {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(run(ticks, max_bytes));
    }
}

/// `docs/protocol.md` shows the snapshot a new player gets at spawn; the writer sends exactly it.
#[tokio::test]
async fn the_documented_snapshot_is_what_a_new_player_gets() {
    let (_dir, _store, mut writer) = loh_testkit::writer::embedded_writer().await;
    let player_id: Uuid = "6f1c2a4e-0d1b-4c39-9a57-3f0f0e7b9a11".parse().unwrap();
    let mut rx = loh_testkit::writer::connect(&mut writer, player_id, 1, 16);
    writer.run_tick().await.unwrap();
    let frame = rx.try_recv().unwrap();
    assert!(matches!(
        decode_server(&frame).unwrap(),
        ServerFrame::Snapshot { tick: 1, .. }
    ));
    let hex: String = frame.iter().map(|b| format!("{b:02x}")).collect();
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/protocol.md"))
        .unwrap();
    let start = doc
        .find("```hex Snapshot\n")
        .expect("docs/protocol.md shows a Snapshot");
    let documented: String = doc[start..]
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with("```"))
        .collect::<String>()
        .split_whitespace()
        .collect();
    assert_eq!(documented, hex, "the Snapshot example of docs/protocol.md");
}

/// Others see a player by the name the gateway gave its session: in the snapshot of a player
/// who joins later and in the `PlayerAppeared` of one already there; a player without a name
/// is shown without the key.
#[tokio::test]
async fn players_are_seen_with_their_names() {
    let (_dir, _store, mut writer) = loh_testkit::writer::embedded_writer().await;
    let (a, b, c) = (
        Uuid::from_u128(0xA),
        Uuid::from_u128(0xB),
        Uuid::from_u128(0xC),
    );
    let mut rx_a = loh_testkit::writer::connect_named(&mut writer, a, 1, 16, Some("Arjuna"));
    let _rx_c = loh_testkit::writer::connect(&mut writer, c, 2, 16);
    writer.run_tick().await.unwrap();
    let mut rx_b = loh_testkit::writer::connect_named(&mut writer, b, 3, 16, Some("Bhima"));
    writer.run_tick().await.unwrap();
    let names = |players: &[Value]| -> BTreeMap<Uuid, Option<String>> {
        players
            .iter()
            .map(|p| {
                let name = p
                    .as_map()
                    .unwrap()
                    .iter()
                    .find(|(k, _)| k.as_str() == Some("name"));
                (
                    id(p, "player_id"),
                    name.map(|(_, v)| v.as_str().unwrap().to_owned()),
                )
            })
            .collect()
    };
    let Ok(ServerFrame::Snapshot { players, .. }) = decode_server(&rx_b.try_recv().unwrap()) else {
        panic!("b's first frame is its snapshot");
    };
    let seen: Vec<Value> = players.iter().map(|p| (**p).clone()).collect();
    assert_eq!(
        names(&seen),
        BTreeMap::from([(a, Some("Arjuna".to_owned())), (c, None)]),
        "b's snapshot names a and shows c without a name"
    );
    let _snapshot = rx_a.try_recv().unwrap();
    let Ok(ServerFrame::TickUpdate { events, .. }) = decode_server(&rx_a.try_recv().unwrap())
    else {
        panic!("a's second frame is a TickUpdate");
    };
    let appeared: Vec<Value> = events
        .iter()
        .filter_map(|e| {
            let (kind, body) = &e.as_map().unwrap()[0];
            (kind.as_str() == Some("PlayerAppeared")).then(|| body.clone())
        })
        .collect();
    assert_eq!(
        names(&appeared),
        BTreeMap::from([(b, Some("Bhima".to_owned()))]),
        "a sees b appear by name"
    );
}

/// The kind of an event of a frame and the player it belongs to (its `player_id`), if any.
fn kind_and_owner(e: &Value) -> (String, Option<Uuid>) {
    let (kind, body) = &e.as_map().unwrap()[0];
    let owner = body.as_map().and_then(|m| {
        m.iter()
            .find(|(k, _)| k.as_str() == Some("player_id"))
            .and_then(|(_, v)| v.as_str())
            .and_then(|s| s.parse().ok())
    });
    (kind.as_str().unwrap().to_owned(), owner)
}

/// Every event a client received, by kind and owner.
fn received(rx: &mut mpsc::Receiver<Frame>) -> Vec<(String, Option<Uuid>)> {
    let mut out = Vec::new();
    while let Ok(frame) = rx.try_recv() {
        match decode_server(&frame).unwrap() {
            ServerFrame::TickUpdate { events, .. } => {
                out.extend(events.iter().map(|e| kind_and_owner(e)));
            }
            ServerFrame::Snapshot { players, .. } => {
                out.extend(
                    players
                        .iter()
                        .map(|p| ("Snapshot".to_owned(), Some(id(p, "player_id")))),
                );
            }
            _ => {}
        }
    }
    out
}

/// A bystander standing next to two players who trade sees them, but not their trade (request,
/// offers, acceptances, settlement) nor anyone's inventory changes (the starter kit, a slot
/// moved, the items traded): those reach their owner and, for a trade, the other party alone.
#[tokio::test]
async fn bystanders_see_neither_trades_nor_inventories() {
    let (_dir, _store, mut writer) = loh_testkit::writer::embedded_writer().await;
    let (a, b, c) = (
        Uuid::from_u128(0xA),
        Uuid::from_u128(0xB),
        Uuid::from_u128(0xC),
    );
    let mut rx_c = loh_testkit::writer::connect(&mut writer, c, 1, 1_000);
    writer.run_tick().await.unwrap();
    let mut rx_a = loh_testkit::writer::connect(&mut writer, a, 2, 1_000);
    let mut rx_b = loh_testkit::writer::connect(&mut writer, b, 3, 1_000);
    let mut seqs: HashMap<Uuid, u64> = HashMap::new();
    let ticks: Vec<Vec<(Uuid, Command)>> = vec![
        vec![],
        vec![(a, Command::TradeRequest { player_id: b })],
        vec![(b, Command::TradeRequest { player_id: a })],
        vec![
            (a, Command::TradeOffer { slot: 0, qty: 0 }),
            (b, Command::MoveItem { from: 1, to: 2 }),
        ],
        vec![(a, Command::TradeAccept), (b, Command::TradeAccept)],
        vec![(a, Command::TradeAccept), (b, Command::TradeAccept)],
    ];
    for tick in ticks {
        send_and_tick(&mut writer, &mut seqs, tick).await;
    }
    let private = |kind: &str| {
        kind.starts_with("Trade")
            || kind.starts_with("Bank")
            || kind.starts_with("Shop")
            || matches!(
                kind,
                "ItemsMinted" | "ItemsBurned" | "ItemMoved" | "ItemsProduced"
            )
    };
    let (by_a, by_b, by_c) = (
        received(&mut rx_a),
        received(&mut rx_b),
        received(&mut rx_c),
    );
    let has = |seen: &[(String, Option<Uuid>)], kind: &str, owner: Uuid| {
        seen.iter().any(|(k, o)| k == kind && *o == Some(owner))
    };
    // The trade happened and both parties saw it.
    assert!(has(&by_b, "TradeOffered", a), "b sees a's offer: {by_b:?}");
    assert!(has(&by_a, "TradeSettled", a) || has(&by_a, "TradeSettled", b));
    assert!(has(&by_b, "ItemMoved", b), "b sees its own slots move");
    // The bystander saw the two traders come, and none of their business.
    assert!(has(&by_c, "PlayerAppeared", a) && has(&by_c, "PlayerAppeared", b));
    let leaked: Vec<_> = by_c
        .iter()
        .filter(|(k, o)| private(k) && *o != Some(c))
        .collect();
    assert!(leaked.is_empty(), "the bystander saw {leaked:?}");
    let leaked: Vec<_> = by_a
        .iter()
        .filter(|(k, o)| private(k) && !k.starts_with("Trade") && *o != Some(a))
        .collect();
    assert!(leaked.is_empty(), "a saw b's inventory: {leaked:?}");
}

/// Sends each player's command of `tick` with its next seq, then runs the tick.
async fn send_and_tick(
    writer: &mut TickWriter,
    seqs: &mut HashMap<Uuid, u64>,
    tick: Vec<(Uuid, Command)>,
) {
    for (player_id, cmd) in tick {
        let seq = seqs.entry(player_id).or_default();
        *seq += 1;
        writer.take(Intake::Command {
            player_id,
            seq: *seq,
            cmd,
            received_at_us: 0,
        });
    }
    writer.run_tick().await.unwrap();
}
