//! The shape of a read model: a pure fold from events to row operations.
//!
//! A projection never reads the database and never does I/O: given an event it answers which rows
//! change and how. The runner turns those operations into SQL for PostgreSQL or SQLite, in the
//! same transaction as the checkpoint. A read model is a type implementing [`Projection`], a
//! migration creating its tables (`0003`, `0005`), and an entry in [`crate::all`].

use loh_events::{EventBody, StoredEvent};

/// A read model: its name, its tables and its fold.
pub trait Projection: Send + Sync + 'static {
    /// Stable name: the checkpoint row, the metrics label and the durable consumer of a projector
    /// run alone (`proj_<name>`). `[a-z0-9_]` only.
    fn name(&self) -> &'static str;

    /// The tables this read model owns (created by a migration; rebuild recreates them as
    /// shadow tables from these definitions).
    fn tables(&self) -> &'static [TableDef];

    /// The row operations that `event`, whose decoded body is `body`, causes, in order. Events
    /// this model ignores give none.
    ///
    /// Pure and deterministic. The runner decodes each event once for every read model of a
    /// process and hands each the same body.
    fn fold(&self, event: &StoredEvent, body: &EventBody) -> loh_events::Result<Vec<RowOp>>;

    /// [`Projection::fold`] of `event` and its body. An error means the event cannot be decoded
    /// by this build (a missing upcaster); the runner stops rather than skip it.
    fn apply(&self, event: &StoredEvent) -> loh_events::Result<Vec<RowOp>> {
        self.fold(event, &event.body()?)
    }

    /// For one partition of a split model ([`crate::partition::Partition`]): the whole model's
    /// name. Partitions are never rebuilt on their own.
    fn partition_of(&self) -> Option<&'static str> {
        None
    }
}

/// A read-model table: its name, key and column definitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableDef {
    /// Table name, `[a-z0-9_]`.
    pub name: &'static str,
    /// The key columns (the primary key), in order; reads sort by them.
    pub key: &'static [&'static str],
    /// Every column, key included, in table order.
    pub columns: &'static [&'static str],
    /// The parenthesised column list of `CREATE TABLE`, valid SQL for both PostgreSQL and
    /// SQLite, identical in meaning to the table's migration.
    pub ddl: &'static str,
    /// `CREATE INDEX IF NOT EXISTS … ON <name> …` statements, identical to the migration's;
    /// a rebuild runs them again after its swap.
    pub indexes: &'static [&'static str],
}

/// A column value. Nulls carry their type, because PostgreSQL needs typed parameters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Value {
    /// A `BIGINT` (or a null one).
    Int(Option<i64>),
    /// A `TEXT` (or a null one).
    Text(Option<String>),
}

impl Value {
    /// A non-null integer.
    pub fn int(v: impl Into<i64>) -> Value {
        Value::Int(Some(v.into()))
    }

    /// A non-null text.
    pub fn text(v: impl Into<String>) -> Value {
        Value::Text(Some(v.into()))
    }
}

/// One named column value.
pub type Column = (&'static str, Value);

/// A change to one row of a read-model table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowOp {
    /// Insert the row `key ∪ values`; if the key exists, overwrite only the `values` columns
    /// (other columns keep their value, or their default on insert).
    Upsert {
        table: &'static str,
        key: Vec<Column>,
        values: Vec<Column>,
    },
    /// Set `values` on the row with `key` if it exists; nothing otherwise.
    Update {
        table: &'static str,
        key: Vec<Column>,
        values: Vec<Column>,
    },
    /// Add `by` to the integer `column` of the row with `key`, inserting the row with
    /// `column = by` when missing (counters, balances, leaderboard scores).
    Increment {
        table: &'static str,
        key: Vec<Column>,
        column: &'static str,
        by: i64,
    },
    /// Delete the rows matching `key` (every key column, or a prefix of them), if any.
    Delete {
        table: &'static str,
        key: Vec<Column>,
    },
    /// A statement written by the projection, for what the operations above cannot say: a value
    /// computed from rows already in the read model (an aggregate, a worn item going back to the
    /// inventory), a conditional delete. Still pure: the fold only describes it.
    ///
    /// Table names appear as `{name}` (plain identifiers, suffixed for shadow tables during a
    /// rebuild); values bind to `$1…` in order; the SQL must mean the same on PostgreSQL and
    /// SQLite.
    Statement {
        table: &'static str,
        sql: &'static str,
        values: Vec<Value>,
    },
}

impl RowOp {
    /// The table the operation writes.
    pub fn table(&self) -> &'static str {
        match self {
            RowOp::Upsert { table, .. }
            | RowOp::Update { table, .. }
            | RowOp::Increment { table, .. }
            | RowOp::Delete { table, .. }
            | RowOp::Statement { table, .. } => table,
        }
    }
}

/// Whether `name` is a plain SQL identifier (`[a-z_][a-z0-9_]*`), safe to splice into SQL.
pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}
