//! The lifecycle worker's passes and housekeeping: renewing, putting in grace, expiring
//! and ending subscriptions whose term is over, and forgetting what need not be kept.

use super::Services;
use crate::{
    domain::{
        lifecycle::{self, Event},
        subscription::{DueQuery, Subscription},
    },
    error::Result,
};
use chrono::Duration;

/// What one worker pass did to one subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transitioned {
    /// The subscription after the transition.
    pub subscription: Subscription,
    /// The transition applied.
    pub event: Event,
}

impl Services {
    /// Applies the transitions due now to at most `limit` subscriptions, in one unit of
    /// work (so a crash leaves nothing half-done). Returns what it did; an empty result
    /// means nothing is due.
    pub async fn apply_due_transitions(&self, limit: i64) -> Result<Vec<Transitioned>> {
        let mut unit = self.begin(None, None).await?;
        let grace = self.policy.grace;
        let due = unit
            .tx
            .claim_due(&DueQuery::at(unit.now, grace), limit)
            .await?;
        let mut done = Vec::with_capacity(due.len());
        let mut lags = Vec::with_capacity(due.len());
        for mut subscription in due {
            let owed = subscription
                .due_transition(unit.now, grace)
                .map(|event| lifecycle::due_since(&subscription, event, grace));
            let Some(event) = subscription.apply_due_transition(
                &self.catalog,
                unit.now,
                grace,
                &mut unit.events,
            )?
            else {
                continue;
            };
            unit.tx.save_subscription(&subscription).await?;
            lags.push((event, unit.now - owed.unwrap_or(unit.now)));
            done.push(Transitioned {
                subscription,
                event,
            });
        }
        unit.commit().await?;
        for (event, lag) in lags {
            self.metrics.lifecycle_transition(event, lag);
        }
        Ok(done)
    }

    /// Forgets request ids older than `request_ids` and the throttles' counters that
    /// have been quiet long enough to have forgotten every attempt
    /// ([`ThrottlePolicy::retention`](crate::domain::throttle::ThrottlePolicy::retention)).
    /// Returns how many records went.
    pub async fn purge(&self, request_ids: Duration) -> Result<u64> {
        let now = self.now();
        let ids = self.store.purge_idempotency_keys(now - request_ids).await?;
        let counters = self
            .store
            .purge_attempt_counters(now - self.policy.throttle.retention())
            .await?;
        Ok(ids + counters)
    }
}
