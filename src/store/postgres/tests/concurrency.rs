//! Units of work and replicas at once: who waits for whom, and who is told what.

use super::{TestDb, at, subscription, system};
use crate::{
    domain::{
        account::Account,
        event::{EventType, NewEvent},
        idempotency::IdempotencyKey,
        purchase::{StoreKind, StorePurchase},
        subscription::{Channel, DueQuery, Status},
    },
    store::{AccountStore, OutboxStore, Store, UnitOfWork, postgres::PgStore, records},
};
use chrono::{DateTime, Duration, Utc};
use std::{future::Future, sync::Arc, time::Duration as Wait};
use tokio::task::JoinHandle;
use uuid::Uuid;

const NOW: i64 = 1_767_225_600_000_000;

fn now() -> DateTime<Utc> {
    at(NOW)
}

/// How long a unit that should be waiting is given to show that it is not.
const SETTLE: Wait = Wait::from_millis(300);
/// How long anything that should happen may take.
const PATIENCE: Wait = Wait::from_secs(10);

async fn new_account(store: &PgStore) -> Uuid {
    let id = Uuid::now_v7();
    let account = Account {
        id,
        email: format!("{id}@example.com"),
        display_name: "A".into(),
        created_at: now(),
        linked_identities: Vec::new(),
    };
    store.create_account(&account, "x").await.unwrap();
    id
}

/// Runs `second` in a task while the first unit holds its lock; checks it waits, then
/// that it finishes once `release` (committing the first unit) has run.
async fn takes_turns<T, F>(
    first: Box<dyn UnitOfWork>,
    second: F,
    release: impl AsyncFnOnce(Box<dyn UnitOfWork>),
) -> T
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    let waiting: JoinHandle<T> = tokio::spawn(second);
    tokio::time::sleep(SETTLE).await;
    assert!(
        !waiting.is_finished(),
        "the second unit did not wait its turn"
    );
    release(first).await;
    tokio::time::timeout(PATIENCE, waiting)
        .await
        .expect("the second unit got its turn")
        .unwrap()
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is unset")]
async fn replicas_claiming_due_work_skip_each_others_rows() {
    let (db, store) = TestDb::store("claims").await;
    let account = new_account(&store).await;
    let mut due = Vec::new();
    for days in 1..=5 {
        let mut s = subscription("deluxe-3", Channel::Retail, Some(account), None, now());
        s.term_start = now() - Duration::days(30 + days);
        s.term_end = now() - Duration::days(days);
        due.push(s);
    }
    let mut unit = store.begin(system(now())).await.unwrap();
    for s in &due {
        unit.insert_subscription(s).await.unwrap();
    }
    unit.commit().await.unwrap();
    due.sort_by_key(|s| (s.term_end, s.id));

    let query = DueQuery::at(now(), Duration::days(14));
    let mut first = store.begin(system(now())).await.unwrap();
    let mine = first.claim_due(&query, 2).await.unwrap();
    assert_eq!(mine, due[..2]);
    // Another replica is not held up: it takes the rest at once.
    let mut second = store.begin(system(now())).await.unwrap();
    let theirs = tokio::time::timeout(PATIENCE, second.claim_due(&query, 10))
        .await
        .expect("claims do not wait")
        .unwrap();
    assert_eq!(theirs, due[2..]);
    let mut third = store.begin(system(now())).await.unwrap();
    assert!(third.claim_due(&query, 10).await.unwrap().is_empty());
    third.commit().await.unwrap();
    // The first replica's work done, its rows are no longer due.
    for mut s in mine {
        s.status = Status::Grace;
        s.updated_at = now();
        first.save_subscription(&s).await.unwrap();
    }
    first.commit().await.unwrap();
    // Ending the other unit by commit, not drop: a dropped transaction rolls back only
    // when its connection is next used, so its locks could outlive the drop.
    second.commit().await.unwrap();
    let mut fourth = store.begin(system(now())).await.unwrap();
    assert_eq!(fourth.claim_due(&query, 10).await.unwrap(), due[2..]);
    db.drop_database().await;
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is unset")]
async fn units_with_one_request_id_take_turns_and_the_second_sees_the_first_answer() {
    let (db, store) = TestDb::store("request_ids").await;
    let store = Arc::new(store);
    let key = IdempotencyKey::new("partner:p".into(), "req-1", "Provision", b"x").unwrap();
    let mut first = store.begin(system(now())).await.unwrap();
    assert_eq!(first.stored_request(&key).await.unwrap(), None);
    let seen = {
        let (store, same) = (store.clone(), key.clone());
        takes_turns(
            first,
            async move {
                let mut second = store.begin(system(now())).await.unwrap();
                second.stored_request(&same).await.unwrap()
            },
            async |mut first: Box<dyn UnitOfWork>| {
                first.store_request(&key, "answer", now()).await.unwrap();
                first.commit().await.unwrap();
            },
        )
        .await
    };
    assert_eq!(seen.unwrap().response, "answer");
    // Another id is not held up.
    let mut first = store.begin(system(now())).await.unwrap();
    first.stored_request(&key).await.unwrap();
    let other = IdempotencyKey::new("partner:p".into(), "req-2", "Provision", b"x").unwrap();
    let mut second = store.begin(system(now())).await.unwrap();
    tokio::time::timeout(PATIENCE, second.stored_request(&other))
        .await
        .expect("other ids do not wait")
        .unwrap();
    drop((first, second));
    db.drop_database().await;
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is unset")]
async fn restores_of_one_purchase_not_yet_on_file_take_turns() {
    let (db, store) = TestDb::store("purchases").await;
    let store = Arc::new(store);
    let account = new_account(&store).await;
    let s = subscription("deluxe-3", Channel::AppStore, Some(account), None, now());
    let purchase = StorePurchase {
        store: StoreKind::AppStore,
        original_id: "2000000123".into(),
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
    let mut first = store.begin(system(now())).await.unwrap();
    assert_eq!(
        first
            .lock_store_purchase(StoreKind::AppStore, "2000000123")
            .await
            .unwrap(),
        None
    );
    let seen = {
        let store = store.clone();
        takes_turns(
            first,
            async move {
                let mut second = store.begin(system(now())).await.unwrap();
                second
                    .lock_store_purchase(StoreKind::AppStore, "2000000123")
                    .await
                    .unwrap()
            },
            async |mut first: Box<dyn UnitOfWork>| {
                first.insert_subscription(&s).await.unwrap();
                first.insert_store_purchase(&purchase).await.unwrap();
                first.commit().await.unwrap();
            },
        )
        .await
    };
    assert_eq!(seen, Some(purchase));
    db.drop_database().await;
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is unset")]
async fn failure_counters_of_one_new_subject_take_turns() {
    let (db, store) = TestDb::store("counters").await;
    let store = Arc::new(store);
    let mut first = store.begin(system(now())).await.unwrap();
    let mut counter = first.lock_attempt_counter("peer:1", now()).await.unwrap();
    assert_eq!(counter.attempts, 0);
    let seen = {
        let store = store.clone();
        takes_turns(
            first,
            async move {
                let mut second = store.begin(system(now())).await.unwrap();
                second
                    .lock_attempt_counter("peer:1", at(NOW + 1))
                    .await
                    .unwrap()
            },
            async |mut first: Box<dyn UnitOfWork>| {
                counter.attempts = 1;
                first.save_attempt_counter(&counter).await.unwrap();
                first.commit().await.unwrap();
            },
        )
        .await
    };
    assert_eq!((seen.last_attempt_at, seen.attempts), (now(), 1));
    db.drop_database().await;
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is unset")]
async fn sequence_numbers_follow_commit_order() {
    let (db, store) = TestDb::store("commit_order").await;
    let account = new_account(&store).await;
    let early = subscription("deluxe-3", Channel::Direct, Some(account), None, now());
    let late = subscription("deluxe-3", Channel::Direct, Some(account), None, now());
    // `early` begins and emits first, `late` commits first.
    let mut first = store.begin(system(now())).await.unwrap();
    first.insert_subscription(&early).await.unwrap();
    first.emit(NewEvent::of(EventType::SubscriptionCreated, &early));
    let mut second = store.begin(system(now())).await.unwrap();
    second.insert_subscription(&late).await.unwrap();
    second.emit(NewEvent::of(EventType::SubscriptionCreated, &late));
    second.emit(NewEvent::of(EventType::SubscriptionUpdated, &late));
    second.commit().await.unwrap();
    first.commit().await.unwrap();
    let events = store
        .events_after(crate::domain::principal::Scope::All, 0, None, 10)
        .await
        .unwrap();
    let order: Vec<(i64, Uuid)> = events
        .iter()
        .map(|e| (e.seq, records::read_event(e).unwrap().subscription.id))
        .collect();
    assert_eq!(order, [(1, late.id), (2, late.id), (3, early.id)]);
    db.drop_database().await;
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is unset")]
async fn another_replica_hears_of_commits_that_wrote_events_and_only_of_those() {
    let (db, store) = TestDb::store("notices").await;
    let replica = PgStore::connect(&db.url).await.unwrap();
    let listener = replica
        .listen_for_commits(&db.url, std::sync::Arc::new(|_| {}))
        .await
        .unwrap()
        .expect("PostgreSQL listens");
    let relay = tokio::spawn(listener);
    let woken = replica.commits();
    let account = new_account(&store).await;
    let s = subscription("deluxe-3", Channel::Direct, Some(account), None, now());

    // Rolled back, or without events: no notice.
    let notified = woken.notified();
    tokio::pin!(notified);
    notified.as_mut().enable();
    let mut unit = store.begin(system(now())).await.unwrap();
    unit.insert_subscription(&s).await.unwrap();
    unit.emit(NewEvent::of(EventType::SubscriptionCreated, &s));
    drop(unit);
    store
        .begin(system(now()))
        .await
        .unwrap()
        .commit()
        .await
        .unwrap();
    assert!(
        tokio::time::timeout(SETTLE, notified.as_mut())
            .await
            .is_err(),
        "woken without a commit of events"
    );

    // Committed with events: the other replica's watchers wake.
    let own = store.commits();
    let own_notified = own.notified();
    tokio::pin!(own_notified);
    own_notified.as_mut().enable();
    let mut unit = store.begin(system(now())).await.unwrap();
    unit.insert_subscription(&s).await.unwrap();
    unit.emit(NewEvent::of(EventType::SubscriptionCreated, &s));
    unit.commit().await.unwrap();
    tokio::time::timeout(PATIENCE, notified)
        .await
        .expect("the other replica was told");
    tokio::time::timeout(PATIENCE, own_notified)
        .await
        .expect("this process's watchers were woken");
    relay.abort();
    replica.close().await;
    store.close().await;
    db.drop_database().await;
}
