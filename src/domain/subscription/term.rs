//! The term rules: creation, renewal and its term arithmetic, cancellation, suspension,
//! auto-renewal, claiming, transfer, and the lifecycle's due transitions — every status
//! change through the table of [`crate::domain::lifecycle`].

use super::{NewSubscription, Renewal, Status, Subscription};
use crate::{
    domain::{
        catalog::Catalog,
        event::{EventType, NewEvent},
        lifecycle::{Event, due_event, require},
        names,
        plan::Term,
    },
    error::{Error, Reason, Result},
};
use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

impl Subscription {
    /// A new subscription of `new.plan`, first term as given or one term of the plan;
    /// a trial plan starts in TRIAL. Records SUBSCRIPTION_CREATED.
    pub fn create(new: NewSubscription, now: DateTime<Utc>, events: &mut Vec<NewEvent>) -> Self {
        let subscription = Self {
            id: Uuid::now_v7(),
            plan_code: new.plan.code.clone(),
            channel: new.channel,
            status: if new.plan.trial {
                Status::Trial
            } else {
                Status::Active
            },
            account_id: new.account_id,
            seat_limit: new.plan.seat_limit,
            active_seats: 0,
            term_start: new.term_start,
            term_end: new
                .term_end
                .unwrap_or_else(|| new.plan.term.after(new.term_start)),
            auto_renew: new.auto_renew,
            cancel_at_period_end: false,
            partner_id: new.partner_id,
            partner_reference: new.partner_reference,
            product_key: new.product_key,
            created_at: now,
            updated_at: now,
        };
        events.push(NewEvent::of(EventType::SubscriptionCreated, &subscription));
        subscription
    }

    /// Turns auto-renewal on or off. Records SUBSCRIPTION_UPDATED if it changed.
    /// Errors: `FailedPrecondition` (SUBSCRIPTION_ENDED).
    pub fn set_auto_renew(
        &mut self,
        auto_renew: bool,
        now: DateTime<Utc>,
        events: &mut Vec<NewEvent>,
    ) -> Result<()> {
        self.ensure_not_ended()?;
        if self.auto_renew != auto_renew {
            self.auto_renew = auto_renew;
            self.updated_at = now;
            events.push(NewEvent::of(EventType::SubscriptionUpdated, self));
        }
        Ok(())
    }

    /// Cancels at once (every device stops being protected) or at the end of the term;
    /// a term that is already over cancels at once. Auto-renewal stops either way.
    /// Records SUBSCRIPTION_CANCELLED or SUBSCRIPTION_CANCELLATION_SCHEDULED.
    /// Errors: `FailedPrecondition` — SUBSCRIPTION_MANAGED_BY_STORE for an App Store or
    /// Google Play subscription (the store bills it: it is cancelled there, and the
    /// store's word reaches Tessera), SUBSCRIPTION_NOT_CANCELLABLE once it has ended.
    pub fn cancel(
        &mut self,
        immediately: bool,
        now: DateTime<Utc>,
        events: &mut Vec<NewEvent>,
    ) -> Result<()> {
        const REASON: Reason = Reason::SubscriptionNotCancellable;
        let store = match self.channel {
            super::Channel::AppStore => {
                Some("in the App Store (Settings, your name, Subscriptions)")
            }
            super::Channel::PlayStore => Some("in Google Play (Payments & subscriptions)"),
            _ => None,
        };
        if let Some(where_) = store {
            return Err(Error::precondition(
                Reason::SubscriptionManagedByStore,
                format!("the store bills this subscription: cancel it {where_}"),
            ));
        }
        if immediately || self.term_end <= now {
            self.status = require(self.status, Event::CancelNow, REASON)?;
            self.end_term_at(now);
            self.auto_renew = false;
            self.updated_at = now;
            events.push(NewEvent::of(EventType::SubscriptionCancelled, self));
        } else {
            require(self.status, Event::PeriodEndCancel, REASON)?;
            self.cancel_at_period_end = true;
            self.auto_renew = false;
            self.updated_at = now;
            events.push(NewEvent::of(
                EventType::SubscriptionCancellationScheduled,
                self,
            ));
        }
        Ok(())
    }

    /// The store revoked (refunded) what pays for it: cancels at once unless it has
    /// ended already. Records SUBSCRIPTION_CANCELLED.
    pub fn revoke(&mut self, now: DateTime<Utc>, events: &mut Vec<NewEvent>) -> Result<()> {
        if self.status.is_final() {
            return Ok(());
        }
        self.status = require(
            self.status,
            Event::CancelNow,
            Reason::SubscriptionNotCancellable,
        )?;
        self.end_term_at(now);
        self.updated_at = now;
        events.push(NewEvent::of(EventType::SubscriptionCancelled, self));
        Ok(())
    }

    /// Suspends (`true`) or resumes (`false`); a subscription already so is left as it
    /// is. Records SUBSCRIPTION_SUSPENDED or SUBSCRIPTION_RESUMED.
    /// Errors: `FailedPrecondition` (SUBSCRIPTION_NOT_SUSPENDABLE,
    /// SUBSCRIPTION_NOT_SUSPENDED).
    pub fn set_suspended(
        &mut self,
        suspended: bool,
        now: DateTime<Utc>,
        events: &mut Vec<NewEvent>,
    ) -> Result<()> {
        let already = (self.status == Status::Suspended) == suspended && !self.status.is_final();
        if already {
            return Ok(());
        }
        let (event, reason, event_type) = if suspended {
            (
                Event::Suspend,
                Reason::SubscriptionNotSuspendable,
                EventType::SubscriptionSuspended,
            )
        } else {
            (
                Event::Resume,
                Reason::SubscriptionNotSuspended,
                EventType::SubscriptionResumed,
            )
        };
        self.status = require(self.status, event, reason)?;
        self.updated_at = now;
        events.push(NewEvent::of(event_type, self));
        Ok(())
    }

    /// Starts a new term of length `term` as `renewal` says; a subscription in grace or
    /// expired becomes active again, a scheduled cancellation is called off.
    /// Records SUBSCRIPTION_RENEWED.
    /// Errors: `InvalidArgument` (end_time) for an end not later than the current one
    /// and than now; `FailedPrecondition` (SUBSCRIPTION_NOT_RENEWABLE) once cancelled.
    pub fn renew(
        &mut self,
        term: Term,
        renewal: Renewal,
        now: DateTime<Utc>,
        events: &mut Vec<NewEvent>,
    ) -> Result<()> {
        let status = require(self.status, Event::Renew, Reason::SubscriptionNotRenewable)?;
        let ended = self.term_end <= now;
        let (start, end) = match renewal {
            Renewal::CatchUp => term_running_at(term, self.term_end, now),
            Renewal::OneTerm if ended => (now, term.after(now)),
            Renewal::OneTerm => (self.term_start, term.after(self.term_end)),
            Renewal::Until(end) if end > self.term_end && end > now => {
                (if ended { now } else { self.term_start }, end)
            }
            Renewal::Until(_) => {
                return Err(Error::invalid(
                    "end_time",
                    "must be later than the current end of term and than now",
                ));
            }
        };
        self.term_start = start;
        self.term_end = end;
        self.status = status;
        self.cancel_at_period_end = false;
        self.updated_at = now;
        events.push(NewEvent::of(EventType::SubscriptionRenewed, self));
        Ok(())
    }

    /// The store sells a subscription it had ended (refunded, or expired) again: a new
    /// term from `start` to `end`, active. Records SUBSCRIPTION_RENEWED.
    /// Errors: `FailedPrecondition` (SUBSCRIPTION_NOT_RENEWABLE) unless it had ended.
    pub fn resubscribe(
        &mut self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        now: DateTime<Utc>,
        events: &mut Vec<NewEvent>,
    ) -> Result<()> {
        self.status = require(
            self.status,
            Event::Resubscribe,
            Reason::SubscriptionNotRenewable,
        )?;
        self.term_start = start.min(end);
        self.term_end = end;
        self.cancel_at_period_end = false;
        self.updated_at = now;
        events.push(NewEvent::of(EventType::SubscriptionRenewed, self));
        Ok(())
    }

    /// A customer claims an unclaimed carrier subscription with its partner code.
    /// Records PARTNER_CODE_REDEEMED.
    /// Errors: `FailedPrecondition` (SUBSCRIPTION_ENDED).
    pub fn claim(
        &mut self,
        account_id: Uuid,
        now: DateTime<Utc>,
        events: &mut Vec<NewEvent>,
    ) -> Result<()> {
        if self.status.is_final() {
            return Err(Error::precondition(
                Reason::SubscriptionEnded,
                "the subscription of this partner code has ended",
            ));
        }
        self.account_id = Some(account_id);
        self.updated_at = now;
        events.push(NewEvent::of(EventType::PartnerCodeRedeemed, self));
        Ok(())
    }

    /// A new partner code replaces the current one: only while no customer has claimed
    /// the subscription. Records PARTNER_CODE_REISSUED.
    /// Errors: `FailedPrecondition` (SUBSCRIPTION_ENDED, SUBSCRIPTION_ALREADY_CLAIMED).
    pub fn reissue_code(&self, events: &mut Vec<NewEvent>) -> Result<()> {
        self.ensure_not_ended()?;
        if self.account_id.is_some() {
            return Err(Error::precondition(
                Reason::SubscriptionAlreadyClaimed,
                "a customer has already claimed this subscription",
            ));
        }
        events.push(NewEvent::of(EventType::PartnerCodeReissued, self));
        Ok(())
    }

    /// Moves the subscription to another account (a store purchase restored there); its
    /// devices must have been signed out first. Records SUBSCRIPTION_TRANSFERRED with the
    /// previous account.
    pub fn transfer_to(
        &mut self,
        account_id: Uuid,
        now: DateTime<Utc>,
        events: &mut Vec<NewEvent>,
    ) {
        let previous = self
            .account_id
            .replace(account_id)
            .map(names::account)
            .unwrap_or_default();
        self.updated_at = now;
        events.push(
            NewEvent::of(EventType::SubscriptionTransferred, self)
                .with_detail("previous_account", previous),
        );
    }

    /// The transition the lifecycle worker owes the subscription at `now`, if any.
    pub fn due_transition(&self, now: DateTime<Utc>, grace: Duration) -> Option<Event> {
        due_event(self, now, grace)
    }

    /// Applies the transition owed at `now`, if any: renews (up to the term running at
    /// `now`, in one renewal however late), or puts the subscription in grace, expires or
    /// cancels it. Returns what it applied.
    /// `catalog` gives the term of the subscription's plan.
    pub fn apply_due_transition(
        &mut self,
        catalog: &Catalog,
        now: DateTime<Utc>,
        grace: Duration,
        events: &mut Vec<NewEvent>,
    ) -> Result<Option<Event>> {
        let Some(event) = self.due_transition(now, grace) else {
            return Ok(None);
        };
        if event == Event::Renew {
            let term = catalog.plan_of(&self.plan_code)?.term;
            self.renew(term, Renewal::CatchUp, now, events)?;
            return Ok(Some(event));
        }
        self.status = require(self.status, event, Reason::Internal)?;
        self.updated_at = now;
        let event_type = match event {
            Event::EnterGrace => EventType::SubscriptionEnteredGrace,
            Event::Expire => EventType::SubscriptionExpired,
            _ => EventType::SubscriptionCancelled,
        };
        events.push(NewEvent::of(event_type, self));
        Ok(Some(event))
    }

    /// Ends the term now, or, for a term that has not begun, as an empty term at its
    /// start: a term never ends before it starts.
    fn end_term_at(&mut self, now: DateTime<Utc>) {
        self.term_end = self.term_end.min(now).max(self.term_start);
    }
}

/// The term after the one ending at `end`, or, if that is over by `now` too, the term of
/// the same series (each starting where the one before ended) that runs at `now`.
fn term_running_at(
    term: Term,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let (mut start, mut end) = (end, term.after(end));
    while end <= now {
        let next = term.after(end);
        if next <= end {
            // The calendar's end: no later term exists.
            break;
        }
        (start, end) = (end, next);
    }
    (start, end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        catalog::Catalog,
        subscription::{DowngradePolicy, direct_subscription},
    };

    fn subscription(plan_code: &str, active_seats: i64) -> Subscription {
        Subscription {
            active_seats,
            ..direct_subscription(plan_code)
        }
    }

    #[test]
    fn a_downgrade_below_the_active_seats_is_refused_under_reject() {
        let s = subscription("deluxe-5", 4);
        let small = Catalog::embedded().plan("deluxe-3").unwrap();
        let refused = s
            .seats_to_free_for(small, DowngradePolicy::Reject, &[])
            .unwrap_err();
        assert_eq!(refused.reason(), Reason::SeatLimitBelowActiveSeats);
    }

    #[test]
    fn a_long_overdue_renewal_catches_up_in_one_event_to_the_term_running_now() {
        let mut s = subscription("deluxe-3-monthly", 0);
        let first_end = s.term_end;
        let now = first_end + Duration::days(365 * 57);
        let mut events = Vec::new();
        let applied = s
            .apply_due_transition(Catalog::embedded(), now, Duration::days(14), &mut events)
            .unwrap();
        assert_eq!(applied, Some(Event::Renew));
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event_type, EventType::SubscriptionRenewed);
        assert!(s.term_start <= now && now < s.term_end, "{s:?} at {now}");
        assert_eq!(Term::Months(1).after(s.term_start), s.term_end);
        assert_eq!(s.due_transition(now, Duration::days(14)), None);
    }

    #[test]
    fn a_renewal_on_time_is_the_next_term() {
        let mut s = subscription("deluxe-3-monthly", 0);
        let end = s.term_end;
        let mut events = Vec::new();
        s.renew(Term::Months(1), Renewal::CatchUp, end, &mut events)
            .unwrap();
        assert_eq!(
            (s.term_start, s.term_end),
            (end, Term::Months(1).after(end))
        );
    }

    #[test]
    fn a_cancelled_subscription_cannot_be_renewed_and_keeps_its_empty_term() {
        let mut s = subscription("deluxe-3", 0);
        let now = s.term_start - Duration::days(1);
        let mut events = Vec::new();
        s.cancel(true, now, &mut events).unwrap();
        assert_eq!(s.term_end, s.term_start);
        let refused = s
            .renew(Term::Months(1), Renewal::OneTerm, now, &mut events)
            .unwrap_err();
        assert_eq!(refused.reason(), Reason::SubscriptionNotRenewable);
    }
}
