//! `PurchaseTx`: store purchases on file, saved, re-keyed (the old id remembered as
//! replaced), and locked even before they exist.

use crate::fixtures::*;

crate::store_tests!(
    a_filed_purchase_is_found_by_store_and_original_id,
    a_rekeyed_purchase_is_found_under_its_new_id_only,
    a_saved_purchase_keeps_the_newest_store_statement,
    replaced_ids_lead_to_the_purchase_through_every_replacement,
    concurrent_units_filing_one_purchase_take_turns_so_only_one_files_it,
);

fn purchase(store: StoreKind, original_id: &str, subscription_id: Uuid) -> StorePurchase {
    StorePurchase {
        store,
        original_id: original_id.to_owned(),
        subscription_id,
        product_id: "com.vendor.suite.deluxe-3".to_owned(),
        environment: "Production".to_owned(),
        latest_transaction_id: None,
        latest_purchased_at: None,
        latest_signed_at: None,
        renewal_signed_at: None,
        created_at: at(1) + Duration::microseconds(1),
        updated_at: at(1) + Duration::microseconds(1),
    }
}

async fn a_filed_purchase_is_found_by_store_and_original_id(store: Arc<dyn Store>) {
    let ann = create_account(&store, "ann").await;
    let apple_subscription = Subscription {
        channel: Channel::AppStore,
        ..owned_by(ann.id)
    };
    let play_subscription = Subscription {
        channel: Channel::PlayStore,
        ..owned_by(ann.id)
    };
    insert_subscriptions(
        &store,
        &[apple_subscription.clone(), play_subscription.clone()],
    )
    .await;
    let apple = purchase(
        StoreKind::AppStore,
        "2000000123456789",
        apple_subscription.id,
    );
    let play = StorePurchase {
        environment: "Sandbox".to_owned(),
        ..purchase(
            StoreKind::PlayStore,
            "2000000123456789",
            play_subscription.id,
        )
    };

    let mut tx = store.begin(system(at(1))).await.unwrap();
    assert_eq!(
        tx.lock_store_purchase(StoreKind::AppStore, &apple.original_id)
            .await
            .unwrap(),
        None
    );
    tx.insert_store_purchase(&apple).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin(system(at(2))).await.unwrap();
    assert_eq!(
        tx.lock_store_purchase(StoreKind::AppStore, &apple.original_id)
            .await
            .unwrap(),
        Some(apple.clone())
    );
    // The same id at the other store is another purchase.
    assert_eq!(
        tx.lock_store_purchase(StoreKind::PlayStore, &play.original_id)
            .await
            .unwrap(),
        None
    );
    tx.insert_store_purchase(&play).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin(system(at(3))).await.unwrap();
    assert_eq!(
        tx.lock_store_purchase(StoreKind::PlayStore, &play.original_id)
            .await
            .unwrap(),
        Some(play)
    );
    assert_eq!(
        tx.lock_store_purchase(StoreKind::AppStore, &apple.original_id)
            .await
            .unwrap(),
        Some(apple)
    );
    drop(tx);
}

async fn a_rekeyed_purchase_is_found_under_its_new_id_only(store: Arc<dyn Store>) {
    let ann = create_account(&store, "ann").await;
    let subscription = Subscription {
        channel: Channel::PlayStore,
        ..owned_by(ann.id)
    };
    insert_subscriptions(&store, std::slice::from_ref(&subscription)).await;
    let old = purchase(StoreKind::PlayStore, "GPA.old-token", subscription.id);
    let mut tx = store.begin(system(at(1))).await.unwrap();
    tx.insert_store_purchase(&old).await.unwrap();
    tx.commit().await.unwrap();

    let upgraded = StorePurchase {
        original_id: "GPA.new-token".to_owned(),
        product_id: "com.vendor.suite.premium-10".to_owned(),
        updated_at: at(2) + Duration::microseconds(2),
        ..old.clone()
    };
    let mut tx = store.begin(system(at(2))).await.unwrap();
    tx.lock_store_purchase(StoreKind::PlayStore, &old.original_id)
        .await
        .unwrap()
        .expect("the old purchase");
    tx.rekey_store_purchase(&old.original_id, &upgraded)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin(system(at(3))).await.unwrap();
    assert_eq!(
        tx.lock_store_purchase(StoreKind::PlayStore, "GPA.new-token")
            .await
            .unwrap(),
        Some(upgraded)
    );
    assert_eq!(
        tx.lock_store_purchase(StoreKind::PlayStore, "GPA.old-token")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        tx.store_purchase_replaced_by(StoreKind::PlayStore, "GPA.old-token")
            .await
            .unwrap()
            .as_deref(),
        Some("GPA.new-token")
    );
    assert_eq!(
        tx.store_purchase_replaced_by(StoreKind::PlayStore, "GPA.new-token")
            .await
            .unwrap(),
        None
    );
    drop(tx);
}

async fn concurrent_units_filing_one_purchase_take_turns_so_only_one_files_it(
    store: Arc<dyn Store>,
) {
    let ann = create_account(&store, "ann").await;
    let first_subscription = Subscription {
        channel: Channel::AppStore,
        ..owned_by(ann.id)
    };
    let second_subscription = Subscription {
        channel: Channel::AppStore,
        ..owned_by(ann.id)
    };
    let first_purchase = purchase(StoreKind::AppStore, "1000", first_subscription.id);

    let mut first = store.begin(system(at(1))).await.unwrap();
    assert_eq!(
        first
            .lock_store_purchase(StoreKind::AppStore, "1000")
            .await
            .unwrap(),
        None
    );

    // The second unit does what the first does: look, and file the purchase if absent.
    let (asking_tx, asking_rx) = oneshot::channel();
    let mut second = {
        let store = store.clone();
        let second_subscription = second_subscription.clone();
        tokio::spawn(async move {
            let _ = asking_tx.send(());
            let mut second = store.begin(system(at(2))).await.unwrap();
            let found = second
                .lock_store_purchase(StoreKind::AppStore, "1000")
                .await
                .unwrap();
            if found.is_none() {
                second
                    .insert_subscription(&second_subscription)
                    .await
                    .unwrap();
                second
                    .insert_store_purchase(&purchase(
                        StoreKind::AppStore,
                        "1000",
                        second_subscription.id,
                    ))
                    .await
                    .unwrap();
                second.commit().await.unwrap();
            }
            found
        })
    };
    asking_rx.await.unwrap();
    assert_waiting(
        &mut second,
        "a unit asking for the purchase the first one holds",
    )
    .await;

    first
        .insert_subscription(&first_subscription)
        .await
        .unwrap();
    first.insert_store_purchase(&first_purchase).await.unwrap();
    first.commit().await.unwrap();

    assert_eq!(
        finish(second, "the second unit").await,
        Some(first_purchase.clone()),
        "the second unit did not see the first one's purchase"
    );
    let mut tx = store.begin(system(at(3))).await.unwrap();
    assert_eq!(
        tx.lock_store_purchase(StoreKind::AppStore, "1000")
            .await
            .unwrap(),
        Some(first_purchase)
    );
    drop(tx);
    assert_not_found(
        store.subscription(Scope::All, second_subscription.id).await,
        Resource::Subscription,
    );
}

async fn a_saved_purchase_keeps_the_newest_store_statement(store: Arc<dyn Store>) {
    let ann = create_account(&store, "ann").await;
    let subscription = Subscription {
        channel: Channel::AppStore,
        ..owned_by(ann.id)
    };
    insert_subscriptions(&store, std::slice::from_ref(&subscription)).await;
    let filed = purchase(StoreKind::AppStore, "2000000555", subscription.id);
    let mut tx = store.begin(system(at(1))).await.unwrap();
    tx.insert_store_purchase(&filed).await.unwrap();
    tx.commit().await.unwrap();

    let newer = StorePurchase {
        product_id: "com.vendor.suite.premium_10_yearly".to_owned(),
        latest_transaction_id: Some("2000000999".to_owned()),
        latest_purchased_at: Some(at(2)),
        latest_signed_at: Some(at(2) + Duration::microseconds(7)),
        renewal_signed_at: Some(at(2) + Duration::microseconds(8)),
        updated_at: at(2),
        ..filed.clone()
    };
    let mut tx = store.begin(system(at(2))).await.unwrap();
    tx.lock_store_purchase(StoreKind::AppStore, "2000000555")
        .await
        .unwrap()
        .expect("the purchase");
    tx.save_store_purchase(&newer).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin(system(at(3))).await.unwrap();
    assert_eq!(
        tx.lock_store_purchase(StoreKind::AppStore, "2000000555")
            .await
            .unwrap(),
        Some(newer)
    );
    let missing = purchase(StoreKind::AppStore, "2000000556", subscription.id);
    assert!(matches!(
        tx.save_store_purchase(&missing).await,
        Err(Error::Internal(_))
    ));
    drop(tx);
}

async fn replaced_ids_lead_to_the_purchase_through_every_replacement(store: Arc<dyn Store>) {
    let ann = create_account(&store, "ann").await;
    let subscription = Subscription {
        channel: Channel::PlayStore,
        ..owned_by(ann.id)
    };
    insert_subscriptions(&store, std::slice::from_ref(&subscription)).await;
    let first = purchase(StoreKind::PlayStore, "token-a", subscription.id);
    let mut tx = store.begin(system(at(1))).await.unwrap();
    tx.insert_store_purchase(&first).await.unwrap();
    let second = StorePurchase {
        original_id: "token-b".to_owned(),
        ..first.clone()
    };
    tx.rekey_store_purchase("token-a", &second).await.unwrap();
    let third = StorePurchase {
        original_id: "token-c".to_owned(),
        ..first.clone()
    };
    tx.rekey_store_purchase("token-b", &third).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin(system(at(2))).await.unwrap();
    for old in ["token-a", "token-b"] {
        assert_eq!(
            tx.store_purchase_replaced_by(StoreKind::PlayStore, old)
                .await
                .unwrap()
                .as_deref(),
            Some("token-c"),
            "{old}"
        );
    }
    assert_eq!(
        tx.store_purchase_replaced_by(StoreKind::AppStore, "token-a")
            .await
            .unwrap(),
        None,
        "replacements are per store"
    );
    drop(tx);
}
