//! The fixed phase order of a tick after input: NPCs → players → combat → flush; and [`Sim`],
//! the same order driven in process (tests, property tests, the benchmark).

use super::{Rejection, World};
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
    /// Ground items despawn and depleted nodes come back.
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

/// Drives whole ticks in process, in the tick writer's order: spawns, presence, commands (in the
/// order given), then [`PHASES`].
#[derive(Debug, Clone)]
pub struct Sim {
    pub world: World,
}

impl Sim {
    pub fn new(world: World) -> Sim {
        Sim { world }
    }

    /// Runs the next tick.
    pub fn tick(
        &mut self,
        spawns: &[Uuid],
        presence: &[(Uuid, bool)],
        commands: &[(Uuid, Command)],
    ) -> TickOutput {
        let tick = self.world.tick() + 1;
        self.world.begin_tick(tick);
        let mut out = TickOutput::default();
        let mut record =
            |_: &World, cause: Uuid, e: &EventBody| out.events.push((cause, e.clone()));
        for id in spawns {
            let events = self.world.spawn(*id);
            self.world
                .emit(step_id(tick, "spawn", id.as_bytes()), events, &mut record);
        }
        for (id, online) in presence {
            let events = self.world.presence(*id, *online);
            self.world.emit(
                step_id(tick, "presence", id.as_bytes()),
                events,
                &mut record,
            );
        }
        let mut rejected = Vec::new();
        for (i, (id, cmd)) in commands.iter().enumerate() {
            let cause = step_id(
                tick,
                "command",
                &[id.as_bytes().as_slice(), &(i as u64).to_be_bytes()].concat(),
            );
            let mut rng = self.world.rng_for(cause);
            match self.world.decide(*id, cmd, &mut rng) {
                Ok(events) => self.world.emit(cause, events, &mut record),
                Err(r) => rejected.push((i, r)),
            }
        }
        for phase in PHASES {
            self.world.run_phase(phase, &mut record);
        }
        out.rejected = rejected;
        out
    }
}
