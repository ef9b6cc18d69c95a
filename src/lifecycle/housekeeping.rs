//! Forgets what no longer needs keeping: request ids past their retention, and the
//! throttles' counters once quiet for long enough.

use crate::service::Services;
use std::time::Duration;

/// What to keep, for how long, and how often to look.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Pause between passes.
    pub interval: Duration,
    /// Request ids and their responses.
    pub request_ids: chrono::Duration,
}

/// One housekeeping pass. Safe on any number of replicas at once: each step is a single
/// idempotent `DELETE`.
pub async fn run_once(services: &Services, retention: Retention) -> crate::Result<u64> {
    services.purge(retention.request_ids).await
}

/// Runs housekeeping every `retention.interval`, the first pass at once, until the task
/// is dropped.
pub async fn run(services: Services, retention: Retention) {
    let mut ticks = tokio::time::interval(retention.interval);
    loop {
        ticks.tick().await;
        match run_once(&services, retention).await {
            Ok(removed) => tracing::debug!(removed, "housekeeping done"),
            Err(error) => tracing::warn!(%error, "housekeeping failed; retrying later"),
        }
    }
}
