//! The throttle on guessing: failed redemptions counted per account first and per
//! address, each further one past the allowance waiting twice as long as the last; a
//! guesser behind a shared address does not lock out the customers behind it; malformed
//! input does not count; concurrent guesses cannot outrun it.

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
    an_account_that_keeps_failing_waits_twice_as_long_after_each_failure,
    one_guesser_behind_a_shared_address_does_not_lock_out_the_customers_behind_it,
    malformed_codes_and_keys_do_not_count_as_failed_redemptions,
    concurrent_guesses_cannot_outrun_the_throttle,
);

const SECOND: Duration = Duration::from_secs(1);

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
    assert_throttled_as(status, "REDEMPTION_THROTTLED", at_most);
}

/// Asserts RESOURCE_EXHAUSTED with `reason` and a retry delay in `(0, at_most]`.
#[track_caller]
pub fn assert_throttled_as(status: &Status, reason: &str, at_most: Duration) {
    assert_error(status, Code::ResourceExhausted, reason);
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

async fn an_account_that_keeps_failing_waits_twice_as_long_after_each_failure(db: Db) {
    let Some(app) = spawn_app_with(db, |settings| {
        settings.redeem_account_limit = 3;
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
    let guess = async || {
        app.redeem_code(&guesser, &CodeKind::PartnerCode.generate())
            .await
            .unwrap_err()
    };
    for _ in 0..3 {
        assert_error(&guess().await, Code::NotFound, "PARTNER_CODE_NOT_FOUND");
    }
    // The fourth attempt waits, even with a valid code, and is refused before any look-up.
    let throttled = app.redeem_code(&guesser, &code).await.unwrap_err();
    assert_throttled(&throttled, SECOND);
    // Also with the other kind of secret: the count is per account, not per RPC.
    let throttled = app.redeem_key(&guesser, &key, "").await.unwrap_err();
    assert_throttled(&throttled, SECOND);
    assert!(app.list_subscriptions(&guesser).await.is_empty());

    // Another account at the same address, with no failures of its own, is not affected.
    let (_, bystander) = app.sign_up(&email()).await;
    let status = app
        .redeem_code(&bystander, &CodeKind::PartnerCode.generate())
        .await
        .unwrap_err();
    assert_error(&status, Code::NotFound, "PARTNER_CODE_NOT_FOUND");

    // Each further failure doubles the wait: 1 s, 2 s, 4 s, … — not a flat wall.
    let mut wait = SECOND;
    for _ in 0..4 {
        app.clock.advance(chrono::Duration::from_std(wait).unwrap());
        assert_error(&guess().await, Code::NotFound, "PARTNER_CODE_NOT_FOUND");
        wait *= 2;
        let throttled = app.redeem_code(&guesser, &code).await.unwrap_err();
        assert_throttled(&throttled, wait);
        let delay = throttled
            .get_error_details()
            .retry_info()
            .and_then(|info| info.retry_delay)
            .unwrap();
        assert!(delay > wait / 2, "waited {delay:?}, not about {wait:?}");
    }

    app.clock.advance(chrono::Duration::from_std(wait).unwrap());
    let redeemed = app.redeem_code(&guesser, &code).await.unwrap();
    assert_eq!(redeemed.account, account);
    // A success gives its attempt back, but the backoff still counts from it.
    app.clock.advance(chrono::Duration::from_std(wait).unwrap());
    let redeemed = app.redeem_key(&guesser, &key, "").await.unwrap();
    assert_eq!(redeemed.account, account);
    app.stop().await;
}

async fn one_guesser_behind_a_shared_address_does_not_lock_out_the_customers_behind_it(db: Db) {
    let Some(app) = spawn_app_with(db, |settings| {
        settings.redeem_account_limit = 3;
        settings.redeem_address_limit = 5;
    })
    .await
    else {
        return;
    };
    // Behind one carrier NAT (here 127.0.0.1): customers with valid codes and keys, and a
    // guesser with three accounts.
    let carrier = app.partner("Telco One").await;
    let mut codes = Vec::new();
    for contract in 0..3 {
        let provisioned = app
            .provision(&carrier, &format!("contract-{contract}"), "deluxe-3")
            .await;
        codes.push(provisioned.partner_code);
    }
    let keys = app.issue_keys("deluxe-3", 3, pb::ProductKeyKind::New).await;
    let guessers = many_accounts(&app, 3).await;
    let mut refused = 0;
    for round in 0..4 {
        for (_, token) in &guessers {
            match app
                .redeem_code(token, &CodeKind::PartnerCode.generate())
                .await
            {
                Err(status) if status.code() == Code::ResourceExhausted => {
                    assert_throttled(&status, 20 * 60 * SECOND);
                    refused += 1;
                }
                Err(status) => assert_error(&status, Code::NotFound, "PARTNER_CODE_NOT_FOUND"),
                Ok(_) => panic!("a guess was a partner code"),
            }
        }
        // Time passes between rounds, as it does for a real guesser.
        if round < 3 {
            app.clock.advance(chrono::Duration::seconds(2));
        }
    }
    assert!(
        refused >= 4,
        "the address's allowance of 5 held the guesser back only {refused} times in 12"
    );

    // Every customer behind the same address still redeems, codes and keys alike.
    for (code, key) in codes.iter().zip(&keys) {
        let (account, customer) = app.sign_up(&email()).await;
        let redeemed = app.redeem_code(&customer, code).await.unwrap();
        assert_eq!(redeemed.account, account);
        let redeemed = app.redeem_key(&customer, key, "").await.unwrap();
        assert_eq!(redeemed.account, account);
    }
    // A customer who mistyped once and is now behind a busy address waits its turn,
    // briefly — and the guessers are still held back.
    let (_, unlucky) = app.sign_up(&email()).await;
    let status = app
        .redeem_code(&unlucky, &CodeKind::PartnerCode.generate())
        .await
        .unwrap_err();
    assert_error(&status, Code::NotFound, "PARTNER_CODE_NOT_FOUND");
    let throttled = app.redeem_code(&unlucky, &codes[0]).await.unwrap_err();
    assert_throttled(&throttled, 20 * 60 * SECOND);
    let throttled = app
        .redeem_code(&guessers[0].1, &codes[0])
        .await
        .unwrap_err();
    assert_throttled(&throttled, 20 * 60 * SECOND);
    app.stop().await;
}

async fn malformed_codes_and_keys_do_not_count_as_failed_redemptions(db: Db) {
    let Some(app) = spawn_app_with(db, |settings| {
        settings.redeem_account_limit = 3;
        settings.redeem_address_limit = 3;
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
    assert_throttled(&throttled, SECOND);
    app.stop().await;
}

async fn concurrent_guesses_cannot_outrun_the_throttle(db: Db) {
    let Some(app) = spawn_app_with(db, |settings| {
        settings.redeem_account_limit = 3;
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
