//! Numbering the outbox while the backend's event sequencer runs (PostgreSQL; SQLite has
//! none and numbers at commit): concurrent writers get a gap-free sequence, each
//! subscription's units in the order they committed, nothing of a rolled-back unit, and
//! a reader resuming from its cursor sees every event once.

use crate::fixtures::*;
use std::collections::BTreeMap;
use tessera::store::records::read_event;
use tokio::task::JoinHandle;

crate::store_tests!(
    units_on_one_subscription_are_numbered_in_the_order_they_committed,
    a_unit_that_committed_before_another_began_is_numbered_first,
    a_reader_resuming_from_its_cursor_sees_every_committed_event_once_and_nothing_rolled_back,
    numbering_pending_events_covers_every_unit_committed_before,
);

/// How long numbering may take once a unit has committed.
const PATIENCE: std::time::Duration = std::time::Duration::from_secs(20);

/// The backend's sequencer, running, if it has one; aborted when dropped.
struct Sequencer(Option<JoinHandle<()>>);

impl Drop for Sequencer {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

async fn run_sequencer(store: &Arc<dyn Store>) -> Sequencer {
    let task = store.event_sequencer().await.unwrap();
    assert_eq!(
        task.is_some(),
        store.backend() == Backend::Postgres,
        "PostgreSQL, and only PostgreSQL, has a sequencer"
    );
    Sequencer(task.map(tokio::spawn))
}

/// Waits, woken by each numbering in this process, until sequence `seq` is numbered.
async fn until_numbered(store: &Arc<dyn Store>, seq: i64) {
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
    tokio::time::timeout(PATIENCE, numbered)
        .await
        .unwrap_or_else(|_| panic!("sequence {seq} was not numbered in time"));
}

async fn all_events(store: &Arc<dyn Store>) -> Vec<tessera::domain::event::Event> {
    store
        .events_after(Scope::All, 0, None, 100_000)
        .await
        .unwrap()
        .iter()
        .map(|e| read_event(e).unwrap())
        .collect()
}

/// Locks `id`, counts one more change on it (in `seat_limit`), saves, and emits an
/// event saying which change it was; commits, or rolls back when `keep` is false.
async fn change(store: &Arc<dyn Store>, id: Uuid, writer: usize, keep: bool) {
    let mut tx = store.begin(system(at(1))).await.unwrap();
    let mut locked = tx.lock_subscription(Scope::All, id).await.unwrap();
    locked.seat_limit += 1;
    tx.save_subscription(&locked).await.unwrap();
    for part in 0..2 {
        tx.emit(
            NewEvent::of(EventType::SubscriptionUpdated, &locked)
                .with_detail("change", locked.seat_limit.to_string())
                .with_detail("writer", writer.to_string())
                .with_detail("part", part.to_string())
                .with_detail("kept", keep.to_string()),
        );
    }
    if keep {
        tx.commit().await.unwrap();
    }
}

async fn units_on_one_subscription_are_numbered_in_the_order_they_committed(store: Arc<dyn Store>) {
    const SUBSCRIPTIONS: usize = 3;
    const WRITERS: usize = 8;
    const UNITS: usize = 12;
    let subscriptions: Vec<Subscription> = (0..SUBSCRIPTIONS).map(|_| subscription()).collect();
    insert_subscriptions(&store, &subscriptions).await;
    let _sequencer = run_sequencer(&store).await;

    // Writers race on a few subscriptions: each unit takes the next change number of
    // its subscription under the subscription's lock, so that number is commit order.
    let start = Arc::new(Barrier::new(WRITERS));
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let (store, start) = (store.clone(), start.clone());
            let ids: Vec<Uuid> = subscriptions.iter().map(|s| s.id).collect();
            tokio::spawn(async move {
                start.wait().await;
                for unit in 0..UNITS {
                    change(&store, ids[(writer + unit) % ids.len()], writer, true).await;
                }
            })
        })
        .collect();
    for writer in writers {
        finish(writer, "a writer").await;
    }
    let total = (WRITERS * UNITS * 2) as i64;
    until_numbered(&store, total).await;

    let events = all_events(&store).await;
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=total).collect::<Vec<_>>(), "gaps or repeats");
    let mut changes: BTreeMap<Uuid, Vec<i64>> = BTreeMap::new();
    for pair in events.chunks(2) {
        assert_eq!(pair[0].details["change"], pair[1].details["change"]);
        assert_eq!(pair[0].subscription.id, pair[1].subscription.id);
        assert_eq!(
            (&*pair[0].details["part"], &*pair[1].details["part"]),
            ("0", "1")
        );
        changes
            .entry(pair[0].subscription.id)
            .or_default()
            .push(pair[0].details["change"].parse().unwrap());
    }
    for (subscription, numbers) in changes {
        let first = subscriptions.iter().find(|s| s.id == subscription).unwrap();
        let expected: Vec<i64> = (1..=numbers.len() as i64)
            .map(|n| first.seat_limit + n)
            .collect();
        assert_eq!(
            numbers, expected,
            "subscription {subscription} out of order"
        );
    }
}

async fn a_unit_that_committed_before_another_began_is_numbered_first(store: Arc<dyn Store>) {
    const UNITS: usize = 20;
    let subscriptions: Vec<Subscription> = (0..UNITS).map(|_| subscription()).collect();
    insert_subscriptions(&store, &subscriptions).await;
    let _sequencer = run_sequencer(&store).await;

    // One writer, a different subscription each time: nothing orders the units but that
    // each began after the one before had committed.
    for (writer, subscription) in subscriptions.iter().enumerate() {
        change(&store, subscription.id, writer, true).await;
    }
    until_numbered(&store, (UNITS * 2) as i64).await;
    let writers: Vec<String> = all_events(&store)
        .await
        .iter()
        .map(|e| e.details["writer"].clone())
        .collect();
    let expected: Vec<String> = (0..UNITS)
        .flat_map(|unit| [unit.to_string(), unit.to_string()])
        .collect();
    assert_eq!(writers, expected);
}

async fn a_reader_resuming_from_its_cursor_sees_every_committed_event_once_and_nothing_rolled_back(
    store: Arc<dyn Store>,
) {
    const WRITERS: usize = 6;
    const UNITS: usize = 15;
    let subscriptions: Vec<Subscription> = (0..WRITERS).map(|_| subscription()).collect();
    insert_subscriptions(&store, &subscriptions).await;
    let _sequencer = run_sequencer(&store).await;
    let kept = WRITERS * (UNITS - UNITS / 3);
    let total = (kept * 2) as i64;

    // The reader reads small pages from its cursor while the writers commit (every
    // third unit rolled back), as a watcher does, until it has everything.
    let reader = {
        let store = store.clone();
        tokio::spawn(async move {
            let commits = store.commits();
            let mut cursor = 0;
            let mut seen = Vec::new();
            while cursor < total {
                let woken = commits.notified();
                tokio::pin!(woken);
                woken.as_mut().enable();
                let page = store
                    .events_after(Scope::All, cursor, None, 7)
                    .await
                    .unwrap();
                if let Some(last) = page.last() {
                    cursor = last.seq;
                    seen.extend(page);
                } else {
                    woken.await;
                }
            }
            seen
        })
    };
    let writers: Vec<_> = subscriptions
        .iter()
        .enumerate()
        .map(|(writer, subscription)| {
            let (store, id) = (store.clone(), subscription.id);
            tokio::spawn(async move {
                for unit in 0..UNITS {
                    change(&store, id, writer, unit % 3 != 2).await;
                }
            })
        })
        .collect();
    for writer in writers {
        finish(writer, "a writer").await;
    }
    let seen = tokio::time::timeout(PATIENCE, reader)
        .await
        .expect("the reader caught up")
        .unwrap();

    let seqs: Vec<i64> = seen.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=total).collect::<Vec<_>>());
    let events: Vec<_> = seen.iter().map(|e| read_event(e).unwrap()).collect();
    assert!(
        events.iter().all(|e| e.details["kept"] == "true"),
        "an event of a rolled-back unit was numbered"
    );
    assert_eq!(store.last_event_seq().await.unwrap(), total);
}

async fn numbering_pending_events_covers_every_unit_committed_before(store: Arc<dyn Store>) {
    let subscription = subscription();
    insert_subscriptions(&store, std::slice::from_ref(&subscription)).await;
    let _sequencer = run_sequencer(&store).await;
    for writer in 0..5 {
        change(&store, subscription.id, writer, true).await;
    }
    store.number_pending_events().await.unwrap();
    assert_eq!(store.last_event_seq().await.unwrap(), 10);
    store
        .number_pending_events()
        .await
        .expect("numbering again finds nothing to do");
    assert_eq!(all_events(&store).await.len(), 10);
}
