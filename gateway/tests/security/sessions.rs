//! The SQL session store (the embedded default keeps families in the database): a refresh token
//! used twice at the same moment revokes its family as the Redis script does, on SQLite without
//! "database is locked", and spent tokens of dead families are pruned.

use loh_gateway::auth::sessions::{Rotation, SessionStore};
use uuid::Uuid;

/// Families raced at once: with the old read-then-write transaction SQLite failed some of them
/// "database is locked" and PostgreSQL answered the loser `Invalid` (the family lived on).
const FAMILIES: usize = 12;

async fn sqlite_store() -> (tempfile::TempDir, SessionStore, sqlx::AnyPool) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("loh.db");
    // Created and migrated as `loh up` does: the event store opens it first.
    loh_events::sqlite::SqliteEventStore::open(path.to_str().unwrap(), "world1")
        .await
        .expect("the embedded database");
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(8)
        .connect(&format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .expect("the accounts pool");
    (dir, SessionStore::sql(pool.clone()), pool)
}

async fn pg_store() -> (loh_testkit::TestDb, SessionStore, sqlx::AnyPool) {
    let db = loh_testkit::TestDb::create().await;
    loh_migrations::POSTGRES
        .run(&db.pool().await)
        .await
        .expect("migrations");
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(8)
        .connect(&db.url)
        .await
        .expect("the accounts pool");
    (db, SessionStore::sql(pool.clone()), pool)
}

/// Uses each family's current token twice concurrently: exactly one use rotates, the other finds
/// the token spent and revokes the family, so the freshly rotated token is dead too.
async fn a_token_used_twice_at_once_revokes_its_family(store: &SessionStore) {
    let mut firsts = Vec::new();
    for _ in 0..FAMILIES {
        firsts.push(store.create(Uuid::new_v4()).await.unwrap());
    }
    let races = firsts.iter().map(|first| async move {
        let (a, b) = tokio::join!(
            store.rotate(&first.refresh_token),
            store.rotate(&first.refresh_token)
        );
        (a, b)
    });
    for (a, b) in futures::future::join_all(races).await {
        let a = a.expect("no store error (SQLite: not \"database is locked\")");
        let b = b.expect("no store error (SQLite: not \"database is locked\")");
        let rotated = match (a, b) {
            (Rotation::Rotated(r), Rotation::Reused) | (Rotation::Reused, Rotation::Rotated(r)) => {
                r
            }
            (a, b) => panic!("one use rotates, the other is a reuse; got {a:?} and {b:?}"),
        };
        assert!(
            !store.is_live(&rotated.sid).await.unwrap(),
            "the family is revoked"
        );
        assert!(
            matches!(
                store.rotate(&rotated.refresh_token).await.unwrap(),
                Rotation::Invalid
            ),
            "the winner's new token died with its family"
        );
    }
}

#[tokio::test]
async fn a_refresh_token_used_twice_concurrently_revokes_the_family_on_sqlite() {
    let (_dir, store, _) = sqlite_store().await;
    a_token_used_twice_at_once_revokes_its_family(&store).await;
}

#[tokio::test]
async fn a_refresh_token_used_twice_concurrently_revokes_the_family_on_postgres() {
    let (_db, store, _) = pg_store().await;
    a_token_used_twice_at_once_revokes_its_family(&store).await;
}

async fn spent_count(pool: &sqlx::AnyPool, sid: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM auth_spent_tokens WHERE sid = $1")
        .bind(sid)
        .fetch_one(pool)
        .await
        .unwrap();
    n
}

/// Spent tokens of expired families and of families whose row is gone go; a live family keeps its own (they are what
/// detects a reuse).
async fn spent_tokens_of_dead_families_are_pruned(store: &SessionStore, pool: &sqlx::AnyPool) {
    let mut sids = Vec::new();
    for _ in 0..3 {
        let first = store.create(Uuid::new_v4()).await.unwrap();
        let Rotation::Rotated(second) = store.rotate(&first.refresh_token).await.unwrap() else {
            panic!("the current token rotates");
        };
        let Rotation::Rotated(_) = store.rotate(&second.refresh_token).await.unwrap() else {
            panic!("the current token rotates");
        };
        assert_eq!(spent_count(pool, &first.sid).await, 2);
        sids.push(first);
    }
    let (live, expired, logged_out) = (&sids[0], &sids[1], &sids[2]);
    // The family's end of life has passed (set in the past rather than waited for).
    sqlx::query("UPDATE auth_sessions SET expires_at_us = 1 WHERE sid = $1")
        .bind(&expired.sid)
        .execute(pool)
        .await
        .unwrap();
    // A family row deleted alone, as logins used to delete expired families (leaving their spent
    // tokens behind forever).
    sqlx::query("DELETE FROM auth_sessions WHERE sid = $1")
        .bind(&logged_out.sid)
        .execute(pool)
        .await
        .unwrap();
    assert_eq!(store.prune().await.unwrap(), 4);
    assert_eq!(spent_count(pool, &expired.sid).await, 0);
    assert_eq!(spent_count(pool, &logged_out.sid).await, 0);
    assert_eq!(
        spent_count(pool, &live.sid).await,
        2,
        "a live family keeps its own"
    );
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM auth_sessions WHERE sid = $1")
        .bind(&expired.sid)
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(n, 0, "the expired family is gone");
    assert!(
        matches!(
            store.rotate(&live.refresh_token).await.unwrap(),
            Rotation::Reused
        ),
        "reuse detection of the live family still works"
    );
}

#[tokio::test]
async fn spent_refresh_tokens_of_dead_families_are_pruned_on_sqlite() {
    let (_dir, store, pool) = sqlite_store().await;
    spent_tokens_of_dead_families_are_pruned(&store, &pool).await;
}

#[tokio::test]
async fn spent_refresh_tokens_of_dead_families_are_pruned_on_postgres() {
    let (_db, store, pool) = pg_store().await;
    spent_tokens_of_dead_families_are_pruned(&store, &pool).await;
}

#[tokio::test]
async fn the_spent_set_in_redis_expires_with_its_family() {
    let prefix = loh_testkit::unique_name("spent");
    let store = SessionStore::redis(&loh_testkit::redis_url(), &prefix)
        .await
        .expect("Redis");
    let first = store.create(Uuid::new_v4()).await.unwrap();
    let Rotation::Rotated(second) = store.rotate(&first.refresh_token).await.unwrap() else {
        panic!("the current token rotates");
    };
    let (mut conn, _) = store.redis_conn().unwrap();
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{prefix}:spent:{}", first.sid))
        .query_async(&mut conn)
        .await
        .unwrap();
    let life = store.refresh_ttl().as_millis() as i64;
    assert!(
        ttl > 0 && ttl <= life,
        "the spent set expires with its family: {ttl} ms"
    );
    let now = loh_tick_writer::tick::now_us() / 1_000_000;
    assert!(
        (now..=now + life / 1000).contains(&second.expires_at),
        "a rotation reports the family's end of life, not a new one"
    );
}
