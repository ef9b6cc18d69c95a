//! The outbox without a global lock: a unit holding its written events open holds up no
//! other unit, one sequencer numbers for every store on the database, another takes over
//! when it goes, replicas of the previous version numbering their own events fit in, and
//! migration 0006 keeps the events already numbered.

use super::{TestDb, at, subscription, system};
use crate::{
    domain::{
        event::{EventType, NewEvent, StoredEvent},
        principal::Scope,
        subscription::{Channel, Subscription},
    },
    store::{
        OutboxStore, OutboxTx, Store, SubscriptionTx, UnitOfWork,
        postgres::{MIGRATIONS, PgStore, lock_key, sequencer},
        records,
    },
};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::time::Duration;
use tokio::{task::JoinHandle, time::timeout};
use uuid::Uuid;

const NOW: i64 = 1_767_225_600_000_000;

fn now() -> DateTime<Utc> {
    at(NOW)
}

/// How long anything that should happen may take: a failover takes up to an election
/// interval after PostgreSQL notices the leader's connection is gone.
const PATIENCE: Duration = Duration::from_secs(20);

/// Spawns the sequencer of `store`. Were it leading, it would look for batches on its own
/// only hourly: what it numbers, it is told of.
fn spawn_sequencer(store: &PgStore) -> JoinHandle<()> {
    let hourly = Duration::from_secs(3600);
    tokio::spawn(sequencer::start_polling(store.clone(), hourly))
}

/// Waits until `store`'s sequencer leads (`true`) or stands by (`false`).
async fn until_leading(store: &PgStore, leads: bool) {
    let mut leading = store.sequencer.leading();
    timeout(PATIENCE, leading.wait_for(|now| *now == leads))
        .await
        .unwrap_or_else(|_| panic!("the sequencer never came to lead = {leads}"))
        .unwrap();
}

/// Spawns the relay of other stores' commit notices to `store`'s watchers.
async fn spawn_listener(store: &PgStore, url: &str) -> JoinHandle<()> {
    let listener = store
        .listen_for_commits(url, std::sync::Arc::new(|_| {}))
        .await
        .unwrap()
        .unwrap();
    tokio::spawn(listener)
}

/// Waits, woken by numbering here or a notice of it, until `store` reads sequence `seq`.
async fn until_numbered(store: &PgStore, seq: i64) {
    let commits = store.commits();
    let numbered = async {
        loop {
            let woken = commits.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if store.last_event_seq().await.unwrap() >= seq {
                return;
            }
            woken.await;
        }
    };
    timeout(PATIENCE, numbered)
        .await
        .unwrap_or_else(|_| panic!("sequence {seq} was not numbered in time"));
}

async fn all_events(store: &PgStore) -> Vec<StoredEvent> {
    store
        .events_after(Scope::All, 0, None, 10_000)
        .await
        .unwrap()
}

/// The subscription each event is about, in sequence order, checking there is no gap.
async fn subscriptions_in_order(store: &PgStore) -> Vec<Uuid> {
    let events = all_events(store).await;
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=events.len() as i64).collect::<Vec<_>>());
    events
        .iter()
        .map(|e| records::read_event(e).unwrap().subscription.id)
        .collect()
}

/// New subscriptions, stored by a unit without events.
async fn stored_subscriptions(store: &PgStore, count: usize) -> Vec<Subscription> {
    let subscriptions: Vec<Subscription> = (0..count)
        .map(|_| subscription("deluxe-3", Channel::Retail, None, None, now()))
        .collect();
    let mut unit = store.begin(system(now())).await.unwrap();
    for s in &subscriptions {
        unit.insert_subscription(s).await.unwrap();
    }
    unit.commit().await.unwrap();
    subscriptions
}

/// Commits one event about `subscription` through `store`.
async fn commit_event(store: &PgStore, subscription: &Subscription) {
    let mut unit = store.begin(system(now())).await.unwrap();
    unit.emit(NewEvent::of(EventType::SubscriptionUpdated, subscription));
    unit.commit().await.unwrap();
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is unset")]
async fn a_unit_holding_its_written_events_uncommitted_holds_up_no_other_commit() {
    let (db, store) = TestDb::store("held_open").await;
    let sequencer = spawn_sequencer(&store);
    until_leading(&store, true).await;
    let [a, b] = <[Subscription; 2]>::try_from(stored_subscriptions(&store, 2).await).unwrap();

    // A locks and changes its subscription, and writes its events: all but the commit,
    // the point at which a writer held the whole cluster's counter until 0006.
    let mut held = store.begin_unit(system(now())).await.unwrap();
    let mut locked = held.lock_subscription(Scope::All, a.id).await.unwrap();
    locked.updated_at = at(NOW + 1);
    held.save_subscription(&locked).await.unwrap();
    held.emit(NewEvent::of(EventType::SubscriptionUpdated, &locked));
    held.write_pending_events().await.unwrap();

    // Meanwhile B commits, and its event is numbered and read.
    let mut other = store.begin(system(now())).await.unwrap();
    let mut changed = other.lock_subscription(Scope::All, b.id).await.unwrap();
    changed.updated_at = at(NOW + 2);
    other.save_subscription(&changed).await.unwrap();
    other.emit(NewEvent::of(EventType::SubscriptionUpdated, &changed));
    timeout(PATIENCE, other.commit())
        .await
        .expect("a commit waited for a unit about another subscription")
        .unwrap();
    until_numbered(&store, 1).await;
    assert_eq!(subscriptions_in_order(&store).await, [b.id]);

    // A commits last, and is numbered after B.
    Box::new(held).commit().await.unwrap();
    until_numbered(&store, 2).await;
    assert_eq!(subscriptions_in_order(&store).await, [b.id, a.id]);
    sequencer.abort();
    store.close().await;
    db.drop_database().await;
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is unset")]
async fn a_standby_passes_its_commits_to_the_leader_and_takes_over_when_it_goes() {
    let (db, first) = TestDb::store("failover").await;
    let second = PgStore::connect(&db.url).await.unwrap();
    let listeners = [
        spawn_listener(&first, &db.url).await,
        spawn_listener(&second, &db.url).await,
    ];
    let leader = spawn_sequencer(&first);
    until_leading(&first, true).await;
    let standby = spawn_sequencer(&second);
    let subscriptions = stored_subscriptions(&first, 4).await;

    // The standby's commit is numbered by the leader, which it told.
    commit_event(&second, &subscriptions[0]).await;
    until_numbered(&second, 1).await;
    commit_event(&first, &subscriptions[1]).await;
    until_numbered(&second, 2).await;
    assert!(!*second.sequencer.leading().borrow(), "two leaders");

    // The leader goes (its server stops): its connection closes, PostgreSQL releases the
    // lock, and the standby is elected.
    leader.abort();
    let _ = leader.await;
    until_leading(&second, true).await;
    commit_event(&second, &subscriptions[2]).await;
    // The first store, without a sequencer now, numbers its own commit at once.
    commit_event(&first, &subscriptions[3]).await;
    until_numbered(&second, 4).await;
    let ids: Vec<Uuid> = subscriptions.iter().map(|s| s.id).collect();
    assert_eq!(subscriptions_in_order(&second).await, ids);

    standby.abort();
    for listener in listeners {
        listener.abort();
    }
    second.close().await;
    first.close().await;
    db.drop_database().await;
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is unset")]
async fn when_the_leaders_connection_is_killed_numbering_goes_on_and_loses_nothing() {
    let (db, first) = TestDb::store("killed").await;
    let second = PgStore::connect(&db.url).await.unwrap();
    let listeners = [
        spawn_listener(&first, &db.url).await,
        spawn_listener(&second, &db.url).await,
    ];
    let leader = spawn_sequencer(&first);
    until_leading(&first, true).await;
    let sequencers = [leader, spawn_sequencer(&second)];
    let subscriptions = stored_subscriptions(&first, 2).await;
    commit_event(&second, &subscriptions[0]).await;
    until_numbered(&second, 1).await;

    // An administrator (or a network cut) ends the leader's session.
    let pool = PgPool::connect(&db.url).await.unwrap();
    let key = lock_key("tessera:event-sequencer");
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         AND granted AND objsubid = 1 AND classid = $1::bigint::oid AND objid = $2::bigint::oid",
    )
    .bind((key as u64 >> 32) as i64)
    .bind((key as u64 & 0xffff_ffff) as i64)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(killed, [true], "one session held the sequencer's lock");

    // Whichever store leads now, every commit of either is numbered, in order, once.
    for round in 0..10 {
        let store = if round % 2 == 0 { &first } else { &second };
        commit_event(store, &subscriptions[round % 2]).await;
    }
    until_numbered(&first, 11).await;
    until_numbered(&second, 11).await;
    assert_eq!(subscriptions_in_order(&first).await.len(), 11);
    assert_eq!(first.last_event_seq().await.unwrap(), 11);

    for task in sequencers.into_iter().chain(listeners) {
        task.abort();
    }
    pool.close().await;
    second.close().await;
    first.close().await;
    db.drop_database().await;
}

/// One event written as 0005 did: the unit numbers it itself under the counter's lock.
async fn commit_as_0005_did(pool: &PgPool, subscription: &Subscription) {
    let row = records::event_row(
        &system(now()),
        &NewEvent::of(EventType::SubscriptionUpdated, subscription),
    )
    .unwrap();
    let mut tx = pool.begin().await.unwrap();
    let seq: i64 =
        sqlx::query_scalar("UPDATE event_sequence SET last = last + 1 WHERE id = 1 RETURNING last")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    sqlx::query(
        "INSERT INTO events (seq, event_type, subscription_id, partner_id, account_id, \
         payload, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(seq)
    .bind(row.event_type)
    .bind(row.subscription_id)
    .bind(row.partner_id)
    .bind(row.account_id)
    .bind(&row.payload)
    .bind(now())
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is unset")]
async fn replicas_of_the_previous_version_numbering_their_own_events_fit_in_without_gaps() {
    let (db, store) = TestDb::store("rolling").await;
    let sequencer = spawn_sequencer(&store);
    until_leading(&store, true).await;
    let subscriptions = stored_subscriptions(&store, 2).await;
    let pool = PgPool::connect(&db.url).await.unwrap();
    const EACH: usize = 25;
    let new = {
        let (store, s) = (store.clone(), subscriptions[0].clone());
        tokio::spawn(async move {
            for _ in 0..EACH {
                commit_event(&store, &s).await;
            }
        })
    };
    let old = {
        let (pool, s) = (pool.clone(), subscriptions[1].clone());
        tokio::spawn(async move {
            for _ in 0..EACH {
                commit_as_0005_did(&pool, &s).await;
            }
        })
    };
    new.await.unwrap();
    old.await.unwrap();
    store.number_pending_events().await.unwrap();
    let order = subscriptions_in_order(&store).await;
    assert_eq!(order.len(), 2 * EACH);
    for s in &subscriptions {
        assert_eq!(order.iter().filter(|id| **id == s.id).count(), EACH);
    }
    sequencer.abort();
    pool.close().await;
    store.close().await;
    db.drop_database().await;
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is unset")]
async fn migration_0006_keeps_the_numbered_events_and_numbers_new_ones_after_them() {
    let db = TestDb::create("migration_0006").await;
    let pool = PgPool::connect(&db.url).await.unwrap();
    MIGRATIONS.run_to(5, &pool).await.expect("0001-0005 apply");
    let s = subscription("deluxe-3", Channel::Retail, None, None, now());
    commit_as_0005_did(&pool, &s).await;
    commit_as_0005_did(&pool, &s).await;
    pool.close().await;

    let store = PgStore::connect(&db.url).await.unwrap();
    store
        .migrate()
        .await
        .expect("0006 applies on a database of 0005");
    assert_eq!(store.last_event_seq().await.unwrap(), 2);
    let sequencer = spawn_sequencer(&store);
    commit_event(&store, &s).await;
    until_numbered(&store, 3).await;
    assert_eq!(subscriptions_in_order(&store).await, [s.id, s.id, s.id]);
    sequencer.abort();
    store.close().await;
    db.drop_database().await;
}
