//! The lifecycle worker's side of the store: finding and applying due transitions.
//! On PostgreSQL due rows are claimed with `FOR UPDATE SKIP LOCKED`, so replicas running
//! the worker at once share the work and never apply one transition twice; each batch is
//! one transaction, so a crash leaves nothing half-done and the next run picks it up.

use super::{
    Store,
    carrier::Renewal,
    rows::{self, subscription_columns},
};
use crate::{
    domain::{
        clock::to_micros,
        event::EventType,
        lifecycle::{Event, due_event, require},
        plan,
        subscription::Subscription,
    },
    error::{Error, Result},
};
use chrono::{DateTime, Duration, Utc};
use sqlx::AssertSqlSafe;

/// What one worker pass did to one subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transitioned {
    /// The subscription after the transition.
    pub subscription: Subscription,
    /// The transition applied.
    pub event: Event,
}

impl Store {
    /// Applies the transitions due at `now` to at most `limit` subscriptions, in one
    /// transaction. Returns what it did; an empty result means nothing is due.
    pub async fn apply_due_transitions(
        &self,
        now: DateTime<Utc>,
        grace: Duration,
        limit: i64,
    ) -> Result<Vec<Transitioned>> {
        let mut tx = self.begin_write(None, None, now).await?;
        let sql = format!(
            "{}{}",
            concat!(
                "SELECT ",
                subscription_columns!(),
                " FROM subscriptions s WHERE s.term_end <= $1 AND (",
                "s.status IN ('TRIAL', 'ACTIVE')",
                " OR (s.status = 'SUSPENDED' AND (s.channel = 'CARRIER'",
                "     OR s.cancel_at_period_end = 1 OR s.term_end <= $2))",
                " OR (s.status = 'GRACE' AND (s.cancel_at_period_end = 1 OR s.term_end <= $2)))",
                " ORDER BY s.term_end, s.id LIMIT $3"
            ),
            self.claim_rows()
        );
        let due = sqlx::query(AssertSqlSafe(sql))
            .bind(to_micros(now))
            .bind(to_micros(now - grace))
            .bind(limit)
            .fetch_all(tx.conn())
            .await?;
        let mut done = Vec::with_capacity(due.len());
        for row in &due {
            let mut subscription = rows::subscription(row)?;
            let Some(event) = due_event(&subscription, now, grace) else {
                continue;
            };
            match event {
                Event::Renew => {
                    let term = plan::find(&subscription.plan_code)
                        .ok_or_else(|| Error::Internal("subscription of an unknown plan".into()))?
                        .term;
                    self.extend(&mut tx, &mut subscription, term, Renewal::Contiguous, now)
                        .await?;
                }
                _ => {
                    subscription.status =
                        require(subscription.status, event, "INVALID_TRANSITION")?;
                    subscription.updated_at = now;
                    self.save_subscription(&mut tx, &subscription).await?;
                    let event_type = match event {
                        Event::EnterGrace => EventType::SubscriptionEnteredGrace,
                        Event::Expire => EventType::SubscriptionExpired,
                        _ => EventType::SubscriptionCancelled,
                    };
                    tx.emit(event_type, &subscription, None, &[]);
                }
            }
            done.push(Transitioned {
                subscription,
                event,
            });
        }
        tx.commit().await?;
        Ok(done)
    }
}
