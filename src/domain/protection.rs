//! What a device is told when it asks "am I protected?": warnings and the actions that
//! would help. Pure: the caller supplies the seat, its subscription and the account's
//! alternatives.

use super::{
    clock::days_left,
    lifecycle::renews_by_itself,
    seat::Seat,
    subscription::{Status, Subscription},
};
use chrono::{DateTime, Duration, Utc};

/// Something to tell the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Warning {
    /// The term ends within the window and will not renew by itself.
    ExpiringSoon,
    /// In the grace period.
    InGrace,
    /// Expired.
    Expired,
    /// Suspended by the seller.
    Suspended,
    /// Cancelled.
    Cancelled,
    /// The device's seat was removed.
    SeatRemoved,
}

/// Something the user can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Renew the subscription.
    Renew,
    /// Move the device to another subscription of the account.
    ApplySubscription,
    /// Restore an app-store purchase.
    RecoverPurchase,
}

/// The verdict for one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Whether the device is protected now.
    pub protected: bool,
    /// The warning, if any, with its sentence and the days it speaks of.
    pub warning: Option<(Warning, String, i64)>,
    /// What would help.
    pub actions: Vec<Action>,
}

/// How long before the end of a term devices are warned.
pub const DEFAULT_WARNING_DAYS: u32 = 30;

fn days(n: i64) -> String {
    if n == 1 {
        "1 day".to_owned()
    } else {
        format!("{n} days")
    }
}

/// The verdict for a device whose seat was removed: not protected, and why — nothing
/// about the subscription it was on, nor what its account could do, since whoever holds
/// the device may no longer be the account's.
pub fn seat_removed() -> Verdict {
    Verdict {
        protected: false,
        warning: Some((
            Warning::SeatRemoved,
            "This device was removed from your subscription.".to_owned(),
            0,
        )),
        actions: Vec::new(),
    }
}

/// Judges a device's protection. `alternatives` says whether the account has another
/// active subscription with a free seat. A device whose seat was removed is told so;
/// one that holds its seat is told what [`judge_subscription`] says.
pub fn judge(
    seat: &Seat,
    subscription: &Subscription,
    now: DateTime<Utc>,
    warning_window: Duration,
    grace: Duration,
    alternatives: bool,
) -> Verdict {
    if !seat.is_active() {
        return seat_removed();
    }
    judge_subscription(subscription, now, warning_window, grace, alternatives)
}

/// What every device holding a seat on `subscription` is told: the verdict the account
/// page shows for the subscription. `alternatives` says whether the account has another
/// active subscription with a free seat.
pub fn judge_subscription(
    subscription: &Subscription,
    now: DateTime<Utc>,
    warning_window: Duration,
    grace: Duration,
    alternatives: bool,
) -> Verdict {
    let left = days_left(now, subscription.term_end);
    let warning = match subscription.status {
        Status::Active | Status::Trial => {
            let lapses = subscription.cancel_at_period_end || !renews_by_itself(subscription);
            (lapses && subscription.term_end - now <= warning_window).then(|| {
                (
                    Warning::ExpiringSoon,
                    format!("Your protection expires in {}.", days(left)),
                    left,
                )
            })
        }
        Status::Grace => {
            let grace_left = days_left(now, subscription.term_end + grace);
            Some((
                Warning::InGrace,
                format!(
                    "Your subscription has ended; protection stops in {}.",
                    days(grace_left)
                ),
                grace_left,
            ))
        }
        Status::Expired => Some((
            Warning::Expired,
            "Your protection has expired.".to_owned(),
            0,
        )),
        Status::Suspended => Some((
            Warning::Suspended,
            "Your subscription is suspended: contact your provider.".to_owned(),
            left,
        )),
        Status::Cancelled => Some((
            Warning::Cancelled,
            "Your subscription was cancelled.".to_owned(),
            0,
        )),
    };
    let mut actions = Vec::new();
    if warning.is_some() {
        let renewable = matches!(
            subscription.status,
            Status::Active | Status::Trial | Status::Grace | Status::Expired
        );
        if renewable {
            actions.push(Action::Renew);
        }
        if alternatives {
            actions.push(Action::ApplySubscription);
        }
        actions.push(Action::RecoverPurchase);
    }
    Verdict {
        protected: subscription.status.protects(),
        warning,
        actions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{seat::Platform, subscription::direct_subscription};

    fn seat_on(subscription: &Subscription, removed: bool) -> Seat {
        let now = Utc::now();
        Seat {
            id: uuid::Uuid::now_v7(),
            subscription_id: subscription.id,
            device_id: "pc".to_owned(),
            platform: Platform::Windows,
            display_name: "PC".to_owned(),
            activated_at: now,
            last_seen_at: now,
            deactivated_at: removed.then_some(now),
        }
    }

    #[test]
    fn a_device_holding_its_seat_is_told_what_the_subscription_verdict_says() {
        let window = Duration::days(30);
        let grace = Duration::days(14);
        let mut lapsing = direct_subscription("deluxe-3");
        lapsing.auto_renew = false;
        let now = lapsing.term_end - Duration::days(10);
        for subscription in [direct_subscription("deluxe-3"), lapsing] {
            for alternatives in [false, true] {
                let told = judge(
                    &seat_on(&subscription, false),
                    &subscription,
                    now,
                    window,
                    grace,
                    alternatives,
                );
                let shown = judge_subscription(&subscription, now, window, grace, alternatives);
                assert_eq!(told, shown);
            }
        }
    }

    #[test]
    fn a_subscription_that_lapses_soon_warns_with_what_would_help() {
        let mut lapsing = direct_subscription("deluxe-3");
        lapsing.auto_renew = false;
        let now = lapsing.term_end - Duration::days(10);
        let verdict =
            judge_subscription(&lapsing, now, Duration::days(30), Duration::days(14), true);
        assert!(verdict.protected);
        let (warning, message, days) = verdict.warning.expect("a warning");
        assert_eq!(warning, Warning::ExpiringSoon);
        assert_eq!(days, 10);
        assert_eq!(message, "Your protection expires in 10 days.");
        assert_eq!(
            verdict.actions,
            [
                Action::Renew,
                Action::ApplySubscription,
                Action::RecoverPurchase
            ]
        );
        let renewing = direct_subscription("deluxe-3");
        let quiet =
            judge_subscription(&renewing, now, Duration::days(30), Duration::days(14), true);
        assert_eq!(quiet.warning, None);
        assert!(quiet.actions.is_empty());
    }

    #[test]
    fn a_removed_device_is_told_so_whatever_the_subscription() {
        let subscription = direct_subscription("deluxe-3");
        let verdict = judge(
            &seat_on(&subscription, true),
            &subscription,
            Utc::now(),
            Duration::days(30),
            Duration::days(14),
            false,
        );
        assert!(!verdict.protected);
        assert_eq!(verdict.warning.unwrap().0, Warning::SeatRemoved);
        // Nothing about what the account could do: whoever holds the device may no
        // longer be the account's (see `seat_removed`).
        assert!(verdict.actions.is_empty());
    }
}
