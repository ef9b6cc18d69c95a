//! A Google Play purchase restored, with a local stand-in for Google: an active purchase
//! becomes a subscription, unknown tokens and an unavailable Google are told apart, an
//! upgrade replaces the purchase it links to, and auto-renew follows what Google says.

use super::apple_pki::with;
use super::play_stand_in::{
    self, Google, KEY_FILE_PATH, PACKAGE, PLAY_DELUXE_3, PLAY_DELUXE_5, PLAY_PREMIUM, StandIn,
    active_subscription,
};
use super::{millis, ms, restore_play};
use crate::support::{
    Db, TestApp, assert_error, assert_invalid_field, email, on_both_backends, spawn_app_with,
    status,
};
use chrono::{DateTime, Utc};
use serde_json::json;
use std::sync::Arc;
use tessera_client::{pb, tonic::Code, tonic_types::StatusExt};

on_both_backends!(
    an_active_google_play_purchase_restores_a_play_store_subscription,
    unknown_play_tokens_and_an_unavailable_google_are_told_apart,
    an_upgraded_play_subscription_replaces_the_purchase_it_links_to,
    auto_renew_turned_off_in_google_play_shows_after_the_next_restore,
    a_license_testers_purchase_restores_only_on_a_server_for_testers,
);

/// A working stand-in for Google, and a server that asks it about Play tokens of the
/// test app.
pub(super) async fn spawn_play_app(db: Db) -> Option<(Arc<StandIn>, TestApp)> {
    spawn_play_app_accepting(db, false).await
}

/// As [`spawn_play_app`], with license testers' purchases accepted or not.
async fn spawn_play_app_accepting(db: Db, test_purchases: bool) -> Option<(Arc<StandIn>, TestApp)> {
    let stand_in = StandIn::spawn(Google::Working).await;
    let (base_url, token_uri) = (stand_in.base_url.clone(), stand_in.token_uri());
    let app = spawn_app_with(db, move |settings| {
        settings.play_package_name = Some(PACKAGE.to_owned());
        settings.play_service_account_file = Some(KEY_FILE_PATH.into());
        settings.play_api_base_url = base_url;
        settings.play_token_uri = Some(token_uri);
        settings.play_accept_test_purchases = test_purchases;
    })
    .await?;
    Some((stand_in, app))
}

async fn an_active_google_play_purchase_restores_a_play_store_subscription(db: Db) {
    let Some((stand_in, app)) = spawn_play_app(db).await else {
        return;
    };
    let (account, token) = app.sign_up(&email()).await;
    let (yearly, manual) = ("yearly-token.AO-J1Oa_5pZt", "manual-token.AO-J1Ob_6qAu");
    let yearly_end: DateTime<Utc> = "2099-01-31T10:00:00.123Z".parse().unwrap();
    stand_in.answer(
        yearly,
        active_subscription(PLAY_PREMIUM, "2099-01-31T10:00:00.123Z", true),
    );
    stand_in.answer(
        manual,
        active_subscription(PLAY_DELUXE_3, "2098-06-30T00:00:00Z", false),
    );

    let restored = restore_play(&app, &token, yearly).await.unwrap();
    assert_eq!(restored.channel, pb::Channel::PlayStore as i32);
    assert_eq!(restored.plan, "plans/premium-10");
    assert_eq!(restored.seat_limit, 10);
    assert_eq!(restored.account, account);
    assert_eq!(status(&restored), pb::SubscriptionStatus::Active);
    assert_eq!(millis(&restored.end_time), ms(yearly_end));
    assert!(restored.auto_renew);

    let not_renewing = restore_play(&app, &token, manual).await.unwrap();
    assert_eq!(not_renewing.plan, "plans/deluxe-3");
    assert!(!not_renewing.auto_renew, "autoRenewEnabled is false");

    let again = restore_play(&app, &token, yearly).await.unwrap();
    assert_eq!(again.name, restored.name);
    assert_eq!(again.update_time, restored.update_time);
    assert_eq!(app.list_subscriptions(&token).await.len(), 2);
    app.stop().await;
}

async fn unknown_play_tokens_and_an_unavailable_google_are_told_apart(db: Db) {
    let Some((stand_in, app)) = spawn_play_app(db).await else {
        return;
    };
    let (_, token) = app.sign_up(&email()).await;
    let known = "known-token.AO-J1Oc_7rBv";
    stand_in.answer(
        known,
        active_subscription(PLAY_DELUXE_5, "2099-01-01T00:00:00Z", true),
    );

    let unknown = restore_play(&app, &token, "unknown-token.AO-J1Oq")
        .await
        .unwrap_err();
    assert_error(&unknown, Code::InvalidArgument, "PLAY_PURCHASE_NOT_FOUND");
    assert_invalid_field(&unknown, "signed_proof");
    let malformed = restore_play(&app, &token, "a/../../other")
        .await
        .unwrap_err();
    assert_error(&malformed, Code::InvalidArgument, "PLAY_TOKEN_MALFORMED");
    let not_a_plan = restore_play(&app, &token, play_stand_in::ACTIVE_TOKEN)
        .await
        .unwrap_err();
    assert_error(
        &not_a_plan,
        Code::FailedPrecondition,
        "STORE_PRODUCT_UNKNOWN",
    );

    stand_in.set_behaviour(Google::Unavailable);
    let down = restore_play(&app, &token, known).await.unwrap_err();
    assert_error(&down, Code::Unavailable, "PLAY_UNAVAILABLE");
    let retry = down
        .get_error_details()
        .retry_info()
        .cloned()
        .unwrap_or_else(|| panic!("no RetryInfo in {down:?}"));
    assert_eq!(retry.retry_delay, Some(std::time::Duration::from_secs(5)));
    assert!(
        app.list_subscriptions(&token).await.is_empty(),
        "nothing is created"
    );

    stand_in.set_behaviour(Google::Working);
    let restored = restore_play(&app, &token, known)
        .await
        .expect("the retry succeeds once Google is back");
    assert_eq!(restored.plan, "plans/deluxe-5");
    app.stop().await;
}

async fn an_upgraded_play_subscription_replaces_the_purchase_it_links_to(db: Db) {
    let Some((stand_in, app)) = spawn_play_app(db).await else {
        return;
    };
    let (_, token) = app.sign_up(&email()).await;
    let (old, new) = ("deluxe-token.AO-J1Od_8sCw", "premium-token.AO-J1Oe_9tDx");
    stand_in.answer(
        old,
        active_subscription(PLAY_DELUXE_3, "2099-01-01T00:00:00Z", true),
    );
    restore_play(&app, &token, old).await.unwrap();
    // The customer upgrades in Google Play: Google issues a new token naming the old one,
    // and stops renewing the old one.
    let mut upgrade = active_subscription(PLAY_PREMIUM, "2099-02-01T00:00:00Z", true);
    upgrade["linkedPurchaseToken"] = json!(old);
    stand_in.answer(new, upgrade);
    restore_play(&app, &token, new).await.unwrap();

    let active: Vec<String> = app
        .list_subscriptions(&token)
        .await
        .into_iter()
        .filter(|s| status(s) == pb::SubscriptionStatus::Active)
        .map(|s| s.plan)
        .collect();
    assert_eq!(
        active,
        ["plans/premium-10"],
        "one purchase, one subscription"
    );
    app.stop().await;
}

async fn auto_renew_turned_off_in_google_play_shows_after_the_next_restore(db: Db) {
    let Some((stand_in, app)) = spawn_play_app(db).await else {
        return;
    };
    let (_, token) = app.sign_up(&email()).await;
    let purchase = "renewing-token.AO-J1Of_0uEy";
    let renewing = active_subscription(PLAY_DELUXE_3, "2099-01-01T00:00:00Z", true);
    stand_in.answer(purchase, renewing.clone());
    let before = restore_play(&app, &token, purchase).await.unwrap();
    assert!(before.auto_renew);

    // The customer cancels in Google Play: access continues to the same expiry.
    let mut cancelled = with(
        renewing,
        "subscriptionState",
        json!("SUBSCRIPTION_STATE_CANCELED"),
    );
    cancelled["lineItems"][0]["autoRenewingPlan"]["autoRenewEnabled"] = json!(false);
    stand_in.answer(purchase, cancelled);
    let after = restore_play(&app, &token, purchase).await.unwrap();
    assert!(!after.auto_renew, "Google says it no longer renews");
    app.stop().await;
}

async fn a_license_testers_purchase_restores_only_on_a_server_for_testers(db: Db) {
    let mut tester = active_subscription(PLAY_DELUXE_3, "2099-05-01T00:00:00Z", true);
    tester["testPurchase"] = json!({});
    let proof = "tester-token.AO-J1Oc_7rBv";

    let Some((stand_in, production)) = spawn_play_app(db).await else {
        return;
    };
    stand_in.answer(proof, tester.clone());
    let (_, token) = production.sign_up(&email()).await;
    let refused = restore_play(&production, &token, proof).await.unwrap_err();
    assert_error(
        &refused,
        Code::PermissionDenied,
        "PLAY_TEST_PURCHASE_REFUSED",
    );
    assert!(
        production.list_subscriptions(&token).await.is_empty(),
        "nothing is created"
    );

    let (stand_in, for_testers) = spawn_play_app_accepting(db, true).await.unwrap();
    stand_in.answer(proof, tester);
    let (_, token) = for_testers.sign_up(&email()).await;
    let restored = restore_play(&for_testers, &token, proof).await.unwrap();
    assert_eq!(restored.channel, pb::Channel::PlayStore as i32);
    assert_eq!(restored.plan, "plans/deluxe-3");
}
