//! Running an attempt behind its throttle ([`crate::domain::throttle`]): the attempt is
//! counted against the caller's counters in one unit of work before the work that could
//! answer a guess, and settled once the outcome is known. The counters are in the
//! database, so replicas sharing it share them.

use super::Services;
use crate::{
    domain::throttle::{Attempt, Settle, Subject},
    error::Result,
};
use std::net::IpAddr;

impl Services {
    /// Runs `work` as an `attempt` by `account` (none for a sign-up) from `address` (when
    /// known): refused before any work while a counter says wait, otherwise counted
    /// first and settled afterwards as [`Attempt::settle`] says.
    /// Errors: `Throttled`, and whatever `work` returns.
    pub(crate) async fn throttled<T>(
        &self,
        attempt: Attempt,
        account: Option<Subject>,
        address: Option<IpAddr>,
        work: impl AsyncFnOnce() -> Result<T>,
    ) -> Result<T> {
        let address = address.map(|address| Subject::address(attempt, address));
        if account.is_none() && address.is_none() {
            return work().await;
        }
        self.count_attempt(attempt, account.as_ref(), address.as_ref())
            .await?;
        let outcome = work().await;
        let (for_account, for_address) = attempt.settle(&outcome);
        let (mut give_back, mut forget) = (Vec::new(), Vec::new());
        for (subject, settle) in [(account, for_account), (address, for_address)] {
            match (subject, settle) {
                (Some(subject), Settle::GiveBack) => give_back.push(subject.as_str().to_owned()),
                (Some(subject), Settle::Forget) => forget.push(subject.as_str().to_owned()),
                _ => {}
            }
        }
        if let Err(error) = self.store.release_attempts(&give_back, &forget).await {
            tracing::warn!(%error, "could not settle a throttled attempt");
        }
        outcome
    }

    /// Counts an attempt against both counters, atomically: when either says wait,
    /// nothing is counted. The account's counter is locked first, as its subject sorts
    /// first, so that no two units (nor a settlement) wait for each other in a cycle.
    /// Errors: `Throttled`.
    async fn count_attempt(
        &self,
        attempt: Attempt,
        account: Option<&Subject>,
        address: Option<&Subject>,
    ) -> Result<()> {
        let mut unit = self.begin(None, None).await?;
        let mut account_counter = match account {
            Some(subject) => Some(
                unit.tx
                    .lock_attempt_counter(subject.as_str(), unit.now)
                    .await?,
            ),
            None => None,
        };
        let mut address_counter = match address {
            Some(subject) => Some(
                unit.tx
                    .lock_attempt_counter(subject.as_str(), unit.now)
                    .await?,
            ),
            None => None,
        };
        self.policy.throttle.admit(
            attempt,
            account_counter.as_mut(),
            address_counter.as_mut(),
            unit.now,
        )?;
        for counter in account_counter.iter().chain(address_counter.iter()) {
            unit.tx.save_attempt_counter(counter).await?;
        }
        unit.commit().await
    }
}
