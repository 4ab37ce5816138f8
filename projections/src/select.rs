//! The SQL of the read queries whose conditions depend on their arguments (a cursor, a range, a
//! filter): a `SELECT` whose `$n` placeholders are numbered as values are bound, so that values
//! are always bound and never spliced, and the text means the same on PostgreSQL and SQLite.

use crate::Result;
use crate::db::ReadDb;
use crate::fold::Value;
use sqlx::AssertSqlSafe;
use sqlx::any::AnyRow;

/// A statement being written, with its bound values in placeholder order.
#[derive(Debug, Default)]
pub(crate) struct Select {
    sql: String,
    values: Vec<Value>,
}

impl Select {
    /// Starts with `sql` (no placeholders in it).
    pub(crate) fn new(sql: &str) -> Select {
        Select {
            sql: sql.to_owned(),
            values: Vec::new(),
        }
    }

    /// Appends `sql` (no placeholders in it).
    pub(crate) fn push(&mut self, sql: &str) -> &mut Select {
        self.sql.push_str(sql);
        self
    }

    /// Appends the placeholder of `value`.
    pub(crate) fn bind(&mut self, value: Value) -> &mut Select {
        self.values.push(value);
        self.sql.push_str(&format!("${}", self.values.len()));
        self
    }

    /// Appends the placeholder of an integer.
    pub(crate) fn int(&mut self, v: i64) -> &mut Select {
        self.bind(Value::int(v))
    }

    /// Appends the placeholder of a text.
    pub(crate) fn text(&mut self, v: impl Into<String>) -> &mut Select {
        self.bind(Value::text(v))
    }

    /// Every row of the statement.
    pub(crate) async fn fetch_all(self, db: &ReadDb) -> Result<Vec<AnyRow>> {
        let mut query = sqlx::query(AssertSqlSafe(self.sql));
        for value in self.values {
            query = match value {
                Value::Int(v) => query.bind(v),
                Value::Text(v) => query.bind(v),
            };
        }
        Ok(query.fetch_all(db.pool()).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_in_the_order_values_are_bound() {
        let mut q = Select::new("SELECT a FROM t WHERE b = ");
        q.text("x").push(" AND c < ").int(3).push(" LIMIT ").int(10);
        assert_eq!(q.sql, "SELECT a FROM t WHERE b = $1 AND c < $2 LIMIT $3");
        assert_eq!(q.values, [Value::text("x"), Value::int(3), Value::int(10)]);
    }
}
