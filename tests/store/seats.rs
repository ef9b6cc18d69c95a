//! `SeatTx` and `SeatStore` reads: seats round trip, their order, the one-seat-per-device
//! index, and listing and reading under each scope.

use crate::{fixtures::*, subscriptions::World};

crate::store_tests!(
    a_seat_reads_back_as_inserted_and_as_saved,
    active_seats_are_the_held_ones_oldest_activation_first_then_by_id,
    a_seat_of_another_subscription_is_not_found_in_a_unit_of_work,
    the_database_refuses_a_second_active_seat_of_one_device,
    a_device_takes_a_new_seat_once_its_old_one_is_freed_and_one_in_each_subscription,
    seats_are_listed_and_read_exactly_under_the_scopes_that_see_their_subscription,
    seat_pages_follow_activation_order_with_or_without_freed_seats,
);

async fn a_seat_reads_back_as_inserted_and_as_saved(store: Arc<dyn Store>) {
    let subscription = subscription();
    insert_subscriptions(&store, std::slice::from_ref(&subscription)).await;
    let inserted = Seat {
        platform: Platform::MacOs,
        display_name: "Ann's MacBook — “work”".to_owned(),
        ..seat(
            subscription.id,
            "device-ü-1",
            at(1) + Duration::microseconds(1),
        )
    };
    insert_seats(&store, std::slice::from_ref(&inserted)).await;
    assert_eq!(
        store
            .seat(Scope::All, subscription.id, inserted.id)
            .await
            .unwrap(),
        inserted
    );

    let mut tx = store.begin(system(at(2))).await.unwrap();
    let mut saved = tx.seat_in(subscription.id, inserted.id).await.unwrap();
    assert_eq!(saved, inserted);
    saved.last_seen_at = at(2) + Duration::microseconds(999_999);
    saved.deactivated_at = Some(at(3) + Duration::microseconds(3));
    tx.save_seat(&saved).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        store
            .seat(Scope::All, subscription.id, inserted.id)
            .await
            .unwrap(),
        saved
    );
}

async fn active_seats_are_the_held_ones_oldest_activation_first_then_by_id(store: Arc<dyn Store>) {
    let other = subscription();
    let subscription = Subscription {
        plan_code: "premium-10".to_owned(),
        seat_limit: 10,
        ..subscription()
    };
    insert_subscriptions(&store, &[subscription.clone(), other.clone()]).await;
    let late = seat(subscription.id, "late", at(30));
    let early = seat(subscription.id, "early", at(10));
    let tie_a = seat(subscription.id, "tie-a", at(20));
    let tie_b = seat(subscription.id, "tie-b", at(20));
    let freed = Seat {
        deactivated_at: Some(at(25)),
        ..seat(subscription.id, "freed", at(5))
    };
    let elsewhere = seat(other.id, "elsewhere", at(1));
    insert_seats(
        &store,
        &[
            late.clone(),
            tie_b.clone(),
            freed,
            early.clone(),
            tie_a.clone(),
            elsewhere,
        ],
    )
    .await;

    let mut ties = [tie_a, tie_b];
    ties.sort_by_key(|s| s.id);
    let expected = vec![early, ties[0].clone(), ties[1].clone(), late];
    let mut tx = store.begin(system(at(40))).await.unwrap();
    assert_eq!(tx.active_seats(subscription.id).await.unwrap(), expected);
    assert_eq!(tx.active_seats(Uuid::new_v4()).await.unwrap(), Vec::new());
    drop(tx);
}

async fn a_seat_of_another_subscription_is_not_found_in_a_unit_of_work(store: Arc<dyn Store>) {
    let mine = subscription();
    let other = subscription();
    insert_subscriptions(&store, &[mine.clone(), other.clone()]).await;
    let held = seat(mine.id, "device", at(1));
    let freed = Seat {
        deactivated_at: Some(at(2)),
        ..seat(mine.id, "old-device", at(1))
    };
    insert_seats(&store, &[held.clone(), freed.clone()]).await;

    let mut tx = store.begin(system(at(3))).await.unwrap();
    assert_eq!(tx.seat_in(mine.id, freed.id).await.unwrap(), freed);
    assert_not_found(tx.seat_in(other.id, held.id).await, Resource::Seat);
    assert_not_found(tx.seat_in(mine.id, Uuid::new_v4()).await, Resource::Seat);
    assert_not_found(tx.seat_in(Uuid::new_v4(), held.id).await, Resource::Seat);
    drop(tx);
}

async fn the_database_refuses_a_second_active_seat_of_one_device(store: Arc<dyn Store>) {
    let subscription = subscription();
    insert_subscriptions(&store, std::slice::from_ref(&subscription)).await;
    let first = seat(subscription.id, "device", at(1));
    insert_seats(&store, std::slice::from_ref(&first)).await;

    let second = seat(subscription.id, "device", at(2));
    let mut tx = store.begin(system(at(2))).await.unwrap();
    let written = tx.insert_seat(&second).await;
    assert!(
        commit_after(tx, written).await.is_err(),
        "a device got two active seats of one subscription"
    );
    assert_not_found(
        store.seat(Scope::All, subscription.id, second.id).await,
        Resource::Seat,
    );
    let mut tx = store.begin(system(at(3))).await.unwrap();
    assert_eq!(tx.active_seats(subscription.id).await.unwrap(), vec![first]);
    drop(tx);
}

async fn a_device_takes_a_new_seat_once_its_old_one_is_freed_and_one_in_each_subscription(
    store: Arc<dyn Store>,
) {
    let mine = subscription();
    let other = subscription();
    insert_subscriptions(&store, &[mine.clone(), other.clone()]).await;
    let mut first = seat(mine.id, "device", at(1));
    insert_seats(&store, std::slice::from_ref(&first)).await;

    let mut tx = store.begin(system(at(2))).await.unwrap();
    first.deactivated_at = Some(at(2));
    tx.save_seat(&first).await.unwrap();
    let again = seat(mine.id, "device", at(3));
    tx.insert_seat(&again).await.unwrap();
    let elsewhere = seat(other.id, "device", at(3));
    tx.insert_seat(&elsewhere).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin(system(at(4))).await.unwrap();
    assert_eq!(tx.active_seats(mine.id).await.unwrap(), vec![again]);
    assert_eq!(tx.active_seats(other.id).await.unwrap(), vec![elsewhere]);
    assert_eq!(tx.seat_in(mine.id, first.id).await.unwrap(), first);
    drop(tx);
}

async fn seats_are_listed_and_read_exactly_under_the_scopes_that_see_their_subscription(
    store: Arc<dyn Store>,
) {
    let world = World::create(&store).await;
    let seats: Vec<Seat> = world
        .all
        .iter()
        .map(|s| seat(s.id, "device", at(1)))
        .collect();
    insert_seats(&store, &seats).await;

    for (scope, visible) in world.scopes() {
        for (subscription, seat) in world.all.iter().zip(&seats) {
            let listed = store
                .list_seats(scope, subscription.id, true, &first_page(10))
                .await;
            let read = store.seat(scope, subscription.id, seat.id).await;
            if visible.contains(&subscription.id) {
                assert_eq!(listed.unwrap().items, vec![seat.clone()], "under {scope:?}");
                assert_eq!(read.unwrap(), *seat, "under {scope:?}");
            } else {
                assert_not_found(listed, Resource::Subscription);
                assert_not_found(read, Resource::Seat);
            }
        }
    }
    // A seat asked for under a subscription it does not belong to.
    let (first, second) = (&world.all[0], &seats[1]);
    assert_not_found(
        store.seat(Scope::All, first.id, second.id).await,
        Resource::Seat,
    );
    assert_not_found(
        store.seat(Scope::All, first.id, Uuid::new_v4()).await,
        Resource::Seat,
    );
    assert_not_found(
        store
            .list_seats(Scope::All, Uuid::new_v4(), true, &first_page(10))
            .await,
        Resource::Subscription,
    );
}

async fn seat_pages_follow_activation_order_with_or_without_freed_seats(store: Arc<dyn Store>) {
    let other = subscription();
    let subscription = Subscription {
        plan_code: "premium-10".to_owned(),
        seat_limit: 10,
        ..subscription()
    };
    insert_subscriptions(&store, &[subscription.clone(), other.clone()]).await;
    let freed = |seat: Seat| Seat {
        deactivated_at: Some(at(100)),
        ..seat
    };
    let seats = vec![
        seat(subscription.id, "a", at(5)),
        freed(seat(subscription.id, "b", at(1))),
        seat(subscription.id, "c", at(3)),
        seat(subscription.id, "d", at(3)),
        freed(seat(subscription.id, "e", at(3))),
        seat(subscription.id, "f", at(2)),
        freed(seat(subscription.id, "a", at(4))),
    ];
    insert_seats(&store, &seats).await;
    insert_seats(&store, &[seat(other.id, "a", at(0))]).await;

    let mut in_order = seats.clone();
    in_order.sort_by_key(|s| (s.activated_at, s.id));
    let active: Vec<_> = in_order.iter().filter(|s| s.is_active()).cloned().collect();

    for (include_deactivated, expected, page_sizes) in [
        (false, active, vec![2, 2]),
        (true, in_order, vec![2, 2, 2, 1]),
    ] {
        let pages = all_pages(2, |page| {
            let store = store.clone();
            async move {
                store
                    .list_seats(Scope::All, subscription.id, include_deactivated, &page)
                    .await
            }
        })
        .await;
        assert_eq!(
            sizes(&pages),
            page_sizes,
            "include_deactivated={include_deactivated}"
        );
        assert_eq!(
            pages.concat(),
            expected,
            "include_deactivated={include_deactivated}"
        );
    }
}
