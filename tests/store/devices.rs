//! Device tokens and check-ins: `SeatTx::insert_device_token` / `move_device_tokens`,
//! `SeatStore::device_principal` / `record_last_seen`.

use crate::fixtures::*;

crate::store_tests!(
    a_device_token_names_its_seat_and_subscription_and_follows_the_seats_deactivation,
    moved_device_tokens_name_the_new_seat,
    last_seen_times_move_forward_for_active_seats_only,
);

async fn a_device_token_names_its_seat_and_subscription_and_follows_the_seats_deactivation(
    store: Arc<dyn Store>,
) {
    let subscription = subscription();
    insert_subscriptions(&store, std::slice::from_ref(&subscription)).await;
    let mut held = seat(subscription.id, "device", at(1));
    let other = seat(subscription.id, "other-device", at(1));
    let mut tx = store.begin(system(at(1))).await.unwrap();
    tx.insert_seat(&held).await.unwrap();
    tx.insert_seat(&other).await.unwrap();
    tx.insert_device_token("token-1", held.id, at(1))
        .await
        .unwrap();
    tx.insert_device_token("token-2", held.id, at(2))
        .await
        .unwrap();
    tx.insert_device_token("token-other", other.id, at(2))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let device = |active| Principal::Device {
        seat_id: held.id,
        subscription_id: subscription.id,
        active,
    };
    for token in ["token-1", "token-2"] {
        assert_eq!(
            store.device_principal(token).await.unwrap(),
            Some(device(true))
        );
    }
    assert_eq!(store.device_principal("unknown").await.unwrap(), None);

    let mut tx = store.begin(system(at(3))).await.unwrap();
    held.deactivated_at = Some(at(3));
    tx.save_seat(&held).await.unwrap();
    tx.commit().await.unwrap();
    for token in ["token-1", "token-2"] {
        assert_eq!(
            store.device_principal(token).await.unwrap(),
            Some(device(false)),
            "the token of a freed seat"
        );
    }
    assert_eq!(
        store.device_principal("token-other").await.unwrap(),
        Some(Principal::Device {
            seat_id: other.id,
            subscription_id: subscription.id,
            active: true,
        })
    );
}

async fn moved_device_tokens_name_the_new_seat(store: Arc<dyn Store>) {
    let account = create_account(&store, "ann").await;
    let from = owned_by(account.id);
    let to = owned_by(account.id);
    insert_subscriptions(&store, &[from.clone(), to.clone()]).await;
    let mut old_seat = seat(from.id, "device", at(1));
    let bystander = seat(from.id, "bystander", at(1));
    let mut tx = store.begin(system(at(1))).await.unwrap();
    tx.insert_seat(&old_seat).await.unwrap();
    tx.insert_seat(&bystander).await.unwrap();
    tx.insert_device_token("token-1", old_seat.id, at(1))
        .await
        .unwrap();
    tx.insert_device_token("token-2", old_seat.id, at(1))
        .await
        .unwrap();
    tx.insert_device_token("token-bystander", bystander.id, at(1))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let new_seat = seat(to.id, "device", at(2));
    let mut tx = store.begin(system(at(2))).await.unwrap();
    tx.insert_seat(&new_seat).await.unwrap();
    old_seat.deactivated_at = Some(at(2));
    tx.save_seat(&old_seat).await.unwrap();
    tx.move_device_tokens(old_seat.id, new_seat.id)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    for token in ["token-1", "token-2"] {
        assert_eq!(
            store.device_principal(token).await.unwrap(),
            Some(Principal::Device {
                seat_id: new_seat.id,
                subscription_id: to.id,
                active: true,
            }),
            "a moved token"
        );
    }
    assert_eq!(
        store.device_principal("token-bystander").await.unwrap(),
        Some(Principal::Device {
            seat_id: bystander.id,
            subscription_id: from.id,
            active: true,
        }),
        "another seat's token moved too"
    );
}

async fn last_seen_times_move_forward_for_active_seats_only(store: Arc<dyn Store>) {
    let subscription = subscription();
    insert_subscriptions(&store, std::slice::from_ref(&subscription)).await;
    let active = seat(subscription.id, "active", at(1));
    let freed = Seat {
        deactivated_at: Some(at(2)),
        ..seat(subscription.id, "freed", at(1))
    };
    insert_seats(&store, &[active.clone(), freed.clone()]).await;

    let check_in = at(60) + Duration::microseconds(5);
    let earlier = check_in - Duration::seconds(30);
    store
        .record_last_seen(&[
            (active.id, check_in),
            (freed.id, check_in),
            (Uuid::new_v4(), check_in),
        ])
        .await
        .expect("an unknown seat is no error");
    store
        .record_last_seen(&[(active.id, earlier)])
        .await
        .unwrap();

    let read = |id| {
        let store = store.clone();
        async move { store.seat(Scope::All, subscription.id, id).await.unwrap() }
    };
    assert_eq!(
        read(active.id).await,
        Seat {
            last_seen_at: check_in,
            ..active
        }
    );
    assert_eq!(read(freed.id).await, freed, "a freed seat was touched");
}
