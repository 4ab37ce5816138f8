//! Given/when/then helpers for the systems' tests.

use super::phases::Sim;
use super::{Decision, MapConfig, World};
use loh_commands::Command;
use loh_events::{EventBody, Skill};
use uuid::Uuid;

pub const A: Uuid = Uuid::from_u128(0xA);
pub const B: Uuid = Uuid::from_u128(0xB);
pub const C: Uuid = Uuid::from_u128(0xC);

/// A world built from events, then driven by commands and ticks.
pub struct Given {
    pub world: World,
}

impl Given {
    pub fn new() -> Given {
        let mut world = World::new(MapConfig::default());
        world.begin_tick(1);
        world.apply(&EventBody::RulesAdopted {
            rules: crate::RULES,
        });
        Given { world }
    }

    fn with(mut self, events: Vec<EventBody>) -> Given {
        for e in events {
            self.world.apply(&e);
        }
        self
    }

    /// Given a spawned player with the starter kit.
    pub fn player(self, id: Uuid) -> Given {
        let events = self.world.spawn(id);
        self.with(events)
    }

    /// Given `qty` of `item` minted into the player's inventory.
    pub fn minted(self, id: Uuid, item: &str, qty: u32) -> Given {
        self.with(vec![EventBody::ItemsMinted {
            player_id: id,
            item: item.into(),
            qty,
            source: "test".into(),
        }])
    }

    /// Given the player standing on `(x, y)`.
    pub fn at(self, id: Uuid, (x, y): (i32, i32)) -> Given {
        let p = self.world.player(id).expect("spawned");
        let e = EventBody::PlayerMoved {
            player_id: id,
            from_x: p.x,
            from_y: p.y,
            x,
            y,
            running: false,
            path_to: None,
        };
        let mut g = self.with(vec![e]);
        let tick = g.world.tick();
        g.world.begin_tick(tick);
        g
    }

    pub fn member(self, id: Uuid) -> Given {
        self.with(vec![EventBody::MembershipChanged {
            player_id: id,
            members: true,
        }])
    }

    pub fn online(self, id: Uuid) -> Given {
        self.with(vec![EventBody::PlayerPresence {
            player_id: id,
            online: true,
        }])
    }

    pub fn xp(self, id: Uuid, skill: Skill, xp: u32) -> Given {
        self.with(vec![EventBody::XpGained {
            player_id: id,
            skill,
            xp,
        }])
    }

    pub fn decide(&self, id: Uuid, cmd: Command) -> Decision {
        let mut rng = self.world.rng_for(id);
        self.world.decide(id, &cmd, &mut rng)
    }

    /// When the player sends `cmd` (in the current tick): its events, applied.
    pub fn when(&mut self, id: Uuid, cmd: Command) -> Decision {
        let events = self.decide(id, cmd)?;
        for e in &events {
            self.world.apply(e);
        }
        Ok(events)
    }

    /// The rejection code of `cmd`; panics when it is accepted.
    pub fn rejects(&self, id: Uuid, cmd: Command) -> &'static str {
        match self.decide(id, cmd) {
            Ok(events) => panic!("accepted: {events:?}"),
            Err(r) => r.code.as_str(),
        }
    }

    /// A session opening or closing.
    pub fn presence(&mut self, id: Uuid, online: bool) -> Vec<EventBody> {
        let events = self.world.presence(id, online);
        for e in &events {
            self.world.apply(e);
        }
        events
    }

    /// Runs `n` ticks with no input; the events they produced.
    pub fn run_ticks(&mut self, n: u64) -> Vec<EventBody> {
        let mut sim = Sim::new(self.world.clone());
        let mut events = Vec::new();
        for _ in 0..n {
            events.extend(sim.tick(&[], &[], &[]).events.into_iter().map(|(_, e)| e));
        }
        self.world = sim.world;
        events
    }

    /// Then value is conserved.
    pub fn assert_conserved(&self) {
        self.world.check_conservation().unwrap();
    }
}
