//! Scratch PostgreSQL databases, made next to a given one and dropped after: where `loh bench`
//! runs its benchmarks, and where the tests (through `loh-testkit`) run theirs.

/// A scratch database that could not be made or dropped.
pub type Result<T> = std::result::Result<T, sqlx::Error>;

use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
use uuid::Uuid;

/// Creates an empty database named `<prefix>_<uuid>` on the server of `admin_url` (whose user may
/// create databases) and returns its name and URL. Drop it with [`drop_database`].
pub async fn create_database(admin_url: &str, prefix: &str) -> Result<(String, String)> {
    let name = format!("{prefix}_{}", Uuid::new_v4().simple());
    let mut conn = PgConnection::connect(admin_url).await?;
    conn.execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await?;
    Ok((name.clone(), database_url(admin_url, &name)))
}

/// Drops database `name` (closing its connections) on the server of `admin_url`.
pub async fn drop_database(admin_url: &str, name: &str) -> Result<()> {
    let mut conn = PgConnection::connect(admin_url).await?;
    conn.execute(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .await?;
    Ok(())
}

/// `url` with its database replaced by `name` (any query string kept).
pub fn database_url(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let server = match base.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('/') {
            Some((host, _)) => format!("{scheme}://{host}"),
            None => base.to_owned(),
        },
        None => base.to_owned(),
    };
    match query {
        Some(q) => format!("{server}/{name}?{q}"),
        None => format!("{server}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::database_url;

    #[test]
    fn the_database_of_a_url_is_replaced_and_its_query_kept() {
        assert_eq!(
            database_url("postgres://u@h:5432/postgres", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            database_url("postgres://u@h/postgres?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(database_url("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
