//! Accounts, sessions and the hardened front door (PROTOCOL.md, `docs/SECURITY.md`).
//!
//! Accounts live in the `accounts` table of the same database as the events (PostgreSQL, or the
//! embedded SQLite file), reached through `sqlx::AnyPool`; passwords are Argon2id hashes made off
//! the async runtime.
//!
//! # Layout
//! - this module: accounts and password hashing.
//! - [`tokens`]: RS256 access tokens, the server's RSA key and its JWKS document.
//! - [`sessions`]: refresh-token families, revocation, signing keys, nonces and the single-session
//!   lock, in Redis or in process.
//! - [`signing`]: HMAC-SHA256 request signatures of non-browser clients.
//! - [`kicks`]: live game connections by session, closed at logout.
//! - [`csrf`]: the browser side: Origin / Sec-Fetch-Site checks and the signed double-submit token.
//! - [`routes`]: the `/v1/auth/*` handlers and `/.well-known/jwks.json`.

pub mod csrf;
pub mod kicks;
pub mod routes;
pub mod sessions;
pub mod signing;
pub mod tokens;

use crate::error::ApiError;
use argon2::password_hash::{
    Output, ParamsString, PasswordHash, PasswordHasher, PasswordVerifier, Salt, SaltString,
};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use axum::http::StatusCode;
use sqlx::AnyPool;
use std::sync::Arc;
use tokio::sync::Semaphore;
use uuid::Uuid;

/// Username rules: 3 to 12 characters of letters, digits, `_` and `-`; compared lower-cased.
pub fn normalise_username(raw: &str) -> Result<String, ApiError> {
    let name = raw.trim();
    let ok = (3..=12).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !ok {
        return Err(ApiError::bad_request(
            "bad_username",
            "a username is 3 to 12 letters, digits, '_' or '-'",
        ));
    }
    Ok(name.to_ascii_lowercase())
}

fn check_password(password: &str) -> Result<(), ApiError> {
    let n = password.chars().count();
    if !(8..=128).contains(&n) {
        return Err(ApiError::bad_request(
            "bad_password",
            "a password is 8 to 128 characters",
        ));
    }
    Ok(())
}

/// Argon2id at OWASP's minimum (m = 19456 KiB, t = 2, p = 1), run on blocking threads behind a
/// semaphore so a login flood cannot starve the runtime. At most `queue` requests wait for a
/// hashing slot; past that the answer is `503 busy` with `Retry-After`, so a flood costs neither
/// memory nor an ever-growing wait for everyone.
#[derive(Clone, Debug)]
pub struct Hasher {
    permits: Arc<Semaphore>,
    /// Argon2's working memory (19 MiB each), kept between hashes: one per slot in use at once,
    /// so at most `concurrency`. Allocated afresh each time, it came and went from the process's
    /// resident size by tens of MiB with every burst of logins, and every hash paid its page
    /// faults.
    memory: Arc<std::sync::Mutex<Vec<Box<[Block]>>>>,
    /// Requests hashing or waiting to.
    waiting: Arc<std::sync::atomic::AtomicUsize>,
    /// Most requests hashing or waiting at once.
    limit: usize,
    dummy_hash: Arc<str>,
}

/// Requests that may wait for an Argon2 slot by default.
pub const HASH_QUEUE: usize = 64;

/// A place in the hashing queue, given back on drop.
struct Queued(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for Queued {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

impl Hasher {
    pub fn new(concurrency: usize) -> Hasher {
        Hasher::with_queue(concurrency, HASH_QUEUE)
    }

    /// `concurrency` hashes at once, at most `queue` more waiting.
    pub fn with_queue(concurrency: usize, queue: usize) -> Hasher {
        let dummy_hash = hash_blocking("not a real password at all").into();
        let concurrency = concurrency.max(1);
        Hasher {
            permits: Arc::new(Semaphore::new(concurrency)),
            memory: Arc::default(),
            waiting: Arc::default(),
            limit: concurrency + queue,
            dummy_hash,
        }
    }

    /// A hashing slot, or `503 busy` when the queue is full.
    async fn slot(&self) -> Result<(Queued, tokio::sync::SemaphorePermit<'_>), ApiError> {
        use std::sync::atomic::Ordering;
        let before = self.waiting.fetch_add(1, Ordering::AcqRel);
        let queued = Queued(self.waiting.clone());
        if before >= self.limit {
            return Err(busy());
        }
        let permit = self.permits.acquire().await.map_err(ApiError::internal)?;
        Ok((queued, permit))
    }

    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        let _slot = self.slot().await?;
        let mut memory = self.take_memory();
        let (hash, memory) = tokio::task::spawn_blocking(move || {
            let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
            let hash =
                hash_with(password.as_bytes(), salt.as_salt(), &mut memory).map(|h| h.to_string());
            (hash, memory)
        })
        .await
        .map_err(ApiError::internal)?;
        self.give_back(memory);
        hash.map_err(ApiError::internal)
    }

    /// Working memory for one hash: a kept one, else a new one.
    fn take_memory(&self) -> Box<[Block]> {
        let kept = self.memory.lock().expect("not poisoned").pop();
        kept.unwrap_or_else(|| vec![Block::default(); argon2().params().block_count()].into())
    }

    fn give_back(&self, memory: Box<[Block]>) {
        self.memory.lock().expect("not poisoned").push(memory);
    }

    /// Verifies `password` against `hash`, or against a dummy hash when the account does not
    /// exist, so both cases take the same time.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, ApiError> {
        let _slot = self.slot().await?;
        let exists = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.to_string());
        let mut memory = self.take_memory();
        let (ok, memory) = tokio::task::spawn_blocking(move || {
            let ok = verify_with(password.as_bytes(), &hash, &mut memory);
            (ok, memory)
        })
        .await
        .map_err(ApiError::internal)?;
        self.give_back(memory);
        Ok(ok && exists)
    }
}

fn taken_error() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "username_taken",
        "that username is taken",
    )
}

/// `503 busy`: the password hashing queue is full.
fn busy() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "busy",
        "too many logins in progress; retry in a second",
    )
}

const ALGORITHM: Algorithm = Algorithm::Argon2id;
const VERSION: Version = Version::V0x13;

fn argon2() -> Argon2<'static> {
    Argon2::new(
        ALGORITHM,
        VERSION,
        Params::new(19_456, 2, 1, None).expect("valid Argon2 parameters"),
    )
}

/// [`PasswordHasher::hash_password`] with [`argon2()`], in `memory` (at least its block count).
fn hash_with<'a>(
    password: &[u8],
    salt: Salt<'a>,
    memory: &mut [Block],
) -> argon2::password_hash::Result<PasswordHash<'a>> {
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes)?;
    let argon = argon2();
    let params = argon.params();
    let output = Output::init_with(
        params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN),
        |out| Ok(argon.hash_password_into_with_memory(password, salt_bytes, out, &mut *memory)?),
    )?;
    Ok(PasswordHash {
        algorithm: ALGORITHM.ident(),
        version: Some(VERSION.into()),
        params: ParamsString::try_from(params)?,
        salt: Some(salt),
        hash: Some(output),
    })
}

/// [`PasswordVerifier::verify_password`] against a stored PHC string, in `memory` when the
/// hash's parameters fit it (a hash made with more memory is verified the allocating way).
fn verify_with(password: &[u8], stored: &str, memory: &mut [Block]) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(version) => version.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    if params.block_count() > memory.len() {
        return argon2().verify_password(password, &parsed).is_ok();
    }
    let argon = Argon2::new(algorithm, version, params);
    let mut salt_bytes = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    Output::init_with(expected.len(), |out| {
        Ok(argon.hash_password_into_with_memory(password, salt_bytes, out, &mut *memory)?)
    })
    // `Output`'s comparison takes the same time wherever the bytes differ.
    .is_ok_and(|computed| computed == expected)
}

fn hash_blocking(password: &str) -> String {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .expect("Argon2 hashing with valid parameters")
        .to_string()
}

/// The accounts table.
#[derive(Clone, Debug)]
pub struct Accounts {
    pool: AnyPool,
    hasher: Hasher,
}

/// The most ids one `IN (…)` lookup of names binds ([`loh_events::store::lookup_chunks`]).
const LOOKUP_CHUNK: usize = 128;

impl Accounts {
    pub fn new(pool: AnyPool, hasher: Hasher) -> Accounts {
        Accounts { pool, hasher }
    }

    /// The name `player_id` registered with, as typed (`None`: no such account).
    pub async fn display_name(&self, player_id: Uuid) -> Result<Option<String>, sqlx::Error> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT display_name FROM accounts WHERE player_id = $1")
                .bind(player_id.to_string())
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(name,)| name))
    }

    /// The display names of those of `ids` that have an account.
    pub async fn display_names(&self, ids: &[Uuid]) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
        let mut out = Vec::with_capacity(ids.len());
        // Lists of a few lengths only: each length is another statement every connection keeps.
        for chunk in loh_events::store::lookup_chunks(ids, LOOKUP_CHUNK) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT player_id, display_name FROM accounts WHERE player_id IN ({})",
                marks.join(", ")
            );
            // Only numbered placeholders are spliced in; the ids are bound.
            let mut query = sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(sql));
            for id in &chunk {
                query = query.bind(id.to_string());
            }
            let rows = query.fetch_all(&self.pool).await?;
            out.extend(
                rows.into_iter()
                    .filter_map(|(id, name)| Some((Uuid::parse_str(&id).ok()?, name))),
            );
        }
        Ok(out)
    }

    /// Creates an account; a taken username is a `409 username_taken`.
    pub async fn register(&self, username: &str, password: &str) -> Result<Uuid, ApiError> {
        let name = normalise_username(username)?;
        check_password(password)?;
        // A taken name is answered before any hashing (the insert below still settles a race).
        let taken: Option<(i32,)> = sqlx::query_as("SELECT 1 FROM accounts WHERE username = $1")
            .bind(&name)
            .fetch_optional(&self.pool)
            .await
            .map_err(ApiError::internal)?;
        if taken.is_some() {
            return Err(taken_error());
        }
        let hash = self.hasher.hash(password.to_owned()).await?;
        let player_id = Uuid::new_v4();
        let result = sqlx::query(
            "INSERT INTO accounts (player_id, username, display_name, password_hash, created_at_us)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(player_id.to_string())
        .bind(&name)
        .bind(username.trim())
        .bind(hash)
        .bind(loh_tick_writer::tick::now_us())
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => Ok(player_id),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(taken_error()),
            Err(e) => Err(ApiError::internal(e)),
        }
    }

    /// The player id of valid credentials; a wrong password and an unknown user get the same
    /// `401 invalid_credentials`.
    pub async fn login(&self, username: &str, password: &str) -> Result<Uuid, ApiError> {
        let invalid = || {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "wrong username or password",
            )
        };
        let name = normalise_username(username).ok();
        let row: Option<(String, String)> = match &name {
            Some(name) => {
                sqlx::query_as("SELECT player_id, password_hash FROM accounts WHERE username = $1")
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(ApiError::internal)?
            }
            None => None,
        };
        let (id, hash) = match row {
            Some((id, hash)) => (Some(id), Some(hash)),
            None => (None, None),
        };
        if !self.hasher.verify(password.to_owned(), hash).await? {
            return Err(invalid());
        }
        id.and_then(|id| id.parse().ok()).ok_or_else(invalid)
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_made_in_kept_memory_are_the_crates_own() {
        let mut memory = vec![Block::default(); argon2().params().block_count()];
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        let ours = hash_with(b"hunter22", salt.as_salt(), &mut memory)
            .unwrap()
            .to_string();
        // The crate's own hash of the same password and salt is the same string.
        let theirs = argon2()
            .hash_password(b"hunter22", &salt)
            .unwrap()
            .to_string();
        assert_eq!(ours, theirs);
        // Each verifies with the other's verifier, in memory used before.
        assert!(verify_with(b"hunter22", &theirs, &mut memory));
        assert!(
            argon2()
                .verify_password(b"hunter22", &PasswordHash::new(&ours).unwrap())
                .is_ok()
        );
        assert!(!verify_with(b"hunter23", &ours, &mut memory));
        assert!(!verify_with(b"", &ours, &mut memory));
        for garbage in ["", "$argon2id$", "not a hash", &ours[..ours.len() - 4]] {
            assert!(!verify_with(b"hunter22", garbage, &mut memory), "{garbage}");
        }
    }

    #[test]
    fn a_hash_made_with_other_parameters_still_verifies() {
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        let small = Argon2::new(ALGORITHM, VERSION, Params::new(64, 1, 1, None).unwrap())
            .hash_password(b"pw-small", &salt)
            .unwrap()
            .to_string();
        // Less memory than kept: verified in it.
        let mut memory = vec![Block::default(); 128];
        assert!(verify_with(b"pw-small", &small, &mut memory));
        assert!(!verify_with(b"pw-smalL", &small, &mut memory));
        // More memory than kept: verified the allocating way.
        let mut too_little = vec![Block::default(); 8];
        assert!(verify_with(b"pw-small", &small, &mut too_little));
        assert!(!verify_with(b"pw-smalL", &small, &mut too_little));
    }

    #[tokio::test]
    async fn the_hasher_keeps_at_most_one_memory_per_slot() {
        let hasher = Hasher::with_queue(2, 16);
        let stored = hasher.hash("correct horse".into()).await.unwrap();
        let checks = (0..6).map(|i| {
            let (hasher, stored) = (hasher.clone(), stored.clone());
            async move {
                let password = if i % 2 == 0 {
                    "correct horse"
                } else {
                    "wrong horse"
                };
                hasher.verify(password.into(), Some(stored)).await.unwrap()
            }
        });
        let got = futures::future::join_all(checks).await;
        assert_eq!(got, [true, false, true, false, true, false]);
        let kept = hasher.memory.lock().unwrap().len();
        assert!((1..=2).contains(&kept), "{kept} kept");
    }

    #[test]
    fn names_with_bidirectional_or_zero_width_characters_are_refused() {
        assert_eq!(normalise_username(" Alice_1 ").unwrap(), "alice_1");
        for c in [
            '\u{202E}', '\u{2066}', '\u{200E}', '\u{200B}', '\u{200D}', '\u{2060}', '\u{FEFF}',
        ] {
            let name = format!("ali{c}ce");
            let err = normalise_username(&name).expect_err("an invisible character in a name");
            assert_eq!(err.code, "bad_username", "{c:?}");
        }
    }
}
