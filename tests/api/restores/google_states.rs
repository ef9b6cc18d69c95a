//! Google Play restores follow `subscriptionState` (subscriptionsv2): ACTIVE, IN_GRACE_PERIOD
//! and CANCELED within the paid time grant; PENDING grants nothing; ON_HOLD and PAUSED do
//! not protect; a purchase is acknowledged once granted; an upgrade applies once paid and
//! its new token replaces the old purchase (`linkedPurchaseToken`); an abandoned pending
//! upgrade leaves the paid subscription alone; EXPIRED before the term on file ends it.

use super::apple_pki::with;
use super::google_play::spawn_play_app;
use super::play_stand_in::{PLAY_DELUXE_3, PLAY_PREMIUM, active_subscription};
use super::{account_id, cancel, restore_play};
use crate::support::{Db, assert_error, email, on_both_backends, status};
use chrono::{Duration, SecondsFormat, Utc};
use serde_json::{Value, json};
use tessera_client::{pb, tonic::Code};

on_both_backends!(
    a_pending_play_purchase_grants_nothing,
    on_hold_and_paused_play_subscriptions_do_not_protect,
    in_grace_and_cancelled_play_subscriptions_are_granted_within_the_paid_time,
    an_unacknowledged_play_purchase_is_acknowledged_once_granted,
    a_pending_play_upgrade_changes_nothing_until_it_is_paid,
    an_abandoned_pending_upgrade_leaves_the_paid_subscription_as_it_is,
    a_play_subscription_ends_when_google_says_it_expired_before_its_term,
    a_play_purchase_bound_to_an_account_never_moves_to_another,
    cancelling_a_play_subscription_is_refused_naming_google_play,
);

/// `answer` in another `subscriptionState`.
fn in_state(answer: Value, state: &str) -> Value {
    with(answer, "subscriptionState", json!(state))
}

/// A pending purchase as Google documents it: no start time, no expiry, not acknowledged.
fn pending(product_id: &str) -> Value {
    json!({
        "kind": "androidpublisher#subscriptionPurchaseV2",
        "regionCode": "DE",
        "subscriptionState": "SUBSCRIPTION_STATE_PENDING",
        "acknowledgementState": "ACKNOWLEDGEMENT_STATE_PENDING",
        "lineItems": [{
            "productId": product_id,
            "offerDetails": {"basePlanId": "yearly", "offerTags": []}
        }]
    })
}

fn rfc3339(at: chrono::DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The defect: a PENDING (unpaid) purchase was granted.
async fn a_pending_play_purchase_grants_nothing(db: Db) {
    let Some((stand_in, app)) = spawn_play_app(db).await else {
        return;
    };
    let (_, token) = app.sign_up(&email()).await;
    let purchase = "pending-token.AO-J1Pa_1aBc";
    stand_in.answer(purchase, pending(PLAY_PREMIUM));
    let refused = restore_play(&app, &token, purchase).await.unwrap_err();
    assert_error(
        &refused,
        Code::FailedPrecondition,
        "STORE_PURCHASE_NOT_PAID",
    );
    assert!(app.list_subscriptions(&token).await.is_empty());
    assert!(
        stand_in.acknowledgements().is_empty(),
        "a pending purchase is not acknowledged"
    );
    app.stop().await;
}

/// The defect: ON_HOLD and PAUSED with a future expiry were granted.
async fn on_hold_and_paused_play_subscriptions_do_not_protect(db: Db) {
    let Some((stand_in, app)) = spawn_play_app(db).await else {
        return;
    };
    let (_, token) = app.sign_up(&email()).await;
    let future = "2099-01-01T00:00:00Z";
    let held = "held-token.AO-J1Pb_2bCd";
    stand_in.answer(
        held,
        in_state(
            active_subscription(PLAY_PREMIUM, future, true),
            "SUBSCRIPTION_STATE_ON_HOLD",
        ),
    );
    let refused = restore_play(&app, &token, held).await.unwrap_err();
    assert_error(&refused, Code::FailedPrecondition, "STORE_PURCHASE_ON_HOLD");
    assert!(app.list_subscriptions(&token).await.is_empty());

    let paused = "paused-token.AO-J1Pc_3cDe";
    let active = active_subscription(PLAY_PREMIUM, future, true);
    stand_in.answer(paused, active.clone());
    let subscription = restore_play(&app, &token, paused).await.unwrap();
    let device = app
        .activate(&token, &subscription.name, "pixel")
        .await
        .unwrap();
    assert!(app.check_protection(&device.device_token).await.protected);

    stand_in.answer(
        paused,
        in_state(active.clone(), "SUBSCRIPTION_STATE_PAUSED"),
    );
    let on_pause = restore_play(&app, &token, paused).await.unwrap();
    assert_eq!(status(&on_pause), pb::SubscriptionStatus::Suspended);
    assert!(!app.check_protection(&device.device_token).await.protected);

    stand_in.answer(paused, active);
    let resumed = restore_play(&app, &token, paused).await.unwrap();
    assert_eq!(status(&resumed), pb::SubscriptionStatus::Active);
    assert!(app.check_protection(&device.device_token).await.protected);
    app.stop().await;
}

async fn in_grace_and_cancelled_play_subscriptions_are_granted_within_the_paid_time(db: Db) {
    let Some((stand_in, app)) = spawn_play_app(db).await else {
        return;
    };
    let (_, token) = app.sign_up(&email()).await;
    let grace = "grace-token.AO-J1Pd_4dEf";
    stand_in.answer(
        grace,
        in_state(
            active_subscription(PLAY_PREMIUM, "2099-01-01T00:00:00Z", true),
            "SUBSCRIPTION_STATE_IN_GRACE_PERIOD",
        ),
    );
    let granted = restore_play(&app, &token, grace).await.unwrap();
    assert_eq!(status(&granted), pb::SubscriptionStatus::Active);

    let cancelled = "cancelled-token.AO-J1Pe_5eFg";
    stand_in.answer(
        cancelled,
        in_state(
            active_subscription(PLAY_DELUXE_3, "2099-01-01T00:00:00Z", false),
            "SUBSCRIPTION_STATE_CANCELED",
        ),
    );
    let until_paid = restore_play(&app, &token, cancelled).await.unwrap();
    assert_eq!(status(&until_paid), pb::SubscriptionStatus::Active);
    assert!(!until_paid.auto_renew);

    let lapsed = "lapsed-token.AO-J1Pf_6fGh";
    let past = rfc3339(Utc::now() - Duration::days(1));
    stand_in.answer(
        lapsed,
        in_state(
            active_subscription(PLAY_DELUXE_3, &past, false),
            "SUBSCRIPTION_STATE_CANCELED",
        ),
    );
    let refused = restore_play(&app, &token, lapsed).await.unwrap_err();
    assert_error(&refused, Code::FailedPrecondition, "STORE_PURCHASE_EXPIRED");
    app.stop().await;
}

/// The defect: nothing acknowledged purchases, so Google refunded them after three days.
async fn an_unacknowledged_play_purchase_is_acknowledged_once_granted(db: Db) {
    let Some((stand_in, app)) = spawn_play_app(db).await else {
        return;
    };
    let (_, token) = app.sign_up(&email()).await;
    let purchase = "unacked-token.AO-J1Pg_7gHi";
    stand_in.answer(
        purchase,
        with(
            active_subscription(PLAY_PREMIUM, "2099-01-01T00:00:00Z", true),
            "acknowledgementState",
            json!("ACKNOWLEDGEMENT_STATE_PENDING"),
        ),
    );
    restore_play(&app, &token, purchase).await.unwrap();
    assert_eq!(
        stand_in.acknowledgements(),
        [(PLAY_PREMIUM.to_owned(), purchase.to_owned())]
    );
    restore_play(&app, &token, purchase).await.unwrap();
    assert_eq!(
        stand_in.acknowledgements().len(),
        1,
        "an acknowledged purchase is not acknowledged again"
    );
    app.stop().await;
}

/// The defects: a pending upgrade changed the plan at once, and restoring the old token
/// afterwards created a second subscription.
async fn a_pending_play_upgrade_changes_nothing_until_it_is_paid(db: Db) {
    let Some((stand_in, app)) = spawn_play_app(db).await else {
        return;
    };
    let (_, token) = app.sign_up(&email()).await;
    let (old, new) = ("old-token.AO-J1Ph_8hIj", "new-token.AO-J1Pi_9iJk");
    let deluxe = active_subscription(PLAY_DELUXE_3, "2099-01-01T00:00:00Z", true);
    stand_in.answer(old, deluxe.clone());
    let subscription = restore_play(&app, &token, old).await.unwrap();
    assert_eq!(subscription.plan, "plans/deluxe-3");

    let mut upgrade = pending(PLAY_PREMIUM);
    upgrade["linkedPurchaseToken"] = json!(old);
    stand_in.answer(new, upgrade);
    let refused = restore_play(&app, &token, new).await.unwrap_err();
    assert_error(
        &refused,
        Code::FailedPrecondition,
        "STORE_PURCHASE_NOT_PAID",
    );
    let unchanged = restore_play(&app, &token, old).await.unwrap();
    assert_eq!(unchanged.name, subscription.name);
    assert_eq!(
        unchanged.plan, "plans/deluxe-3",
        "not upgraded before it is paid"
    );
    assert_eq!(app.list_subscriptions(&token).await.len(), 1);

    // Paid: the new token replaces the old purchase, same subscription.
    let mut paid = active_subscription(PLAY_PREMIUM, "2099-02-01T00:00:00Z", true);
    paid["linkedPurchaseToken"] = json!(old);
    stand_in.answer(new, paid);
    let upgraded = restore_play(&app, &token, new).await.unwrap();
    assert_eq!(upgraded.name, subscription.name);
    assert_eq!(upgraded.plan, "plans/premium-10");

    // Google ends the replaced purchase; restoring its token changes nothing.
    let mut replaced = in_state(deluxe, "SUBSCRIPTION_STATE_EXPIRED");
    replaced["lineItems"][0]["expiryTime"] = json!(rfc3339(Utc::now() - Duration::minutes(1)));
    stand_in.answer(old, replaced);
    let again = restore_play(&app, &token, old).await.unwrap();
    assert_eq!(again.name, subscription.name);
    assert_eq!(again.plan, "plans/premium-10");
    assert_eq!(status(&again), pb::SubscriptionStatus::Active);
    let listed = app.list_subscriptions(&token).await;
    assert_eq!(
        listed.len(),
        1,
        "one purchase, one subscription: {listed:?}"
    );
    app.stop().await;
}

/// The defect: PENDING_PURCHASE_CANCELED cancelled the paid subscription.
async fn an_abandoned_pending_upgrade_leaves_the_paid_subscription_as_it_is(db: Db) {
    let Some((stand_in, app)) = spawn_play_app(db).await else {
        return;
    };
    let (_, token) = app.sign_up(&email()).await;
    let (paid, abandoned) = ("paid-token.AO-J1Pj_0jKl", "abandoned-token.AO-J1Pk_1kLm");
    stand_in.answer(
        paid,
        active_subscription(PLAY_DELUXE_3, "2099-01-01T00:00:00Z", true),
    );
    let subscription = restore_play(&app, &token, paid).await.unwrap();
    let mut upgrade = in_state(
        pending(PLAY_PREMIUM),
        "SUBSCRIPTION_STATE_PENDING_PURCHASE_CANCELED",
    );
    upgrade["linkedPurchaseToken"] = json!(paid);
    stand_in.answer(abandoned, upgrade);

    let followed = restore_play(&app, &token, abandoned).await.unwrap();
    assert_eq!(
        followed.name, subscription.name,
        "Google: follow the linked token"
    );
    assert_eq!(status(&followed), pb::SubscriptionStatus::Active);
    assert_eq!(followed.plan, "plans/deluxe-3");
    assert_eq!(followed.end_time, subscription.end_time);
    app.stop().await;
}

/// The defect: the "revoked" rule (EXPIRED with a future expiry) could never fire; a
/// subscription Google revoked (EXPIRED, expiry at the revocation) went on to its term.
async fn a_play_subscription_ends_when_google_says_it_expired_before_its_term(db: Db) {
    let Some((stand_in, app)) = spawn_play_app(db).await else {
        return;
    };
    let (_, token) = app.sign_up(&email()).await;
    let purchase = "revoked-token.AO-J1Pl_2lMn";
    let active = active_subscription(PLAY_PREMIUM, "2099-01-01T00:00:00Z", true);
    stand_in.answer(purchase, active.clone());
    let subscription = restore_play(&app, &token, purchase).await.unwrap();
    let device = app
        .activate(&token, &subscription.name, "pixel")
        .await
        .unwrap();

    let mut revoked = in_state(active, "SUBSCRIPTION_STATE_EXPIRED");
    revoked["lineItems"][0]["expiryTime"] = json!(rfc3339(Utc::now() - Duration::hours(1)));
    revoked["canceledStateContext"] = json!({"developerInitiatedCancellation": {}});
    stand_in.answer(purchase, revoked);
    let ended = restore_play(&app, &token, purchase).await.unwrap();
    assert_eq!(status(&ended), pb::SubscriptionStatus::Cancelled);
    assert!(!app.check_protection(&device.device_token).await.protected);
    app.stop().await;
}

/// The defect: an `obfuscatedExternalAccountId` naming another account was ignored.
async fn a_play_purchase_bound_to_an_account_never_moves_to_another(db: Db) {
    let Some((stand_in, app)) = spawn_play_app(db).await else {
        return;
    };
    let (alice, alice_token) = app.sign_up(&email()).await;
    let (_, bob_token) = app.sign_up(&email()).await;
    let purchase = "bound-token.AO-J1Pm_3mNo";
    let mut bound = active_subscription(PLAY_PREMIUM, "2099-01-01T00:00:00Z", true);
    bound["externalAccountIdentifiers"] =
        json!({"obfuscatedExternalAccountId": account_id(&alice)});
    stand_in.answer(purchase, bound);

    let restored = restore_play(&app, &alice_token, purchase).await.unwrap();
    assert_eq!(restored.account, alice);
    let refused = restore_play(&app, &bob_token, purchase).await.unwrap_err();
    assert_error(
        &refused,
        Code::PermissionDenied,
        "STORE_PURCHASE_OTHER_ACCOUNT",
    );
    assert!(app.list_subscriptions(&bob_token).await.is_empty());
    let kept = app
        .get_subscription(&alice_token, &restored.name)
        .await
        .unwrap();
    assert_eq!(kept.account, alice);
    app.stop().await;
}

async fn cancelling_a_play_subscription_is_refused_naming_google_play(db: Db) {
    let Some((stand_in, app)) = spawn_play_app(db).await else {
        return;
    };
    let (_, token) = app.sign_up(&email()).await;
    let purchase = "cancel-token.AO-J1Pn_4nOp";
    stand_in.answer(
        purchase,
        active_subscription(PLAY_PREMIUM, "2099-01-01T00:00:00Z", true),
    );
    let subscription = restore_play(&app, &token, purchase).await.unwrap();
    let refused = cancel(&app, &token, &subscription.name).await.unwrap_err();
    assert_error(
        &refused,
        Code::FailedPrecondition,
        "SUBSCRIPTION_MANAGED_BY_STORE",
    );
    assert!(refused.message().contains("Google Play"), "{refused:?}");
    app.stop().await;
}
