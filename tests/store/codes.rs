//! `CodeTx`: partner codes and product keys, stored by hash, locked and saved.

use crate::fixtures::*;

crate::store_tests!(
    a_partner_code_is_locked_by_its_hash_and_reads_back_as_saved,
    live_partner_codes_leave_out_redeemed_and_revoked_ones_and_other_subscriptions_codes,
    product_keys_inserted_as_a_batch_are_locked_by_their_hash_and_read_back_as_saved,
);

async fn a_partner_code_is_locked_by_its_hash_and_reads_back_as_saved(store: Arc<dyn Store>) {
    let ann = create_account(&store, "ann").await;
    let telekom = create_partner(&store, "Telekom").await;
    let subscription = sold_by(telekom.id, None);
    insert_subscriptions(&store, std::slice::from_ref(&subscription)).await;
    let code = PartnerCode::issue(
        "code-hash-1".to_owned(),
        subscription.id,
        at(1) + Duration::microseconds(1),
        Duration::days(90),
    );

    let mut tx = store.begin(system(at(1))).await.unwrap();
    assert_eq!(tx.lock_partner_code("code-hash-1").await.unwrap(), None);
    tx.insert_partner_code(&code).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin(system(at(2))).await.unwrap();
    let mut locked = tx
        .lock_partner_code("code-hash-1")
        .await
        .unwrap()
        .expect("the inserted code");
    assert_eq!(locked, code);
    assert_eq!(tx.lock_partner_code("code-hash-2").await.unwrap(), None);
    locked.redeemed_at = Some(at(2) + Duration::microseconds(2));
    locked.redeemed_by = Some(ann.id);
    locked.revoked_at = Some(at(3) + Duration::microseconds(3));
    tx.save_partner_code(&locked).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin(system(at(4))).await.unwrap();
    assert_eq!(
        tx.lock_partner_code("code-hash-1").await.unwrap(),
        Some(locked)
    );
    drop(tx);
}

async fn live_partner_codes_leave_out_redeemed_and_revoked_ones_and_other_subscriptions_codes(
    store: Arc<dyn Store>,
) {
    let ann = create_account(&store, "ann").await;
    let telekom = create_partner(&store, "Telekom").await;
    let subscription = sold_by(telekom.id, None);
    let other = sold_by(telekom.id, None);
    insert_subscriptions(&store, &[subscription.clone(), other.clone()]).await;
    let issue = |hash: &str, subscription_id, seconds| {
        PartnerCode::issue(
            hash.to_owned(),
            subscription_id,
            at(seconds),
            Duration::days(90),
        )
    };
    let live = issue("live", subscription.id, 1);
    let also_live = issue("also-live", subscription.id, 2);
    let redeemed = PartnerCode {
        redeemed_at: Some(at(3)),
        redeemed_by: Some(ann.id),
        ..issue("redeemed", subscription.id, 1)
    };
    let revoked = PartnerCode {
        revoked_at: Some(at(3)),
        ..issue("revoked", subscription.id, 1)
    };
    let elsewhere = issue("elsewhere", other.id, 1);

    let mut tx = store.begin(system(at(3))).await.unwrap();
    for code in [&live, &redeemed, &revoked, &elsewhere, &also_live] {
        tx.insert_partner_code(code).await.unwrap();
    }
    tx.commit().await.unwrap();

    let mut tx = store.begin(system(at(4))).await.unwrap();
    let mut found = tx.live_partner_codes(subscription.id).await.unwrap();
    found.sort_by(|a, b| a.hash.cmp(&b.hash));
    assert_eq!(found, vec![also_live.clone(), live.clone()]);
    assert_eq!(
        tx.live_partner_codes(other.id).await.unwrap(),
        vec![elsewhere]
    );

    // Revoking the live ones leaves none.
    for mut code in [live, also_live] {
        code.revoke(at(4));
        tx.save_partner_code(&code).await.unwrap();
    }
    assert_eq!(
        tx.live_partner_codes(subscription.id).await.unwrap(),
        vec![]
    );
    tx.commit().await.unwrap();
}

async fn product_keys_inserted_as_a_batch_are_locked_by_their_hash_and_read_back_as_saved(
    store: Arc<dyn Store>,
) {
    let ann = create_account(&store, "ann").await;
    let batch: Vec<ProductKey> = (0..5)
        .map(|n| ProductKey {
            hash: format!("key-hash-{n}"),
            plan_code: if n % 2 == 0 { "deluxe-3" } else { "premium-10" }.to_owned(),
            kind: if n < 3 {
                ProductKeyKind::New
            } else {
                ProductKeyKind::Renewal
            },
            batch_label: "2026-Q4 cards".to_owned(),
            issued_at: at(1) + Duration::microseconds(n),
            redeemed_at: None,
            redeemed_by: None,
            subscription_id: None,
        })
        .collect();
    let mut tx = store.begin(system(at(1))).await.unwrap();
    tx.insert_product_keys(&batch).await.unwrap();
    tx.insert_product_keys(&[]).await.expect("an empty batch");
    tx.commit().await.unwrap();

    let subscription = owned_by(ann.id);
    insert_subscriptions(&store, std::slice::from_ref(&subscription)).await;
    let mut tx = store.begin(system(at(2))).await.unwrap();
    for key in &batch {
        assert_eq!(
            tx.lock_product_key(&key.hash).await.unwrap().as_ref(),
            Some(key)
        );
    }
    assert_eq!(tx.lock_product_key("key-hash-404").await.unwrap(), None);
    let mut redeemed = batch[3].clone();
    redeemed.redeem(
        ann.id,
        &subscription,
        at(2) + Duration::microseconds(2),
        &mut Vec::new(),
    );
    tx.save_product_key(&redeemed).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin(system(at(3))).await.unwrap();
    assert_eq!(
        tx.lock_product_key(&redeemed.hash).await.unwrap(),
        Some(redeemed)
    );
    assert_eq!(
        tx.lock_product_key(&batch[4].hash).await.unwrap().as_ref(),
        Some(&batch[4]),
        "saving one key changed another"
    );
    drop(tx);
}
