//! The lifecycle worker: renews, moves to grace, expires and ends subscriptions whose
//! term is over, through [`Services::apply_due_transitions`]. Several replicas may run
//! it at once against one PostgreSQL database.

use crate::service::Services;
use std::time::Duration;

/// How the worker behaves.
#[derive(Debug, Clone, Copy)]
pub struct WorkerPolicy {
    /// Subscriptions handled per transaction.
    pub batch: i64,
    /// Pause between passes.
    pub interval: Duration,
}

/// Applies every transition due now, batch after batch, until nothing is due. Returns
/// how many transitions it applied.
pub async fn run_once(services: &Services, batch: i64) -> crate::Result<usize> {
    let started = std::time::Instant::now();
    let pass = pass(services, batch).await;
    services
        .metrics
        .lifecycle_pass(pass.is_ok(), started.elapsed());
    pass
}

async fn pass(services: &Services, batch: i64) -> crate::Result<usize> {
    let mut applied = 0;
    loop {
        let done = services.apply_due_transitions(batch).await?;
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
pub async fn run(services: Services, policy: WorkerPolicy) {
    let mut ticks = tokio::time::interval(policy.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if let Err(error) = run_once(&services, policy.batch).await {
            tracing::warn!(%error, "lifecycle pass failed; retrying next interval");
        }
    }
}
