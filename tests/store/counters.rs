//! The throttles' attempt counters: `ThrottleTx::lock_attempt_counter` /
//! `save_attempt_counter`, `ThrottleStore::release_attempts` / `purge_attempt_counters`.

use crate::fixtures::*;

crate::store_tests!(
    a_missing_counter_is_locked_fresh_and_a_saved_one_reads_back,
    releasing_an_attempt_takes_one_back_and_never_goes_below_zero,
    forgetting_drops_a_counter_with_its_attempts,
    purging_drops_the_counters_last_attempted_before_the_cutoff,
    concurrent_units_locking_one_counter_take_turns,
);

async fn save(store: &Arc<dyn Store>, counters: &[AttemptCounter]) {
    let mut tx = store.begin(system(t0())).await.unwrap();
    for counter in counters {
        tx.lock_attempt_counter(&counter.subject, t0())
            .await
            .unwrap();
        tx.save_attempt_counter(counter).await.unwrap();
    }
    tx.commit().await.unwrap();
}

/// The counter of `subject` as locked at `now` (in a unit that is then rolled back).
async fn counter(store: &Arc<dyn Store>, subject: &str, now: DateTime<Utc>) -> AttemptCounter {
    let mut tx = store.begin(system(now)).await.unwrap();
    let counter = tx.lock_attempt_counter(subject, now).await.unwrap();
    drop(tx);
    counter
}

fn counter_of(subject: &str, last_attempt_at: DateTime<Utc>, attempts: i64) -> AttemptCounter {
    AttemptCounter {
        subject: subject.to_owned(),
        last_attempt_at,
        attempts,
    }
}

async fn a_missing_counter_is_locked_fresh_and_a_saved_one_reads_back(store: Arc<dyn Store>) {
    let now = at(5) + Duration::microseconds(5);
    assert_eq!(
        counter(&store, "account:ann", now).await,
        counter_of("account:ann", now, 0)
    );

    let saved = counter_of("account:ann", at(1) + Duration::microseconds(1), 3);
    save(&store, std::slice::from_ref(&saved)).await;
    assert_eq!(counter(&store, "account:ann", at(60)).await, saved);
    assert_eq!(
        counter(&store, "peer:192.0.2.1", at(60)).await,
        counter_of("peer:192.0.2.1", at(60), 0),
        "another subject's counter"
    );
}

async fn releasing_an_attempt_takes_one_back_and_never_goes_below_zero(store: Arc<dyn Store>) {
    save(
        &store,
        &[
            counter_of("account:two", at(1), 2),
            counter_of("peer:one", at(1), 1),
            counter_of("peer:zero", at(1), 0),
            counter_of("account:untouched", at(1), 4),
        ],
    )
    .await;

    let subjects = ["account:two", "peer:one", "peer:zero", "peer:unknown"].map(str::to_owned);
    store.release_attempts(&subjects, &[]).await.unwrap();
    let failures = |subject: &'static str| {
        let store = store.clone();
        async move { counter(&store, subject, at(2)).await.attempts }
    };
    assert_eq!(failures("account:two").await, 1);
    assert_eq!(failures("peer:one").await, 0);
    assert_eq!(failures("peer:zero").await, 0, "went below zero");
    assert_eq!(failures("account:untouched").await, 4);

    store.release_attempts(&subjects, &[]).await.unwrap();
    assert_eq!(failures("account:two").await, 0);
    assert_eq!(failures("peer:one").await, 0, "went below zero");
    store
        .release_attempts(&[], &[])
        .await
        .expect("releasing nothing");
    assert_eq!(
        counter(&store, "account:two", at(2)).await.last_attempt_at,
        at(1),
        "releasing moved the last attempt"
    );
}

async fn forgetting_drops_a_counter_with_its_attempts(store: Arc<dyn Store>) {
    save(
        &store,
        &[
            counter_of("sign-in/account/a", at(1), 5),
            counter_of("sign-in/address/b", at(1), 7),
            counter_of("sign-in/address/c", at(1), 2),
        ],
    )
    .await;
    store
        .release_attempts(
            &["sign-in/address/b".to_owned()],
            &["sign-in/account/a".to_owned(), "unknown".to_owned()],
        )
        .await
        .unwrap();
    let now = at(2);
    assert_eq!(
        counter(&store, "sign-in/account/a", now).await,
        counter_of("sign-in/account/a", now, 0),
        "forgotten: a fresh counter"
    );
    assert_eq!(
        counter(&store, "sign-in/address/b", now).await,
        counter_of("sign-in/address/b", at(1), 6)
    );
    assert_eq!(
        counter(&store, "sign-in/address/c", now).await,
        counter_of("sign-in/address/c", at(1), 2)
    );
}

async fn purging_drops_the_counters_last_attempted_before_the_cutoff(store: Arc<dyn Store>) {
    save(
        &store,
        &[
            counter_of("old", at(0), 5),
            counter_of("older", at(-100), 1),
            counter_of("at-cutoff", at(10), 6),
            counter_of("new", at(20), 7),
        ],
    )
    .await;

    assert_eq!(store.purge_attempt_counters(at(10)).await.unwrap(), 2);
    let now = at(30);
    assert_eq!(counter(&store, "old", now).await, counter_of("old", now, 0));
    assert_eq!(
        counter(&store, "older", now).await,
        counter_of("older", now, 0)
    );
    assert_eq!(
        counter(&store, "at-cutoff", now).await,
        counter_of("at-cutoff", at(10), 6)
    );
    assert_eq!(
        counter(&store, "new", now).await,
        counter_of("new", at(20), 7)
    );
    assert_eq!(store.purge_attempt_counters(at(10)).await.unwrap(), 0);
}

async fn concurrent_units_locking_one_counter_take_turns(store: Arc<dyn Store>) {
    const TASKS: usize = 2;
    const ROUNDS: i64 = 20;
    // The counter does not exist yet: the first round of each task races to create it.
    let start = Arc::new(Barrier::new(TASKS));
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let (store, start) = (store.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                for round in 0..ROUNDS {
                    let now = at(round);
                    let mut tx = store.begin(system(now)).await.unwrap();
                    let mut counter = tx.lock_attempt_counter("peer:shared", now).await.unwrap();
                    counter.attempts += 1;
                    tx.save_attempt_counter(&counter).await.unwrap();
                    tx.commit().await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        finish(task, "a counting task").await;
    }
    assert_eq!(
        counter(&store, "peer:shared", at(100)).await.attempts,
        TASKS as i64 * ROUNDS,
        "an attempt was lost"
    );
}
