//! A unit of work that notes what it changes. Every save of a row the read model keeps
//! adds a [`Change`]; once the unit has committed — or failed to, when whether it did is
//! unknown — this replica drops what they made stale, and the other replicas are told
//! (PostgreSQL's `NOTIFY`, sent after the commit: a `NOTIFY` inside the transaction
//! would take PostgreSQL's instance-wide notification lock through every commit).

use super::{
    change::{Change, ChangeSet},
    last_seen::LastSeen,
    model::ReadModel,
};
use crate::{
    domain::{
        event::NewEvent,
        idempotency::{IdempotencyKey, StoredRequest},
        principal::Scope,
        purchase::{StoreKind, StorePurchase},
        redemption::{PartnerCode, ProductKey},
        seat::Seat,
        subscription::{DueQuery, Subscription},
        throttle::AttemptCounter,
    },
    error::Result,
    store::{
        AccountTx, CodeTx, IdempotencyTx, OutboxTx, PurchaseTx, SeatTx, Store, SubscriptionTx,
        ThrottleTx, UnitOfWork,
    },
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::{collections::HashMap, sync::Arc};
use uuid::Uuid;

/// See the module's documentation.
pub(super) struct CachedUnit {
    inner: Box<dyn UnitOfWork>,
    /// The backend, which tells the other replicas.
    store: Arc<dyn Store>,
    model: Arc<ReadModel>,
    last_seen: Arc<LastSeen>,
    changes: ChangeSet,
    /// The account each subscription read in this unit belonged to, so that moving one
    /// to another account also drops the old account's entry.
    accounts_before: HashMap<Uuid, Option<Uuid>>,
}

impl CachedUnit {
    pub(super) fn new(
        inner: Box<dyn UnitOfWork>,
        store: Arc<dyn Store>,
        model: Arc<ReadModel>,
        last_seen: Arc<LastSeen>,
    ) -> Self {
        Self {
            inner,
            store,
            model,
            last_seen,
            changes: ChangeSet::default(),
            accounts_before: HashMap::new(),
        }
    }

    fn note_read(&mut self, subscription: &Subscription) {
        self.accounts_before
            .entry(subscription.id)
            .or_insert(subscription.account_id);
    }

    fn note_saved(&mut self, subscription: &Subscription) {
        self.changes
            .subscription(subscription.id, subscription.account_id);
        if let Some(Some(before)) = self.accounts_before.get(&subscription.id) {
            self.changes.add(Change::Account(*before));
        }
    }
}

#[async_trait]
impl UnitOfWork for CachedUnit {
    async fn commit(self: Box<Self>) -> Result<()> {
        let unit = *self;
        let committed = unit.inner.commit().await;
        // Also after a failed commit: it may have committed before the error.
        unit.model.invalidate(unit.changes.iter());
        if !unit.changes.is_empty()
            && let Err(error) = unit.store.announce_changes(&unit.changes).await
        {
            // The write stands; the other replicas' entries expire on their own.
            tracing::warn!(%error, "other replicas could not be told of a commit");
        }
        committed
    }
}

#[async_trait]
impl AccountTx for CachedUnit {
    async fn link_identity(
        &mut self,
        account_id: Uuid,
        partner_id: Uuid,
        reference: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.inner
            .link_identity(account_id, partner_id, reference, now)
            .await
    }
}

#[async_trait]
impl SubscriptionTx for CachedUnit {
    async fn lock_subscription(&mut self, scope: Scope, id: Uuid) -> Result<Subscription> {
        let subscription = self.inner.lock_subscription(scope, id).await?;
        self.note_read(&subscription);
        Ok(subscription)
    }

    async fn insert_subscription(&mut self, subscription: &Subscription) -> Result<()> {
        self.inner.insert_subscription(subscription).await?;
        self.note_saved(subscription);
        Ok(())
    }

    async fn save_subscription(&mut self, subscription: &Subscription) -> Result<()> {
        self.inner.save_subscription(subscription).await?;
        self.note_saved(subscription);
        Ok(())
    }

    async fn claim_due(&mut self, due: &DueQuery, limit: i64) -> Result<Vec<Subscription>> {
        let claimed = self.inner.claim_due(due, limit).await?;
        for subscription in &claimed {
            self.note_read(subscription);
        }
        Ok(claimed)
    }
}

#[async_trait]
impl SeatTx for CachedUnit {
    async fn active_seats(&mut self, subscription_id: Uuid) -> Result<Vec<Seat>> {
        // With pending check-ins: a downgrade frees the seats seen least recently.
        let seats = self.inner.active_seats(subscription_id).await?;
        Ok(seats
            .into_iter()
            .map(|seat| self.last_seen.applied_to(seat))
            .collect())
    }

    async fn seat_in(&mut self, subscription_id: Uuid, seat_id: Uuid) -> Result<Seat> {
        let seat = self.inner.seat_in(subscription_id, seat_id).await?;
        Ok(self.last_seen.applied_to(seat))
    }

    async fn insert_seat(&mut self, seat: &Seat) -> Result<()> {
        self.inner.insert_seat(seat).await?;
        self.changes.add(Change::Seat(seat.id));
        Ok(())
    }

    async fn save_seat(&mut self, seat: &Seat) -> Result<()> {
        self.inner.save_seat(seat).await?;
        self.changes.add(Change::Seat(seat.id));
        Ok(())
    }

    async fn insert_device_token(
        &mut self,
        token_hash: &str,
        seat_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.inner
            .insert_device_token(token_hash, seat_id, now)
            .await
    }

    async fn move_device_tokens(&mut self, from: Uuid, to: Uuid) -> Result<()> {
        self.inner.move_device_tokens(from, to).await?;
        self.changes.add(Change::TokensMoved(from));
        self.changes.add(Change::Seat(from));
        self.changes.add(Change::Seat(to));
        Ok(())
    }
}

#[async_trait]
impl CodeTx for CachedUnit {
    async fn insert_partner_code(&mut self, code: &PartnerCode) -> Result<()> {
        self.inner.insert_partner_code(code).await
    }

    async fn lock_partner_code(&mut self, hash: &str) -> Result<Option<PartnerCode>> {
        self.inner.lock_partner_code(hash).await
    }

    async fn live_partner_codes(&mut self, subscription_id: Uuid) -> Result<Vec<PartnerCode>> {
        self.inner.live_partner_codes(subscription_id).await
    }

    async fn save_partner_code(&mut self, code: &PartnerCode) -> Result<()> {
        self.inner.save_partner_code(code).await
    }

    async fn insert_product_keys(&mut self, keys: &[ProductKey]) -> Result<()> {
        self.inner.insert_product_keys(keys).await
    }

    async fn lock_product_key(&mut self, hash: &str) -> Result<Option<ProductKey>> {
        self.inner.lock_product_key(hash).await
    }

    async fn save_product_key(&mut self, key: &ProductKey) -> Result<()> {
        self.inner.save_product_key(key).await
    }
}

#[async_trait]
impl ThrottleTx for CachedUnit {
    async fn lock_attempt_counter(
        &mut self,
        subject: &str,
        now: DateTime<Utc>,
    ) -> Result<AttemptCounter> {
        self.inner.lock_attempt_counter(subject, now).await
    }

    async fn save_attempt_counter(&mut self, counter: &AttemptCounter) -> Result<()> {
        self.inner.save_attempt_counter(counter).await
    }
}

#[async_trait]
impl PurchaseTx for CachedUnit {
    async fn lock_store_purchase(
        &mut self,
        store: StoreKind,
        original_id: &str,
    ) -> Result<Option<StorePurchase>> {
        self.inner.lock_store_purchase(store, original_id).await
    }

    async fn insert_store_purchase(&mut self, purchase: &StorePurchase) -> Result<()> {
        self.inner.insert_store_purchase(purchase).await
    }

    async fn save_store_purchase(&mut self, purchase: &StorePurchase) -> Result<()> {
        self.inner.save_store_purchase(purchase).await
    }

    async fn rekey_store_purchase(
        &mut self,
        previous_original_id: &str,
        purchase: &StorePurchase,
    ) -> Result<()> {
        self.inner
            .rekey_store_purchase(previous_original_id, purchase)
            .await
    }

    async fn store_purchase_replaced_by(
        &mut self,
        store: StoreKind,
        original_id: &str,
    ) -> Result<Option<String>> {
        self.inner
            .store_purchase_replaced_by(store, original_id)
            .await
    }
}

impl OutboxTx for CachedUnit {
    fn emit(&mut self, event: NewEvent) {
        self.inner.emit(event);
    }
}

#[async_trait]
impl IdempotencyTx for CachedUnit {
    async fn stored_request(&mut self, key: &IdempotencyKey) -> Result<Option<StoredRequest>> {
        self.inner.stored_request(key).await
    }

    async fn store_request(
        &mut self,
        key: &IdempotencyKey,
        response: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.inner.store_request(key, response, now).await
    }
}
