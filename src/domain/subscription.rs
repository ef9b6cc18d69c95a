//! The subscription aggregate: channels, statuses, the record, and every rule that
//! changes it — renewal and term arithmetic, cancellation, suspension, plan changes with
//! their downgrade policy, claiming, transfer, and the lifecycle's due transitions. The
//! seat rules are in [`super::seat`]. Each change records what happened as events on the
//! caller's list, in the subscription's state right after it.

use super::{
    clock::days_left,
    event::{EventType, NewEvent},
    lifecycle::{Event, due_event, require},
    plan::{self, Plan, Term},
    seat::Seat,
};
use crate::error::{Error, Reason, Result};
use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

macro_rules! stored_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every value.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored text form.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses the stored text form.
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }
    };
}
pub(crate) use stored_enum;

stored_enum! {
    /// How a subscription was sold.
    Channel {
        /// Vendor web shop.
        Direct = "DIRECT",
        /// Product key.
        Retail = "RETAIL",
        /// Telecom carrier.
        Carrier = "CARRIER",
        /// Apple App Store.
        AppStore = "APP_STORE",
        /// Google Play.
        PlayStore = "PLAY_STORE",
    }
}

stored_enum! {
    /// Where a subscription is in its life.
    Status {
        /// Free trial.
        Trial = "TRIAL",
        /// Paid and running.
        Active = "ACTIVE",
        /// Term ended without renewal; still protected for a while.
        Grace = "GRACE",
        /// Paused by the seller.
        Suspended = "SUSPENDED",
        /// Over.
        Expired = "EXPIRED",
        /// Cancelled.
        Cancelled = "CANCELLED",
    }
}

impl Status {
    /// Whether new seats may be taken.
    pub fn takes_seats(self) -> bool {
        matches!(self, Status::Active | Status::Trial)
    }

    /// Whether devices holding seats are protected.
    pub fn protects(self) -> bool {
        matches!(self, Status::Active | Status::Trial | Status::Grace)
    }

    /// Whether the subscription has ended for good.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Expired | Status::Cancelled)
    }

    fn lower(self) -> String {
        self.as_str().to_lowercase()
    }
}

/// One instance of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// Subscription id.
    pub id: Uuid,
    /// Plan code.
    pub plan_code: String,
    /// Sales channel.
    pub channel: Channel,
    /// Status.
    pub status: Status,
    /// Owning account; `None` while a carrier subscription is unclaimed.
    pub account_id: Option<Uuid>,
    /// Most active seats allowed.
    pub seat_limit: i64,
    /// Seats taken now.
    pub active_seats: i64,
    /// Start of the current term.
    pub term_start: DateTime<Utc>,
    /// End of the current term.
    pub term_end: DateTime<Utc>,
    /// Renews by itself at term end.
    pub auto_renew: bool,
    /// Ends at term end.
    pub cancel_at_period_end: bool,
    /// Selling partner.
    pub partner_id: Option<Uuid>,
    /// The partner's reference.
    pub partner_reference: Option<String>,
    /// The product key that created it (shown to the owner only).
    pub product_key: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// What a new subscription is made of.
#[derive(Debug, Clone)]
pub struct NewSubscription {
    /// The plan sold.
    pub plan: &'static Plan,
    /// How it was sold.
    pub channel: Channel,
    /// Owner; `None` for an unclaimed carrier subscription.
    pub account_id: Option<Uuid>,
    /// Renews by itself.
    pub auto_renew: bool,
    /// Start of the first term.
    pub term_start: DateTime<Utc>,
    /// End of the first term; one term of the plan when `None`.
    pub term_end: Option<DateTime<Utc>>,
    /// Selling partner.
    pub partner_id: Option<Uuid>,
    /// The partner's reference.
    pub partner_reference: Option<String>,
    /// The product key that created it.
    pub product_key: Option<String>,
}

/// How to renew.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// By one term, from the current end (or from now once it has ended).
    OneTerm,
    /// A new term right after the current one, even if that is still in the past (the
    /// lifecycle worker catching up: each pass renews one term).
    Contiguous,
    /// To a given end, later than the current one and than now.
    Until(DateTime<Utc>),
}

/// The policy for a plan change below the active seat count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DowngradePolicy {
    /// Refuse the change.
    Reject,
    /// Free the seats of the devices seen least recently.
    DeactivateLeastRecentlySeen,
}

/// Which subscriptions a listing wants (within the reader's scope).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscriptionQuery {
    /// Owned by this account.
    pub account_id: Option<Uuid>,
    /// Sold by this partner.
    pub partner_id: Option<Uuid>,
    /// With this partner reference.
    pub partner_reference: Option<String>,
    /// In this status.
    pub status: Option<Status>,
}

/// The subscriptions the lifecycle worker must look at now: those whose term has ended
/// and that are TRIAL or ACTIVE; SUSPENDED and CARRIER, flagged to cancel at period end,
/// or past grace; GRACE and flagged, or past grace. It is exactly the set for which
/// [`Subscription::due_transition`] can owe a transition (the conformance suite checks
/// the two agree), written out so that the store can select it with an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueQuery {
    /// Now.
    pub now: DateTime<Utc>,
    /// Terms that ended at or before this are past grace.
    pub grace_cutoff: DateTime<Utc>,
}

impl DueQuery {
    /// The due set at `now` with grace period `grace`.
    pub fn at(now: DateTime<Utc>, grace: Duration) -> Self {
        Self {
            now,
            grace_cutoff: now - grace,
        }
    }
}

fn ended(status: Status) -> Error {
    Error::precondition(
        Reason::SubscriptionEnded,
        format!("the subscription has ended: it is {}", status.lower()),
    )
}

impl Subscription {
    /// A new subscription of `new.plan`, first term as given or one term of the plan;
    /// a trial plan starts in TRIAL. Records SUBSCRIPTION_CREATED.
    pub fn create(new: NewSubscription, now: DateTime<Utc>, events: &mut Vec<NewEvent>) -> Self {
        let subscription = Self {
            id: Uuid::now_v7(),
            plan_code: new.plan.code.to_owned(),
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

    /// Whole days left in the current term.
    pub fn days_left(&self, now: DateTime<Utc>) -> i64 {
        days_left(now, self.term_end)
    }

    /// The plan the subscription is on.
    /// Errors: `Internal` when the catalog no longer has it.
    pub fn plan(&self) -> Result<&'static Plan> {
        plan::find(&self.plan_code).ok_or_else(|| {
            Error::Internal(format!(
                "subscription {} is on unknown plan {}",
                self.id, self.plan_code
            ))
        })
    }

    /// Refuses a change to a subscription that has ended.
    /// Errors: `FailedPrecondition` (SUBSCRIPTION_ENDED).
    pub fn ensure_not_ended(&self) -> Result<()> {
        if self.status.is_final() {
            return Err(ended(self.status));
        }
        Ok(())
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
    /// Errors: `FailedPrecondition` (SUBSCRIPTION_NOT_CANCELLABLE) once it has ended.
    pub fn cancel(
        &mut self,
        immediately: bool,
        now: DateTime<Utc>,
        events: &mut Vec<NewEvent>,
    ) -> Result<()> {
        const REASON: Reason = Reason::SubscriptionNotCancellable;
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

    /// Ends the term now, or, for a term that has not begun, as an empty term at its
    /// start: a term never ends before it starts.
    fn end_term_at(&mut self, now: DateTime<Utc>) {
        self.term_end = self.term_end.min(now).max(self.term_start);
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
            Renewal::Contiguous => (self.term_end, term.after(self.term_end)),
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
        let mut by_last_seen: Vec<Seat> = active.iter().filter(|s| s.is_active()).cloned().collect();
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
        plan: &'static Plan,
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
        let previous_plan = std::mem::replace(&mut self.plan_code, plan.code.to_owned());
        self.seat_limit = plan.seat_limit;
        self.updated_at = now;
        events.push(
            NewEvent::of(EventType::SubscriptionPlanChanged, self)
                .with_detail("previous_plan", previous_plan),
        );
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

    /// Whether a new partner code may replace the current one: only while no customer
    /// has claimed the subscription.
    /// Errors: `FailedPrecondition` (SUBSCRIPTION_ENDED, SUBSCRIPTION_ALREADY_CLAIMED).
    pub fn ensure_code_reissuable(&self) -> Result<()> {
        self.ensure_not_ended()?;
        if self.account_id.is_some() {
            return Err(Error::precondition(
                Reason::SubscriptionAlreadyClaimed,
                "a customer has already claimed this subscription",
            ));
        }
        Ok(())
    }

    /// Moves the subscription to another account (a store purchase restored there); its
    /// devices must have been signed out first. Records SUBSCRIPTION_TRANSFERRED with the
    /// previous account.
    pub fn transfer_to(&mut self, account_id: Uuid, now: DateTime<Utc>, events: &mut Vec<NewEvent>) {
        let previous = self
            .account_id
            .replace(account_id)
            .map(super::names::account)
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

    /// Applies the transition owed at `now`, if any: renews one contiguous term, or puts
    /// the subscription in grace, expires or cancels it. Returns what it applied.
    pub fn apply_due_transition(
        &mut self,
        now: DateTime<Utc>,
        grace: Duration,
        events: &mut Vec<NewEvent>,
    ) -> Result<Option<Event>> {
        let Some(event) = self.due_transition(now, grace) else {
            return Ok(None);
        };
        if event == Event::Renew {
            let term = self.plan()?.term;
            self.renew(term, Renewal::Contiguous, now, events)?;
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscription(plan_code: &'static str, active_seats: i64) -> Subscription {
        let plan = plan::find(plan_code).unwrap();
        let mut events = Vec::new();
        let mut s = Subscription::create(
            NewSubscription {
                plan,
                channel: Channel::Direct,
                account_id: None,
                auto_renew: true,
                term_start: Utc::now(),
                term_end: None,
                partner_id: None,
                partner_reference: None,
                product_key: None,
            },
            Utc::now(),
            &mut events,
        );
        s.active_seats = active_seats;
        s
    }

    #[test]
    fn a_downgrade_below_the_active_seats_is_refused_under_reject() {
        let s = subscription("deluxe-5", 4);
        let small = plan::find("deluxe-3").unwrap();
        let refused = s
            .seats_to_free_for(small, DowngradePolicy::Reject, &[])
            .unwrap_err();
        assert_eq!(refused.reason(), Reason::SeatLimitBelowActiveSeats);
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
