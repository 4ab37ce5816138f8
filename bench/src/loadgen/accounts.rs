//! The bots' accounts, reused from run to run: bot `n` of prefix `lg` is `lg{n}` with one fixed
//! password. A bot logs in; on `401` it registers, then logs in. Both hash a password (Argon2,
//! tens of milliseconds), so at most a few run at once, and the server's `503 busy` (its hashing
//! queue is full) and `429 rate_limited` are retried after their `Retry-After`.

use super::net::Target;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::sync::Semaphore;

/// The password of every load-generator account.
pub const PASSWORD: &str = "loadgen-password-1";

/// How many times one request is retried after `429` or `503` before the bot gives up.
const MAX_RETRIES: u32 = 30;

/// Bot `n`'s username: `{prefix}{n}` (3–12 characters of letters, digits, `_` and `-`).
pub fn username(prefix: &str, n: usize) -> String {
    format!("{prefix}{n}")
}

/// What logging a bot in took.
#[derive(Debug, Clone, Default)]
pub struct Login {
    /// The access token, for `Hello`.
    pub token: String,
    /// Whether the account was made in this run.
    pub registered: bool,
    /// Requests answered `429` or `503` and sent again.
    pub retries: u32,
}

/// Why a bot could not log in.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{what}: {source}")]
    Http {
        what: &'static str,
        source: reqwest::Error,
    },
    #[error("{what} answered {status}: {body}")]
    Refused {
        what: &'static str,
        status: StatusCode,
        body: String,
    },
    #[error("{what} still busy after {MAX_RETRIES} retries")]
    GaveUp { what: &'static str },
}

impl AccountError {
    /// A short reason for the report's table.
    pub fn reason(&self) -> String {
        match self {
            AccountError::Http { what, .. } => format!("{what}_unreachable"),
            AccountError::Refused { what, status, .. } => format!("{what}_{}", status.as_u16()),
            AccountError::GaveUp { what } => format!("{what}_busy"),
        }
    }
}

/// Logs `username` in, registering it first when the server does not know it. `hashing` bounds
/// how many requests that hash a password are in flight across all bots.
pub async fn login_or_register(
    http: &reqwest::Client,
    target: Target,
    username: &str,
    hashing: &Semaphore,
) -> Result<Login, AccountError> {
    let mut login = Login::default();
    let body = json!({"username": username, "password": PASSWORD});
    let (status, answer) = post(http, target, "login", &body, hashing, &mut login.retries).await?;
    let answer = match status {
        StatusCode::OK => answer,
        StatusCode::UNAUTHORIZED => {
            let (status, answer) =
                post(http, target, "register", &body, hashing, &mut login.retries).await?;
            // 409: another run made it between our two requests; either way it exists now.
            if status != StatusCode::CREATED && status != StatusCode::CONFLICT {
                return Err(refused("register", status, &answer));
            }
            login.registered = status == StatusCode::CREATED;
            let (status, answer) =
                post(http, target, "login", &body, hashing, &mut login.retries).await?;
            if status != StatusCode::OK {
                return Err(refused("login", status, &answer));
            }
            answer
        }
        other => return Err(refused("login", other, &answer)),
    };
    login.token = answer["access_token"]
        .as_str()
        .ok_or_else(|| refused("login", StatusCode::OK, &answer))?
        .to_owned();
    Ok(login)
}

fn refused(what: &'static str, status: StatusCode, body: &Value) -> AccountError {
    AccountError::Refused {
        what,
        status,
        body: body.to_string(),
    }
}

/// POSTs `body` to `/v1/auth/{what}`, sending it again after `429` and `503` once their
/// `Retry-After` has passed; returns the final status and JSON body.
async fn post(
    http: &reqwest::Client,
    target: Target,
    what: &'static str,
    body: &Value,
    hashing: &Semaphore,
    retries: &mut u32,
) -> Result<(StatusCode, Value), AccountError> {
    let url = target.http(&format!("/v1/auth/{what}"));
    for _ in 0..=MAX_RETRIES {
        let res = {
            let _permit = hashing
                .acquire()
                .await
                .expect("the semaphore is never closed");
            http.post(&url).json(body).send().await
        }
        .map_err(|source| AccountError::Http { what, source })?;
        let status = res.status();
        if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
            *retries += 1;
            tokio::time::sleep(retry_after(res.headers())).await;
            continue;
        }
        let answer = res.json().await.unwrap_or(Value::Null);
        return Ok((status, answer));
    }
    Err(AccountError::GaveUp { what })
}

/// The `Retry-After` header's seconds (1 s when missing or unreadable), with up to 250 ms of
/// jitter so that bots refused together do not come back together.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Duration {
    let secs = headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(1)
        .clamp(1, 60);
    Duration::from_secs(secs) + Duration::from_millis(rand::random_range(0..250))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_keep_to_the_servers_rules_for_many_bots() {
        for n in [0, 9, 99_999_999] {
            let name = username("lg", n);
            assert!((3..=12).contains(&name.len()), "{name}");
            assert!(name.chars().all(|c| c.is_ascii_alphanumeric()));
        }
    }

    #[test]
    fn retry_after_reads_whole_seconds_and_defaults_to_one() {
        let mut headers = reqwest::header::HeaderMap::new();
        assert!(retry_after(&headers) >= Duration::from_secs(1));
        headers.insert(reqwest::header::RETRY_AFTER, "3".parse().unwrap());
        let wait = retry_after(&headers);
        assert!(wait >= Duration::from_secs(3) && wait < Duration::from_millis(3_250));
    }
}
