//! What is sold: a plan, with its seat limit and term, and the store products that grant
//! it. The plans themselves come from the catalog file ([`super::catalog`]).

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

/// A sellable plan, as the catalog ([`super::catalog::Catalog`]) lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Code, for example `premium-10`.
    pub code: String,
    /// Name shown to customers.
    pub display_name: String,
    /// Devices a subscription may protect at once.
    pub seat_limit: i64,
    /// Length of one term.
    pub term: Term,
    /// Whether it is a free trial.
    pub trial: bool,
    /// The store products that grant it.
    pub store_products: Vec<StoreProduct>,
}

/// A product sold in an app store, as the store names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StoreProduct {
    /// An App Store product id.
    AppStore {
        /// The product id, e.g. `com.example.suite.premium_10_yearly`.
        product_id: String,
    },
    /// A Google Play subscription product and one of its base plans.
    Play {
        /// The product id, e.g. `com.example.suite.premium_10`.
        product_id: String,
        /// The base plan id, e.g. `yearly`.
        base_plan_id: String,
    },
}

impl std::fmt::Display for StoreProduct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreProduct::AppStore { product_id } => write!(f, "App Store product {product_id:?}"),
            StoreProduct::Play {
                product_id,
                base_plan_id,
            } => write!(
                f,
                "Google Play product {product_id:?} (base plan {base_plan_id:?})"
            ),
        }
    }
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
}
