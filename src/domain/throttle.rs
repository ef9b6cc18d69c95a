//! The throttles on guessing: sign-ins, sign-ups and redemptions are counted per account
//! and per network address, and past a free allowance each further attempt waits a delay
//! that doubles with every attempt, up to a bound. Counted attempts are forgotten one at
//! a time as quiet time passes, so nobody is locked out for good: a real user whose
//! account is under attack waits at most the bound, and the wait shrinks again once the
//! guessing stops.
//!
//! An attempt is counted *before* the work that could leak a guess's answer (a password
//! check, a code look-up), so concurrent guesses cannot outrun the count; once the outcome
//! is known, [`Attempt::settle`] says which counted attempts are given back.

use crate::error::{Error, Reason, Result};
use chrono::{DateTime, Duration, Utc};
use std::net::IpAddr;

/// The first wait past the free allowance; each further attempt doubles it.
pub const FIRST_DELAY: Duration = Duration::seconds(1);

/// What is being attempted: each kind has its own counters and refusal reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Signing in with an e-mail and a password.
    SignIn,
    /// Creating an account.
    SignUp,
    /// Redeeming a partner code or a product key.
    Redemption,
}

impl Attempt {
    fn prefix(self) -> &'static str {
        match self {
            Attempt::SignIn => "sign-in",
            Attempt::SignUp => "sign-up",
            Attempt::Redemption => "redeem",
        }
    }

    /// The `ErrorInfo` reason of a refusal.
    pub fn reason(self) -> Reason {
        match self {
            Attempt::SignIn => Reason::SignInThrottled,
            Attempt::SignUp => Reason::SignUpThrottled,
            Attempt::Redemption => Reason::RedemptionThrottled,
        }
    }

    fn what(self) -> &'static str {
        match self {
            Attempt::SignIn => "failed sign-ins",
            Attempt::SignUp => "sign-ups from this address",
            Attempt::Redemption => "failed redemptions",
        }
    }

    /// What becomes of the attempts counted for a call once its outcome is known: for the
    /// account's counter and for the address's.
    ///
    /// - A sign-in counts when the password is wrong; a successful one clears the
    ///   account's count (the owner is back) and gives the address's back.
    /// - A sign-up counts whether or not it creates the account (an existing e-mail is
    ///   an answer too).
    /// - A redemption counts when it looks like a guess ([`super::redemption::is_guess`]).
    ///
    /// Anything else — a malformed request, a busy or unreachable server — gives the
    /// attempt back: it told the caller nothing.
    pub fn settle<T>(self, outcome: &Result<T>) -> (Settle, Settle) {
        use Settle::*;
        match (self, outcome) {
            (Attempt::SignIn, Ok(_)) => (Forget, GiveBack),
            (Attempt::SignIn, Err(error)) if error.reason() == Reason::InvalidCredentials => {
                (Keep, Keep)
            }
            (Attempt::SignUp, Ok(_)) => (Keep, Keep),
            (Attempt::SignUp, Err(error)) if error.reason() == Reason::AccountExists => {
                (Keep, Keep)
            }
            (Attempt::Redemption, Err(error)) if super::redemption::is_guess(error) => (Keep, Keep),
            _ => (GiveBack, GiveBack),
        }
    }
}

/// What becomes of one counted attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// It stays counted.
    Keep,
    /// It is taken back.
    GiveBack,
    /// The whole count is dropped.
    Forget,
}

/// The key of one counter: what is attempted, and by whom — an account (for sign-in, the
/// e-mail's hash, so that unknown and known addresses are counted alike) or a network
/// address. An attempt's account subject sorts before its address subject: the order in
/// which units lock them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Subject(String);

impl Subject {
    /// The counter of `attempt` for the account (or e-mail hash) `id`.
    pub fn account(attempt: Attempt, id: impl std::fmt::Display) -> Self {
        Self(format!("{}/account/{id}", attempt.prefix()))
    }

    /// The counter of `attempt` for a network address.
    pub fn address(attempt: Attempt, address: IpAddr) -> Self {
        Self(format!("{}/address/{address}", attempt.prefix()))
    }

    /// As stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The allowance of one kind of counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Attempts let through before any wait.
    pub free: i64,
    /// Quiet time after which one counted attempt is forgotten.
    pub forget_every: Duration,
}

impl Limit {
    /// `free` attempts at once, forgotten at `free` per `window`.
    pub fn per_window(free: u32, window: Duration) -> Self {
        let free = free.max(1);
        Self {
            free: i64::from(free),
            forget_every: (window / i32::try_from(free).unwrap_or(i32::MAX))
                .max(Duration::milliseconds(1)),
        }
    }
}

/// The limits of every throttle, from the settings.
#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    /// Failed sign-ins per account (by e-mail).
    pub sign_in_account: Limit,
    /// Failed sign-ins per network address.
    pub sign_in_address: Limit,
    /// Sign-ups per network address.
    pub sign_up_address: Limit,
    /// Failed redemptions per account.
    pub redeem_account: Limit,
    /// Failed redemptions per network address.
    pub redeem_address: Limit,
    /// The longest wait: what an attacker can make a real user wait, at most.
    pub max_delay: Duration,
}

impl ThrottlePolicy {
    /// The limits of `attempt`: per account (none for sign-ups) and per address.
    fn limits(&self, attempt: Attempt) -> (Option<Limit>, Limit) {
        match attempt {
            Attempt::SignIn => (Some(self.sign_in_account), self.sign_in_address),
            Attempt::SignUp => (None, self.sign_up_address),
            Attempt::Redemption => (Some(self.redeem_account), self.redeem_address),
        }
    }

    /// How long after its last counted attempt a counter may be dropped: a day, and at
    /// least a window of every limit and a few of the longest waits — by then a counter
    /// has forgotten what a guesser, held back by the waits, can have made it count.
    pub fn retention(&self) -> Duration {
        [
            self.sign_in_account,
            self.sign_in_address,
            self.sign_up_address,
            self.redeem_account,
            self.redeem_address,
        ]
        .iter()
        .map(|limit| limit.forget_every * limit.free.min(i64::from(i32::MAX)) as i32)
        .fold(Duration::days(1).max(self.max_delay * 4), Duration::max)
    }

    /// Counts an attempt against the caller's counters, all or none: the account's
    /// first, then the address's. The address's wait holds back a redemption only from
    /// an account with failures of its own still remembered, so that one guesser behind
    /// a shared address (a carrier's NAT, a load balancer) cannot lock out the
    /// customers behind it, while a guesser spreading over many accounts gets one guess
    /// per account once the address is over its allowance (and new accounts are
    /// throttled per address).
    /// Errors: `Throttled` (SIGN_IN_THROTTLED, SIGN_UP_THROTTLED, REDEMPTION_THROTTLED)
    /// with the wait; nothing is counted then.
    pub fn admit(
        &self,
        attempt: Attempt,
        account: Option<&mut AttemptCounter>,
        address: Option<&mut AttemptCounter>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let (account_limit, address_limit) = self.limits(attempt);
        let account = account.zip(account_limit);
        let account_wait = account
            .as_ref()
            .map_or(Duration::zero(), |(counter, limit)| {
                counter.wait(*limit, self.max_delay, now)
            });
        let spared = attempt == Attempt::Redemption
            && account
                .as_ref()
                .is_some_and(|(counter, limit)| counter.remembered(*limit, now) == 0);
        let address_wait = match &address {
            Some(counter) if !spared => counter.wait(address_limit, self.max_delay, now),
            _ => Duration::zero(),
        };
        let wait = account_wait.max(address_wait);
        if wait > Duration::zero() {
            let retry_after = wait.to_std().unwrap_or_default();
            let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            return Err(Error::Throttled {
                reason: attempt.reason(),
                message: format!(
                    "too many {}: try again in {} seconds",
                    attempt.what(),
                    seconds.max(1)
                ),
                retry_after,
            });
        }
        if let Some((counter, limit)) = account {
            counter.count(limit, now);
        }
        if let Some(counter) = address {
            counter.count(address_limit, now);
        }
        Ok(())
    }
}

/// The attempts of one subject, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptCounter {
    /// Whose attempts ([`Subject`]).
    pub subject: String,
    /// Attempts counted and not yet forgotten as of `last_attempt_at`.
    pub attempts: i64,
    /// When the last one was counted.
    pub last_attempt_at: DateTime<Utc>,
}

impl AttemptCounter {
    /// The attempts still remembered at `now`: one is forgotten per
    /// `limit.forget_every` of quiet since the last.
    pub fn remembered(&self, limit: Limit, now: DateTime<Utc>) -> i64 {
        let quiet = (now - self.last_attempt_at).max(Duration::zero());
        let forgotten = match (
            quiet.num_microseconds(),
            limit.forget_every.num_microseconds(),
        ) {
            (Some(quiet), Some(every)) if every > 0 => quiet / every,
            _ => i64::MAX,
        };
        self.attempts.saturating_sub(forgotten).max(0)
    }

    /// How long the next attempt must still wait at `now`: nothing within the free
    /// allowance; past it [`FIRST_DELAY`] doubled for every attempt over the allowance,
    /// at most `max_delay`, after the last attempt.
    pub fn wait(&self, limit: Limit, max_delay: Duration, now: DateTime<Utc>) -> Duration {
        let over = self.remembered(limit, now) - limit.free;
        if over < 0 {
            return Duration::zero();
        }
        let delay = FIRST_DELAY
            .checked_mul(1 << over.min(30) as i32)
            .unwrap_or(max_delay)
            .min(max_delay);
        (self.last_attempt_at + delay - now).max(Duration::zero())
    }

    /// Counts an attempt at `now`.
    fn count(&mut self, limit: Limit, now: DateTime<Utc>) {
        self.attempts = self.remembered(limit, now) + 1;
        self.last_attempt_at = self.last_attempt_at.max(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ThrottlePolicy {
        let hour = Duration::hours(1);
        ThrottlePolicy {
            sign_in_account: Limit::per_window(3, hour),
            sign_in_address: Limit::per_window(100, hour),
            sign_up_address: Limit::per_window(20, hour),
            redeem_account: Limit::per_window(10, hour),
            redeem_address: Limit::per_window(100, hour),
            max_delay: Duration::minutes(20),
        }
    }

    fn fresh(subject: &str, now: DateTime<Utc>) -> AttemptCounter {
        AttemptCounter {
            subject: subject.to_owned(),
            attempts: 0,
            last_attempt_at: now,
        }
    }

    fn wait_of(error: Error) -> Duration {
        match error {
            Error::Throttled { retry_after, .. } => Duration::from_std(retry_after).unwrap(),
            other => panic!("not throttled: {other:?}"),
        }
    }

    #[test]
    fn past_the_allowance_each_wait_doubles_up_to_the_bound() {
        let policy = policy();
        let mut now = Utc::now();
        let mut account = fresh("a", now);
        for _ in 0..3 {
            policy
                .admit(Attempt::SignIn, Some(&mut account), None, now)
                .unwrap();
        }
        let mut waits = Vec::new();
        for _ in 0..14 {
            let refused = policy
                .admit(Attempt::SignIn, Some(&mut account), None, now)
                .unwrap_err();
            assert_eq!(refused.reason(), Reason::SignInThrottled);
            let wait = wait_of(refused);
            waits.push(wait.num_seconds());
            now += wait;
            policy
                .admit(Attempt::SignIn, Some(&mut account), None, now)
                .expect("admitted once the wait is over");
        }
        assert_eq!(
            waits,
            [
                1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 1200, 1200, 1200
            ]
        );
    }

    #[test]
    fn quiet_time_forgets_attempts_one_by_one() {
        let limit = Limit::per_window(4, Duration::hours(1));
        let start = Utc::now();
        let counter = AttemptCounter {
            subject: "s".into(),
            attempts: 6,
            last_attempt_at: start,
        };
        assert_eq!(limit.forget_every, Duration::minutes(15));
        assert_eq!(counter.remembered(limit, start), 6);
        assert_eq!(counter.remembered(limit, start + Duration::minutes(29)), 5);
        assert_eq!(counter.remembered(limit, start + Duration::minutes(30)), 4);
        assert_eq!(counter.remembered(limit, start + Duration::days(1)), 0);
        let bound = Duration::minutes(20);
        assert_eq!(counter.wait(limit, bound, start), Duration::seconds(4));
        assert_eq!(
            counter.wait(limit, bound, start + Duration::minutes(30)),
            Duration::zero()
        );
    }

    /// NIST SP 800-63B: at most 100 failed attempts per account. With the defaults, an
    /// attacker who tries again the moment each wait is over gets far fewer a day, and
    /// the owner, who knows the password, waits at most the bound.
    #[test]
    fn a_relentless_guesser_gets_fewer_than_100_tries_a_day_at_one_account() {
        let policy = policy();
        let start = Utc::now();
        let mut now = start;
        let mut account = fresh("a", now);
        let mut tries = 0;
        while now < start + Duration::days(1) {
            match policy.admit(Attempt::SignIn, Some(&mut account), None, now) {
                Ok(()) => tries += 1,
                Err(refused) => {
                    let wait = wait_of(refused);
                    assert!(wait <= policy.max_delay, "{wait} over the bound");
                    now += wait;
                }
            }
        }
        assert!(tries < 100, "{tries} tries in a day");
        // Days later the attack goes on at the same pace: the count does not grow.
        let remembered = account.remembered(policy.sign_in_account, now);
        assert!(remembered < 20, "{remembered} attempts remembered");
    }

    #[test]
    fn a_shared_address_over_its_allowance_holds_back_only_accounts_that_failed() {
        let mut policy = policy();
        policy.redeem_address = Limit::per_window(2, Duration::hours(1));
        let now = Utc::now();
        let mut address = fresh("peer", now);
        let mut guesser = fresh("guesser", now);
        for _ in 0..2 {
            policy
                .admit(
                    Attempt::Redemption,
                    Some(&mut guesser),
                    Some(&mut address),
                    now,
                )
                .unwrap();
        }
        let refused = policy
            .admit(
                Attempt::Redemption,
                Some(&mut guesser),
                Some(&mut address),
                now,
            )
            .unwrap_err();
        assert_eq!(refused.reason(), Reason::RedemptionThrottled);
        assert_eq!(guesser.attempts, 2, "a refused attempt is not counted");

        let mut bystander = fresh("bystander", now);
        policy
            .admit(
                Attempt::Redemption,
                Some(&mut bystander),
                Some(&mut address),
                now,
            )
            .expect("an account without failures is not held back by its address");
        assert_eq!(
            address.attempts, 3,
            "but its attempt counts for the address"
        );
        // A sign-in has no such exception: the address alone holds it back.
        let mut signer = fresh("signer", now);
        let mut sign_in_address = AttemptCounter {
            attempts: 100,
            ..fresh("peer", now)
        };
        let refused = policy
            .admit(
                Attempt::SignIn,
                Some(&mut signer),
                Some(&mut sign_in_address),
                now,
            )
            .unwrap_err();
        assert_eq!(refused.reason(), Reason::SignInThrottled);
    }

    #[test]
    fn an_attempts_account_subject_sorts_before_its_address_subject() {
        for attempt in [Attempt::SignIn, Attempt::SignUp, Attempt::Redemption] {
            let account = Subject::account(attempt, "ffffffff-ffff");
            let address = Subject::address(attempt, "0.0.0.0".parse().unwrap());
            assert!(account < address, "{account:?} {address:?}");
        }
    }

    #[test]
    fn outcomes_settle_as_each_throttle_says() {
        use Settle::*;
        let wrong = Error::Unauthenticated {
            reason: Reason::InvalidCredentials,
            message: "wrong",
        };
        let busy = Error::Unavailable {
            reason: Reason::PasswordHashingBusy,
            message: String::new(),
            retry_after: std::time::Duration::from_secs(1),
        };
        let exists = Error::AlreadyExists {
            reason: Reason::AccountExists,
            message: String::new(),
        };
        let unknown = Error::NotFound(crate::error::Resource::PartnerCode);
        let ok: Result<()> = Ok(());
        assert_eq!(Attempt::SignIn.settle(&ok), (Forget, GiveBack));
        assert_eq!(Attempt::SignIn.settle::<()>(&Err(wrong)), (Keep, Keep));
        assert_eq!(
            Attempt::SignIn.settle::<()>(&Err(busy)),
            (GiveBack, GiveBack)
        );
        assert_eq!(Attempt::SignUp.settle(&ok), (Keep, Keep));
        assert_eq!(Attempt::SignUp.settle::<()>(&Err(exists)), (Keep, Keep));
        assert_eq!(Attempt::Redemption.settle(&ok), (GiveBack, GiveBack));
        assert_eq!(
            Attempt::Redemption.settle::<()>(&Err(unknown)),
            (Keep, Keep)
        );
    }
}
