//! Restoring App Store and Google Play purchases. One store purchase maps to one
//! subscription, owned by one account at a time; restoring it on another account moves
//! it there.

use super::Services;
use crate::{
    domain::{
        plan,
        principal::{Principal, Scope},
        purchase::{StoreKind, StorePurchase, VerifiedPurchase},
        subscription::{DowngradePolicy, NewSubscription, Subscription},
    },
    error::{Error, Reason, Result},
};
use uuid::Uuid;

fn not_configured(store: &str) -> Error {
    Error::precondition(
        Reason::StoreNotConfigured,
        format!("{store} restores are not configured on this server"),
    )
}

impl Services {
    /// Verifies a store's proof and attaches the purchase to `account_id`: creates its
    /// subscription on first restore, moves it from another account (signing that
    /// account's devices out), and brings plan, term, auto-renewal and status up to what
    /// the proof says. A Google Play purchase that replaces a linked one carries that
    /// one's subscription on. A replay changes nothing.
    /// Errors: the verifiers' (`InvalidArgument`, `PermissionDenied`, `Unavailable`);
    /// `FailedPrecondition` (STORE_NOT_CONFIGURED, STORE_PRODUCT_UNKNOWN,
    /// STORE_PURCHASE_EXPIRED, STORE_PURCHASE_REVOKED).
    pub async fn restore_store_purchase(
        &self,
        account_id: Uuid,
        store: StoreKind,
        proof: &str,
    ) -> Result<Subscription> {
        let (purchase, linked) = match store {
            StoreKind::AppStore => {
                let apple = self
                    .apple
                    .as_ref()
                    .ok_or_else(|| not_configured("App Store"))?;
                (apple.verify(proof, self.now())?, None)
            }
            StoreKind::PlayStore => {
                let play = self
                    .play
                    .as_ref()
                    .ok_or_else(|| not_configured("Google Play"))?;
                let verified = play.verify(proof).await?;
                (verified.purchase, verified.linked_purchase_token)
            }
        };
        let plan = plan::for_store_product(&purchase.product_id)?;
        self.file_purchase(account_id, &purchase, linked.as_deref(), plan)
            .await
    }

    async fn file_purchase(
        &self,
        account_id: Uuid,
        purchase: &VerifiedPurchase,
        linked: Option<&str>,
        plan: &'static plan::Plan,
    ) -> Result<Subscription> {
        let mut unit = self
            .begin(Some(Principal::Account(account_id)), None)
            .await?;
        let mut on_file = unit
            .tx
            .lock_store_purchase(purchase.store, &purchase.original_id)
            .await?;
        if let (None, Some(linked)) = (&on_file, linked)
            && let Some(mut previous) = unit.tx.lock_store_purchase(purchase.store, linked).await?
        {
            previous.original_id = purchase.original_id.clone();
            previous.product_id = purchase.product_id.clone();
            previous.updated_at = unit.now;
            unit.tx.rekey_store_purchase(linked, &previous).await?;
            on_file = Some(previous);
        }
        let subscription = match on_file {
            None => {
                purchase.ensure_entitles(unit.now)?;
                let new = NewSubscription {
                    plan,
                    channel: purchase.channel(),
                    account_id: Some(account_id),
                    auto_renew: purchase.auto_renew.unwrap_or(true),
                    term_start: purchase.purchased_at.min(unit.now),
                    term_end: Some(purchase.expires_at),
                    partner_id: None,
                    partner_reference: None,
                    product_key: None,
                };
                let subscription = Subscription::create(new, unit.now, &mut unit.events);
                unit.tx.insert_subscription(&subscription).await?;
                unit.tx
                    .insert_store_purchase(&StorePurchase {
                        store: purchase.store,
                        original_id: purchase.original_id.clone(),
                        subscription_id: subscription.id,
                        product_id: purchase.product_id.clone(),
                        environment: purchase.environment.clone(),
                        created_at: unit.now,
                        updated_at: unit.now,
                    })
                    .await?;
                subscription
            }
            Some(filed) => {
                // The purchase is the account's right to its subscription, wherever it is.
                let mut subscription = unit
                    .tx
                    .lock_subscription(Scope::All, filed.subscription_id)
                    .await?;
                if subscription.account_id != Some(account_id) {
                    for mut seat in unit.tx.active_seats(subscription.id).await? {
                        subscription.release_seat(&mut seat, unit.now, &mut unit.events);
                        unit.tx.save_seat(&seat).await?;
                    }
                    subscription.transfer_to(account_id, unit.now, &mut unit.events);
                }
                if !subscription.status.is_final() {
                    super::carrier::change_plan_in(
                        &mut unit,
                        &mut subscription,
                        plan,
                        DowngradePolicy::DeactivateLeastRecentlySeen,
                    )
                    .await?;
                }
                subscription.follow_store_proof(purchase, unit.now, &mut unit.events)?;
                unit.tx.save_subscription(&subscription).await?;
                subscription
            }
        };
        unit.commit().await?;
        Ok(subscription)
    }
}
