//! The throttle on guessing: failed redemptions counted per account and per address
//! within a window; malformed input does not count; concurrent guesses cannot outrun it.

use super::{many_accounts, single_typo};
use crate::support::{Db, TestApp, assert_error, email, on_both_backends, spawn_app_with};
use futures::future::join_all;
use std::time::Duration;
use tessera::domain::codes::CodeKind;
use tessera_client::{
    pb,
    tonic::{Code, Status},
    tonic_types::StatusExt,
    with_token,
};

on_both_backends!(
    an_account_that_keeps_failing_is_throttled_until_the_window_has_passed,
    failures_from_one_address_over_several_accounts_throttle_a_fresh_account_too,
    malformed_codes_and_keys_do_not_count_as_failed_redemptions,
    concurrent_guesses_cannot_outrun_the_throttle,
);

const WINDOW: Duration = Duration::from_secs(15 * 60);

/// A partner code that exists and is not yet redeemed.
async fn live_partner_code(app: &TestApp) -> String {
    let carrier = app.partner("Telco One").await;
    app.provision(&carrier, "contract-1", "deluxe-3")
        .await
        .partner_code
}

/// Asserts REDEMPTION_THROTTLED with a retry delay in `(0, at_most]`.
#[track_caller]
fn assert_throttled(status: &Status, at_most: Duration) {
    assert_error(status, Code::ResourceExhausted, "REDEMPTION_THROTTLED");
    let delay = status
        .get_error_details()
        .retry_info()
        .unwrap_or_else(|| panic!("no RetryInfo in {status:?}"))
        .retry_delay
        .unwrap_or_else(|| panic!("no retry delay in {status:?}"));
    assert!(
        delay > Duration::ZERO && delay <= at_most,
        "retry delay {delay:?} not in (0, {at_most:?}]"
    );
}

async fn an_account_that_keeps_failing_is_throttled_until_the_window_has_passed(db: Db) {
    let Some(app) = spawn_app_with(db, |settings| {
        settings.redeem_account_limit = 3;
        settings.redeem_peer_limit = 1_000;
    })
    .await
    else {
        return;
    };
    let code = live_partner_code(&app).await;
    let key = app
        .issue_keys("deluxe-3", 1, pb::ProductKeyKind::New)
        .await
        .remove(0);
    let (account, guesser) = app.sign_up(&email()).await;
    for _ in 0..3 {
        let status = app
            .redeem_code(&guesser, &CodeKind::PartnerCode.generate())
            .await
            .unwrap_err();
        assert_error(&status, Code::NotFound, "PARTNER_CODE_NOT_FOUND");
    }
    // The fourth attempt is refused, even with a valid code, before any look-up.
    let throttled = app.redeem_code(&guesser, &code).await.unwrap_err();
    assert_throttled(&throttled, WINDOW);
    // Also with the other kind of secret: the count is per account, not per RPC.
    let throttled = app.redeem_key(&guesser, &key, "").await.unwrap_err();
    assert_throttled(&throttled, WINDOW);
    assert!(app.list_subscriptions(&guesser).await.is_empty());

    // Another account (same address, far below its limit) is not affected.
    let (_, bystander) = app.sign_up(&email()).await;
    let status = app
        .redeem_code(&bystander, &CodeKind::PartnerCode.generate())
        .await
        .unwrap_err();
    assert_error(&status, Code::NotFound, "PARTNER_CODE_NOT_FOUND");

    // The retry delay counts down with the window.
    app.clock.advance(chrono::Duration::minutes(10));
    let throttled = app.redeem_code(&guesser, &code).await.unwrap_err();
    assert_throttled(&throttled, Duration::from_secs(5 * 60));

    app.clock
        .advance(chrono::Duration::minutes(5) + chrono::Duration::seconds(1));
    let redeemed = app.redeem_code(&guesser, &code).await.unwrap();
    assert_eq!(redeemed.account, account);
    let redeemed = app.redeem_key(&guesser, &key, "").await.unwrap();
    assert_eq!(redeemed.account, account);
    app.stop().await;
}

async fn failures_from_one_address_over_several_accounts_throttle_a_fresh_account_too(db: Db) {
    let Some(app) = spawn_app_with(db, |settings| {
        settings.redeem_account_limit = 1_000;
        settings.redeem_peer_limit = 4;
    })
    .await
    else {
        return;
    };
    let code = live_partner_code(&app).await;
    let guessers = many_accounts(&app, 3).await;
    // 2 + 1 unknown codes, then 1 unknown key: four failures from 127.0.0.1.
    for (_, token) in [&guessers[0], &guessers[0], &guessers[1]] {
        let status = app
            .redeem_code(token, &CodeKind::PartnerCode.generate())
            .await
            .unwrap_err();
        assert_error(&status, Code::NotFound, "PARTNER_CODE_NOT_FOUND");
    }
    let status = app
        .redeem_key(&guessers[2].1, &CodeKind::ProductKey.generate(), "")
        .await
        .unwrap_err();
    assert_error(&status, Code::NotFound, "PRODUCT_KEY_NOT_FOUND");

    let (account, fresh) = app.sign_up(&email()).await;
    let throttled = app.redeem_code(&fresh, &code).await.unwrap_err();
    assert_throttled(&throttled, WINDOW);
    assert!(app.list_subscriptions(&fresh).await.is_empty());

    app.clock
        .advance(chrono::Duration::minutes(15) + chrono::Duration::seconds(1));
    let redeemed = app.redeem_code(&fresh, &code).await.unwrap();
    assert_eq!(redeemed.account, account);
    app.stop().await;
}

async fn malformed_codes_and_keys_do_not_count_as_failed_redemptions(db: Db) {
    let Some(app) = spawn_app_with(db, |settings| {
        settings.redeem_account_limit = 3;
        settings.redeem_peer_limit = 3;
    })
    .await
    else {
        return;
    };
    let code = live_partner_code(&app).await;
    let key = app
        .issue_keys("deluxe-3", 1, pb::ProductKeyKind::New)
        .await
        .remove(0);
    let (account, token) = app.sign_up(&email()).await;
    for i in 0..10 {
        let status = app
            .redeem_code(&token, &single_typo(&code, i))
            .await
            .unwrap_err();
        assert_error(&status, Code::InvalidArgument, "PARTNER_CODE_MALFORMED");
        let status = app
            .redeem_key(&token, &single_typo(&key, i), "")
            .await
            .unwrap_err();
        assert_error(&status, Code::InvalidArgument, "PRODUCT_KEY_MALFORMED");
    }
    let redeemed = app.redeem_code(&token, &code).await.unwrap();
    assert_eq!(redeemed.account, account);
    let redeemed = app.redeem_key(&token, &key, "").await.unwrap();
    assert_eq!(redeemed.account, account);

    // The limit of 3 is in force: three real failures use it up.
    for _ in 0..3 {
        let status = app
            .redeem_code(&token, &CodeKind::PartnerCode.generate())
            .await
            .unwrap_err();
        assert_error(&status, Code::NotFound, "PARTNER_CODE_NOT_FOUND");
    }
    let throttled = app.redeem_code(&token, &code).await.unwrap_err();
    assert_throttled(&throttled, WINDOW);
    app.stop().await;
}

async fn concurrent_guesses_cannot_outrun_the_throttle(db: Db) {
    let Some(app) = spawn_app_with(db, |settings| {
        settings.redeem_account_limit = 3;
        settings.redeem_peer_limit = 1_000;
    })
    .await
    else {
        return;
    };
    let (_, token) = app.sign_up(&email()).await;
    let calls = (0..32).map(|_| {
        let mut subscriptions = app.subscriptions();
        let request = with_token(
            &token,
            pb::RedeemPartnerCodeRequest {
                partner_code: CodeKind::PartnerCode.generate(),
            },
        );
        async move { subscriptions.redeem_partner_code(request).await }
    });
    let outcomes = join_all(calls).await;
    let looked_up = outcomes
        .iter()
        .filter(|o| matches!(o, Err(s) if s.code() == Code::NotFound))
        .count();
    let throttled = outcomes
        .iter()
        .filter(|o| matches!(o, Err(s) if s.code() == Code::ResourceExhausted))
        .count();
    assert_eq!(
        (looked_up, throttled),
        (3, 29),
        "with a limit of 3, {looked_up} of 32 concurrent guesses were looked up"
    );
    app.stop().await;
}
