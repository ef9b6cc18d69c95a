//! The subscription aggregate: channels, statuses, the record, and every rule that
//! changes it, each a method: term rules — renewal and term arithmetic, cancellation,
//! suspension, claiming, transfer and the lifecycle's due transitions — in [`term`];
//! plan changes with their downgrade policy in [`plan_change`]; the seat rules in
//! [`seats`]; how far from now a caller may date a term in [`window`]. Each change records what happened as events on the caller's list, in the
//! subscription's state right after it.

mod plan_change;
mod seats;
mod term;
pub mod window;

pub use window::TermWindow;

use super::{clock::days_left, plan::Plan};
use crate::error::{Error, Reason, Result};
use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::stored_enum::stored_enum;

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

    pub(crate) fn lower(self) -> String {
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
    pub plan: Plan,
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
    /// The lifecycle worker's renewal: the next term of the series, each term starting
    /// where the one before ended; when the worker comes late and that term is over too,
    /// the series is followed up to the term that runs at the time of the renewal, in
    /// one renewal however many terms were missed.
    CatchUp,
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

impl Subscription {
    /// Whole days left in the current term.
    pub fn days_left(&self, now: DateTime<Utc>) -> i64 {
        days_left(now, self.term_end)
    }

    /// Refuses a change to a subscription that has ended.
    /// Errors: `FailedPrecondition` (SUBSCRIPTION_ENDED).
    pub fn ensure_not_ended(&self) -> Result<()> {
        if self.status.is_final() {
            return Err(Error::precondition(
                Reason::SubscriptionEnded,
                format!("the subscription has ended: it is {}", self.status.lower()),
            ));
        }
        Ok(())
    }
}

/// A DIRECT subscription of `plan_code` for a fresh account, starting now: the rule
/// tests' starting point.
#[cfg(test)]
pub(crate) fn direct_subscription(plan_code: &str) -> Subscription {
    Subscription::create(
        NewSubscription {
            plan: super::catalog::Catalog::embedded()
                .plan(plan_code)
                .expect("a catalog plan")
                .clone(),
            channel: Channel::Direct,
            account_id: Some(Uuid::now_v7()),
            auto_renew: true,
            term_start: Utc::now(),
            term_end: None,
            partner_id: None,
            partner_reference: None,
            product_key: None,
        },
        Utc::now(),
        &mut Vec::new(),
    )
}
