//! The term window: how far from now a caller may date a term it sets.
//!
//! - **A start no earlier than one term of the plan before now.** A carrier that
//!   provisions a contract late may date it from when the contract began; the
//!   subscription then owes at most one renewal, which the worker makes at once. A start
//!   further back is almost always an unset or defaulted field on the caller's side (the
//!   Unix epoch, 1900-01-01, year 1), and the renewals it would owe are no one's.
//! - **An end no later than ten years from now** ([`YEARS_AHEAD`]), the first term's as
//!   well as a renewal's. That is longer than any contract sold (the catalog's longest
//!   term is twelve months, carriers' prepaid bundles run two or three years), and it
//!   keeps every stored time far inside what a `google.protobuf.Timestamp` can carry, so
//!   that what Tessera stores it can always send back.

use crate::{
    domain::plan::Term,
    error::{Error, Result},
};
use chrono::{DateTime, Months, SecondsFormat, Utc};

/// How many years ahead of now a term a caller sets may end.
pub const YEARS_AHEAD: u32 = 10;

/// The window at one moment for a plan's term: see the module's documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TermWindow {
    /// The earliest start a caller may give: one term before now.
    pub earliest_start: DateTime<Utc>,
    /// The latest end a caller's term may have: [`YEARS_AHEAD`] years after now.
    pub latest_end: DateTime<Utc>,
    term: Term,
}

fn shown(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl TermWindow {
    /// The window at `now` for terms of length `term`.
    pub fn at(now: DateTime<Utc>, term: Term) -> Self {
        Self {
            earliest_start: term.before(now),
            latest_end: now
                .checked_add_months(Months::new(12 * YEARS_AHEAD))
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
            term,
        }
    }

    /// Checks the start a caller gives a first term (`start_time`): no earlier than one
    /// term before now, and early enough for that term to end within the window.
    /// Errors: `InvalidArgument` (start_time).
    pub fn check_start(&self, start: DateTime<Utc>) -> Result<()> {
        if start < self.earliest_start {
            return Err(Error::invalid(
                "start_time",
                format!(
                    "must not be before {}: a term may start at most one term of its plan ago",
                    shown(self.earliest_start)
                ),
            ));
        }
        if self.term.after(start) > self.latest_end {
            return Err(Error::invalid(
                "start_time",
                format!(
                    "must let the first term end by {} ({YEARS_AHEAD} years from now)",
                    shown(self.latest_end)
                ),
            ));
        }
        Ok(())
    }

    /// Checks the end a caller gives a term (`end_time`): within [`YEARS_AHEAD`] years.
    /// Errors: `InvalidArgument` (end_time).
    pub fn check_end(&self, end: DateTime<Utc>) -> Result<()> {
        if end > self.latest_end {
            return Err(Error::invalid(
                "end_time",
                format!(
                    "must not be after {} ({YEARS_AHEAD} years from now)",
                    shown(self.latest_end)
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 31, 12, 0, 0).unwrap()
    }

    #[test]
    fn a_start_may_go_back_one_term_of_the_plan_and_no_further() {
        let monthly = TermWindow::at(now(), Term::Months(1));
        assert_eq!(
            monthly.earliest_start,
            Utc.with_ymd_and_hms(2026, 2, 28, 12, 0, 0).unwrap()
        );
        assert!(monthly.check_start(monthly.earliest_start).is_ok());
        assert!(monthly.check_start(now()).is_ok());
        for too_early in [
            monthly.earliest_start - Duration::seconds(1),
            DateTime::<Utc>::UNIX_EPOCH,
            Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).unwrap(),
        ] {
            let refused = monthly.check_start(too_early).unwrap_err();
            assert!(matches!(
                refused,
                Error::InvalidArgument {
                    field: "start_time",
                    ..
                }
            ));
        }
        let yearly = TermWindow::at(now(), Term::Months(12));
        assert!(yearly.check_start(now() - Duration::days(300)).is_ok());
    }

    #[test]
    fn a_term_may_end_at_most_ten_years_ahead() {
        let window = TermWindow::at(now(), Term::Months(12));
        assert_eq!(
            window.latest_end,
            Utc.with_ymd_and_hms(2036, 3, 31, 12, 0, 0).unwrap()
        );
        assert!(window.check_end(window.latest_end).is_ok());
        let refused = window
            .check_end(window.latest_end + Duration::seconds(1))
            .unwrap_err();
        assert!(matches!(
            refused,
            Error::InvalidArgument {
                field: "end_time",
                ..
            }
        ));
        assert!(window.check_start(now() + Duration::days(365 * 8)).is_ok());
        let refused = window
            .check_start(now() + Duration::days(365 * 9 + 300))
            .unwrap_err();
        assert!(matches!(
            refused,
            Error::InvalidArgument {
                field: "start_time",
                ..
            }
        ));
    }
}
