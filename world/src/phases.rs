//! The fixed phase order of a tick after input: NPCs → players → combat → flush; and [`Sim`],
//! whole ticks of [`crate::step::step`] driven in process (tests, property tests, the benchmark).

use crate::step::{StepCommand, TickInputs, command_id, step};
use crate::{Rejection, World};
use loh_commands::Command;
use loh_events::EventBody;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// A phase after input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Spawns, chasing and wandering, in spawn-point order.
    Npcs,
    /// Paths, gathering, prayer drain and trade distance, in player-id order.
    Players,
    /// Player swings (player-id order), then NPC swings (NPC order).
    Combat,
    /// Ground items despawn, depleted nodes come back, memberships past their paid-through
    /// time lapse.
    Flush,
}

/// The phases after input, in order.
pub const PHASES: [Phase; 4] = [Phase::Npcs, Phase::Players, Phase::Combat, Phase::Flush];

/// Receives each event with its cause, before it is applied.
pub type Sink<'a> = dyn FnMut(&World, Uuid, &EventBody) + 'a;

/// The id of a phase step (the cause of its events and the seed of its RNG).
pub fn step_id(tick: u64, phase: &str, entity: &[u8]) -> Uuid {
    let mut h = Sha256::new();
    h.update(b"step");
    h.update(tick.to_be_bytes());
    h.update(phase.as_bytes());
    h.update(entity);
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&h.finalize()[..16]);
    Uuid::new_v8(bytes)
}

impl World {
    fn emit(&mut self, cause: Uuid, events: Vec<EventBody>, sink: &mut Sink<'_>) {
        for e in events {
            sink(self, cause, &e);
            self.apply(&e);
        }
    }

    /// Runs one phase: decides each step against the current state and applies its events.
    pub fn run_phase(&mut self, phase: Phase, sink: &mut Sink<'_>) {
        let tick = self.tick;
        match phase {
            Phase::Npcs => {
                for npc in 0..self.content.npc_spawns.len() as u32 {
                    let cause = step_id(tick, "npc", &npc.to_be_bytes());
                    let mut rng = self.rng_for(cause);
                    let events = self.npc_step(npc, &mut rng);
                    self.emit(cause, events, sink);
                }
            }
            Phase::Players => {
                let active: Vec<Uuid> = self
                    .players
                    .iter()
                    .filter(|(id, p)| {
                        p.path.is_some()
                            || p.gathering.is_some()
                            || !p.prayers.is_empty()
                            || self.trades.contains_key(id)
                    })
                    .map(|(id, _)| *id)
                    .collect();
                for id in active {
                    let cause = step_id(tick, "player", id.as_bytes());
                    let mut rng = self.rng_for(cause);
                    let events = self.path_step(id);
                    self.emit(cause, events, sink);
                    let events = self.gather_step(id, &mut rng);
                    self.emit(cause, events, sink);
                    let events = self.prayer_step(id);
                    self.emit(cause, events, sink);
                    let events = self.trade_step(id);
                    self.emit(cause, events, sink);
                }
            }
            Phase::Combat => {
                let fighters: Vec<Uuid> = self
                    .players
                    .iter()
                    .filter(|(_, p)| p.target.is_some())
                    .map(|(id, _)| *id)
                    .collect();
                for id in fighters {
                    let cause = step_id(tick, "combat", id.as_bytes());
                    let mut rng = self.rng_for(cause);
                    let events = self.player_combat_step(id, &mut rng);
                    self.emit(cause, events, sink);
                }
                let npcs: Vec<u32> = self.npcs.keys().copied().collect();
                for npc in npcs {
                    let cause = step_id(tick, "npc_combat", &npc.to_be_bytes());
                    let mut rng = self.rng_for(cause);
                    let events = self.npc_combat_step(npc, &mut rng);
                    self.emit(cause, events, sink);
                }
            }
            Phase::Flush => {
                let cause = step_id(tick, "flush", &[]);
                let mut events: Vec<EventBody> = self
                    .ground
                    .values()
                    .filter(|g| g.despawn_at <= tick)
                    .map(|g| EventBody::GroundItemDespawned {
                        ground_id: g.ground_id,
                        item: g.item.clone(),
                        qty: g.qty,
                    })
                    .collect();
                events.extend(self.node_respawns());
                events.extend(self.restocks());
                events.extend(self.lapses());
                self.emit(cause, events, sink);
            }
        }
    }
}

/// What one simulated tick produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickOutput {
    /// Every event of the tick, in order, with its cause.
    pub events: Vec<(Uuid, EventBody)>,
    /// Each refused command's index in the input and its rejection.
    pub rejected: Vec<(usize, Rejection)>,
}

/// Drives whole ticks in process through [`crate::step::step`], the tick writer's own step,
/// with the writer's command ids (shard [`Sim::SHARD`], each player's seq counting from 1):
/// spawns (in id order, as the writer sorts them), presence, commands in the order given, then
/// [`PHASES`]. For tests, property tests and the benchmark.
#[derive(Debug, Clone)]
pub struct Sim {
    pub world: World,
    seqs: std::collections::BTreeMap<Uuid, u64>,
}

impl Sim {
    /// The shard name the simulated command ids are derived with.
    pub const SHARD: &str = "sim";

    pub fn new(world: World) -> Sim {
        Sim {
            world,
            seqs: Default::default(),
        }
    }

    /// Runs the next tick.
    pub fn tick(
        &mut self,
        spawns: &[Uuid],
        presence: &[(Uuid, bool)],
        commands: &[(Uuid, Command)],
    ) -> TickOutput {
        self.tick_at(0, spawns, presence, commands)
    }

    /// Runs the next tick with the clock reading `now_us` (microseconds since the Unix epoch).
    pub fn tick_at(
        &mut self,
        now_us: i64,
        spawns: &[Uuid],
        presence: &[(Uuid, bool)],
        commands: &[(Uuid, Command)],
    ) -> TickOutput {
        self.tick_with(now_us, spawns, presence, &[], commands)
    }

    /// Runs the next tick with the clock reading `now_us` and `payments` among its inputs.
    pub fn tick_with(
        &mut self,
        now_us: i64,
        spawns: &[Uuid],
        presence: &[(Uuid, bool)],
        payments: &[crate::payments::Payment],
        commands: &[(Uuid, Command)],
    ) -> TickOutput {
        let tick = self.world.tick() + 1;
        let mut spawns = spawns.to_vec();
        spawns.sort();
        let inputs = TickInputs {
            spawns,
            presence: presence.to_vec(),
            payments: payments.to_vec(),
            rules: self.world.rules_to_adopt(),
            ..TickInputs::default()
        };
        let commands: Vec<StepCommand<'_>> = commands
            .iter()
            .map(|(player_id, command)| {
                let seq = self.seqs.entry(*player_id).or_default();
                *seq += 1;
                StepCommand {
                    command_id: command_id(Self::SHARD, *player_id, *seq),
                    player_id: *player_id,
                    command,
                }
            })
            .collect();
        let out = step(&mut self.world, tick, now_us, &inputs, &commands);
        TickOutput {
            events: out
                .events
                .into_iter()
                .map(|e| (e.correlation_id, e.body))
                .collect(),
            rejected: out
                .decided
                .into_iter()
                .enumerate()
                .filter_map(|(i, d)| d.result.err().map(|r| (i, r)))
                .collect(),
        }
    }
}
