//! A case of the properties: an account's two subscriptions as set up, and the random
//! operations played on them.

use chrono::{DateTime, TimeZone, Utc};
use proptest::{
    prelude::*,
    sample::{Index, select},
};
use tessera::domain::{catalog::Catalog, seat::Platform, subscription::DowngradePolicy};

/// The two subscriptions of each case.
pub const DIRECT: usize = 0;
pub const CARRIER: usize = 1;
pub const NAMES: [&str; 2] = ["direct", "carrier"];
/// Devices come from a small pool, so that re-activations and moves happen.
const DEVICES: u8 = 6;

#[derive(Debug, Clone)]
pub enum Op {
    Activate {
        sub: usize,
        device: u8,
        platform: Platform,
    },
    Deactivate {
        sub: usize,
        seat: Index,
    },
    CheckIn {
        sub: usize,
        seat: Index,
    },
    ChangePlan {
        sub: usize,
        plan: &'static str,
        policy: DowngradePolicy,
    },
    SetSuspended {
        sub: usize,
        suspended: bool,
    },
    Cancel {
        sub: usize,
        immediately: bool,
    },
    /// One term, or until this many days after the current end of term.
    Renew {
        sub: usize,
        until_days_after_end: Option<i64>,
    },
    /// Moves the clock; with `worker`, then runs the lifecycle worker until nothing is due.
    Advance {
        hours: i64,
        worker: bool,
    },
    /// Moves a seat of `from` to the other subscription of the account.
    Apply {
        from: usize,
        seat: Index,
    },
}

#[derive(Debug, Clone)]
pub struct Setup {
    pub start: DateTime<Utc>,
    pub direct_plan: &'static str,
    pub carrier_plan: &'static str,
    pub direct_auto_renew: bool,
    /// The carrier's `start_time` for the first term, in days from now (within the term
    /// window).
    pub carrier_start_days: i64,
}

fn plan_code() -> impl Strategy<Value = &'static str> {
    let plans = Catalog::embedded().plans();
    (0..plans.len()).prop_map(move |i| plans[i].code.as_str())
}

/// Plan changes favour the small plans, so that downgrades below the active seats happen.
fn small_plans_mostly() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        2 => select(&["standard-1", "deluxe-3", "deluxe-3-monthly"][..]),
        1 => plan_code(),
    ]
}

fn setup() -> impl Strategy<Value = Setup> {
    let starts = vec![
        Utc.with_ymd_and_hms(2026, 1, 31, 12, 0, 0).unwrap(),
        Utc.with_ymd_and_hms(2027, 12, 31, 23, 30, 0).unwrap(),
        Utc.with_ymd_and_hms(2028, 2, 29, 6, 0, 0).unwrap(),
        Utc.with_ymd_and_hms(2026, 6, 15, 0, 0, 0).unwrap(),
    ];
    // Back as far as the term window lets any plan start (one term; February's month is
    // the shortest), and ahead.
    let carrier_start_days = prop_oneof![3 => Just(0i64), 1 => -27i64..0, 1 => 1i64..=60];
    (
        select(starts),
        plan_code(),
        plan_code(),
        any::<bool>(),
        carrier_start_days,
    )
        .prop_map(
            |(start, direct_plan, carrier_plan, direct_auto_renew, carrier_start_days)| Setup {
                start,
                direct_plan,
                carrier_plan,
                direct_auto_renew,
                carrier_start_days,
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    let sub = 0..2usize;
    prop_oneof![
        8 => (sub.clone(), 0..DEVICES, select(Platform::ALL)).prop_map(
            |(sub, device, platform)| Op::Activate { sub, device, platform }
        ),
        2 => (sub.clone(), any::<Index>()).prop_map(|(sub, seat)| Op::Deactivate { sub, seat }),
        1 => (sub.clone(), any::<Index>()).prop_map(|(sub, seat)| Op::CheckIn { sub, seat }),
        2 => (sub.clone(), small_plans_mostly(), any::<bool>()).prop_map(|(sub, plan, lrs)| {
            Op::ChangePlan {
                sub,
                plan,
                policy: if lrs {
                    DowngradePolicy::DeactivateLeastRecentlySeen
                } else {
                    DowngradePolicy::Reject
                },
            }
        }),
        2 => (sub.clone(), any::<bool>())
            .prop_map(|(sub, suspended)| Op::SetSuspended { sub, suspended }),
        1 => (sub.clone(), prop::bool::weighted(0.3))
            .prop_map(|(sub, immediately)| Op::Cancel { sub, immediately }),
        2 => (sub.clone(), prop::option::of(-30i64..400)).prop_map(
            |(sub, until_days_after_end)| Op::Renew { sub, until_days_after_end }
        ),
        3 => (
            prop_oneof![3 => 1i64..72, 1 => 72i64..=400 * 24],
            prop::bool::weighted(0.8)
        )
            .prop_map(|(hours, worker)| Op::Advance { hours, worker }),
        2 => (sub, any::<Index>()).prop_map(|(from, seat)| Op::Apply { from, seat }),
    ]
}

pub fn scenario() -> impl Strategy<Value = (Setup, Vec<Op>)> {
    (setup(), prop::collection::vec(op(), 1..40))
}
