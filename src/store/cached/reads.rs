//! The reads of [`CachedStore`]: the hot ones through the read model, with the reader's
//! [`Scope`] applied in memory exactly as the backends apply it in SQL; the rest, and
//! every write outside a unit of work, through to the backend.

use super::{
    CachedStore,
    change::Change,
    model::{CachedSession, DeviceToken},
};
use crate::{
    domain::{
        account::Account,
        event::StoredEvent,
        page::{Page, PageRequest},
        partner::{Partner, PartnerKey},
        principal::{Principal, Scope},
        seat::Seat,
        subscription::{Subscription, SubscriptionQuery},
    },
    error::{Error, Resource, Result},
    store::{
        AccountStore, EventSequencer, IdempotencyStore, OutboxStore, PartnerStore, SeatStore,
        SubscriptionStore, ThrottleStore,
    },
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use uuid::Uuid;

/// A read's row, or `None` for `NotFound`.
fn found<T>(read: Result<T>) -> Result<Option<T>> {
    match read {
        Ok(row) => Ok(Some(row)),
        Err(Error::NotFound(_)) => Ok(None),
        Err(other) => Err(other),
    }
}

impl CachedStore {
    /// The subscription `id`, whoever may see it: only ever handed on after a scope
    /// check.
    async fn any_subscription(&self, id: Uuid) -> Result<Arc<Subscription>> {
        self.model
            .read_through(&self.model.subscriptions, id, async {
                Ok(found(self.inner.subscription(Scope::All, id).await)?.map(Arc::new))
            })
            .await?
            .ok_or(Error::NotFound(Resource::Subscription))
    }

    /// The seat `seat_id` of `subscription_id`, whoever may see it (as above).
    async fn any_seat(&self, subscription_id: Uuid, seat_id: Uuid) -> Result<Arc<Seat>> {
        let seat = self
            .model
            .read_through(&self.model.seats, seat_id, async {
                let read = self.inner.seat(Scope::All, subscription_id, seat_id).await;
                Ok(found(read)?.map(Arc::new))
            })
            .await?
            .filter(|seat| seat.subscription_id == subscription_id);
        seat.ok_or(Error::NotFound(Resource::Seat))
    }

    /// Whether `scope` sees the subscription `id`, reading it only when the scope alone
    /// cannot tell.
    async fn sees_subscription(&self, scope: Scope, id: Uuid) -> Result<bool> {
        Ok(match scope {
            Scope::All => true,
            Scope::Nothing => false,
            Scope::Subscription(own) => own == id,
            Scope::Account(_) | Scope::Partner(_) => found(self.any_subscription(id).await)?
                .is_some_and(|subscription| scope.sees(&subscription)),
        })
    }
}

#[async_trait]
impl AccountStore for CachedStore {
    async fn create_account(&self, account: &Account, password_hash: &str) -> Result<()> {
        self.inner.create_account(account, password_hash).await
    }

    async fn account_credentials(&self, email: &str) -> Result<Option<(Uuid, String)>> {
        self.inner.account_credentials(email).await
    }

    async fn account(&self, scope: Scope, id: Uuid) -> Result<Account> {
        self.inner.account(scope, id).await
    }

    async fn create_session(
        &self,
        token_hash: &str,
        account_id: Uuid,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        self.inner
            .create_session(token_hash, account_id, now, expires_at)
            .await
    }

    async fn session(&self, token_hash: &str) -> Result<Option<(Uuid, DateTime<Utc>)>> {
        let cached = self
            .model
            .read_through(&self.model.sessions, token_hash.to_owned(), async {
                Ok(self
                    .inner
                    .session(token_hash)
                    .await?
                    .map(|(account_id, expires_at)| CachedSession {
                        account_id,
                        expires_at,
                    }))
            })
            .await?;
        Ok(cached.map(|session| (session.account_id, session.expires_at)))
    }

    async fn delete_session(&self, token_hash: &str) -> Result<()> {
        self.inner.delete_session(token_hash).await?;
        self.changed(Change::Session(token_hash.to_owned())).await
    }
}

#[async_trait]
impl SubscriptionStore for CachedStore {
    async fn subscription(&self, scope: Scope, id: Uuid) -> Result<Subscription> {
        if matches!(scope, Scope::Nothing) {
            return Err(Error::NotFound(Resource::Subscription));
        }
        let subscription = self.any_subscription(id).await?;
        if scope.sees(&subscription) {
            Ok(Subscription::clone(&subscription))
        } else {
            Err(Error::NotFound(Resource::Subscription))
        }
    }

    async fn list_subscriptions(
        &self,
        scope: Scope,
        query: &SubscriptionQuery,
        page: &PageRequest,
    ) -> Result<Page<Subscription>> {
        self.inner.list_subscriptions(scope, query, page).await
    }

    async fn account_subscriptions(
        &self,
        scope: Scope,
        account_id: Uuid,
    ) -> Result<Vec<Subscription>> {
        self.inner.account_subscriptions(scope, account_id).await
    }

    async fn subscriptions_with_free_seat(
        &self,
        scope: Scope,
        account_id: Uuid,
    ) -> Result<Vec<Subscription>> {
        // Kept per account; a narrower reader filters the account's list in memory.
        let all = self
            .model
            .read_through(&self.model.free_seats, account_id, async {
                let found = self
                    .inner
                    .subscriptions_with_free_seat(Scope::All, account_id)
                    .await?;
                Ok(Some(Arc::new(found)))
            })
            .await?
            .unwrap_or_default();
        Ok(all
            .iter()
            .filter(|subscription| scope.sees(subscription))
            .cloned()
            .collect())
    }
}

#[async_trait]
impl SeatStore for CachedStore {
    async fn list_seats(
        &self,
        scope: Scope,
        subscription_id: Uuid,
        include_deactivated: bool,
        page: &PageRequest,
    ) -> Result<Page<Seat>> {
        let mut listed = self
            .inner
            .list_seats(scope, subscription_id, include_deactivated, page)
            .await?;
        listed.items = listed
            .items
            .into_iter()
            .map(|seat| self.last_seen.applied_to(seat))
            .collect();
        Ok(listed)
    }

    async fn seat(&self, scope: Scope, subscription_id: Uuid, seat_id: Uuid) -> Result<Seat> {
        if !self.sees_subscription(scope, subscription_id).await? {
            return Err(Error::NotFound(Resource::Seat));
        }
        let seat = self.any_seat(subscription_id, seat_id).await?;
        Ok(self.last_seen.applied_to(Seat::clone(&seat)))
    }

    async fn device_principal(&self, token_hash: &str) -> Result<Option<Principal>> {
        let token = self
            .model
            .read_through(&self.model.device_tokens, token_hash.to_owned(), async {
                Ok(match self.inner.device_principal(token_hash).await? {
                    Some(Principal::Device {
                        seat_id,
                        subscription_id,
                        ..
                    }) => Some(DeviceToken {
                        seat_id,
                        subscription_id,
                    }),
                    _ => None,
                })
            })
            .await?;
        let Some(token) = token else {
            return Ok(None);
        };
        // Whether the seat is still held is the seat's, which changes more often than
        // the token's seat does.
        let seat = found(self.any_seat(token.subscription_id, token.seat_id).await)?;
        Ok(seat.map(|seat| Principal::Device {
            seat_id: token.seat_id,
            subscription_id: token.subscription_id,
            active: seat.is_active(),
        }))
    }

    async fn record_last_seen(&self, seen: &[(Uuid, DateTime<Utc>)]) -> Result<()> {
        for (seat_id, at) in seen {
            self.last_seen.record(*seat_id, *at);
        }
        Ok(())
    }
}

#[async_trait]
impl PartnerStore for CachedStore {
    async fn create_partner(&self, partner: &Partner) -> Result<()> {
        self.inner.create_partner(partner).await
    }

    async fn partner(&self, id: Uuid) -> Result<Option<Partner>> {
        self.inner.partner(id).await
    }

    async fn partner_by_name(&self, display_name: &str) -> Result<Option<Partner>> {
        self.inner.partner_by_name(display_name).await
    }

    async fn list_partners(&self, page: &PageRequest) -> Result<Page<Partner>> {
        self.inner.list_partners(page).await
    }

    async fn save_partner(&self, partner: &Partner) -> Result<()> {
        self.inner.save_partner(partner).await?;
        self.changed(Change::Partner(partner.id)).await
    }

    async fn create_partner_key(&self, key: &PartnerKey, key_hash: &str) -> Result<()> {
        self.inner.create_partner_key(key, key_hash).await
    }

    async fn partner_keys(&self, partner_id: Uuid) -> Result<Vec<PartnerKey>> {
        self.inner.partner_keys(partner_id).await
    }

    async fn partner_key(&self, partner_id: Uuid, key_id: Uuid) -> Result<Option<PartnerKey>> {
        self.inner.partner_key(partner_id, key_id).await
    }

    async fn revoke_partner_key(
        &self,
        partner_id: Uuid,
        key_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.inner
            .revoke_partner_key(partner_id, key_id, now)
            .await?;
        self.changed(Change::Partner(partner_id)).await
    }

    async fn partner_key_by_hash(&self, key_hash: &str) -> Result<Option<(Partner, PartnerKey)>> {
        let found = self
            .model
            .read_through(&self.model.partner_keys, key_hash.to_owned(), async {
                Ok(self
                    .inner
                    .partner_key_by_hash(key_hash)
                    .await?
                    .map(Arc::new))
            })
            .await?;
        Ok(found.map(|pair| (pair.0.clone(), pair.1.clone())))
    }
}

#[async_trait]
impl ThrottleStore for CachedStore {
    async fn release_attempts(&self, give_back: &[String], forget: &[String]) -> Result<()> {
        self.inner.release_attempts(give_back, forget).await
    }

    async fn purge_attempt_counters(&self, cutoff: DateTime<Utc>) -> Result<u64> {
        self.inner.purge_attempt_counters(cutoff).await
    }
}

#[async_trait]
impl OutboxStore for CachedStore {
    async fn events_after(
        &self,
        scope: Scope,
        after: i64,
        subscription_id: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<StoredEvent>> {
        self.inner
            .events_after(scope, after, subscription_id, limit)
            .await
    }

    async fn last_event_seq(&self) -> Result<i64> {
        self.inner.last_event_seq().await
    }

    async fn event_sequencer(&self) -> Result<Option<EventSequencer>> {
        self.inner.event_sequencer().await
    }

    async fn number_pending_events(&self) -> Result<()> {
        self.inner.number_pending_events().await
    }
}

#[async_trait]
impl IdempotencyStore for CachedStore {
    async fn purge_idempotency_keys(&self, cutoff: DateTime<Utc>) -> Result<u64> {
        self.inner.purge_idempotency_keys(cutoff).await
    }
}
