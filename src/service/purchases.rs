//! Restoring App Store and Google Play purchases. One store purchase maps to one
//! subscription, owned by one account at a time; the rules of `domain::purchase` decide
//! what a verified store state means for it (newest statement wins, who may hold it).

use super::Services;
use crate::{
    app_stores::google::PlayState,
    domain::{
        principal::{Principal, Scope},
        purchase::{Holder, RenewalInfo, StoreKind, StorePurchase, VerifiedPurchase},
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

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// The purchase's subscription, as it is now.
    pub subscription: Subscription,
    /// The restore moved it from another account (whose devices were signed out).
    pub moved: bool,
}

impl Services {
    /// Verifies a store's proof (and, for the App Store, the renewal info beside it) and
    /// attaches the purchase to `account_id`: creates its subscription on first restore,
    /// moves an unbound purchase from another account (signing that account's devices
    /// out), and follows what the store says (see `StorePurchase::follow`). A Google Play
    /// purchase that replaces a linked one carries that one's subscription on; a pending
    /// one changes nothing until it is paid, and an unacknowledged one is acknowledged.
    /// Errors: the verifiers' (`InvalidArgument`, `PermissionDenied`, `Unavailable`);
    /// `PermissionDenied` (STORE_PURCHASE_OTHER_ACCOUNT); `FailedPrecondition`
    /// (STORE_NOT_CONFIGURED, STORE_PRODUCT_UNKNOWN, STORE_PURCHASE_EXPIRED,
    /// STORE_PURCHASE_REVOKED, STORE_PURCHASE_NOT_PAID, STORE_PURCHASE_ON_HOLD,
    /// STORE_PROOF_OUTDATED).
    pub async fn restore_store_purchase(
        &self,
        account_id: Uuid,
        store: StoreKind,
        proof: &str,
        renewal_info: Option<&str>,
    ) -> Result<Restored> {
        match store {
            StoreKind::AppStore => {
                let apple = self
                    .apple
                    .as_ref()
                    .ok_or_else(|| not_configured("App Store"))?;
                let now = self.now();
                let purchase = apple.verify(proof, now)?;
                let renewal = renewal_info
                    .map(|jws| apple.verify_renewal_info(jws, now))
                    .transpose()?;
                if let Some(renewal) = &renewal
                    && renewal.original_id != purchase.original_id
                {
                    return Err(Error::invalid(
                        "signed_renewal_info",
                        "is about another purchase than signed_proof",
                    ));
                }
                self.file_purchase(account_id, &purchase, None, renewal.as_ref())
                    .await
            }
            StoreKind::PlayStore => {
                if renewal_info.is_some() {
                    return Err(Error::invalid(
                        "signed_renewal_info",
                        "is for App Store restores only: a Play token says it all",
                    ));
                }
                let play = self
                    .play
                    .as_ref()
                    .ok_or_else(|| not_configured("Google Play"))?;
                let mut verified = play.verify(proof).await?;
                // Google: "If this pending purchase was for an existing subscription, use
                // linked_purchase_token to get the current state of that subscription."
                if verified.state == PlayState::PendingPurchaseCanceled
                    && let Some(linked) = verified.linked_purchase_token.clone()
                {
                    verified = play.verify(&linked).await?;
                }
                let restored = self
                    .file_purchase(
                        account_id,
                        &verified.purchase,
                        verified.linked_purchase_token.as_deref(),
                        None,
                    )
                    .await?;
                if verified.needs_acknowledgement()
                    && let Err(error) = play
                        .acknowledge(
                            &verified.purchase.original_id,
                            &verified.purchase.product_id,
                        )
                        .await
                {
                    // The restore stands; the next restore of this purchase tries again.
                    tracing::warn!(%error, "acknowledging a Google Play purchase failed");
                }
                Ok(restored)
            }
        }
    }

    async fn file_purchase(
        &self,
        account_id: Uuid,
        purchase: &VerifiedPurchase,
        linked: Option<&str>,
        renewal: Option<&RenewalInfo>,
    ) -> Result<Restored> {
        purchase.ensure_restorable_by(account_id)?;
        let plan = self.catalog.plan_for_purchase(purchase)?.clone();
        let store = purchase.store;
        let mut unit = self
            .begin(Some(Principal::Account(account_id)), None)
            .await?;
        let now = unit.now;
        let mut on_file = unit
            .tx
            .lock_store_purchase(store, &purchase.original_id)
            .await?;
        // A Play token that a newer one replaced: the purchase lives on under that one,
        // and this proof is older than what is on file.
        let mut superseded = false;
        if on_file.is_none()
            && let Some(current) = unit
                .tx
                .store_purchase_replaced_by(store, &purchase.original_id)
                .await?
        {
            on_file = unit.tx.lock_store_purchase(store, &current).await?;
            superseded = on_file.is_some();
        }
        // A new Play token naming the one it replaces carries its subscription on, once
        // it is paid (a pending upgrade changes nothing).
        if on_file.is_none()
            && let Some(linked) = linked
            && purchase.entitles(now)
        {
            let current = unit
                .tx
                .store_purchase_replaced_by(store, linked)
                .await?
                .unwrap_or_else(|| linked.to_owned());
            if let Some(mut previous) = unit.tx.lock_store_purchase(store, &current).await? {
                let old_id =
                    std::mem::replace(&mut previous.original_id, purchase.original_id.clone());
                previous.latest_transaction_id = None;
                previous.latest_purchased_at = None;
                previous.latest_signed_at = None;
                previous.updated_at = now;
                unit.tx.rekey_store_purchase(&old_id, &previous).await?;
                on_file = Some(previous);
            }
        }

        let restored = match on_file {
            None => {
                purchase.ensure_entitles(now)?;
                let new = NewSubscription {
                    plan,
                    channel: purchase.channel(),
                    account_id: Some(account_id),
                    auto_renew: renewal
                        .map(|r| r.auto_renew)
                        .or(purchase.auto_renew)
                        .unwrap_or(true),
                    term_start: purchase.purchased_at.min(now),
                    term_end: Some(purchase.expires_at),
                    partner_id: None,
                    partner_reference: None,
                    product_key: None,
                };
                let subscription = Subscription::create(new, now, &mut unit.events);
                unit.tx.insert_subscription(&subscription).await?;
                let mut filed = StorePurchase::first(purchase, subscription.id, now);
                filed.renewal_signed_at = renewal.map(|r| r.signed_at);
                unit.tx.insert_store_purchase(&filed).await?;
                Restored {
                    subscription,
                    moved: false,
                }
            }
            Some(mut filed) => {
                // The purchase is the account's right to its subscription, wherever it is.
                let mut subscription = unit
                    .tx
                    .lock_subscription(Scope::All, filed.subscription_id)
                    .await?;
                let original = subscription.clone();
                let holder = if superseded {
                    if subscription.account_id != Some(account_id) {
                        return Err(Error::precondition(
                            Reason::StoreProofOutdated,
                            "this purchase was replaced by a newer one: restore that one",
                        ));
                    }
                    Holder::Same
                } else {
                    filed.holder_after_restore(&subscription, purchase, account_id, now)?
                };
                let moved = matches!(holder, Holder::Moves { .. });
                if moved {
                    for mut seat in unit.tx.active_seats(subscription.id).await? {
                        subscription.release_seat(&mut seat, now, &mut unit.events);
                        unit.tx.save_seat(&seat).await?;
                    }
                    subscription.transfer_to(account_id, now, &mut unit.events);
                }
                if !superseded {
                    let before = filed.clone();
                    let followed =
                        filed.follow(&mut subscription, purchase, &plan, now, &mut unit.events)?;
                    if let Some(plan) = followed.plan_change {
                        super::carrier::change_plan_in(
                            &mut unit,
                            &mut subscription,
                            plan,
                            DowngradePolicy::DeactivateLeastRecentlySeen,
                        )
                        .await?;
                    }
                    if let Some(renewal) = renewal {
                        filed.follow_renewal_info(
                            &mut subscription,
                            renewal,
                            now,
                            &mut unit.events,
                        );
                    }
                    if filed != before {
                        unit.tx.save_store_purchase(&filed).await?;
                    }
                }
                if subscription != original {
                    unit.tx.save_subscription(&subscription).await?;
                }
                Restored {
                    subscription,
                    moved,
                }
            }
        };
        unit.commit().await?;
        Ok(restored)
    }
}
