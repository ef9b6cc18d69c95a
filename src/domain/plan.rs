//! The plan catalog: what is sold, with its seat limit and term.

use crate::error::{Error, Result};
use chrono::{DateTime, Days, Months, Utc};

/// How long one term of a plan runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Term {
    /// Calendar months.
    Months(u32),
    /// Days.
    Days(u32),
}

impl Term {
    /// The instant one term after `start`.
    pub fn after(self, start: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Term::Months(n) => start.checked_add_months(Months::new(n)),
            Term::Days(n) => start.checked_add_days(Days::new(u64::from(n))),
        }
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// The instant one term before `end`.
    pub fn before(self, end: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Term::Months(n) => end.checked_sub_months(Months::new(n)),
            Term::Days(n) => end.checked_sub_days(Days::new(u64::from(n))),
        }
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }
}

/// A sellable plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Code, for example `premium-10`.
    pub code: &'static str,
    /// Name shown to customers.
    pub display_name: &'static str,
    /// Devices a subscription may protect at once.
    pub seat_limit: i64,
    /// Length of one term.
    pub term: Term,
    /// Whether it is a free trial.
    pub trial: bool,
}

/// The plans that ship with the server.
pub const CATALOG: &[Plan] = &[
    Plan {
        code: "trial-5",
        display_name: "Security Suite trial, 5 devices, 30 days",
        seat_limit: 5,
        term: Term::Days(30),
        trial: true,
    },
    Plan {
        code: "standard-1",
        display_name: "Security Suite Standard, 1 device",
        seat_limit: 1,
        term: Term::Months(12),
        trial: false,
    },
    Plan {
        code: "deluxe-3",
        display_name: "Security Suite Deluxe, 3 devices",
        seat_limit: 3,
        term: Term::Months(12),
        trial: false,
    },
    Plan {
        code: "deluxe-5",
        display_name: "Security Suite Deluxe, 5 devices",
        seat_limit: 5,
        term: Term::Months(12),
        trial: false,
    },
    Plan {
        code: "premium-10",
        display_name: "Security Suite Premium, 10 devices",
        seat_limit: 10,
        term: Term::Months(12),
        trial: false,
    },
    Plan {
        code: "deluxe-3-monthly",
        display_name: "Security Suite Deluxe, 3 devices, monthly",
        seat_limit: 3,
        term: Term::Months(1),
        trial: false,
    },
];

/// The plan a request names in `field` (`plans/{code}` or the bare code).
/// Errors: `InvalidArgument` on `field` when it is empty or not in the catalog.
pub fn parse(field: &'static str, raw: &str) -> Result<&'static Plan> {
    if raw.is_empty() {
        return Err(Error::invalid(field, "is required"));
    }
    find(raw).ok_or_else(|| Error::invalid(field, "is not a plan of the catalog"))
}

/// Finds a plan by code; accepts `plans/{code}` as well as the bare code.
pub fn find(name_or_code: &str) -> Option<&'static Plan> {
    let code = name_or_code.strip_prefix("plans/").unwrap_or(name_or_code);
    CATALOG.iter().find(|plan| plan.code == code)
}

/// The plan a store product sells: the last dot-separated part of the store's product id
/// is the plan code (`com.vendor.suite.deluxe-5` → `deluxe-5`).
/// Errors: `FailedPrecondition` (STORE_PRODUCT_UNKNOWN).
pub fn for_store_product(product_id: &str) -> Result<&'static Plan> {
    let code = product_id.rsplit('.').next().unwrap_or(product_id);
    find(code).ok_or_else(|| {
        Error::precondition(
            crate::error::Reason::StoreProductUnknown,
            format!("the store product {product_id:?} is not a plan of the catalog"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn month_terms_follow_the_calendar() {
        let start = Utc.with_ymd_and_hms(2026, 1, 31, 12, 0, 0).unwrap();
        assert_eq!(
            Term::Months(1).after(start),
            Utc.with_ymd_and_hms(2026, 2, 28, 12, 0, 0).unwrap()
        );
        assert_eq!(
            Term::Days(30).after(start),
            Utc.with_ymd_and_hms(2026, 3, 2, 12, 0, 0).unwrap()
        );
    }

    #[test]
    fn plans_are_found_by_code_or_name() {
        assert_eq!(find("plans/premium-10").unwrap().seat_limit, 10);
        assert_eq!(find("deluxe-3").unwrap().seat_limit, 3);
        assert!(find("plans/nope").is_none());
    }
}
