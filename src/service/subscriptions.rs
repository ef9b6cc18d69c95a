//! Selling, reading, listing, updating and cancelling subscriptions, and the
//! double-coverage check.

use super::Services;
use crate::{
    domain::{
        idempotency::{Answer, IdempotencyKey},
        overlap::{self, Overlap},
        page::{Page, PageRequest},
        plan::Plan,
        principal::Principal,
        subscription::{Channel, NewSubscription, Status, Subscription, SubscriptionQuery},
    },
    error::{Error, Resource, Result},
};
use uuid::Uuid;

impl Services {
    /// Sells `plan` to an account directly (the admin, for the web shop).
    /// Errors: `NotFound` (Account).
    pub async fn create_subscription(
        &self,
        principal: Principal,
        account_id: Uuid,
        plan: Plan,
        auto_renew: bool,
        key: Option<&IdempotencyKey>,
    ) -> Result<Answer<Subscription>> {
        self.store.account(principal.scope(), account_id).await?;
        self.idempotent(principal, key, async |unit| {
            let new = NewSubscription {
                plan: plan.clone(),
                channel: Channel::Direct,
                account_id: Some(account_id),
                auto_renew,
                term_start: unit.now,
                term_end: None,
                partner_id: None,
                partner_reference: None,
                product_key: None,
            };
            let subscription = Subscription::create(new, unit.now, &mut unit.events);
            unit.tx.insert_subscription(&subscription).await?;
            Ok(subscription)
        })
        .await
    }

    /// A subscription the caller may see. Errors: `NotFound` (Subscription).
    pub async fn get_subscription(&self, principal: Principal, id: Uuid) -> Result<Subscription> {
        self.store.subscription(principal.scope(), id).await
    }

    /// An account's subscriptions, newest first. Errors: `NotFound` (Account) for
    /// another account's.
    pub async fn list_subscriptions(
        &self,
        principal: Principal,
        account_id: Uuid,
        status: Option<Status>,
        page: &PageRequest,
    ) -> Result<Page<Subscription>> {
        if !principal.sees_account(account_id) {
            return Err(Error::NotFound(Resource::Account));
        }
        let query = SubscriptionQuery {
            account_id: Some(account_id),
            status,
            ..SubscriptionQuery::default()
        };
        self.store
            .list_subscriptions(principal.scope(), &query, page)
            .await
    }

    /// Turns auto-renewal on or off. Errors: `NotFound`; `FailedPrecondition`
    /// (SUBSCRIPTION_ENDED).
    pub async fn set_auto_renew(
        &self,
        principal: Principal,
        id: Uuid,
        auto_renew: bool,
    ) -> Result<Subscription> {
        let mut unit = self.begin(Some(principal), None).await?;
        let mut subscription = unit.tx.lock_subscription(principal.scope(), id).await?;
        let before = subscription.clone();
        subscription.set_auto_renew(auto_renew, unit.now, &mut unit.events)?;
        if subscription != before {
            unit.tx.save_subscription(&subscription).await?;
        }
        unit.commit().await?;
        Ok(subscription)
    }

    /// Cancels now or at the end of the term. Errors: `NotFound`; `FailedPrecondition`
    /// (SUBSCRIPTION_NOT_CANCELLABLE).
    pub async fn cancel_subscription(
        &self,
        principal: Principal,
        id: Uuid,
        immediately: bool,
        key: Option<&IdempotencyKey>,
    ) -> Result<Answer<Subscription>> {
        self.idempotent(principal, key, async |unit| {
            let mut subscription = unit.tx.lock_subscription(principal.scope(), id).await?;
            subscription.cancel(immediately, unit.now, &mut unit.events)?;
            unit.tx.save_subscription(&subscription).await?;
            Ok(subscription)
        })
        .await
    }

    /// Whether an account is covered twice, with the covering subscriptions and the one
    /// to keep. Errors: `NotFound` (Account).
    pub async fn check_overlap(
        &self,
        principal: Principal,
        account_id: Uuid,
    ) -> Result<Option<(Overlap, Vec<Subscription>)>> {
        self.store.account(principal.scope(), account_id).await?;
        let subscriptions = self
            .store
            .account_subscriptions(principal.scope(), account_id)
            .await?;
        Ok(overlap::find(&subscriptions).map(|found| {
            let covering = subscriptions
                .into_iter()
                .filter(|s| found.covering.contains(&s.id))
                .collect();
            (found, covering)
        }))
    }
}
