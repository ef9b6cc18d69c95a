//! The subscription state machine: every status change of every RPC and background job
//! goes through [`next`], so no transition outside this table can happen. An ended
//! subscription comes back only by renewal (EXPIRED) or, for a store subscription the
//! store had refunded, when the store sells it again (CANCELLED, `Resubscribe`).

use super::subscription::{Channel, Status, Subscription};
use crate::error::{Error, Reason, Result};
use chrono::{DateTime, Duration, Utc};

/// Something that happens to a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// The seller pauses it (non-payment).
    Suspend,
    /// The seller lifts a suspension.
    Resume,
    /// Cancelled with immediate effect.
    CancelNow,
    /// The term ended on a subscription flagged to cancel at period end.
    PeriodEndCancel,
    /// A new term was paid for (carrier renewal, auto-renewal, renewal key, store).
    Renew,
    /// The term ended without renewal.
    EnterGrace,
    /// The grace period (or a trial) ran out.
    Expire,
    /// The store sells a subscription it had ended (refunded) again: only a store's
    /// newer proof does this (`domain::purchase`).
    Resubscribe,
}

use Event::*;
use Status::*;

/// Every allowed transition: (from, event, to).
pub const TRANSITIONS: &[(Status, Event, Status)] = &[
    (Trial, Suspend, Suspended),
    (Trial, CancelNow, Cancelled),
    (Trial, PeriodEndCancel, Cancelled),
    (Trial, Renew, Active),
    (Trial, Expire, Expired),
    (Active, Suspend, Suspended),
    (Active, CancelNow, Cancelled),
    (Active, PeriodEndCancel, Cancelled),
    (Active, Renew, Active),
    (Active, EnterGrace, Grace),
    (Grace, Suspend, Suspended),
    (Grace, CancelNow, Cancelled),
    (Grace, PeriodEndCancel, Cancelled),
    (Grace, Renew, Active),
    (Grace, Expire, Expired),
    (Suspended, Resume, Active),
    (Suspended, CancelNow, Cancelled),
    (Suspended, PeriodEndCancel, Cancelled),
    (Suspended, Renew, Suspended),
    (Suspended, Expire, Expired),
    (Expired, Renew, Active),
    (Expired, Resubscribe, Active),
    (Cancelled, Resubscribe, Active),
];

/// The status after `event`, if the table allows it.
pub fn next(from: Status, event: Event) -> Option<Status> {
    TRANSITIONS
        .iter()
        .find(|(f, e, _)| *f == from && *e == event)
        .map(|(_, _, to)| *to)
}

/// Like [`next`], as a `FailedPrecondition` error with `reason` when not allowed.
pub fn require(from: Status, event: Event, reason: Reason) -> Result<Status> {
    next(from, event).ok_or_else(|| {
        Error::precondition(
            reason,
            format!(
                "a {} subscription cannot be {}",
                from.as_str().to_lowercase(),
                match event {
                    Suspend => "suspended",
                    Resume => "resumed",
                    CancelNow | PeriodEndCancel => "cancelled",
                    Renew => "renewed",
                    EnterGrace => "put in grace",
                    Expire => "expired",
                    Resubscribe => "bought again",
                },
            ),
        )
    })
}

/// How long a lapsed subscription keeps protecting devices before it expires.
pub const DEFAULT_GRACE_DAYS: u32 = 14;

/// Whether a subscription renews by itself at the end of its term: carriers renew each
/// term until they cancel, direct sales when auto-renew is on; retail keys and the app
/// stores renew only when a renewal key or the store's proof says so.
pub fn renews_by_itself(subscription: &Subscription) -> bool {
    match subscription.channel {
        Channel::Carrier => true,
        Channel::Direct => subscription.auto_renew,
        Channel::Retail | Channel::AppStore | Channel::PlayStore => false,
    }
}

/// The transition the lifecycle worker owes `subscription` at `now`, if any.
/// `grace_end` is the end of the term plus the grace period.
pub fn due_event(
    subscription: &Subscription,
    now: DateTime<Utc>,
    grace: Duration,
) -> Option<Event> {
    if subscription.term_end > now {
        return None;
    }
    let grace_over = subscription.term_end + grace <= now;
    let event = match subscription.status {
        _ if subscription.cancel_at_period_end => PeriodEndCancel,
        Trial => Expire,
        Active if renews_by_itself(subscription) => Renew,
        Active => EnterGrace,
        Suspended if subscription.channel == Channel::Carrier => Renew,
        Suspended | Grace if grace_over => Expire,
        Suspended | Grace | Expired | Cancelled => return None,
    };
    next(subscription.status, event).map(|_| event)
}

/// When the transition `event` that [`due_event`] owes `subscription` fell due: the end
/// of its grace period for an expiry out of grace or suspension, the end of its term for
/// every other.
pub fn due_since(subscription: &Subscription, event: Event, grace: Duration) -> DateTime<Utc> {
    match (subscription.status, event) {
        (Grace | Suspended, Expire) => subscription.term_end + grace,
        _ => subscription.term_end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ended_subscriptions_only_come_back_by_renewal() {
        for event in [
            Suspend,
            Resume,
            CancelNow,
            PeriodEndCancel,
            EnterGrace,
            Expire,
        ] {
            assert_eq!(next(Cancelled, event), None);
            assert_eq!(next(Expired, event), None);
        }
        assert_eq!(next(Cancelled, Renew), None);
        assert_eq!(next(Cancelled, Resubscribe), Some(Active));
        assert_eq!(next(Expired, Renew), Some(Active));
    }

    #[test]
    fn the_table_is_a_function() {
        for (i, (from, event, _)) in TRANSITIONS.iter().enumerate() {
            assert!(
                TRANSITIONS[i + 1..]
                    .iter()
                    .all(|(f, e, _)| (f, e) != (from, event)),
                "{from:?} {event:?} listed twice"
            );
        }
    }
}
