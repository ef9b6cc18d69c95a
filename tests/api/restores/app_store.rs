//! An App Store purchase restored: it becomes a subscription and a replay changes
//! nothing; a renewed proof extends it and a revoked one cancels it.

use super::apple_pki::{Pki, with};
use super::{PRODUCT, event_of, millis, ms, restore_apple, spawn_apple_app, transaction};
use crate::support::{Db, email, on_both_backends, status, tick};
use chrono::Duration;
use serde_json::json;
use tessera::domain::clock::Clock;
use tessera_client::pb;

on_both_backends!(
    a_restored_app_store_purchase_becomes_a_subscription_and_restoring_it_again_changes_nothing,
    a_renewed_proof_extends_the_subscription_and_a_revoked_proof_cancels_it,
);

async fn a_restored_app_store_purchase_becomes_a_subscription_and_restoring_it_again_changes_nothing(
    db: Db,
) {
    let pki = Pki::new();
    let Some(app) = spawn_apple_app(db, &pki).await else {
        return;
    };
    let (account, token) = app.sign_up(&email()).await;
    let now = app.clock.now();
    let payload = transaction(&app, "2000000123", PRODUCT, now + Duration::days(30));
    let proof = pki.proof(&payload);

    let restored = restore_apple(&app, &token, &proof).await.unwrap();
    assert_eq!(restored.channel, pb::Channel::AppStore as i32);
    assert_eq!(restored.plan, "plans/deluxe-5");
    assert_eq!(restored.seat_limit, 5);
    assert_eq!(restored.account, account);
    assert_eq!(status(&restored), pb::SubscriptionStatus::Active);
    assert_eq!(
        millis(&restored.end_time),
        payload["expiresDate"].as_i64().unwrap()
    );
    assert_eq!(
        millis(&restored.start_time),
        payload["purchaseDate"].as_i64().unwrap()
    );
    assert_eq!(restored.active_seat_count, 0);
    assert_eq!(app.list_subscriptions(&token).await, vec![restored.clone()]);
    assert_eq!(
        app.get_subscription(&token, &restored.name).await.unwrap(),
        restored
    );
    let device = app
        .activate(&token, &restored.name, "iphone")
        .await
        .expect("the restored subscription takes devices");
    assert!(app.check_protection(&device.device_token).await.protected);
    let before = app.get_subscription(&token, &restored.name).await.unwrap();

    app.clock.advance(Duration::hours(1));
    let again = restore_apple(&app, &token, &proof).await.unwrap();
    assert_eq!(again.name, restored.name);
    assert_eq!(
        again.update_time, before.update_time,
        "a replay changes nothing"
    );
    assert_eq!(again.end_time, before.end_time);
    assert_eq!(again.active_seat_count, 1, "the device keeps its seat");
    let listing = app.list_subscriptions(&token).await;
    assert_eq!(listing.len(), 1, "{listing:?}");
    assert_eq!(listing[0].update_time, before.update_time);
    app.stop().await;
}

async fn a_renewed_proof_extends_the_subscription_and_a_revoked_proof_cancels_it(db: Db) {
    let pki = Pki::new();
    let Some(app) = spawn_apple_app(db, &pki).await else {
        return;
    };
    let (_, token) = app.sign_up(&email()).await;
    let first_end = app.clock.now() + Duration::days(10);
    let first = transaction(&app, "2000000789", PRODUCT, first_end);
    let subscription = restore_apple(&app, &token, &pki.proof(&first))
        .await
        .unwrap();
    let device = app
        .activate(&token, &subscription.name, "iphone")
        .await
        .unwrap();

    // The paid period ends; the store has not renewed it yet, as far as Tessera knows.
    app.clock.advance(Duration::days(11));
    tick(&app).await;
    let lapsed = app
        .get_subscription(&token, &subscription.name)
        .await
        .unwrap();
    assert_eq!(status(&lapsed), pb::SubscriptionStatus::Grace);

    let renewed_end = app.clock.now() + Duration::days(365);
    let renewal = with(
        transaction(&app, "2000000789", PRODUCT, renewed_end),
        "transactionId",
        json!("2000001000"),
    );
    let renewed = restore_apple(&app, &token, &pki.proof(&renewal))
        .await
        .unwrap();
    assert_eq!(renewed.name, subscription.name);
    assert_eq!(status(&renewed), pb::SubscriptionStatus::Active);
    assert_eq!(millis(&renewed.end_time), ms(renewed_end));
    assert_eq!(renewed.active_seat_count, 1, "the device keeps its seat");
    assert_eq!(app.list_subscriptions(&token).await.len(), 1);
    let told = app.check_protection(&device.device_token).await;
    assert!(told.protected && told.warnings.is_empty(), "{told:?}");

    app.clock.advance(Duration::days(2));
    let refunded_at = app.clock.now() - Duration::hours(1);
    // Apple refunds the newest transaction: its proof, signed again, has a revocation.
    let revocation = with(
        with(renewal, "signedDate", json!(ms(app.clock.now()))),
        "revocationDate",
        json!(ms(refunded_at)),
    );
    let revoked = restore_apple(&app, &token, &pki.proof(&revocation))
        .await
        .unwrap();
    assert_eq!(revoked.name, subscription.name);
    assert_eq!(status(&revoked), pb::SubscriptionStatus::Cancelled);
    assert!(millis(&revoked.end_time) <= ms(app.clock.now()));
    assert!(!app.check_protection(&device.device_token).await.protected);
    let cancelled = event_of(
        &app,
        &subscription.name,
        pb::EventType::SubscriptionCancelled,
    )
    .await;
    assert_eq!(
        pb::SubscriptionStatus::try_from(cancelled.subscription_state.unwrap().status),
        Ok(pb::SubscriptionStatus::Cancelled)
    );
    app.stop().await;
}
