//! The lifecycle worker: renews, moves to grace, expires and ends subscriptions whose
//! term is over, through the transitions of [`crate::domain::lifecycle`]. Several
//! replicas may run it at once against one PostgreSQL database.

use crate::{domain::clock::Clock, store::Store};
use std::{sync::Arc, time::Duration};

/// How the worker behaves.
#[derive(Debug, Clone, Copy)]
pub struct WorkerPolicy {
    /// How long a lapsed subscription protects devices before it expires.
    pub grace: chrono::Duration,
    /// Subscriptions handled per transaction.
    pub batch: i64,
    /// Pause between passes.
    pub interval: Duration,
}

/// Applies every transition due at the clock's now, batch after batch, until nothing
/// is due. Returns how many transitions it applied.
pub async fn run_once(
    store: &Store,
    clock: &dyn Clock,
    policy: WorkerPolicy,
) -> crate::Result<usize> {
    let mut applied = 0;
    loop {
        let done = store
            .apply_due_transitions(clock.now(), policy.grace, policy.batch)
            .await?;
        if done.is_empty() {
            return Ok(applied);
        }
        for transition in &done {
            tracing::info!(
                subscription = %transition.subscription.id,
                event = ?transition.event,
                status = transition.subscription.status.as_str(),
                "lifecycle transition"
            );
        }
        applied += done.len();
    }
}

/// Runs passes every `policy.interval` until the task is dropped.
pub async fn run(store: Store, clock: Arc<dyn Clock>, policy: WorkerPolicy) {
    let mut ticks = tokio::time::interval(policy.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if let Err(error) = run_once(&store, clock.as_ref(), policy).await {
            tracing::warn!(%error, "lifecycle pass failed; retrying next interval");
        }
    }
}
