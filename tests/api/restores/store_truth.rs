//! App Store restores follow the store's truth: the newest transaction wins, an expired
//! or older proof never downgrades, moves or reactivates, a purchase bound to an account
//! stays there, a refund applies to the transaction it names, the store bills (and
//! cancels) its subscriptions, and the renewal info sets auto-renewal.

use super::apple_pki::{self, Dates, Pki, with};
use super::{
    DELUXE_3_PRODUCT, PREMIUM_PRODUCT, PRODUCT, account_id, cancel, millis, ms, restore_apple,
    restore_with_renewal_info, spawn_apple_app, transaction,
};
use crate::support::{Db, TestApp, assert_error, email, on_both_backends, status};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use tessera::domain::clock::Clock;
use tessera_client::{pb, tonic::Code};

on_both_backends!(
    an_older_expired_proof_never_downgrades_a_live_subscription,
    an_older_or_expired_proof_never_moves_a_purchase_to_another_account,
    a_purchase_bound_to_an_account_never_moves_to_another,
    a_refund_of_an_older_transaction_leaves_the_subscription_running,
    a_refund_of_the_newest_transaction_ends_the_subscription_and_a_newer_purchase_restores_it,
    cancelling_an_app_store_subscription_is_refused_naming_the_app_store,
    a_renewal_info_sets_auto_renew_and_an_older_one_changes_nothing,
);

/// A transaction `transaction_id` of purchase `original_id`, bought at `bought`, paid
/// until `expires` and signed at `signed`.
fn dated(
    original_id: &str,
    transaction_id: &str,
    product_id: &str,
    bought: DateTime<Utc>,
    expires: DateTime<Utc>,
    signed: DateTime<Utc>,
) -> Value {
    with(
        apple_pki::transaction(
            original_id,
            product_id,
            Dates {
                purchase_ms: ms(bought),
                expires_ms: ms(expires),
                signed_ms: ms(signed),
            },
        ),
        "transactionId",
        json!(transaction_id),
    )
}

/// A renewal info of `original_id`, signed at `signed`.
fn renewal_info(original_id: &str, auto_renew: bool, signed: DateTime<Utc>) -> Value {
    json!({
        "originalTransactionId": original_id,
        "autoRenewProductId": PRODUCT,
        "productId": PRODUCT,
        "autoRenewStatus": i32::from(auto_renew),
        "signedDate": ms(signed),
        "environment": apple_pki::ENVIRONMENT,
        "recentSubscriptionStartDate": ms(signed - Duration::days(30)),
    })
}

/// Activates `count` devices on a subscription: their device tokens.
async fn devices(app: &TestApp, token: &str, subscription: &str, count: usize) -> Vec<String> {
    let mut tokens = Vec::new();
    for i in 0..count {
        let device = app
            .activate(token, subscription, &format!("device-{i}"))
            .await
            .expect("the device takes a seat");
        tokens.push(device.device_token);
    }
    tokens
}

/// The defect: a 400-day-old deluxe-3 proof that expired 35 days earlier downgraded a
/// live premium-10 subscription and signed out 3 of its 6 devices.
async fn an_older_expired_proof_never_downgrades_a_live_subscription(db: Db) {
    let pki = Pki::new();
    let Some(app) = spawn_apple_app(db, &pki).await else {
        return;
    };
    let (_, token) = app.sign_up(&email()).await;
    let now = app.clock.now();
    let live = dated(
        "3000000001",
        "3000000900",
        PREMIUM_PRODUCT,
        now - Duration::days(10),
        now + Duration::days(355),
        now - Duration::days(10),
    );
    let subscription = restore_apple(&app, &token, &pki.proof(&live))
        .await
        .unwrap();
    assert_eq!(subscription.plan, "plans/premium-10");
    let phones = devices(&app, &token, &subscription.name, 6).await;
    let before = app
        .get_subscription(&token, &subscription.name)
        .await
        .unwrap();

    let old = dated(
        "3000000001",
        "3000000100",
        DELUXE_3_PRODUCT,
        now - Duration::days(400),
        now - Duration::days(35),
        now - Duration::days(400),
    );
    let after = restore_apple(&app, &token, &pki.proof(&old)).await.unwrap();
    assert_eq!(after.name, subscription.name);
    assert_eq!(after.plan, "plans/premium-10", "no downgrade");
    assert_eq!(after.active_seat_count, 6, "no device signed out");
    assert_eq!(after.update_time, before.update_time, "nothing changed");
    assert_eq!(after.end_time, before.end_time);
    for phone in &phones {
        assert!(app.check_protection(phone).await.protected);
    }
    app.stop().await;
}

/// The defect: another account holding the old proof took the subscription and signed
/// out every device, and two accounts could pass it back and forth.
async fn an_older_or_expired_proof_never_moves_a_purchase_to_another_account(db: Db) {
    let pki = Pki::new();
    let Some(app) = spawn_apple_app(db, &pki).await else {
        return;
    };
    let (alice, alice_token) = app.sign_up(&email()).await;
    let (_, bob_token) = app.sign_up(&email()).await;
    let now = app.clock.now();
    let live = dated(
        "3000000002",
        "3000000902",
        PREMIUM_PRODUCT,
        now - Duration::days(1),
        now + Duration::days(5),
        now - Duration::days(1),
    );
    let subscription = restore_apple(&app, &alice_token, &pki.proof(&live))
        .await
        .unwrap();
    let phone = devices(&app, &alice_token, &subscription.name, 1).await;
    let old = pki.proof(&dated(
        "3000000002",
        "3000000102",
        DELUXE_3_PRODUCT,
        now - Duration::days(400),
        now - Duration::days(35),
        now - Duration::days(400),
    ));

    for _ in 0..2 {
        let refused = restore_apple(&app, &bob_token, &old).await.unwrap_err();
        assert_error(&refused, Code::FailedPrecondition, "STORE_PROOF_OUTDATED");
    }
    assert!(app.list_subscriptions(&bob_token).await.is_empty());

    // Once the live transaction has expired too, it moves nowhere either.
    app.clock.advance(Duration::days(6));
    let expired = restore_apple(&app, &bob_token, &pki.proof(&live))
        .await
        .unwrap_err();
    assert_error(&expired, Code::FailedPrecondition, "STORE_PURCHASE_EXPIRED");
    assert!(app.list_subscriptions(&bob_token).await.is_empty());

    let kept = app
        .get_subscription(&alice_token, &subscription.name)
        .await
        .unwrap();
    assert_eq!(kept.account, alice);
    assert_eq!(kept.active_seat_count, 1, "Alice's device keeps its seat");
    let told = app.check_protection(&phone[0]).await;
    let told_of = told.subscription.as_ref().map(|s| s.name.as_str());
    assert_eq!(told_of, Some(subscription.name.as_str()), "{told:?}");
    app.stop().await;
}

/// The defect: an `appAccountToken` naming another account was ignored.
async fn a_purchase_bound_to_an_account_never_moves_to_another(db: Db) {
    let pki = Pki::new();
    let Some(app) = spawn_apple_app(db, &pki).await else {
        return;
    };
    let (alice, alice_token) = app.sign_up(&email()).await;
    let (_, bob_token) = app.sign_up(&email()).await;
    let bound = pki.proof(&with(
        transaction(
            &app,
            "3000000003",
            PRODUCT,
            app.clock.now() + Duration::days(30),
        ),
        "appAccountToken",
        json!(account_id(&alice)),
    ));

    let refused = restore_apple(&app, &bob_token, &bound).await.unwrap_err();
    assert_error(
        &refused,
        Code::PermissionDenied,
        "STORE_PURCHASE_OTHER_ACCOUNT",
    );
    assert!(app.list_subscriptions(&bob_token).await.is_empty());

    let restored = restore_apple(&app, &alice_token, &bound).await.unwrap();
    assert_eq!(restored.account, alice);
    assert!(!restored.moved_from_other_account);
    let still = restore_apple(&app, &bob_token, &bound).await.unwrap_err();
    assert_error(
        &still,
        Code::PermissionDenied,
        "STORE_PURCHASE_OTHER_ACCOUNT",
    );
    let kept = app
        .get_subscription(&alice_token, &restored.name)
        .await
        .unwrap();
    assert_eq!(kept.account, alice);
    assert_eq!(kept.update_time, restored.update_time);
    app.stop().await;
}

/// The defect: a refund of an old transaction cancelled the whole subscription for good,
/// although the store still entitled the customer through the newer one.
async fn a_refund_of_an_older_transaction_leaves_the_subscription_running(db: Db) {
    let pki = Pki::new();
    let Some(app) = spawn_apple_app(db, &pki).await else {
        return;
    };
    let (_, token) = app.sign_up(&email()).await;
    let now = app.clock.now();
    let renewal = dated(
        "3000000004",
        "3000000904",
        PRODUCT,
        now - Duration::days(2),
        now + Duration::days(28),
        now - Duration::days(2),
    );
    let subscription = restore_apple(&app, &token, &pki.proof(&renewal))
        .await
        .unwrap();
    let phone = devices(&app, &token, &subscription.name, 1).await;

    let refunded_first_month = with(
        dated(
            "3000000004",
            "3000000104",
            PRODUCT,
            now - Duration::days(32),
            now - Duration::days(2),
            now,
        ),
        "revocationDate",
        json!(ms(now - Duration::hours(1))),
    );
    let after = restore_apple(&app, &token, &pki.proof(&refunded_first_month))
        .await
        .unwrap();
    assert_eq!(status(&after), pb::SubscriptionStatus::Active);
    assert_eq!(after.update_time, subscription.update_time);
    assert!(app.check_protection(&phone[0]).await.protected);
    app.stop().await;
}

/// The defects: after a refund (of any transaction) no later proof restored the
/// subscription; the subscription ends only when the newest transaction is refunded.
async fn a_refund_of_the_newest_transaction_ends_the_subscription_and_a_newer_purchase_restores_it(
    db: Db,
) {
    let pki = Pki::new();
    let Some(app) = spawn_apple_app(db, &pki).await else {
        return;
    };
    let (_, token) = app.sign_up(&email()).await;
    let now = app.clock.now();
    let bought = dated(
        "3000000005",
        "3000000905",
        PRODUCT,
        now - Duration::days(1),
        now + Duration::days(29),
        now - Duration::days(1),
    );
    let subscription = restore_apple(&app, &token, &pki.proof(&bought))
        .await
        .unwrap();
    let phone = devices(&app, &token, &subscription.name, 1).await;

    let refunded = with(
        with(bought.clone(), "signedDate", json!(ms(now))),
        "revocationDate",
        json!(ms(now - Duration::minutes(5))),
    );
    let ended = restore_apple(&app, &token, &pki.proof(&refunded))
        .await
        .unwrap();
    assert_eq!(status(&ended), pb::SubscriptionStatus::Cancelled);
    assert!(!app.check_protection(&phone[0]).await.protected);

    app.clock.advance(Duration::days(3));
    let later = app.clock.now();
    let bought_again = dated(
        "3000000005",
        "3000000955",
        PRODUCT,
        later - Duration::minutes(1),
        later + Duration::days(30),
        later,
    );
    let restored = restore_apple(&app, &token, &pki.proof(&bought_again))
        .await
        .unwrap();
    assert_eq!(restored.name, subscription.name, "the same subscription");
    assert_eq!(status(&restored), pb::SubscriptionStatus::Active);
    assert_eq!(millis(&restored.end_time), ms(later + Duration::days(30)));
    assert_eq!(app.list_subscriptions(&token).await.len(), 1);
    app.stop().await;
}

/// The defect: a customer's CancelSubscription on a store subscription, which nothing
/// refused, ended it for good while the store went on billing.
async fn cancelling_an_app_store_subscription_is_refused_naming_the_app_store(db: Db) {
    let pki = Pki::new();
    let Some(app) = spawn_apple_app(db, &pki).await else {
        return;
    };
    let (_, token) = app.sign_up(&email()).await;
    let proof = pki.proof(&transaction(
        &app,
        "3000000006",
        PRODUCT,
        app.clock.now() + Duration::days(30),
    ));
    let subscription = restore_apple(&app, &token, &proof).await.unwrap();
    let refused = cancel(&app, &token, &subscription.name).await.unwrap_err();
    assert_error(
        &refused,
        Code::FailedPrecondition,
        "SUBSCRIPTION_MANAGED_BY_STORE",
    );
    assert!(refused.message().contains("App Store"), "{refused:?}");
    let kept = app
        .get_subscription(&token, &subscription.name)
        .await
        .unwrap();
    assert_eq!(status(&kept), pb::SubscriptionStatus::Active);
    app.stop().await;
}

async fn a_renewal_info_sets_auto_renew_and_an_older_one_changes_nothing(db: Db) {
    let pki = Pki::new();
    let Some(app) = spawn_apple_app(db, &pki).await else {
        return;
    };
    let (_, token) = app.sign_up(&email()).await;
    let now = app.clock.now();
    let proof = pki.proof(&transaction(
        &app,
        "3000000007",
        PRODUCT,
        now + Duration::days(30),
    ));
    let store = pb::Channel::AppStore;
    let turned_off = pki.proof(&renewal_info("3000000007", false, now));
    let restored = restore_with_renewal_info(&app, &token, store, &proof, &turned_off)
        .await
        .unwrap();
    assert!(!restored.auto_renew, "autoRenewStatus 0");

    let older_on = pki.proof(&renewal_info("3000000007", true, now - Duration::hours(1)));
    let unchanged = restore_with_renewal_info(&app, &token, store, &proof, &older_on)
        .await
        .unwrap();
    assert!(
        !unchanged.auto_renew,
        "an older renewal info changes nothing"
    );
    assert_eq!(unchanged.update_time, restored.update_time);

    app.clock.advance(Duration::hours(1));
    let newer_on = pki.proof(&renewal_info("3000000007", true, app.clock.now()));
    let renewing = restore_with_renewal_info(&app, &token, store, &proof, &newer_on)
        .await
        .unwrap();
    assert!(renewing.auto_renew, "autoRenewStatus 1, signed later");

    let foreign = pki.proof(&renewal_info("3999999999", false, app.clock.now()));
    let refused = restore_with_renewal_info(&app, &token, store, &proof, &foreign)
        .await
        .unwrap_err();
    crate::support::assert_invalid_field(&refused, "signed_renewal_info");
    let (signed, signature) = newer_on.rsplit_once('.').unwrap();
    let mut signature = signature.to_owned().into_bytes();
    signature[5] = if signature[5] == b'A' { b'B' } else { b'A' };
    let forged = format!("{signed}.{}", String::from_utf8(signature).unwrap());
    let refused = restore_with_renewal_info(&app, &token, store, &proof, &forged)
        .await
        .unwrap_err();
    crate::support::assert_invalid_field(&refused, "signed_renewal_info");
    app.stop().await;
}
