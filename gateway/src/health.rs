//! `/healthz` of the game server: which dependency is failing.
//!
//! The answer is `200 {"status":"ok","tick":N}` while every dependency answers, and
//! `503 {"status":"degraded","failing":["postgres",…],"tick":N}` naming each one that does not.
//! The game server checks its own: `postgres` (the accounts pool answers and the tick writer's
//! store took its last tick), `redis` (the session store answers `PING`, when sessions live in
//! Redis) and `tick_writer` (the tick loop stopped). The process that runs it adds the others
//! ([`Probes::add`]: `nats` for the relay's connection). Every check is bounded by
//! [`PROBE_TIMEOUT`], so a dependency that hangs is reported instead of hanging the probe.

use futures::future::BoxFuture;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// The longest a single check may take; past it the dependency counts as failing.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

type Check = Arc<dyn Fn() -> BoxFuture<'static, bool> + Send + Sync>;

/// Named checks of the dependencies a process has besides the game server's own, shared by the
/// server's routes and whoever adds them.
#[derive(Clone, Default)]
pub struct Probes(Arc<RwLock<Vec<(&'static str, Check)>>>);

impl std::fmt::Debug for Probes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self
            .0
            .read()
            .map(|v| v.iter().map(|(n, _)| *n).collect())
            .unwrap_or_default();
        f.debug_tuple("Probes").field(&names).finish()
    }
}

impl Probes {
    /// Adds the check of dependency `name`: true while it answers.
    pub fn add<F>(&self, name: &'static str, check: F)
    where
        F: Fn() -> BoxFuture<'static, bool> + Send + Sync + 'static,
    {
        if let Ok(mut checks) = self.0.write() {
            checks.push((name, Arc::new(check)));
        }
    }

    /// Runs every check at once (each within [`PROBE_TIMEOUT`]); the names of those failing.
    pub async fn failing(&self) -> Vec<&'static str> {
        let checks: Vec<(&'static str, Check)> =
            self.0.read().map(|v| v.clone()).unwrap_or_default();
        let results = futures::future::join_all(checks.iter().map(|(name, check)| {
            let check = check();
            async move { (*name, within(check).await) }
        }))
        .await;
        results
            .into_iter()
            .filter(|(_, ok)| !ok)
            .map(|(name, _)| name)
            .collect()
    }
}

/// `check`'s answer, or false when it takes longer than [`PROBE_TIMEOUT`].
pub async fn within(check: impl std::future::Future<Output = bool>) -> bool {
    tokio::time::timeout(PROBE_TIMEOUT, check)
        .await
        .unwrap_or(false)
}

/// The body of `/healthz`: `ok`, or `degraded` with the failing dependencies, sorted and once
/// each; the status is 503 when any fails.
pub fn report(
    mut failing: Vec<&'static str>,
    mut body: serde_json::Map<String, serde_json::Value>,
) -> (axum::http::StatusCode, axum::Json<serde_json::Value>) {
    failing.sort_unstable();
    failing.dedup();
    let status = if failing.is_empty() {
        axum::http::StatusCode::OK
    } else {
        body.insert("failing".into(), serde_json::json!(failing));
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    };
    let word = if failing.is_empty() { "ok" } else { "degraded" };
    body.insert("status".into(), word.into());
    (status, axum::Json(serde_json::Value::Object(body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_check_that_hangs_counts_as_failing_and_names_are_reported_once() {
        let probes = Probes::default();
        probes.add("nats", || Box::pin(std::future::pending()));
        probes.add("redis", || Box::pin(async { true }));
        probes.add("nats", || Box::pin(async { false }));
        let failing = probes.failing().await;
        let (status, body) = report(failing, Default::default());
        assert_eq!(status, 503);
        assert_eq!(
            body.0,
            serde_json::json!({"status": "degraded", "failing": ["nats"]})
        );
        let (status, body) = report(Vec::new(), Default::default());
        assert_eq!(
            (status, body.0),
            (
                axum::http::StatusCode::OK,
                serde_json::json!({"status": "ok"})
            )
        );
    }
}
