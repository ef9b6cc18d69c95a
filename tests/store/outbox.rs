//! The event outbox: `OutboxTx::emit`, `OutboxStore::events_after` / `last_event_seq`,
//! `Store::commits`.

use crate::fixtures::*;
use tessera::{
    domain::event::{Actor, ActorKind},
    store::records::read_event,
};

crate::store_tests!(
    committed_events_are_numbered_after_the_last_and_carry_the_units_context,
    events_of_tessera_itself_have_the_system_actor_and_no_request_id,
    a_rolled_back_unit_writes_no_events_and_leaves_no_gap,
    concurrent_units_commit_a_gap_free_sequence_with_each_units_events_together,
    events_after_respects_after_limit_and_subscription,
    events_after_shows_a_partner_only_its_subscriptions_events_and_other_scopes_none,
    a_commit_with_events_wakes_the_commit_watchers,
);

async fn all_events(store: &Arc<dyn Store>) -> Vec<tessera::domain::event::StoredEvent> {
    store
        .events_after(Scope::All, 0, None, 10_000)
        .await
        .unwrap()
}

async fn committed_events_are_numbered_after_the_last_and_carry_the_units_context(
    store: Arc<dyn Store>,
) {
    assert_eq!(store.last_event_seq().await.unwrap(), 0, "a fresh database");
    let telekom = create_partner(&store, "Telekom").await;
    let subscription = sold_by(telekom.id, None);
    let seat = seat(subscription.id, "device", at(1));

    let mut tx = store.begin(system(at(1))).await.unwrap();
    tx.insert_subscription(&subscription).await.unwrap();
    tx.emit(NewEvent::of(EventType::SubscriptionCreated, &subscription));
    tx.commit().await.unwrap();
    assert_eq!(store.last_event_seq().await.unwrap(), 1);

    let now = at(2) + Duration::microseconds(2);
    let context = WriteContext {
        author: Some(Principal::Partner(telekom.id)),
        request_id: Some("request-7".to_owned()),
        now,
    };
    let mut tx = store.begin(context).await.unwrap();
    tx.insert_seat(&seat).await.unwrap();
    tx.emit(NewEvent::of(EventType::SeatActivated, &subscription).with_seat(&seat));
    tx.emit(
        NewEvent::of(EventType::SubscriptionPlanChanged, &subscription)
            .with_detail("previous_plan", "standard-1"),
    );
    tx.commit().await.unwrap();

    assert_eq!(store.last_event_seq().await.unwrap(), 3);
    let stored = store.events_after(Scope::All, 1, None, 100).await.unwrap();
    assert_eq!(stored.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 3]);
    let events: Vec<_> = stored.iter().map(|e| read_event(e).unwrap()).collect();
    for event in &events {
        assert_eq!(event.created_at, now, "created at the unit's now");
        assert_eq!(
            event.actor,
            Actor {
                kind: ActorKind::Partner,
                id: Some(telekom.id.to_string()),
            }
        );
        assert_eq!(event.request_id.as_deref(), Some("request-7"));
        assert_eq!(event.subscription, subscription);
    }
    assert_eq!(events[0].seq, 2);
    assert_eq!(events[0].event_type, EventType::SeatActivated);
    assert_eq!(events[0].seat, Some(seat));
    assert!(events[0].details.is_empty());
    assert_eq!(events[1].event_type, EventType::SubscriptionPlanChanged);
    assert_eq!(events[1].seat, None);
    assert_eq!(
        events[1].details.get("previous_plan").map(String::as_str),
        Some("standard-1")
    );
}

async fn events_of_tessera_itself_have_the_system_actor_and_no_request_id(store: Arc<dyn Store>) {
    let ann = create_account(&store, "ann").await;
    let subscription = owned_by(ann.id);
    insert_subscriptions(&store, std::slice::from_ref(&subscription)).await;

    let mut tx = store.begin(system(at(5))).await.unwrap();
    tx.emit(NewEvent::of(
        EventType::SubscriptionEnteredGrace,
        &subscription,
    ));
    tx.commit().await.unwrap();
    // A device acts for the account owning its subscription.
    let device = WriteContext {
        author: Some(Principal::Device {
            seat_id: Uuid::new_v4(),
            subscription_id: subscription.id,
            active: true,
        }),
        request_id: None,
        now: at(6),
    };
    let mut tx = store.begin(device).await.unwrap();
    tx.emit(NewEvent::of(EventType::SeatDeactivated, &subscription));
    tx.commit().await.unwrap();

    let events: Vec<_> = all_events(&store)
        .await
        .iter()
        .map(|e| read_event(e).unwrap())
        .collect();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].actor, Actor::system());
    assert_eq!(events[0].request_id, None);
    assert_eq!(events[0].created_at, at(5));
    assert_eq!(
        events[1].actor,
        Actor {
            kind: ActorKind::Account,
            id: Some(ann.id.to_string()),
        }
    );
}

async fn a_rolled_back_unit_writes_no_events_and_leaves_no_gap(store: Arc<dyn Store>) {
    let subscription = subscription();
    insert_subscriptions(&store, std::slice::from_ref(&subscription)).await;
    let emit = |tx: &mut Box<dyn UnitOfWork>, n: usize| {
        for _ in 0..n {
            tx.emit(NewEvent::of(EventType::SubscriptionUpdated, &subscription));
        }
    };

    let mut tx = store.begin(system(at(1))).await.unwrap();
    emit(&mut tx, 1);
    tx.commit().await.unwrap();
    let mut tx = store.begin(system(at(2))).await.unwrap();
    emit(&mut tx, 3);
    drop(tx);
    // A unit that fails on a constraint after emitting is rolled back too.
    let mut tx = store.begin(system(at(3))).await.unwrap();
    emit(&mut tx, 2);
    let written = tx.insert_subscription(&subscription).await;
    assert!(
        commit_after(tx, written).await.is_err(),
        "a subscription was inserted twice"
    );
    assert_eq!(store.last_event_seq().await.unwrap(), 1);

    let mut tx = store.begin(system(at(4))).await.unwrap();
    emit(&mut tx, 2);
    tx.commit().await.unwrap();
    let seqs: Vec<i64> = all_events(&store).await.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3], "rolled-back units used sequence numbers");
    assert_eq!(store.last_event_seq().await.unwrap(), 3);
}

async fn concurrent_units_commit_a_gap_free_sequence_with_each_units_events_together(
    store: Arc<dyn Store>,
) {
    const TASKS: usize = 8;
    const UNITS: usize = 10;
    let subscriptions: Vec<Subscription> = (0..TASKS).map(|_| subscription()).collect();
    insert_subscriptions(&store, &subscriptions).await;

    let start = Arc::new(Barrier::new(TASKS));
    let tasks: Vec<_> = subscriptions
        .iter()
        .cloned()
        .enumerate()
        .map(|(task, subscription)| {
            let (store, start) = (store.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                for unit in 0..UNITS {
                    let mut tx = store.begin(system(at(unit as i64))).await.unwrap();
                    // Every other unit writes a row too, so units overlap in time.
                    if unit % 2 == 0 {
                        let mut locked = tx
                            .lock_subscription(Scope::All, subscription.id)
                            .await
                            .unwrap();
                        locked.updated_at = at(unit as i64);
                        tx.save_subscription(&locked).await.unwrap();
                    }
                    for part in 0..1 + unit % 2 {
                        tx.emit(
                            NewEvent::of(EventType::SubscriptionUpdated, &subscription)
                                .with_detail("unit", format!("{task}/{unit}"))
                                .with_detail("part", part.to_string()),
                        );
                    }
                    tx.commit().await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        finish(task, "a committing task").await;
    }

    let events: Vec<_> = all_events(&store)
        .await
        .iter()
        .map(|e| read_event(e).unwrap())
        .collect();
    let total = TASKS * (UNITS + UNITS / 2);
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (1..=total as i64).collect::<Vec<_>>(),
        "gaps or repeats"
    );
    assert_eq!(store.last_event_seq().await.unwrap(), total as i64);
    // Each unit's events are consecutive, in the order they were emitted.
    let mut units_seen = BTreeSet::new();
    let mut i = 0;
    while i < events.len() {
        let unit = &events[i].details["unit"];
        assert!(units_seen.insert(unit.clone()), "unit {unit} split up");
        let parts: Vec<&str> = events[i..]
            .iter()
            .take_while(|e| &e.details["unit"] == unit)
            .map(|e| e.details["part"].as_str())
            .collect();
        let expected: Vec<String> = (0..parts.len()).map(|p| p.to_string()).collect();
        assert_eq!(parts, expected, "unit {unit}");
        i += parts.len();
    }
    assert_eq!(units_seen.len(), TASKS * UNITS);
}

/// Five events: (subscription index, seq) = (0, 1), (1, 2), (2, 3), (0, 4), (1, 5), of
/// subscriptions sold by partner 1, partner 2, and owned by an account directly.
struct Emitted {
    p1: Uuid,
    p2: Uuid,
    ann: Uuid,
    subscriptions: Vec<Subscription>,
}

async fn emit_five(store: &Arc<dyn Store>) -> Emitted {
    let p1 = create_partner(store, "Partner one").await.id;
    let p2 = create_partner(store, "Partner two").await.id;
    let ann = create_account(store, "ann").await.id;
    let subscriptions = vec![sold_by(p1, Some(ann)), sold_by(p2, None), owned_by(ann)];
    insert_subscriptions(store, &subscriptions).await;
    for index in [0, 1, 2, 0, 1] {
        let mut tx = store.begin(system(at(1))).await.unwrap();
        tx.emit(NewEvent::of(
            EventType::SubscriptionUpdated,
            &subscriptions[index],
        ));
        tx.commit().await.unwrap();
    }
    Emitted {
        p1,
        p2,
        ann,
        subscriptions,
    }
}

async fn seqs(
    store: &Arc<dyn Store>,
    scope: Scope,
    after: i64,
    subscription: Option<Uuid>,
    limit: i64,
) -> Vec<i64> {
    store
        .events_after(scope, after, subscription, limit)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect()
}

async fn events_after_respects_after_limit_and_subscription(store: Arc<dyn Store>) {
    let emitted = emit_five(&store).await;
    let [first, second, _] = [0, 1, 2].map(|i| emitted.subscriptions[i].id);

    assert_eq!(
        seqs(&store, Scope::All, 0, None, 100).await,
        [1, 2, 3, 4, 5]
    );
    assert_eq!(seqs(&store, Scope::All, 2, None, 100).await, [3, 4, 5]);
    assert_eq!(seqs(&store, Scope::All, 5, None, 100).await, [] as [i64; 0]);
    assert_eq!(seqs(&store, Scope::All, 0, None, 2).await, [1, 2]);
    assert_eq!(seqs(&store, Scope::All, 3, None, 1).await, [4]);
    assert_eq!(seqs(&store, Scope::All, 0, Some(first), 100).await, [1, 4]);
    assert_eq!(seqs(&store, Scope::All, 1, Some(first), 100).await, [4]);
    assert_eq!(seqs(&store, Scope::All, 0, Some(second), 1).await, [2]);
    assert_eq!(seqs(&store, Scope::All, 2, Some(second), 1).await, [5]);
    assert_eq!(
        seqs(&store, Scope::All, 0, Some(Uuid::new_v4()), 100).await,
        [] as [i64; 0]
    );
    let stored = store.events_after(Scope::All, 3, None, 1).await.unwrap();
    let event = read_event(&stored[0]).unwrap();
    assert_eq!(event.subscription, emitted.subscriptions[0]);
}

async fn events_after_shows_a_partner_only_its_subscriptions_events_and_other_scopes_none(
    store: Arc<dyn Store>,
) {
    let emitted = emit_five(&store).await;
    let [first, second, third] = [0, 1, 2].map(|i| emitted.subscriptions[i].id);
    let none: [i64; 0] = [];

    assert_eq!(
        seqs(&store, Scope::Partner(emitted.p1), 0, None, 100).await,
        [1, 4]
    );
    assert_eq!(
        seqs(&store, Scope::Partner(emitted.p2), 0, None, 100).await,
        [2, 5]
    );
    assert_eq!(
        seqs(&store, Scope::Partner(emitted.p2), 2, None, 100).await,
        [5]
    );
    assert_eq!(
        seqs(&store, Scope::Partner(emitted.p2), 0, None, 1).await,
        [2]
    );
    assert_eq!(
        seqs(&store, Scope::Partner(emitted.p1), 0, Some(first), 100).await,
        [1, 4]
    );
    assert_eq!(
        seqs(&store, Scope::Partner(emitted.p1), 0, Some(second), 100).await,
        none,
        "a partner saw another partner's subscription"
    );
    assert_eq!(
        seqs(&store, Scope::Partner(Uuid::new_v4()), 0, None, 100).await,
        none
    );
    for scope in [
        Scope::Account(emitted.ann),
        Scope::Subscription(first),
        Scope::Subscription(third),
        Scope::Nothing,
    ] {
        assert_eq!(seqs(&store, scope, 0, None, 100).await, none, "{scope:?}");
        assert_eq!(
            seqs(&store, scope, 0, Some(first), 100).await,
            none,
            "{scope:?}"
        );
    }
}

async fn a_commit_with_events_wakes_the_commit_watchers(store: Arc<dyn Store>) {
    let subscription = subscription();
    insert_subscriptions(&store, std::slice::from_ref(&subscription)).await;
    let commits = store.commits();
    let woken = commits.notified();
    tokio::pin!(woken);
    woken.as_mut().enable();

    let mut tx = store.begin(system(at(1))).await.unwrap();
    tx.emit(NewEvent::of(EventType::SubscriptionUpdated, &subscription));
    tx.commit().await.unwrap();

    tokio::time::timeout(std::time::Duration::from_secs(5), woken)
        .await
        .expect("a commit with events did not wake the watchers");
}
