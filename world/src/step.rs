//! [`step`]: the one deterministic tick step.
//!
//! The live tick writer, `loh replay resimulate`, the property tests and the benchmarks all
//! advance the world through this function, so what a re-run produces is what the writer
//! produced, byte for byte, by construction. A tick is: input (players entering for the first
//! time, sessions opened or closed, then commands in the order given), then the world's phases
//! NPCs → players → combat → flush ([`PHASES`]). Every event gets its envelope here
//! ([`NewEvent`]: id, stream version, cause) from the state just before it is applied.
//!
//! What stays with the caller: which commands reach the step (the writer answers duplicates
//! and over-budget commands itself, unjournaled), the clock (`now_us`), and storage.

use crate::payments::Payment;
use crate::phases::PHASES;
use crate::{Rejection, World};
use loh_commands::Command;
use loh_events::{EventBody, NewEvent};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The player id under which a tick's inputs other than commands are journaled, with
/// `seq` = the tick, so the journal alone replays the world (`loh replay resimulate`).
pub const TICK_INPUTS_PLAYER: Uuid = Uuid::nil();

/// Commands a player may have decided per tick; the writer refuses the rest with
/// `rate_limited`, unjournaled, so the same seq can be sent again later.
pub const ACTIONS_PER_TICK: usize = 8;

/// A tick's inputs other than commands: characters arriving from other worlds (in the order
/// given, which the writer makes the order their departures committed), players entering for the
/// first time (decided in the order given, which the writer makes id order), sessions opened
/// (`true`) or closed, in arrival order, and Stripe events waiting to be applied, in the order
/// given; and, in a tick that decides a `HopWorld`, the other worlds a character may hop to.
/// Journaled as MessagePack under [`TICK_INPUTS_PLAYER`], ahead of the tick's commands
/// (journals written before payments or hops have none, read as none).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TickInputs {
    pub spawns: Vec<Uuid>,
    pub presence: Vec<(Uuid, bool)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub payments: Vec<Payment>,
    /// Hops in flight to this world ([`crate::hop`]): each arrives once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arrivals: Vec<loh_events::hop::Hop>,
    /// The other worlds a character may hop to from this tick on ([`World::set_hop_worlds`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worlds: Option<Vec<String>>,
    /// Newer rules to decide by from this tick on ([`crate::RULES`]): the writer's first tick
    /// on a build with newer rules than its log's ([`World::rules_to_adopt`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<u32>,
}

impl TickInputs {
    pub fn is_empty(&self) -> bool {
        self.spawns.is_empty()
            && self.presence.is_empty()
            && self.payments.is_empty()
            && self.arrivals.is_empty()
            && self.worlds.is_none()
            && self.rules.is_none()
    }
}

/// One command to decide in a step.
#[derive(Debug, Clone, Copy)]
pub struct StepCommand<'a> {
    /// The command's id: its events' cause and its RNG's seed ([`command_id`]).
    pub command_id: Uuid,
    pub player_id: Uuid,
    pub command: &'a Command,
}

/// How one command of a step was decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    /// The indexes of this command's own events in the step's output (empty when refused).
    pub events: std::ops::Range<usize>,
    /// `Ok` when accepted (its events are in the step's output), or why it changed nothing.
    pub result: Result<(), Rejection>,
}

/// What one tick step produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepOutput {
    /// Every event of the tick, in order, with its envelope.
    pub events: Vec<NewEvent>,
    /// Each command's decision, in the order given.
    pub decided: Vec<Decided>,
}

/// Runs tick `tick` on `world`: inputs, commands in the order given, then [`PHASES`]. Pure and
/// deterministic: the same world, tick, clock reading, inputs and commands give the same events.
pub fn step(
    world: &mut World,
    tick: u64,
    now_us: i64,
    inputs: &TickInputs,
    commands: &[StepCommand<'_>],
) -> StepOutput {
    world.begin_tick(tick);
    world.set_clock(now_us);
    let mut out = StepOutput::default();
    if let Some(worlds) = &inputs.worlds {
        world.set_hop_worlds(worlds.iter().cloned());
    }
    // Newer rules first, so the whole tick is decided by them; never older ones.
    if let Some(rules) = inputs.rules.filter(|r| *r > world.rules()) {
        let cause = rules_cause(rules);
        let bodies = vec![EventBody::RulesAdopted { rules }];
        emit(world, &mut out.events, tick, now_us, cause, bodies);
    }
    // Characters arriving from other worlds, before spawns: a character in flight here is
    // never spawned anew.
    for hop in &inputs.arrivals {
        let bodies = world.arrival(hop);
        emit(
            world,
            &mut out.events,
            tick,
            now_us,
            hop_cause(hop.hop),
            bodies,
        );
    }
    for &player_id in &inputs.spawns {
        let bodies = world.spawn(player_id);
        emit(
            world,
            &mut out.events,
            tick,
            now_us,
            spawn_cause(player_id),
            bodies,
        );
    }
    // Sessions opened and closed, in arrival order (friends see it; a trade is cancelled).
    for &(player_id, online) in &inputs.presence {
        let bodies = world.presence(player_id, online);
        let cause = presence_cause(player_id, tick);
        emit(world, &mut out.events, tick, now_us, cause, bodies);
    }
    // Stripe events, once each, in the order given (the writer's: as stored).
    for payment in &inputs.payments {
        let bodies = world.decide_payment(payment);
        let cause = payment_cause(&payment.id);
        emit(world, &mut out.events, tick, now_us, cause, bodies);
    }
    for c in commands {
        let first_event = out.events.len();
        let mut rng = world.rng_for(c.command_id);
        let result = world
            .decide(c.player_id, c.command, &mut rng)
            .map(|bodies| emit(world, &mut out.events, tick, now_us, c.command_id, bodies));
        out.decided.push(Decided {
            events: first_event..out.events.len(),
            result,
        });
    }
    // The world's phases after input: NPCs → players → combat → flush.
    for phase in PHASES {
        world.run_phase(phase, &mut |world, cause, body| {
            push_new(&mut out.events, world, tick, now_us, cause, body.clone());
        });
    }
    out
}

/// Gives each of `bodies` its envelope and applies it, in order.
fn emit(
    world: &mut World,
    events: &mut Vec<NewEvent>,
    tick: u64,
    now_us: i64,
    cause: Uuid,
    bodies: Vec<EventBody>,
) {
    for body in bodies {
        push_new(events, world, tick, now_us, cause, body);
        world.apply(&events.last().expect("just pushed").body);
    }
}

/// The id of a client command: its shard, player and sequence number.
pub fn command_id(shard: &str, player_id: Uuid, seq: u64) -> Uuid {
    derive_id(&[shard.as_bytes(), player_id.as_bytes(), &seq.to_be_bytes()])
}

/// The journal id of tick `tick`'s inputs in `shard`.
pub fn inputs_id(shard: &str, tick: u64) -> Uuid {
    derive_id(&[b"inputs", shard.as_bytes(), &tick.to_be_bytes()])
}

/// The cause of a player's entering events.
fn spawn_cause(player_id: Uuid) -> Uuid {
    derive_id(&[b"spawn", player_id.as_bytes()])
}

/// The cause of a hop's arrival: the hop's id.
/// The cause of adopting rules version `rules` (once per log).
fn rules_cause(rules: u32) -> Uuid {
    derive_id(&[b"rules", &rules.to_be_bytes()])
}

pub fn hop_cause(hop: Uuid) -> Uuid {
    derive_id(&[b"hop", hop.as_bytes()])
}

/// The cause of a Stripe event's events: its id.
pub fn payment_cause(stripe_event_id: &str) -> Uuid {
    derive_id(&[b"payment", stripe_event_id.as_bytes()])
}

/// The cause of a session's opening or closing in `tick`.
fn presence_cause(player_id: Uuid, tick: u64) -> Uuid {
    derive_id(&[b"presence", player_id.as_bytes(), &tick.to_be_bytes()])
}

/// How the event ids of a log are made ([`push_new`]).
///
/// Every world appends to the same `events` table, whose event ids are unique across worlds
/// (JetStream dedupes on them too). Causes and ticks repeat from world to world (every world's
/// NPCs step at tick 1), so a log's ids name its shard. A log keeps the kind of ids it began
/// with, so that `loh replay resimulate` still reproduces it byte for byte:
/// [`EventIds::for_log`] tells the three apart by the log's first event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum EventIds {
    /// From the cause, the index in the tick's output and the tick (logs begun before worlds
    /// shared a database).
    #[default]
    Unsalted,
    /// From the shard, then as [`EventIds::Unsalted`] (logs begun before ordered ids).
    Shard(std::sync::Arc<str>),
    /// The tick and the index in its output, then a digest of the shard: a log's ids ascend
    /// in the order it is appended, so each append adds to the right-hand end of the store's
    /// unique index on them instead of touching a page anywhere in it (a third of an append's
    /// time in PostgreSQL once that index outgrows memory, docs/BENCHMARKS.md). Every log
    /// begun since is named so. Two worlds' ids at the same tick and index differ by 50 bits of
    /// their shards' digests; the ids commit to no content, so the stores tell a retried batch
    /// from another one by comparing what they stored. Made by [`EventIds::ordered`].
    Ordered(OrderedIds),
}

/// The shard of an [`EventIds::Ordered`] log and the digest of it that ends each of its ids,
/// hashed once for the log rather than once an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderedIds {
    shard: std::sync::Arc<str>,
    salt: [u8; 7],
}

/// The ticks and indexes [`EventIds::Ordered`] lays out in order; past them (never reached: 2^48
/// ticks of 400 ms are millions of years, 2^24 events a tick is a thousand times a crowd's) an
/// id is made as [`EventIds::Shard`] makes it, unique but out of order.
const ORDERED_TICKS: u64 = 1 << 48;
const ORDERED_INDEXES: u64 = 1 << 24;

impl EventIds {
    /// [`EventIds::Ordered`] for `shard`'s log.
    pub fn ordered(shard: &str) -> EventIds {
        let digest = derive_id(&[b"ordered", shard.as_bytes()]).into_bytes();
        let mut salt = [0u8; 7];
        salt.copy_from_slice(&digest[..7]);
        EventIds::Ordered(OrderedIds {
            shard: shard.into(),
            salt,
        })
    }

    /// The ids of `shard`'s log whose first event (if any) has id `event_id`, cause `cause` and
    /// tick `tick`: the first of its first tick tells how the log was begun; a new log's ids
    /// are [`EventIds::Ordered`].
    pub fn for_log(shard: &str, first: Option<(Uuid, Uuid, u64)>) -> EventIds {
        let salted = EventIds::Shard(shard.into());
        match first {
            Some((event_id, cause, tick)) if event_id == EventIds::Unsalted.id(cause, 0, tick) => {
                EventIds::Unsalted
            }
            Some((event_id, cause, tick)) if event_id == salted.id(cause, 0, tick) => salted,
            _ => EventIds::ordered(shard),
        }
    }

    /// The id of the `index`th event of `tick`'s output, caused by `cause`.
    pub fn id(&self, cause: Uuid, index: u64, tick: u64) -> Uuid {
        let (index_bytes, tick_bytes) = (index.to_be_bytes(), tick.to_be_bytes());
        match self {
            EventIds::Unsalted => derive_id(&[cause.as_bytes(), &index_bytes, &tick_bytes]),
            EventIds::Shard(shard) => derive_id(&[
                b"shard",
                shard.as_bytes(),
                cause.as_bytes(),
                &index_bytes,
                &tick_bytes,
            ]),
            EventIds::Ordered(OrderedIds { salt, .. })
                if tick < ORDERED_TICKS && index < ORDERED_INDEXES =>
            {
                // 48 bits of tick, 24 of index around the version and variant bits, 50 of the
                // shard's digest: byte order is (tick, index) order within a log.
                let mut b = [0u8; 16];
                b[..6].copy_from_slice(&tick_bytes[2..]);
                b[6] = ((index >> 20) & 0x0F) as u8;
                b[7] = ((index >> 12) & 0xFF) as u8;
                b[8] = ((index >> 6) & 0x3F) as u8;
                b[9] = (((index & 0x3F) as u8) << 2) | (salt[0] & 0x03);
                b[10..].copy_from_slice(&salt[1..7]);
                Uuid::new_v8(b)
            }
            EventIds::Ordered(OrderedIds { shard, .. }) => {
                EventIds::Shard(shard.clone()).id(cause, index, tick)
            }
        }
    }
}

/// Adds `body` as the next event of `events` and of its stream (the world has not applied it
/// yet; its stream version is the world's plus one).
pub fn push_new(
    events: &mut Vec<NewEvent>,
    world: &World,
    tick: u64,
    now_us: i64,
    cause: Uuid,
    body: EventBody,
) {
    let index = events.len() as u64;
    events.push(NewEvent {
        event_id: world.event_ids().id(cause, index, tick),
        stream_id: body.stream_id(),
        stream_version: world.stream_version(&body) + 1,
        tick,
        correlation_id: cause,
        causation_id: Some(cause),
        occurred_at_us: now_us,
        body,
    });
}

/// A deterministic UUID from its parts (SHA-256, version 8).
pub fn derive_id(parts: &[&[u8]]) -> Uuid {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u32).to_be_bytes());
        h.update(p);
    }
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::new_v8(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MapConfig;

    const A: Uuid = Uuid::from_u128(0xA);

    #[test]
    fn a_step_gives_the_same_events_from_the_same_world_and_inputs() {
        let run = || {
            let mut world = World::new(MapConfig::default());
            let inputs = TickInputs {
                spawns: vec![A],
                presence: vec![(A, true)],
                ..TickInputs::default()
            };
            let mut out = step(&mut world, 1, 7, &inputs, &[]);
            let walk = Command::WalkTo {
                x: 3230,
                y: 3218,
                run: false,
            };
            let cmd = StepCommand {
                command_id: command_id("s", A, 1),
                player_id: A,
                command: &walk,
            };
            let second = step(&mut world, 2, 8, &TickInputs::default(), &[cmd]);
            out.events.extend(second.events);
            (out.events, second.decided)
        };
        let (events, decided) = run();
        assert!(events.len() > 3, "spawn, kit, presence, path and a step");
        assert_eq!(decided.len(), 1);
        assert_eq!(decided[0].result, Ok(()));
        assert_eq!(run(), (events, decided));
    }

    #[test]
    fn newer_rules_are_adopted_once_and_older_ones_never() {
        let mut world = World::new(MapConfig::default());
        assert_eq!(world.rules(), crate::ORIGINAL_RULES);
        assert_eq!(world.rules_to_adopt(), Some(crate::RULES));
        let adopt = TickInputs {
            rules: world.rules_to_adopt(),
            ..TickInputs::default()
        };
        let out = step(&mut world, 1, 0, &adopt, &[]);
        assert_eq!(
            out.events[0].body,
            EventBody::RulesAdopted {
                rules: crate::RULES
            }
        );
        assert_eq!(world.rules(), crate::RULES);
        assert_eq!(world.rules_to_adopt(), None);
        for again in [crate::RULES, crate::ORIGINAL_RULES] {
            let inputs = TickInputs {
                rules: Some(again),
                ..TickInputs::default()
            };
            let out = step(&mut world, 2, 0, &inputs, &[]);
            assert!(
                !out.events
                    .iter()
                    .any(|e| matches!(e.body, EventBody::RulesAdopted { .. })),
                "rules {again} adopted again"
            );
        }
        assert_eq!(world.rules(), crate::RULES);
    }

    #[test]
    fn worlds_make_different_ids_and_an_old_log_keeps_its_own() {
        let first_events = |ids: EventIds| {
            let mut world = World::new(MapConfig::default());
            world.set_event_ids(ids);
            let inputs = TickInputs {
                spawns: vec![A],
                presence: vec![(A, true)],
                ..TickInputs::default()
            };
            step(&mut world, 1, 7, &inputs, &[]).events
        };
        let (old, a, b) = (
            first_events(EventIds::Unsalted),
            first_events(EventIds::Shard("a".into())),
            first_events(EventIds::Shard("b".into())),
        );
        let ids = |events: &[NewEvent]| -> std::collections::BTreeSet<Uuid> {
            events.iter().map(|e| e.event_id).collect()
        };
        assert!(ids(&a).is_disjoint(&ids(&b)), "two worlds, the same tick");
        assert!(ids(&a).is_disjoint(&ids(&old)));
        let bodies = |events: &[NewEvent]| -> Vec<EventBody> {
            events.iter().map(|e| e.body.clone()).collect()
        };
        assert_eq!(bodies(&a), bodies(&b), "only the ids differ");
        let first = |e: &NewEvent| Some((e.event_id, e.correlation_id, e.tick));
        assert_eq!(EventIds::for_log("a", first(&old[0])), EventIds::Unsalted);
        assert_eq!(
            EventIds::for_log("a", first(&a[0])),
            EventIds::Shard("a".into())
        );
        assert_eq!(EventIds::for_log("a", None), EventIds::ordered("a"));
    }

    #[test]
    fn ordered_ids_ascend_with_tick_and_index_name_their_world_and_are_recognised() {
        let (a, b) = (EventIds::ordered("a"), EventIds::ordered("b"));
        let cause = Uuid::from_u128(7);
        let mut last = None;
        for tick in [1, 2, 255, 256, 65_536, (1 << 40) + 3, ORDERED_TICKS - 1] {
            for index in [0, 1, 63, 64, 4_095, 4_096, 1 << 20, ORDERED_INDEXES - 1] {
                let id = a.id(cause, index, tick);
                assert_eq!(id.get_version_num(), 8);
                assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
                assert!(last < Some(id), "tick {tick}, index {index} after {last:?}");
                assert_ne!(
                    id,
                    b.id(cause, index, tick),
                    "the same place in another world"
                );
                last = Some(id);
            }
        }
        // Past the layout, still unique (as the shard's hashed ids), no longer in order.
        let past = a.id(cause, ORDERED_INDEXES, 1);
        assert_eq!(
            past,
            EventIds::Shard("a".into()).id(cause, ORDERED_INDEXES, 1)
        );

        let first = |ids: &EventIds| {
            let mut world = World::new(MapConfig::default());
            world.set_event_ids(ids.clone());
            let inputs = TickInputs {
                spawns: vec![A],
                presence: vec![(A, true)],
                ..TickInputs::default()
            };
            let e = step(&mut world, 1, 7, &inputs, &[]).events.remove(0);
            Some((e.event_id, e.correlation_id, e.tick))
        };
        for ids in [
            EventIds::Unsalted,
            EventIds::Shard("a".into()),
            EventIds::ordered("a"),
        ] {
            assert_eq!(EventIds::for_log("a", first(&ids)), ids, "{ids:?}");
        }
    }

    #[test]
    fn a_refused_command_is_reported_in_order_and_adds_no_event() {
        let mut world = World::new(MapConfig::default());
        let say = Command::Say { text: "hi".into() };
        let cmd = StepCommand {
            command_id: command_id("s", A, 1),
            player_id: A,
            command: &say,
        };
        let out = step(&mut world, 1, 0, &TickInputs::default(), &[cmd]);
        assert_eq!(out.decided.len(), 1);
        assert_eq!(out.decided[0].events, 0..0);
        assert_eq!(
            out.decided[0].result.as_ref().map_err(|r| r.code),
            Err(crate::RejectionCode::NotSpawned)
        );
        assert!(
            out.events
                .iter()
                .all(|e| e.correlation_id != command_id("s", A, 1)),
            "the world's phases ran, the command added nothing"
        );
    }

    #[test]
    fn each_event_carries_its_stream_version_before_it_was_applied() {
        let mut world = World::new(MapConfig::default());
        let inputs = TickInputs {
            spawns: vec![A],
            presence: vec![],
            ..TickInputs::default()
        };
        let out = step(&mut world, 1, 0, &inputs, &[]);
        let versions: Vec<u64> = out
            .events
            .iter()
            .filter(|e| e.body.player_id() == Some(A))
            .map(|e| e.stream_version)
            .collect();
        // The spawn creates the stream: its version is counted from the record it makes.
        assert!(
            versions.windows(2).all(|w| w[1] == w[0] + 1),
            "{versions:?}"
        );
    }
}
