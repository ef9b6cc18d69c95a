//! Customer support's look-ups, as the admin: an account by e-mail with its
//! subscriptions and devices, a subscription with its devices and its history, and the
//! partners with their API keys. Read-only; `tessera support …` prints them.

use super::Services;
use crate::{
    domain::{
        account::{Account, Email},
        event::{Event, EventFilter},
        page::PageRequest,
        partner::{Partner, PartnerKey},
        principal::{Principal, Scope},
        seat::Seat,
        subscription::Subscription,
    },
    error::{Error, Resource, Result},
};
use uuid::Uuid;

/// An account with every subscription it owns, newest first, and their devices.
#[derive(Debug, Clone)]
pub struct AccountOverview {
    /// The account.
    pub account: Account,
    /// Its subscriptions, each with its seats (removed ones too).
    pub subscriptions: Vec<SubscriptionDevices>,
}

/// A subscription and its seats, removed ones too, oldest activation first.
#[derive(Debug, Clone)]
pub struct SubscriptionDevices {
    /// The subscription.
    pub subscription: Subscription,
    /// Its seats.
    pub seats: Vec<Seat>,
}

/// A subscription, its seats and every event about it, oldest first.
#[derive(Debug, Clone)]
pub struct SubscriptionHistory {
    /// The subscription and its seats.
    pub current: SubscriptionDevices,
    /// What happened to it.
    pub events: Vec<Event>,
}

/// A partner and every API key it was given, revoked ones too.
#[derive(Debug, Clone)]
pub struct PartnerKeys {
    /// The partner.
    pub partner: Partner,
    /// Its keys, oldest first.
    pub keys: Vec<PartnerKey>,
}

/// Events read per step of a history.
const EVENT_BATCH: i64 = 500;

impl Services {
    /// The account signed up with `email`. Errors: `InvalidArgument` (email);
    /// `NotFound` (Account).
    pub async fn find_account_by_email(&self, email: &str) -> Result<Account> {
        let email = Email::parse(email)?;
        let (id, _) = self
            .store
            .account_credentials(email.as_str())
            .await?
            .ok_or(Error::NotFound(Resource::Account))?;
        self.store.account(Scope::All, id).await
    }

    /// An account, its subscriptions and their devices. Errors: `NotFound` (Account).
    pub async fn account_overview(&self, id: Uuid) -> Result<AccountOverview> {
        let account = self.store.account(Scope::All, id).await?;
        let mut subscriptions = Vec::new();
        for subscription in self.store.account_subscriptions(Scope::All, id).await? {
            subscriptions.push(self.with_devices(subscription).await?);
        }
        Ok(AccountOverview {
            account,
            subscriptions,
        })
    }

    /// A subscription, its devices and its events. Errors: `NotFound` (Subscription).
    pub async fn subscription_history(&self, id: Uuid) -> Result<SubscriptionHistory> {
        let subscription = self.store.subscription(Scope::All, id).await?;
        let current = self.with_devices(subscription).await?;
        let mut filter = EventFilter {
            subscription_id: Some(id),
            ..EventFilter::default()
        };
        let mut events = Vec::new();
        loop {
            let (batch, scanned_to) = self
                .events_after(Principal::Admin, &filter, EVENT_BATCH)
                .await?;
            events.extend(batch);
            if scanned_to == filter.after_seq {
                break;
            }
            filter.after_seq = scanned_to;
        }
        Ok(SubscriptionHistory { current, events })
    }

    /// Every partner, by name, with its keys.
    pub async fn partners_with_keys(&self) -> Result<Vec<PartnerKeys>> {
        let mut partners = Vec::new();
        let mut token = String::new();
        loop {
            let page = self
                .list_partners(&PageRequest::parse(100, &token)?)
                .await?;
            for partner in page.items {
                let keys = self.store.partner_keys(partner.id).await?;
                partners.push(PartnerKeys { partner, keys });
            }
            if page.next_page_token.is_empty() {
                return Ok(partners);
            }
            token = page.next_page_token;
        }
    }

    async fn with_devices(&self, subscription: Subscription) -> Result<SubscriptionDevices> {
        let mut seats = Vec::new();
        let mut token = String::new();
        loop {
            let page = self
                .list_seats(
                    Principal::Admin,
                    subscription.id,
                    true,
                    &PageRequest::parse(100, &token)?,
                )
                .await?;
            seats.extend(page.items);
            if page.next_page_token.is_empty() {
                return Ok(SubscriptionDevices {
                    subscription,
                    seats,
                });
            }
            token = page.next_page_token;
        }
    }
}
