//! What the tests are made of: fixed instants, records with every field set, helpers
//! that write them in a unit of work, and the assertions the suite repeats.

#![allow(dead_code)]

pub use chrono::{DateTime, Duration, TimeZone, Utc};
pub use std::{collections::BTreeSet, future::Future, sync::Arc};
pub use tessera::{
    domain::{
        account::Account,
        event::{EventType, NewEvent},
        idempotency::{IdempotencyKey, StoredRequest},
        page::{Page, PageRequest},
        partner::{Partner, PartnerKey, PartnerStatus},
        principal::{Principal, Scope},
        purchase::{StoreKind, StorePurchase},
        redemption::{PartnerCode, ProductKey, ProductKeyKind},
        seat::{Platform, Seat},
        secret::{KeyFingerprint, KeyOrigin},
        subscription::{Channel, DueQuery, Status, Subscription, SubscriptionQuery},
        throttle::AttemptCounter,
    },
    error::{Error, Reason, Resource, Result},
    store::{
        AccountStore, AccountTx, Backend, CodeTx, IdempotencyStore, IdempotencyTx, OutboxStore,
        OutboxTx, PartnerStore, PurchaseTx, SeatStore, SeatTx, Store, SubscriptionStore,
        SubscriptionTx, ThrottleStore, ThrottleTx, UnitOfWork, WriteContext,
    },
};
pub use tokio::sync::{Barrier, oneshot};
pub use uuid::Uuid;

/// The instant the tests happen at: micro-seconds set, as both backends keep them.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap() + Duration::microseconds(123_456)
}

/// `seconds` after [`t0`] (before it when negative).
pub fn at(seconds: i64) -> DateTime<Utc> {
    t0() + Duration::seconds(seconds)
}

/// A unit of work of Tessera itself at `now`.
pub fn system(now: DateTime<Utc>) -> WriteContext {
    WriteContext {
        author: None,
        request_id: None,
        now,
    }
}

/// An account with e-mail `local@example.com`, not yet stored.
pub fn account(local: &str) -> Account {
    Account {
        id: Uuid::new_v4(),
        email: format!("{local}@example.com"),
        display_name: format!("{local} display"),
        created_at: t0(),
        linked_identities: Vec::new(),
    }
}

/// Stores [`account`]`(local)`.
pub async fn create_account(store: &Arc<dyn Store>, local: &str) -> Account {
    let account = account(local);
    store
        .create_account(&account, "$argon2id$stand-in")
        .await
        .expect("creating an account");
    account
}

/// An active partner named `name`, not yet stored.
pub fn partner(name: &str) -> Partner {
    Partner {
        id: Uuid::new_v4(),
        display_name: name.to_owned(),
        status: PartnerStatus::Active,
        created_at: t0(),
    }
}

/// Stores [`partner`]`(name)`.
pub async fn create_partner(store: &Arc<dyn Store>, name: &str) -> Partner {
    let partner = partner(name);
    store
        .create_partner(&partner)
        .await
        .expect("creating a partner");
    partner
}

/// An ACTIVE DIRECT `deluxe-3` subscription in the middle of its term, owned by nobody;
/// tests set what they need with struct update syntax.
pub fn subscription() -> Subscription {
    Subscription {
        id: Uuid::new_v4(),
        plan_code: "deluxe-3".to_owned(),
        channel: Channel::Direct,
        status: Status::Active,
        account_id: None,
        seat_limit: 3,
        active_seats: 0,
        term_start: t0() - Duration::days(30) + Duration::microseconds(1),
        term_end: t0() + Duration::days(335) + Duration::microseconds(2),
        auto_renew: true,
        cancel_at_period_end: false,
        partner_id: None,
        partner_reference: None,
        product_key: None,
        created_at: t0() - Duration::days(30) + Duration::microseconds(3),
        updated_at: t0() - Duration::days(1) + Duration::microseconds(4),
    }
}

/// A subscription of `account_id`.
pub fn owned_by(account_id: Uuid) -> Subscription {
    Subscription {
        account_id: Some(account_id),
        ..subscription()
    }
}

/// A carrier subscription sold by `partner_id`, claimed by `account_id` if given.
pub fn sold_by(partner_id: Uuid, account_id: Option<Uuid>) -> Subscription {
    Subscription {
        channel: Channel::Carrier,
        partner_id: Some(partner_id),
        partner_reference: Some(format!("contract-{}", Uuid::new_v4().simple())),
        account_id,
        ..subscription()
    }
}

/// Inserts `subscriptions` in one committed unit of work.
pub async fn insert_subscriptions(store: &Arc<dyn Store>, subscriptions: &[Subscription]) {
    let mut tx = store.begin(system(t0())).await.expect("begin");
    for subscription in subscriptions {
        tx.insert_subscription(subscription)
            .await
            .expect("inserting a subscription");
    }
    tx.commit().await.expect("commit");
}

/// An active seat of `subscription_id` for `device_id`, taken at `activated_at`.
pub fn seat(subscription_id: Uuid, device_id: &str, activated_at: DateTime<Utc>) -> Seat {
    Seat {
        id: Uuid::new_v4(),
        subscription_id,
        device_id: device_id.to_owned(),
        platform: Platform::Android,
        display_name: format!("{device_id}'s phone"),
        activated_at,
        last_seen_at: activated_at + Duration::microseconds(7),
        deactivated_at: None,
    }
}

/// Inserts `seats` in one committed unit of work (the subscriptions' seat counters are
/// left alone: the seats tests are about seats).
pub async fn insert_seats(store: &Arc<dyn Store>, seats: &[Seat]) {
    let mut tx = store.begin(system(t0())).await.expect("begin");
    for seat in seats {
        tx.insert_seat(seat).await.expect("inserting a seat");
    }
    tx.commit().await.expect("commit");
}

/// A request id of `scope` with `fingerprint`.
pub fn idempotency_key(scope: &str, request_id: &str, fingerprint: &str) -> IdempotencyKey {
    IdempotencyKey {
        scope: scope.to_owned(),
        request_id: request_id.to_owned(),
        fingerprint: fingerprint.to_owned(),
    }
}

/// The first page request of `size` rows.
pub fn first_page(size: i64) -> PageRequest {
    PageRequest { size, after: None }
}

/// Every page of a listing, following the page tokens from the first page of `size`.
pub async fn all_pages<T, F, Fut>(size: i64, mut fetch: F) -> Vec<Vec<T>>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: Future<Output = Result<Page<T>>>,
{
    let mut pages = Vec::new();
    let mut request = first_page(size);
    loop {
        let page = fetch(request).await.expect("listing a page");
        assert!(page.items.len() as i64 <= size, "a page larger than asked");
        pages.push(page.items);
        if page.next_page_token.is_empty() {
            return pages;
        }
        request = PageRequest::parse(size as i32, &page.next_page_token)
            .expect("the store's page token parses");
        assert!(pages.len() <= 100, "the pages do not end");
    }
}

/// The sizes of `pages`.
pub fn sizes<T>(pages: &[Vec<T>]) -> Vec<usize> {
    pages.iter().map(Vec::len).collect()
}

/// Fails unless `result` is `NotFound` of `resource`.
#[track_caller]
pub fn assert_not_found<T: std::fmt::Debug>(result: Result<T>, resource: Resource) {
    match result {
        Err(Error::NotFound(found)) if found == resource => {}
        other => panic!("expected NotFound({resource:?}), got {other:?}"),
    }
}

/// Fails unless `result` is `AlreadyExists` with `reason`.
#[track_caller]
pub fn assert_already_exists<T: std::fmt::Debug>(result: Result<T>, reason: Reason) {
    match result {
        Err(Error::AlreadyExists { reason: found, .. }) if found == reason => {}
        other => panic!("expected AlreadyExists({reason}), got {other:?}"),
    }
}

/// The outcome of a unit of work whose last write was `written`: that error, or the
/// commit's outcome. A constraint may be checked at the statement or at commit.
pub async fn commit_after(tx: Box<dyn UnitOfWork>, written: Result<()>) -> Result<()> {
    written?;
    tx.commit().await
}

/// How long a unit of work that must wait for another is watched to make sure it does.
/// A correct store never finishes within it; a store that does not wait is caught as
/// long as the waiting task gets to its statement within the window.
pub const WAIT_WINDOW: std::time::Duration = std::time::Duration::from_millis(300);

/// Fails if `task` (a unit of work that must be blocked by another one still open)
/// finishes within [`WAIT_WINDOW`].
pub async fn assert_waiting<T>(task: &mut tokio::task::JoinHandle<T>, what: &str) {
    if tokio::time::timeout(WAIT_WINDOW, &mut *task).await.is_ok() {
        panic!("{what} did not wait for the open unit of work");
    }
}

/// Waits for a task that must finish, with a bound so that a deadlock fails the test.
pub async fn finish<T>(task: tokio::task::JoinHandle<T>, what: &str) -> T {
    tokio::time::timeout(std::time::Duration::from_secs(30), task)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish (deadlock?)"))
        .unwrap_or_else(|e| panic!("{what} panicked: {e}"))
}
