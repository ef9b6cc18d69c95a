//! A purchase restored on another account moves there: the old account's devices are
//! signed out and learn nothing of the new owner, and accounts restoring one purchase at
//! once leave exactly one subscription.

use super::apple_pki::Pki;
use super::{PRODUCT, event_of, millis, ms, restore_apple, spawn_apple_app, transaction};
use crate::support::{Db, email, on_both_backends};
use chrono::Duration;
use futures::future::join_all;
use tessera::domain::clock::Clock;
use tessera_client::{pb, tonic::Code};

on_both_backends!(
    a_purchase_restored_on_another_account_moves_there_and_signs_out_the_old_devices,
    eight_accounts_restoring_one_new_purchase_at_once_leave_exactly_one_subscription,
    a_device_signed_out_by_a_move_learns_nothing_about_the_new_owner,
);

async fn a_purchase_restored_on_another_account_moves_there_and_signs_out_the_old_devices(db: Db) {
    let pki = Pki::new();
    let Some(app) = spawn_apple_app(db, &pki).await else {
        return;
    };
    let (alice, alice_token) = app.sign_up(&email()).await;
    let (bob, bob_token) = app.sign_up(&email()).await;
    let expires = app.clock.now() + Duration::days(30);
    let proof = pki.proof(&transaction(&app, "2000000456", PRODUCT, expires));
    let subscription = restore_apple(&app, &alice_token, &proof).await.unwrap();
    let phone = app
        .activate(&alice_token, &subscription.name, "alice-phone")
        .await
        .unwrap();
    let laptop = app
        .activate(&alice_token, &subscription.name, "alice-laptop")
        .await
        .unwrap();
    assert!(app.check_protection(&phone.device_token).await.protected);

    let moved = restore_apple(&app, &bob_token, &proof).await.unwrap();
    assert_eq!(moved.name, subscription.name, "the same subscription moves");
    assert!(moved.moved_from_other_account, "the answer says it moved");
    assert!(!subscription.moved_from_other_account);
    assert_eq!(moved.account, bob);
    assert_eq!(
        moved.active_seat_count, 0,
        "Alice's devices lost their seats"
    );
    assert_eq!(millis(&moved.end_time), ms(expires));

    for device in [&phone, &laptop] {
        // Nothing of the subscription, now Bob's, reaches Alice's old devices.
        let told = app.check_protection(&device.device_token).await;
        crate::seats::assert_told_removed_and_nothing_more(&told);
    }
    let gone = app
        .get_subscription(&alice_token, &subscription.name)
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound, "{gone:?}");
    assert!(app.list_subscriptions(&alice_token).await.is_empty());
    let bobs = app.list_subscriptions(&bob_token).await;
    assert_eq!(bobs.len(), 1);
    assert_eq!(bobs[0].name, subscription.name);
    app.activate(&bob_token, &subscription.name, "bob-phone")
        .await
        .expect("the new owner's devices take seats");

    let transferred = event_of(
        &app,
        &subscription.name,
        pb::EventType::SubscriptionTransferred,
    )
    .await;
    assert_eq!(
        transferred.details.get("previous_account"),
        Some(&alice),
        "{transferred:?}"
    );
    assert_eq!(transferred.actor, bob);
    assert_eq!(transferred.subscription_state.unwrap().account, bob);
    app.stop().await;
}

async fn eight_accounts_restoring_one_new_purchase_at_once_leave_exactly_one_subscription(db: Db) {
    let pki = Pki::new();
    let Some(app) = spawn_apple_app(db, &pki).await else {
        return;
    };
    let accounts = join_all((0..8).map(|_| async { app.sign_up(&email()).await })).await;
    for round in 0..3 {
        let proof = pki.proof(&transaction(
            &app,
            &format!("2000007{round:03}"),
            PRODUCT,
            app.clock.now() + Duration::days(30),
        ));
        let outcomes = join_all(
            accounts
                .iter()
                .map(|(_, token)| restore_apple(&app, token, &proof)),
        )
        .await;
        let restored: Vec<pb::Subscription> = outcomes
            .into_iter()
            .map(|outcome| outcome.expect("every restore answers OK"))
            .collect();
        let name = &restored[0].name;
        assert!(
            restored.iter().all(|s| &s.name == name),
            "round {round}: {restored:?}"
        );

        let mut holders = Vec::new();
        for (account, token) in &accounts {
            let theirs: Vec<_> = app
                .list_subscriptions(token)
                .await
                .into_iter()
                .filter(|s| &s.name == name)
                .collect();
            holders.extend(theirs.into_iter().map(|s| (account.clone(), s)));
        }
        assert_eq!(holders.len(), 1, "round {round}: {holders:?}");
        let (owner, subscription) = &holders[0];
        assert_eq!(&subscription.account, owner, "round {round}");
    }
    let total: usize = join_all(
        accounts
            .iter()
            .map(|(_, token)| app.list_subscriptions(token)),
    )
    .await
    .iter()
    .map(Vec::len)
    .sum();
    assert_eq!(total, 3, "one subscription per purchase");
    app.stop().await;
}

async fn a_device_signed_out_by_a_move_learns_nothing_about_the_new_owner(db: Db) {
    let pki = Pki::new();
    let Some(app) = spawn_apple_app(db, &pki).await else {
        return;
    };
    let (_, alice_token) = app.sign_up(&email()).await;
    let (bob, bob_token) = app.sign_up(&email()).await;
    let bobs_own = app.buy(&bob, "deluxe-3").await;
    let expires = app.clock.now() + Duration::days(30);
    let proof = pki.proof(&transaction(&app, "2000000666", PRODUCT, expires));
    let subscription = restore_apple(&app, &alice_token, &proof).await.unwrap();
    let phone = app
        .activate(&alice_token, &subscription.name, "alice-phone")
        .await
        .unwrap();
    restore_apple(&app, &bob_token, &proof).await.unwrap();

    // Neither Bob's account nor his own subscription (as an alternative to apply): the
    // phone is told it was removed, and nothing more.
    let told = app.check_protection(&phone.device_token).await;
    crate::seats::assert_told_removed_and_nothing_more(&told);
    assert!(
        !format!("{told:?}").contains(&bobs_own.name),
        "Alice's old phone is offered Bob's own subscription: {told:?}"
    );
    if let Ok(read) = app
        .get_subscription(&phone.device_token, &subscription.name)
        .await
    {
        assert_ne!(
            read.account, bob,
            "Alice's old phone reads Bob's subscription"
        );
    }
    app.stop().await;
}
