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
//!
//! Reads: a [`Board`] whole in order ([`leaderboard`]), one player's [`standing`] and rank, the
//! rows changed after a position ([`changed_after`], to keep a copy of a board up to date).

use crate::db::ReadDb;
use crate::flows::player;
use crate::fold::{Projection, RowOp, TableDef, Value};
use crate::select::Select;
use crate::{Error, Result};
use loh_events::{EventBody, Skill, StoredEvent};
use sqlx::Row;
use sqlx::any::AnyRow;
use std::cmp::{Ordering, Reverse};
use std::sync::OnceLock;
use uuid::Uuid;

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

    fn fold(&self, event: &StoredEvent, body: &EventBody) -> loh_events::Result<Vec<RowOp>> {
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
                if let Some((id, skill, xp)) = xp_of(body) {
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

/// A leaderboard: `overall` (total level, then total XP) or one skill (level, then XP); ties go
/// to who got there first, then to the player id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Board {
    Overall,
    Skill(Skill),
}

impl Board {
    /// The board called `name`: `overall` or a skill name (`attack`, `woodcutting`, …).
    pub fn parse(name: &str) -> Option<Board> {
        if name == "overall" {
            return Some(Board::Overall);
        }
        Skill::ALL
            .into_iter()
            .find(|k| skill_name(*k) == name)
            .map(Board::Skill)
    }

    /// `overall` or the skill's name.
    pub fn name(self) -> String {
        match self {
            Board::Overall => "overall".into(),
            Board::Skill(skill) => skill_name(skill),
        }
    }

    /// `SELECT player_id, lvl, xp, reached FROM … WHERE <board>` (more conditions follow).
    fn select(self) -> Select {
        match self {
            Board::Overall => Select::new(
                "SELECT player_id, total_level AS lvl, total_xp AS xp, reached_position AS reached \
                 FROM rm_skill_totals WHERE 1 = 1",
            ),
            Board::Skill(skill) => {
                let mut q = Select::new(
                    "SELECT player_id, level AS lvl, xp, reached_position AS reached \
                     FROM rm_skills WHERE skill = ",
                );
                q.text(skill_name(skill));
                q
            }
        }
    }

    /// `SELECT COUNT(*) AS n FROM … WHERE <board>` (more conditions follow).
    fn count(self) -> Select {
        match self {
            Board::Overall => Select::new("SELECT COUNT(*) AS n FROM rm_skill_totals WHERE 1 = 1"),
            Board::Skill(skill) => {
                let mut q = Select::new("SELECT COUNT(*) AS n FROM rm_skills WHERE skill = ");
                q.text(skill_name(skill));
                q
            }
        }
    }

    /// The level and XP columns of the board's table.
    fn columns(self) -> (&'static str, &'static str) {
        match self {
            Board::Overall => ("total_level", "total_xp"),
            Board::Skill(_) => ("level", "xp"),
        }
    }
}

/// A player's place on a board: the row's sort key, and its rank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// 1 for the best, as far as the query that gave the standing ranks (see each query).
    pub rank: i64,
    pub player_id: Uuid,
    /// The total level (overall) or the skill's level.
    pub level: i64,
    /// The total XP (overall) or the skill's XP.
    pub xp: i64,
    /// The position of the event that last raised the level or XP.
    pub reached_position: i64,
}

impl Standing {
    /// Leaderboard order, best first: level, then XP (descending), then who got there first,
    /// then the player id. The rank plays no part.
    pub fn board_order(&self, other: &Standing) -> Ordering {
        let key = |s: &Standing| {
            (
                Reverse(s.level),
                Reverse(s.xp),
                s.reached_position,
                s.player_id,
            )
        };
        key(self).cmp(&key(other))
    }
}

/// The standings of `rows` (of [`Board::select`]), ranked from `first_rank`.
fn standings(rows: &[AnyRow], first_rank: i64) -> Result<Vec<Standing>> {
    rows.iter()
        .enumerate()
        .map(|(i, r)| {
            let id: String = r.try_get("player_id")?;
            Ok(Standing {
                rank: first_rank + i as i64,
                player_id: Uuid::parse_str(&id)
                    .map_err(|e| Error::Invalid(format!("leaderboard player_id {id:?}: {e}")))?,
                level: r.try_get("lvl")?,
                xp: r.try_get("xp")?,
                reached_position: r.try_get("reached")?,
            })
        })
        .collect()
}

/// The whole board in leaderboard order; each rank is the place on the board.
pub async fn leaderboard(db: &ReadDb, board: Board) -> Result<Vec<Standing>> {
    let (lvl, xp) = board.columns();
    let mut q = board.select();
    q.push(&format!(
        " ORDER BY {lvl} DESC, {xp} DESC, reached_position ASC, player_id ASC"
    ));
    standings(&q.fetch_all(db).await?, 1)
}

/// The standings of the board's rows changed after `position` (every change of a row raises its
/// `reached_position`), in no order and unranked (rank 0).
pub async fn changed_after(db: &ReadDb, board: Board, position: i64) -> Result<Vec<Standing>> {
    let mut q = board.select();
    q.push(" AND reached_position > ").int(position);
    standings(&q.fetch_all(db).await?, 0)
}

/// The standing of `player_id` on the board, ranked (1 + the rows ahead of it); `None` when the
/// player is not on it.
pub async fn standing(db: &ReadDb, board: Board, player_id: Uuid) -> Result<Option<Standing>> {
    let mut q = board.select();
    q.push(" AND player_id = ").text(player_id.to_string());
    let Some(mut me) = standings(&q.fetch_all(db).await?, 0)?.pop() else {
        return Ok(None);
    };
    // Rows ahead: a higher level; or the same level and more XP; or the same level and XP,
    // reached earlier; or all that the same and a lower player id.
    let (lvl, xp) = board.columns();
    let mut q = board.count();
    q.push(&format!(" AND ({lvl} > ")).int(me.level);
    q.push(&format!(" OR ({lvl} = ")).int(me.level);
    q.push(&format!(" AND {xp} > ")).int(me.xp);
    q.push(&format!(") OR ({lvl} = ")).int(me.level);
    q.push(&format!(" AND {xp} = ")).int(me.xp);
    q.push(" AND reached_position < ").int(me.reached_position);
    q.push(&format!(") OR ({lvl} = ")).int(me.level);
    q.push(&format!(" AND {xp} = ")).int(me.xp);
    q.push(" AND reached_position = ").int(me.reached_position);
    q.push(" AND player_id < ").text(me.player_id.to_string());
    q.push("))");
    let ahead: i64 = q
        .fetch_all(db)
        .await?
        .first()
        .map(|r| r.try_get("n"))
        .transpose()?
        .unwrap_or(0);
    me.rank = ahead + 1;
    Ok(Some(me))
}
