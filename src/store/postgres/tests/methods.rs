//! Every method's SQL, run once at least against a real server: what goes in comes back
//! out, micro-second for micro-second, and scopes, pages and error contracts hold.

use super::{TestDb, at, subscription, system};
use crate::{
    domain::{
        account::Account,
        event::{EventType, NewEvent},
        idempotency::IdempotencyKey,
        page::{Page, PageRequest},
        partner::{Partner, PartnerKey, PartnerStatus},
        principal::{Principal, Scope},
        purchase::{StoreKind, StorePurchase},
        redemption::{PartnerCode, ProductKey, ProductKeyKind},
        seat::{Platform, Seat},
        subscription::{Channel, DueQuery, Status, Subscription, SubscriptionQuery},
    },
    error::{Error, Reason, Resource},
    store::{
        AccountStore, IdempotencyStore, OutboxStore, PartnerStore, SeatStore, Store,
        SubscriptionStore, ThrottleStore, WriteContext, records,
    },
};
use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

const NOW: i64 = 1_767_225_600_123_457; // 2026-01-01T00:00:00.123457Z

fn now() -> DateTime<Utc> {
    at(NOW)
}

fn account(email: &str) -> Account {
    Account {
        id: Uuid::now_v7(),
        email: email.to_owned(),
        display_name: email.split('@').next().unwrap().to_owned(),
        created_at: now(),
        linked_identities: Vec::new(),
    }
}

fn partner(name: &str) -> Partner {
    Partner {
        id: Uuid::now_v7(),
        display_name: name.to_owned(),
        status: PartnerStatus::Active,
        created_at: now(),
    }
}

fn seat(subscription_id: Uuid, device: &str, activated_at: DateTime<Utc>) -> Seat {
    Seat {
        id: Uuid::now_v7(),
        subscription_id,
        device_id: device.to_owned(),
        platform: Platform::Android,
        display_name: device.to_owned(),
        activated_at,
        last_seen_at: activated_at,
        deactivated_at: None,
    }
}

fn first_page(size: i32) -> PageRequest {
    PageRequest::parse(size, "").unwrap()
}

fn next(page: &Page<impl Sized>, size: i32) -> PageRequest {
    PageRequest::parse(size, &page.next_page_token).unwrap()
}

fn is_not_found(result: Result<impl std::fmt::Debug, Error>, resource: Resource) -> bool {
    matches!(result, Err(Error::NotFound(r)) if r == resource)
}

async fn insert(store: &impl Store, subscriptions: &[&Subscription]) {
    let mut unit = store.begin(system(now())).await.unwrap();
    for s in subscriptions {
        unit.insert_subscription(s).await.unwrap();
    }
    unit.commit().await.unwrap();
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is unset")]
async fn accounts_sessions_and_links() {
    let (db, store) = TestDb::store("accounts").await;
    let telekom = partner("Telekom");
    store.create_partner(&telekom).await.unwrap();
    let mut ada = account("ada@example.com");
    ada.linked_identities = vec![(telekom.id, "contract-1".into())];
    store.create_account(&ada, "phc-ada").await.unwrap();
    assert_eq!(store.account(Scope::All, ada.id).await.unwrap(), ada);
    assert_eq!(
        store.account(Scope::Account(ada.id), ada.id).await.unwrap(),
        ada
    );
    for scope in [
        Scope::Account(Uuid::now_v7()),
        Scope::Partner(telekom.id),
        Scope::Subscription(ada.id),
        Scope::Nothing,
    ] {
        assert!(is_not_found(
            store.account(scope, ada.id).await,
            Resource::Account
        ));
    }
    assert!(is_not_found(
        store.account(Scope::All, Uuid::now_v7()).await,
        Resource::Account
    ));

    let mut again = account("ada@example.com");
    again.display_name = "Another Ada".into();
    match store.create_account(&again, "phc").await {
        Err(Error::AlreadyExists { reason, message }) => {
            assert_eq!(reason, Reason::AccountExists);
            assert_eq!(message, "an account with this e-mail exists already");
        }
        other => panic!("expected ACCOUNT_EXISTS, got {other:?}"),
    }
    assert_eq!(
        store.account_credentials("ADA@example.com").await.unwrap(),
        Some((ada.id, "phc-ada".to_owned()))
    );
    assert_eq!(
        store.account_credentials("bob@example.com").await.unwrap(),
        None
    );

    let expires = now() + Duration::hours(1);
    store
        .create_session("s1", ada.id, now(), expires)
        .await
        .unwrap();
    assert_eq!(store.session("s1").await.unwrap(), Some((ada.id, expires)));
    store.delete_session("s1").await.unwrap();
    store.delete_session("s1").await.unwrap();
    assert_eq!(store.session("s1").await.unwrap(), None);

    let mut unit = store.begin(system(now())).await.unwrap();
    let later = now() + Duration::seconds(1);
    unit.link_identity(ada.id, telekom.id, "contract-2", later)
        .await
        .unwrap();
    unit.link_identity(ada.id, telekom.id, "contract-2", later)
        .await
        .unwrap();
    unit.commit().await.unwrap();
    assert_eq!(
        store
            .account(Scope::All, ada.id)
            .await
            .unwrap()
            .linked_identities,
        vec![
            (telekom.id, "contract-1".to_owned()),
            (telekom.id, "contract-2".to_owned())
        ]
    );
    db.drop_database().await;
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is unset")]
async fn subscriptions_are_read_through_scopes_and_paged_by_creation() {
    let (db, store) = TestDb::store("subscriptions").await;
    let (ada, bob) = (account("ada@example.com"), account("bob@example.com"));
    store.create_account(&ada, "x").await.unwrap();
    store.create_account(&bob, "x").await.unwrap();
    let telekom = partner("Telekom");
    store.create_partner(&telekom).await.unwrap();
    // Ada's three: two created at one instant (then ordered by id), one later.
    let a1 = subscription("deluxe-3", Channel::Direct, Some(ada.id), None, now());
    let a2 = subscription("deluxe-3", Channel::Direct, Some(ada.id), None, now());
    let mut a3 = subscription("standard-1", Channel::Retail, Some(ada.id), None, now());
    a3.created_at = now() + Duration::microseconds(1);
    let b1 = subscription("deluxe-3", Channel::Direct, Some(bob.id), None, now());
    let carrier = subscription("deluxe-5", Channel::Carrier, None, Some(telekom.id), now());
    insert(&store, &[&a1, &a2, &a3, &b1, &carrier]).await;

    assert_eq!(store.subscription(Scope::All, a1.id).await.unwrap(), a1);
    assert_eq!(
        store
            .subscription(Scope::Account(ada.id), a1.id)
            .await
            .unwrap(),
        a1
    );
    assert_eq!(
        store
            .subscription(Scope::Subscription(a1.id), a1.id)
            .await
            .unwrap(),
        a1
    );
    assert_eq!(
        store
            .subscription(Scope::Partner(telekom.id), carrier.id)
            .await
            .unwrap(),
        carrier
    );
    for scope in [
        Scope::Account(bob.id),
        Scope::Partner(telekom.id),
        Scope::Subscription(a2.id),
        Scope::Nothing,
    ] {
        assert!(is_not_found(
            store.subscription(scope, a1.id).await,
            Resource::Subscription
        ));
    }

    // Newest first; equal creation times by id, descending.
    let mut ada_newest_first = vec![a1.clone(), a2.clone()];
    ada_newest_first.sort_by_key(|s| std::cmp::Reverse(s.id));
    ada_newest_first.insert(0, a3.clone());
    let query = SubscriptionQuery::default();
    let first = store
        .list_subscriptions(Scope::Account(ada.id), &query, &first_page(2))
        .await
        .unwrap();
    assert_eq!(first.items, ada_newest_first[..2]);
    assert!(!first.next_page_token.is_empty());
    let second = store
        .list_subscriptions(Scope::Account(ada.id), &query, &next(&first, 2))
        .await
        .unwrap();
    assert_eq!(second.items, ada_newest_first[2..]);
    assert!(second.next_page_token.is_empty());

    let all = store
        .list_subscriptions(Scope::All, &query, &first_page(10))
        .await
        .unwrap();
    assert_eq!(all.items.len(), 5);
    let by_filter = |query: SubscriptionQuery| {
        let store = &store;
        async move {
            store
                .list_subscriptions(Scope::All, &query, &first_page(10))
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|s| s.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        by_filter(SubscriptionQuery {
            account_id: Some(bob.id),
            ..Default::default()
        })
        .await,
        vec![b1.id]
    );
    assert_eq!(
        by_filter(SubscriptionQuery {
            partner_id: Some(telekom.id),
            partner_reference: Some("contract-1".into()),
            ..Default::default()
        })
        .await,
        vec![carrier.id]
    );
    assert_eq!(
        by_filter(SubscriptionQuery {
            partner_reference: Some("contract-9".into()),
            ..Default::default()
        })
        .await,
        Vec::<Uuid>::new()
    );
    assert_eq!(
        by_filter(SubscriptionQuery {
            status: Some(Status::Active),
            account_id: Some(ada.id),
            ..Default::default()
        })
        .await
        .len(),
        3
    );
    let partner_sees = store
        .list_subscriptions(Scope::Partner(telekom.id), &query, &first_page(10))
        .await
        .unwrap();
    assert_eq!(partner_sees.items, vec![carrier.clone()]);
    let nothing = store
        .list_subscriptions(Scope::Nothing, &query, &first_page(10))
        .await
        .unwrap();
    assert!(nothing.items.is_empty() && nothing.next_page_token.is_empty());

    // Tokens that cannot be ours are refused as arguments, not as storage failures.
    for after in [
        (NOW, "not-a-uuid".to_owned()),
        (i64::MIN, a1.id.to_string()),
    ] {
        let page = PageRequest {
            size: 10,
            after: Some(after),
        };
        match store.list_subscriptions(Scope::All, &query, &page).await {
            Err(Error::InvalidArgument { field, .. }) => assert_eq!(field, "page_token"),
            other => panic!("expected an invalid page_token, got {other:?}"),
        }
    }

    assert_eq!(
        store
            .account_subscriptions(Scope::All, ada.id)
            .await
            .unwrap(),
        ada_newest_first
    );
    assert!(
        store
            .account_subscriptions(Scope::Account(bob.id), ada.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .account_subscriptions(Scope::Nothing, ada.id)
            .await
            .unwrap()
            .is_empty()
    );

    // Writing back every mutable field.
    let mut unit = store.begin(system(now())).await.unwrap();
    assert!(is_not_found(
        unit.lock_subscription(Scope::Account(bob.id), carrier.id)
            .await,
        Resource::Subscription
    ));
    assert!(is_not_found(
        unit.lock_subscription(Scope::Nothing, carrier.id).await,
        Resource::Subscription
    ));
    let mut changed = unit
        .lock_subscription(Scope::Partner(telekom.id), carrier.id)
        .await
        .unwrap();
    changed.plan_code = "premium-10".into();
    changed.seat_limit = 10;
    changed.active_seats = 7;
    changed.status = Status::Suspended;
    changed.account_id = Some(bob.id);
    changed.term_start = at(NOW + 1);
    changed.term_end = at(NOW + 3);
    changed.auto_renew = false;
    changed.cancel_at_period_end = true;
    changed.partner_reference = Some("contract-2".into());
    changed.updated_at = at(NOW + 5);
    unit.save_subscription(&changed).await.unwrap();
    unit.commit().await.unwrap();
    assert_eq!(
        store.subscription(Scope::All, carrier.id).await.unwrap(),
        changed
    );

    // The database backs the seat limit.
    let mut unit = store.begin(system(now())).await.unwrap();
    let mut over = unit.lock_subscription(Scope::All, b1.id).await.unwrap();
    over.active_seats = over.seat_limit + 1;
    assert!(unit.save_subscription(&over).await.is_err());
    drop(unit);
    assert_eq!(store.subscription(Scope::All, b1.id).await.unwrap(), b1);
    db.drop_database().await;
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is unset")]
async fn claim_due_selects_exactly_what_the_domain_owes_a_transition() {
    let (db, store) = TestDb::store("due").await;
    let ada = account("ada@example.com");
    store.create_account(&ada, "x").await.unwrap();
    let grace = Duration::days(14);
    let due = DueQuery::at(now(), grace);
    let ends = [
        now() + Duration::days(1),
        now(),
        now() - Duration::days(1),
        now() - grace,
        now() - grace - Duration::microseconds(1),
    ];
    let mut all = Vec::new();
    for status in Status::ALL {
        for channel in Channel::ALL {
            for flagged in [false, true] {
                for auto_renew in [false, true] {
                    for end in ends {
                        let mut s = subscription("deluxe-3", *channel, Some(ada.id), None, now());
                        s.status = *status;
                        s.cancel_at_period_end = flagged;
                        s.auto_renew = auto_renew;
                        s.term_start = end - Duration::days(30);
                        s.term_end = end;
                        all.push(s);
                    }
                }
            }
        }
    }
    insert(&store, &all.iter().collect::<Vec<_>>()).await;
    let mut owed: Vec<&Subscription> = all
        .iter()
        .filter(|s| s.due_transition(now(), grace).is_some())
        .collect();
    owed.sort_by_key(|s| (s.term_end, s.id));
    assert!(!owed.is_empty() && owed.len() < all.len());

    let mut unit = store.begin(system(now())).await.unwrap();
    let claimed = unit.claim_due(&due, all.len() as i64).await.unwrap();
    assert_eq!(claimed.iter().collect::<Vec<_>>(), owed);
    let few = unit.claim_due(&due, 3).await.unwrap();
    assert_eq!(few.iter().collect::<Vec<_>>(), owed[..3]);
    db.drop_database().await;
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is unset")]
async fn seats_tokens_and_their_scopes() {
    let (db, store) = TestDb::store("seats").await;
    let (ada, bob) = (account("ada@example.com"), account("bob@example.com"));
    store.create_account(&ada, "x").await.unwrap();
    store.create_account(&bob, "x").await.unwrap();
    let mut s = subscription("deluxe-3", Channel::Direct, Some(ada.id), None, now());
    let other = subscription("deluxe-3", Channel::Direct, Some(ada.id), None, now());
    let phone = seat(s.id, "phone", now());
    let laptop = seat(s.id, "laptop", at(NOW + 1));
    let tablet = seat(s.id, "tablet", at(NOW + 2));
    let mut unit = store.begin(system(now())).await.unwrap();
    s.active_seats = 3;
    unit.insert_subscription(&s).await.unwrap();
    unit.insert_subscription(&other).await.unwrap();
    for seat in [&phone, &laptop, &tablet] {
        unit.insert_seat(seat).await.unwrap();
    }
    unit.insert_device_token("phone-token", phone.id, now())
        .await
        .unwrap();
    assert!(unit.insert_seat(&seat(s.id, "phone", now())).await.is_err());
    drop(unit);
    // The refused insert aborted the transaction: do it again, without it.
    let mut unit = store.begin(system(now())).await.unwrap();
    unit.insert_subscription(&s).await.unwrap();
    unit.insert_subscription(&other).await.unwrap();
    for seat in [&phone, &laptop, &tablet] {
        unit.insert_seat(seat).await.unwrap();
    }
    unit.insert_device_token("phone-token", phone.id, now())
        .await
        .unwrap();
    assert_eq!(
        unit.active_seats(s.id).await.unwrap(),
        vec![phone.clone(), laptop.clone(), tablet.clone()]
    );
    unit.commit().await.unwrap();

    let first = store
        .list_seats(Scope::Account(ada.id), s.id, false, &first_page(2))
        .await
        .unwrap();
    assert_eq!(first.items, vec![phone.clone(), laptop.clone()]);
    let second = store
        .list_seats(Scope::Subscription(s.id), s.id, false, &next(&first, 2))
        .await
        .unwrap();
    assert_eq!(second.items, vec![tablet.clone()]);
    assert!(second.next_page_token.is_empty());
    for scope in [
        Scope::Account(bob.id),
        Scope::Subscription(other.id),
        Scope::Nothing,
    ] {
        assert!(is_not_found(
            store.list_seats(scope, s.id, true, &first_page(10)).await,
            Resource::Subscription
        ));
        assert!(is_not_found(
            store.seat(scope, s.id, phone.id).await,
            Resource::Seat
        ));
    }
    assert!(is_not_found(
        store
            .list_seats(Scope::All, Uuid::now_v7(), true, &first_page(10))
            .await,
        Resource::Subscription
    ));
    assert_eq!(store.seat(Scope::All, s.id, phone.id).await.unwrap(), phone);
    assert!(is_not_found(
        store.seat(Scope::All, other.id, phone.id).await,
        Resource::Seat
    ));
    assert_eq!(
        store.device_principal("phone-token").await.unwrap(),
        Some(Principal::Device {
            seat_id: phone.id,
            subscription_id: s.id,
            active: true
        })
    );
    assert_eq!(store.device_principal("unknown").await.unwrap(), None);
    let seen = at(NOW + 10);
    store.record_last_seen(&[(phone.id, seen)]).await.unwrap();
    assert_eq!(
        store
            .seat(Scope::All, s.id, phone.id)
            .await
            .unwrap()
            .last_seen_at,
        seen
    );

    // Free the phone, move its token to a new seat on the other subscription.
    let freed_at = at(NOW + 20);
    let mut unit = store.begin(system(freed_at)).await.unwrap();
    let mut freed = unit.seat_in(s.id, phone.id).await.unwrap();
    assert!(is_not_found(
        unit.seat_in(other.id, phone.id).await,
        Resource::Seat
    ));
    freed.deactivated_at = Some(freed_at);
    unit.save_seat(&freed).await.unwrap();
    let moved = seat(other.id, "phone", freed_at);
    unit.insert_seat(&moved).await.unwrap();
    unit.move_device_tokens(phone.id, moved.id).await.unwrap();
    unit.commit().await.unwrap();
    assert_eq!(
        store.device_principal("phone-token").await.unwrap(),
        Some(Principal::Device {
            seat_id: moved.id,
            subscription_id: other.id,
            active: true
        })
    );
    store
        .record_last_seen(&[(phone.id, at(NOW + 30))])
        .await
        .unwrap();
    assert_eq!(store.seat(Scope::All, s.id, phone.id).await.unwrap(), freed);
    let active = store
        .list_seats(Scope::All, s.id, false, &first_page(10))
        .await
        .unwrap();
    assert_eq!(active.items, vec![laptop.clone(), tablet.clone()]);
    let every = store
        .list_seats(Scope::All, s.id, true, &first_page(10))
        .await
        .unwrap();
    assert_eq!(every.items, vec![freed, laptop, tablet]);
    db.drop_database().await;
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is unset")]
async fn partners_and_their_keys() {
    let (db, store) = TestDb::store("partners").await;
    let names = ["Vodafone", "Telekom", "Orange", "Swisscom"];
    let partners: Vec<Partner> = names.iter().map(|name| partner(name)).collect();
    for p in &partners {
        store.create_partner(p).await.unwrap();
    }
    match store.create_partner(&partner("Telekom")).await {
        Err(Error::AlreadyExists { reason, message }) => {
            assert_eq!(reason, Reason::PartnerExists);
            assert_eq!(message, r#"a partner named "Telekom" exists already"#);
        }
        other => panic!("expected PARTNER_EXISTS, got {other:?}"),
    }
    let telekom = partners[1].clone();
    assert_eq!(
        store.partner(telekom.id).await.unwrap(),
        Some(telekom.clone())
    );
    assert_eq!(store.partner(Uuid::now_v7()).await.unwrap(), None);
    assert_eq!(
        store.partner_by_name("Telekom").await.unwrap(),
        Some(telekom.clone())
    );
    assert_eq!(store.partner_by_name("telekom").await.unwrap(), None);

    let first = store.list_partners(&first_page(3)).await.unwrap();
    let names_of = |page: &Page<Partner>| {
        page.items
            .iter()
            .map(|p| p.display_name.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(names_of(&first), ["Orange", "Swisscom", "Telekom"]);
    let second = store.list_partners(&next(&first, 3)).await.unwrap();
    assert_eq!(names_of(&second), ["Vodafone"]);
    assert!(second.next_page_token.is_empty());

    let mut renamed = telekom.clone();
    renamed.display_name = "Orange".into();
    match store.save_partner(&renamed).await {
        Err(Error::AlreadyExists { reason, message }) => {
            assert_eq!(reason, Reason::PartnerExists);
            assert_eq!(message, "another partner has this name");
        }
        other => panic!("expected PARTNER_EXISTS, got {other:?}"),
    }
    renamed.display_name = "Deutsche Telekom".into();
    renamed.status = PartnerStatus::Disabled;
    store.save_partner(&renamed).await.unwrap();
    assert_eq!(
        store.partner(telekom.id).await.unwrap(),
        Some(renamed.clone())
    );
    assert!(is_not_found(
        store.save_partner(&partner("Nobody")).await,
        Resource::Partner
    ));

    let key = PartnerKey::new(telekom.id, "tsp_0123456789abcdef", now());
    store.create_partner_key(&key, "key-hash").await.unwrap();
    assert_eq!(
        store.partner_key(telekom.id, key.id).await.unwrap(),
        Some(key.clone())
    );
    assert_eq!(
        store.partner_key(partners[0].id, key.id).await.unwrap(),
        None
    );
    let revoked_at = at(NOW + 7);
    store
        .revoke_partner_key(telekom.id, key.id, revoked_at)
        .await
        .unwrap();
    store
        .revoke_partner_key(telekom.id, key.id, at(NOW + 9))
        .await
        .unwrap();
    let revoked = PartnerKey {
        revoked_at: Some(revoked_at),
        ..key
    };
    // Revoked, of a disabled partner: returned all the same.
    assert_eq!(
        store.partner_key_by_hash("key-hash").await.unwrap(),
        Some((renamed, revoked))
    );
    assert_eq!(store.partner_key_by_hash("other").await.unwrap(), None);
    db.drop_database().await;
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is unset")]
async fn codes_keys_and_counters() {
    let (db, store) = TestDb::store("codes").await;
    let ada = account("ada@example.com");
    store.create_account(&ada, "x").await.unwrap();
    let s = subscription("deluxe-3", Channel::Carrier, None, None, now());
    insert(&store, &[&s]).await;

    let mut unit = store.begin(system(now())).await.unwrap();
    let code = PartnerCode::issue("code-1".into(), s.id, now(), Duration::days(90));
    let other_code = PartnerCode::issue("code-2".into(), s.id, at(NOW + 1), Duration::days(90));
    unit.insert_partner_code(&code).await.unwrap();
    unit.insert_partner_code(&other_code).await.unwrap();
    assert_eq!(
        unit.lock_partner_code("code-1").await.unwrap(),
        Some(code.clone())
    );
    assert_eq!(unit.lock_partner_code("code-9").await.unwrap(), None);
    let mut redeemed = code.clone();
    redeemed.redeem(ada.id, at(NOW + 5)).unwrap();
    unit.save_partner_code(&redeemed).await.unwrap();
    assert_eq!(
        unit.live_partner_codes(s.id).await.unwrap(),
        vec![other_code.clone()]
    );
    let mut revoked = other_code.clone();
    revoked.revoke(at(NOW + 6));
    unit.save_partner_code(&revoked).await.unwrap();
    assert!(unit.live_partner_codes(s.id).await.unwrap().is_empty());
    assert_eq!(
        unit.lock_partner_code("code-2").await.unwrap(),
        Some(revoked)
    );

    let keys: Vec<ProductKey> = (0..3)
        .map(|i| ProductKey {
            hash: format!("key-{i}"),
            plan_code: "deluxe-5".into(),
            kind: if i == 0 {
                ProductKeyKind::Renewal
            } else {
                ProductKeyKind::New
            },
            batch_label: "2026-Q1 cards".into(),
            issued_at: now(),
            redeemed_at: None,
            redeemed_by: None,
            subscription_id: None,
        })
        .collect();
    unit.insert_product_keys(&keys).await.unwrap();
    unit.insert_product_keys(&[]).await.unwrap();
    assert_eq!(
        unit.lock_product_key("key-0").await.unwrap(),
        Some(keys[0].clone())
    );
    assert_eq!(unit.lock_product_key("key-9").await.unwrap(), None);
    let mut used = keys[1].clone();
    used.redeem(ada.id, &s, at(NOW + 3), &mut Vec::new());
    unit.save_product_key(&used).await.unwrap();
    assert_eq!(unit.lock_product_key("key-1").await.unwrap(), Some(used));

    let subject = format!("account:{}", ada.id);
    let mut counter = unit.lock_attempt_counter(&subject, now()).await.unwrap();
    assert_eq!((counter.last_attempt_at, counter.attempts), (now(), 0));
    counter.attempts = 2;
    unit.save_attempt_counter(&counter).await.unwrap();
    let peer = unit
        .lock_attempt_counter("peer:10.0.0.1", at(NOW + 100))
        .await
        .unwrap();
    unit.commit().await.unwrap();

    store
        .release_attempts(
            &[subject.clone(), "peer:10.0.0.1".into(), "none".into()],
            &[],
        )
        .await
        .unwrap();
    let mut unit = store.begin(system(now())).await.unwrap();
    let read = unit
        .lock_attempt_counter(&subject, at(NOW + 1000))
        .await
        .unwrap();
    assert_eq!((read.last_attempt_at, read.attempts), (now(), 1));
    let read_peer = unit
        .lock_attempt_counter("peer:10.0.0.1", now())
        .await
        .unwrap();
    assert_eq!(read_peer, peer, "never below zero");
    unit.commit().await.unwrap();
    assert_eq!(store.purge_attempt_counters(at(NOW + 1)).await.unwrap(), 1);
    assert_eq!(store.purge_attempt_counters(at(NOW + 1)).await.unwrap(), 0);
    db.drop_database().await;
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is unset")]
async fn store_purchases_are_filed_and_refiled() {
    let (db, store) = TestDb::store("purchases").await;
    let ada = account("ada@example.com");
    store.create_account(&ada, "x").await.unwrap();
    let s = subscription("deluxe-3", Channel::PlayStore, Some(ada.id), None, now());
    insert(&store, &[&s]).await;
    let purchase = StorePurchase {
        store: StoreKind::PlayStore,
        original_id: "token-1".into(),
        subscription_id: s.id,
        product_id: "com.vendor.suite.deluxe-3".into(),
        environment: "Production".into(),
        latest_transaction_id: None,
        latest_purchased_at: None,
        latest_signed_at: None,
        renewal_signed_at: None,
        created_at: now(),
        updated_at: now(),
    };
    let mut unit = store.begin(system(now())).await.unwrap();
    assert_eq!(
        unit.lock_store_purchase(StoreKind::PlayStore, "token-1")
            .await
            .unwrap(),
        None
    );
    unit.insert_store_purchase(&purchase).await.unwrap();
    assert_eq!(
        unit.lock_store_purchase(StoreKind::PlayStore, "token-1")
            .await
            .unwrap(),
        Some(purchase.clone())
    );
    assert_eq!(
        unit.lock_store_purchase(StoreKind::AppStore, "token-1")
            .await
            .unwrap(),
        None
    );
    let upgraded = StorePurchase {
        original_id: "token-2".into(),
        product_id: "com.vendor.suite.deluxe-5".into(),
        updated_at: at(NOW + 9),
        ..purchase.clone()
    };
    unit.rekey_store_purchase("token-1", &upgraded)
        .await
        .unwrap();
    assert_eq!(
        unit.lock_store_purchase(StoreKind::PlayStore, "token-1")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        unit.lock_store_purchase(StoreKind::PlayStore, "token-2")
            .await
            .unwrap(),
        Some(upgraded.clone())
    );
    assert!(matches!(
        unit.rekey_store_purchase("token-1", &upgraded).await,
        Err(Error::Internal(_))
    ));
    db.drop_database().await;
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is unset")]
async fn the_outbox_numbers_events_at_commit_and_filters_by_scope() {
    let (db, store) = TestDb::store("outbox").await;
    let ada = account("ada@example.com");
    store.create_account(&ada, "x").await.unwrap();
    let telekom = partner("Telekom");
    store.create_partner(&telekom).await.unwrap();
    let carrier = subscription("deluxe-3", Channel::Carrier, None, Some(telekom.id), now());
    let direct = subscription("deluxe-3", Channel::Direct, Some(ada.id), None, now());
    assert_eq!(store.last_event_seq().await.unwrap(), 0);

    let context = WriteContext {
        author: Some(Principal::Partner(telekom.id)),
        request_id: Some("req-1".into()),
        now: at(NOW + 42),
    };
    let mut unit = store.begin(context).await.unwrap();
    unit.insert_subscription(&carrier).await.unwrap();
    unit.insert_subscription(&direct).await.unwrap();
    unit.emit(NewEvent::of(EventType::SubscriptionCreated, &carrier));
    unit.emit(NewEvent::of(EventType::SubscriptionCreated, &direct).with_detail("k", "v"));
    unit.emit(NewEvent::of(EventType::SubscriptionSuspended, &carrier));
    unit.commit().await.unwrap();
    // Rolled back: neither its events nor its numbers exist.
    let mut unit = store.begin(system(now())).await.unwrap();
    unit.emit(NewEvent::of(EventType::SubscriptionRenewed, &carrier));
    drop(unit);
    // Nothing to write: no number taken.
    store
        .begin(system(now()))
        .await
        .unwrap()
        .commit()
        .await
        .unwrap();

    assert_eq!(store.last_event_seq().await.unwrap(), 3);
    let all = store.events_after(Scope::All, 0, None, 100).await.unwrap();
    assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(all.iter().all(|e| e.created_at == at(NOW + 42)));
    let second = records::read_event(&all[1]).unwrap();
    assert_eq!(second.event_type, EventType::SubscriptionCreated);
    assert_eq!(second.subscription, direct);
    assert_eq!(second.request_id.as_deref(), Some("req-1"));
    assert_eq!(second.details.get("k").map(String::as_str), Some("v"));

    let seqs = |events: Vec<crate::domain::event::StoredEvent>| {
        events.into_iter().map(|e| e.seq).collect::<Vec<_>>()
    };
    assert_eq!(
        seqs(store.events_after(Scope::All, 1, None, 1).await.unwrap()),
        [2]
    );
    assert_eq!(
        seqs(
            store
                .events_after(Scope::Partner(telekom.id), 0, None, 100)
                .await
                .unwrap()
        ),
        [1, 3]
    );
    assert_eq!(
        seqs(
            store
                .events_after(Scope::Partner(telekom.id), 0, Some(direct.id), 100)
                .await
                .unwrap()
        ),
        Vec::<i64>::new()
    );
    assert_eq!(
        seqs(
            store
                .events_after(Scope::All, 0, Some(direct.id), 100)
                .await
                .unwrap()
        ),
        [2]
    );
    for scope in [
        Scope::Account(ada.id),
        Scope::Subscription(direct.id),
        Scope::Nothing,
        Scope::Partner(Uuid::now_v7()),
    ] {
        assert!(
            store
                .events_after(scope, 0, None, 100)
                .await
                .unwrap()
                .is_empty()
        );
    }
    db.drop_database().await;
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is unset")]
async fn request_ids_and_server_secrets() {
    let (db, store) = TestDb::store("idempotency").await;
    let key = IdempotencyKey::new("admin".into(), "req-1", "Create", b"body").unwrap();
    let mut unit = store.begin(system(now())).await.unwrap();
    assert_eq!(unit.stored_request(&key).await.unwrap(), None);
    unit.store_request(&key, r#"{"answer":1}"#, now())
        .await
        .unwrap();
    unit.commit().await.unwrap();
    let mut unit = store.begin(system(now())).await.unwrap();
    let stored = unit.stored_request(&key).await.unwrap().unwrap();
    assert_eq!(stored.fingerprint, key.fingerprint);
    assert_eq!(stored.response, r#"{"answer":1}"#);
    let other_scope = IdempotencyKey {
        scope: "partner:x".into(),
        ..key.clone()
    };
    assert_eq!(unit.stored_request(&other_scope).await.unwrap(), None);
    drop(unit);
    assert_eq!(store.purge_idempotency_keys(now()).await.unwrap(), 0);
    assert_eq!(store.purge_idempotency_keys(at(NOW + 1)).await.unwrap(), 1);

    let secret = store.server_secret("code-key").await.unwrap();
    assert_eq!(secret.len(), 64);
    assert_eq!(store.server_secret("code-key").await.unwrap(), secret);
    assert_ne!(store.server_secret("other").await.unwrap(), secret);
    db.drop_database().await;
}
