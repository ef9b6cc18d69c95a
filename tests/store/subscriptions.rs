//! `SubscriptionTx` writes and `SubscriptionStore::subscription`: round trips, the seat
//! limit the database enforces, roll-back, locking, and what each `Scope` sees.

use crate::fixtures::*;

crate::store_tests!(
    an_inserted_subscription_reads_back_with_every_field_to_the_micro_second,
    a_saved_subscription_reads_back_with_every_mutable_field_to_the_micro_second,
    the_database_refuses_more_active_seats_than_the_limit,
    a_unit_of_work_dropped_without_commit_leaves_nothing,
    a_subscription_is_found_exactly_under_the_scopes_that_see_it,
    a_subscription_is_locked_exactly_under_the_scopes_that_see_it,
    concurrent_units_locking_one_subscription_take_turns,
);

async fn an_inserted_subscription_reads_back_with_every_field_to_the_micro_second(
    store: Arc<dyn Store>,
) {
    let ann = create_account(&store, "ann").await;
    let telekom = create_partner(&store, "Telekom").await;
    let full = Subscription {
        plan_code: "premium-10".to_owned(),
        channel: Channel::Carrier,
        status: Status::Suspended,
        account_id: Some(ann.id),
        seat_limit: 10,
        active_seats: 4,
        auto_renew: false,
        cancel_at_period_end: true,
        partner_id: Some(telekom.id),
        partner_reference: Some("contract 4711 / ü".to_owned()),
        product_key: Some("ABCDE-FGHJK-MNPQR-STUVW-XYZ23".to_owned()),
        ..subscription()
    };
    let bare = Subscription {
        channel: Channel::PlayStore,
        status: Status::Trial,
        plan_code: "trial-5".to_owned(),
        seat_limit: 5,
        ..subscription()
    };
    insert_subscriptions(&store, &[full.clone(), bare.clone()]).await;

    assert_eq!(store.subscription(Scope::All, full.id).await.unwrap(), full);
    assert_eq!(store.subscription(Scope::All, bare.id).await.unwrap(), bare);
    assert_not_found(
        store.subscription(Scope::All, Uuid::new_v4()).await,
        Resource::Subscription,
    );
}

async fn a_saved_subscription_reads_back_with_every_mutable_field_to_the_micro_second(
    store: Arc<dyn Store>,
) {
    let ann = create_account(&store, "ann").await;
    let telekom = create_partner(&store, "Telekom").await;
    let original = Subscription {
        channel: Channel::Carrier,
        partner_id: Some(telekom.id),
        partner_reference: Some("old reference".to_owned()),
        active_seats: 1,
        ..subscription()
    };
    insert_subscriptions(&store, std::slice::from_ref(&original)).await;

    let mut tx = store.begin(system(at(1))).await.unwrap();
    let mut changed = tx.lock_subscription(Scope::All, original.id).await.unwrap();
    assert_eq!(changed, original);
    changed.plan_code = "premium-10".to_owned();
    changed.seat_limit = 10;
    changed.active_seats = 7;
    changed.status = Status::Grace;
    changed.account_id = Some(ann.id);
    changed.term_start = at(86_400) + Duration::microseconds(11);
    changed.term_end = at(90 * 86_400) + Duration::microseconds(999_999);
    changed.auto_renew = false;
    changed.cancel_at_period_end = true;
    changed.partner_reference = Some("new reference".to_owned());
    changed.updated_at = at(1) + Duration::microseconds(1);
    tx.save_subscription(&changed).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        store.subscription(Scope::All, original.id).await.unwrap(),
        changed
    );

    // And back: optional fields can be cleared.
    let mut tx = store.begin(system(at(2))).await.unwrap();
    let mut cleared = tx.lock_subscription(Scope::All, original.id).await.unwrap();
    cleared.account_id = None;
    cleared.partner_reference = None;
    cleared.status = Status::Active;
    cleared.auto_renew = true;
    cleared.cancel_at_period_end = false;
    cleared.active_seats = 0;
    tx.save_subscription(&cleared).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        store.subscription(Scope::All, original.id).await.unwrap(),
        cleared
    );
}

async fn the_database_refuses_more_active_seats_than_the_limit(store: Arc<dyn Store>) {
    let original = Subscription {
        seat_limit: 3,
        active_seats: 3,
        ..subscription()
    };
    insert_subscriptions(&store, std::slice::from_ref(&original)).await;

    let mut tx = store.begin(system(at(1))).await.unwrap();
    let mut over = tx.lock_subscription(Scope::All, original.id).await.unwrap();
    over.active_seats = 4;
    over.updated_at = at(1);
    let written = tx.save_subscription(&over).await;
    assert!(
        commit_after(tx, written).await.is_err(),
        "4 active seats of 3 were saved"
    );

    let mut tx = store.begin(system(at(2))).await.unwrap();
    let mut lower = tx.lock_subscription(Scope::All, original.id).await.unwrap();
    lower.seat_limit = 2;
    let written = tx.save_subscription(&lower).await;
    assert!(
        commit_after(tx, written).await.is_err(),
        "a limit of 2 under 3 active seats was saved"
    );

    assert_eq!(
        store.subscription(Scope::All, original.id).await.unwrap(),
        original,
        "a failed unit changed the subscription"
    );
}

async fn a_unit_of_work_dropped_without_commit_leaves_nothing(store: Arc<dyn Store>) {
    let kept = subscription();
    insert_subscriptions(&store, std::slice::from_ref(&kept)).await;
    let events_before = store.last_event_seq().await.unwrap();

    let fresh = subscription();
    let seat = seat(fresh.id, "device-1", at(1));
    let mut tx = store.begin(system(at(1))).await.unwrap();
    tx.insert_subscription(&fresh).await.unwrap();
    tx.insert_seat(&seat).await.unwrap();
    tx.insert_device_token("token-hash", seat.id, at(1))
        .await
        .unwrap();
    let mut changed = tx.lock_subscription(Scope::All, kept.id).await.unwrap();
    changed.status = Status::Cancelled;
    tx.save_subscription(&changed).await.unwrap();
    tx.emit(NewEvent::of(EventType::SubscriptionCreated, &fresh));
    drop(tx);

    assert_not_found(
        store.subscription(Scope::All, fresh.id).await,
        Resource::Subscription,
    );
    assert_eq!(store.subscription(Scope::All, kept.id).await.unwrap(), kept);
    assert_eq!(store.device_principal("token-hash").await.unwrap(), None);
    assert_eq!(store.last_event_seq().await.unwrap(), events_before);
    assert!(
        store
            .events_after(Scope::All, events_before, None, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Nothing of the dropped unit holds on: the same rows can be written again.
    let again = {
        let (store, fresh) = (store.clone(), fresh.clone());
        tokio::spawn(async move { insert_subscriptions(&store, &[fresh]).await })
    };
    finish(again, "inserting the rolled-back subscription again").await;
    assert_eq!(
        store.subscription(Scope::All, fresh.id).await.unwrap(),
        fresh
    );
}

/// Four subscriptions and who may see each: ann owns `direct` and `claimed_p2`, bob owns
/// `claimed_p1`; partner 1 sold `claimed_p1` and `unclaimed_p1`, partner 2 `claimed_p2`.
pub struct World {
    pub ann: Uuid,
    pub bob: Uuid,
    pub p1: Uuid,
    pub p2: Uuid,
    pub all: Vec<Subscription>,
}

impl World {
    pub async fn create(store: &Arc<dyn Store>) -> Self {
        let ann = create_account(store, "ann").await.id;
        let bob = create_account(store, "bob").await.id;
        let p1 = create_partner(store, "Partner one").await.id;
        let p2 = create_partner(store, "Partner two").await.id;
        let mut all = vec![
            owned_by(ann),
            sold_by(p1, Some(bob)),
            sold_by(p1, None),
            sold_by(p2, Some(ann)),
        ];
        for (n, subscription) in all.iter_mut().enumerate() {
            subscription.created_at = at(n as i64);
        }
        insert_subscriptions(store, &all).await;
        Self {
            ann,
            bob,
            p1,
            p2,
            all,
        }
    }

    /// Every scope worth asking under, with the ids of what it sees.
    pub fn scopes(&self) -> Vec<(Scope, BTreeSet<Uuid>)> {
        let ids = |f: &dyn Fn(&Subscription) -> bool| -> BTreeSet<Uuid> {
            self.all.iter().filter(|s| f(s)).map(|s| s.id).collect()
        };
        let mut scopes = vec![
            (Scope::All, ids(&|_| true)),
            (
                Scope::Account(self.ann),
                ids(&|s| s.account_id == Some(self.ann)),
            ),
            (
                Scope::Account(self.bob),
                ids(&|s| s.account_id == Some(self.bob)),
            ),
            (
                Scope::Partner(self.p1),
                ids(&|s| s.partner_id == Some(self.p1)),
            ),
            (
                Scope::Partner(self.p2),
                ids(&|s| s.partner_id == Some(self.p2)),
            ),
            (Scope::Account(Uuid::new_v4()), BTreeSet::new()),
            (Scope::Partner(Uuid::new_v4()), BTreeSet::new()),
            (Scope::Subscription(Uuid::new_v4()), BTreeSet::new()),
            (Scope::Nothing, BTreeSet::new()),
        ];
        for s in &self.all {
            scopes.push((Scope::Subscription(s.id), BTreeSet::from([s.id])));
        }
        // An account id used as a partner id and the other way round sees nothing.
        scopes.push((Scope::Partner(self.ann), BTreeSet::new()));
        scopes.push((Scope::Account(self.p1), BTreeSet::new()));
        scopes
    }
}

async fn a_subscription_is_found_exactly_under_the_scopes_that_see_it(store: Arc<dyn Store>) {
    let world = World::create(&store).await;
    for (scope, visible) in world.scopes() {
        for subscription in &world.all {
            let read = store.subscription(scope, subscription.id).await;
            if visible.contains(&subscription.id) {
                assert_eq!(read.unwrap(), *subscription, "under {scope:?}");
            } else {
                assert_not_found(read, Resource::Subscription);
            }
        }
        assert_not_found(
            store.subscription(scope, Uuid::new_v4()).await,
            Resource::Subscription,
        );
    }
}

async fn a_subscription_is_locked_exactly_under_the_scopes_that_see_it(store: Arc<dyn Store>) {
    let world = World::create(&store).await;
    let mut tx = store.begin(system(at(100))).await.unwrap();
    for (scope, visible) in world.scopes() {
        for subscription in &world.all {
            let locked = tx.lock_subscription(scope, subscription.id).await;
            if visible.contains(&subscription.id) {
                assert_eq!(locked.unwrap(), *subscription, "under {scope:?}");
            } else {
                assert_not_found(locked, Resource::Subscription);
            }
        }
    }
    assert_not_found(
        tx.lock_subscription(Scope::All, Uuid::new_v4()).await,
        Resource::Subscription,
    );
    tx.commit().await.unwrap();
}

async fn concurrent_units_locking_one_subscription_take_turns(store: Arc<dyn Store>) {
    const TASKS: usize = 2;
    const ROUNDS: i64 = 5;
    let shared = Subscription {
        plan_code: "premium-10".to_owned(),
        seat_limit: 10,
        ..subscription()
    };
    insert_subscriptions(&store, std::slice::from_ref(&shared)).await;

    let start = Arc::new(Barrier::new(TASKS));
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let (store, start) = (store.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                for round in 0..ROUNDS {
                    let mut tx = store.begin(system(at(round))).await.unwrap();
                    let mut locked = tx.lock_subscription(Scope::All, shared.id).await.unwrap();
                    locked.active_seats += 1;
                    tx.save_subscription(&locked).await.unwrap();
                    tx.commit().await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        finish(task, "a locking task").await;
    }
    assert_eq!(
        store
            .subscription(Scope::All, shared.id)
            .await
            .unwrap()
            .active_seats,
        TASKS as i64 * ROUNDS,
        "an update was lost"
    );
}
