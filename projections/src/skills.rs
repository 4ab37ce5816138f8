//! The `skills` read model: XP and level per player and skill, totals, and the leaderboards.
//!
//! Tables (migration `0005_read_models.sql`):
//! - `rm_skills (player_id, skill, xp, level, reached_position)`: `reached_position` is the
//!   position of the event that last raised the XP, so "who got there first" breaks ties.
//! - `rm_skill_totals (player_id, total_level, total_xp, reached_position)`: the overall board.
//!
//! Ranks: per skill by level, then XP (both descending), then `reached_position` (ascending);
//! overall by total level, then total XP, then `reached_position`. Levels follow from XP (the
//! OSRS table, `loh_world::skills`); `LevelledUp` events are not needed. A new player starts at level 1
//! everywhere but Hitpoints, which starts at level 10 (1,154 XP), as in the world.

use crate::flows::player;
use crate::fold::{Projection, RowOp, TableDef, Value};
use loh_events::{EventBody, Skill, StoredEvent};
use std::sync::OnceLock;

pub use loh_world::skills::{MAX_XP, level_for, starting_xp, xp_table};

/// Per skill.
pub const SKILLS: TableDef = TableDef {
    name: "rm_skills",
    key: &["player_id", "skill"],
    columns: &["player_id", "skill", "xp", "level", "reached_position"],
    ddl: "(player_id TEXT NOT NULL, skill TEXT NOT NULL, xp BIGINT NOT NULL, \
          level BIGINT NOT NULL, reached_position BIGINT NOT NULL, \
          PRIMARY KEY (player_id, skill))",
    indexes: &["CREATE INDEX IF NOT EXISTS rm_skills_rank \
                ON rm_skills (skill, level DESC, xp DESC, reached_position)"],
};

/// Totals.
pub const TOTALS: TableDef = TableDef {
    name: "rm_skill_totals",
    key: &["player_id"],
    columns: &["player_id", "total_level", "total_xp", "reached_position"],
    ddl: "(player_id TEXT PRIMARY KEY, total_level BIGINT NOT NULL, total_xp BIGINT NOT NULL, \
          reached_position BIGINT NOT NULL)",
    indexes: &["CREATE INDEX IF NOT EXISTS rm_skill_totals_rank \
                ON rm_skill_totals (total_level DESC, total_xp DESC, reached_position)"],
};

/// The name of a skill (`attack`, `woodcutting`, …), as in the protocol.
pub fn skill_name(skill: Skill) -> String {
    serde_json::to_value(skill)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The skill and XP an event grants, if any.
pub fn xp_of(body: &EventBody) -> Option<(uuid::Uuid, Skill, u32)> {
    match body {
        EventBody::XpGained {
            player_id,
            skill,
            xp,
        }
        | EventBody::ResourceGathered {
            player_id,
            skill,
            xp,
            ..
        }
        | EventBody::ItemsProduced {
            player_id,
            skill,
            xp,
            ..
        } if *xp > 0 => Some((*player_id, *skill, *xp)),
        _ => None,
    }
}

/// The statement setting `level` from `xp` (levels follow from XP; `LevelledUp` is only
/// informational, and not every XP source announces one).
fn level_sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        let mut sql = String::from("UPDATE {rm_skills} SET level = CASE");
        for level in (2..=99usize).rev() {
            sql.push_str(&format!(
                " WHEN xp >= {} THEN {level}",
                xp_table()[level - 1]
            ));
        }
        sql.push_str(" ELSE 1 END WHERE player_id = $1 AND skill = $2");
        sql
    })
}

/// The fold.
#[derive(Debug, Clone, Copy, Default)]
pub struct Skills;

impl Skills {
    pub const NAME: &'static str = "skills";
}

fn refresh_totals(id: uuid::Uuid, position: i64) -> RowOp {
    RowOp::Statement {
        table: TOTALS.name,
        sql: "UPDATE {rm_skill_totals} SET \
              reached_position = CASE \
                WHEN total_level = (SELECT SUM(level) FROM {rm_skills} WHERE player_id = $1) \
                 AND total_xp = (SELECT SUM(xp) FROM {rm_skills} WHERE player_id = $1) \
                THEN reached_position ELSE $2 END, \
              total_level = (SELECT SUM(level) FROM {rm_skills} WHERE player_id = $1), \
              total_xp = (SELECT SUM(xp) FROM {rm_skills} WHERE player_id = $1) \
              WHERE player_id = $1",
        values: vec![player(id), Value::int(position)],
    }
}

impl Projection for Skills {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn tables(&self) -> &'static [TableDef] {
        &[SKILLS, TOTALS]
    }

    fn apply(&self, event: &StoredEvent) -> loh_events::Result<Vec<RowOp>> {
        let body = event.body()?;
        let position = event.position as i64;
        let mut ops = Vec::new();
        match &body {
            EventBody::PlayerSpawned { player_id, .. } => {
                let (mut level, mut xp) = (0i64, 0i64);
                for skill in Skill::ALL {
                    let start = starting_xp(skill);
                    level += i64::from(level_for(start));
                    xp += i64::from(start);
                    ops.push(RowOp::Upsert {
                        table: SKILLS.name,
                        key: vec![
                            ("player_id", player(*player_id)),
                            ("skill", Value::text(skill_name(skill))),
                        ],
                        values: vec![
                            ("xp", Value::int(start)),
                            ("level", Value::int(level_for(start))),
                            ("reached_position", Value::int(position)),
                        ],
                    });
                }
                ops.push(RowOp::Upsert {
                    table: TOTALS.name,
                    key: vec![("player_id", player(*player_id))],
                    values: vec![
                        ("total_level", Value::int(level)),
                        ("total_xp", Value::int(xp)),
                        ("reached_position", Value::int(position)),
                    ],
                });
            }
            _ => {
                if let Some((id, skill, xp)) = xp_of(&body) {
                    ops.push(RowOp::Statement {
                        table: SKILLS.name,
                        sql: "UPDATE {rm_skills} SET \
                              reached_position = CASE WHEN xp >= 200000000 \
                                THEN reached_position ELSE $4 END, \
                              xp = CASE WHEN xp + $3 > 200000000 THEN 200000000 ELSE xp + $3 END \
                              WHERE player_id = $1 AND skill = $2",
                        values: vec![
                            player(id),
                            Value::text(skill_name(skill)),
                            Value::int(xp),
                            Value::int(position),
                        ],
                    });
                    ops.push(RowOp::Statement {
                        table: SKILLS.name,
                        sql: level_sql(),
                        values: vec![player(id), Value::text(skill_name(skill))],
                    });
                    ops.push(refresh_totals(id, position));
                }
            }
        }
        Ok(ops)
    }
}
