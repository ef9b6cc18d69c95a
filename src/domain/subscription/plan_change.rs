//! Plan changes: which seats a downgrade frees under its policy, and the move itself.

use super::{DowngradePolicy, Subscription};
use crate::{
    domain::{
        event::{EventType, NewEvent},
        plan::Plan,
        seat::Seat,
    },
    error::{Error, Reason, Result},
};
use chrono::{DateTime, Utc};

impl Subscription {
    /// The seats to free before moving to `plan`: none when the active seats fit its
    /// limit; otherwise, as `policy` allows, those of the devices seen least recently.
    /// Errors: `FailedPrecondition` (SUBSCRIPTION_ENDED; SEAT_LIMIT_BELOW_ACTIVE_SEATS
    /// under [`DowngradePolicy::Reject`]).
    pub fn seats_to_free_for(
        &self,
        plan: &Plan,
        policy: DowngradePolicy,
        active: &[Seat],
    ) -> Result<Vec<Seat>> {
        self.ensure_not_ended()?;
        let excess = self.active_seats - plan.seat_limit;
        if self.plan_code == plan.code || excess <= 0 {
            return Ok(Vec::new());
        }
        if policy == DowngradePolicy::Reject {
            return Err(Error::precondition(
                Reason::SeatLimitBelowActiveSeats,
                format!(
                    "{} devices are active and {} allows {}: free seats first or choose \
                     DEACTIVATE_LEAST_RECENTLY_SEEN",
                    self.active_seats, plan.code, plan.seat_limit
                ),
            ));
        }
        let mut by_last_seen: Vec<Seat> =
            active.iter().filter(|s| s.is_active()).cloned().collect();
        by_last_seen.sort_by_key(|seat| (seat.last_seen_at, seat.id));
        by_last_seen.truncate(excess as usize);
        Ok(by_last_seen)
    }

    /// Puts the subscription on `plan` (its seats must fit: see
    /// [`Self::seats_to_free_for`]). Changing to the same plan changes nothing.
    /// Records SUBSCRIPTION_PLAN_CHANGED with the previous plan.
    /// Errors: `FailedPrecondition` (SEAT_LIMIT_BELOW_ACTIVE_SEATS) when the seats do
    /// not fit.
    pub fn move_to_plan(
        &mut self,
        plan: &Plan,
        now: DateTime<Utc>,
        events: &mut Vec<NewEvent>,
    ) -> Result<()> {
        if self.plan_code == plan.code {
            return Ok(());
        }
        if self.active_seats > plan.seat_limit {
            return Err(Error::precondition(
                Reason::SeatLimitBelowActiveSeats,
                "free the excess seats before the plan change",
            ));
        }
        let previous_plan = std::mem::replace(&mut self.plan_code, plan.code.clone());
        self.seat_limit = plan.seat_limit;
        self.updated_at = now;
        events.push(
            NewEvent::of(EventType::SubscriptionPlanChanged, self)
                .with_detail("previous_plan", previous_plan),
        );
        Ok(())
    }
}
