//! The throttles on sign-in and sign-up: failed sign-ins counted per account and per
//! address, each further one past the allowance waiting twice as long as the last and
//! never longer than the bound; sign-ups counted per address; the client's address taken
//! from a trusted proxy's headers and only then; password hashing queued on a fixed pool.

use crate::redemption::throttling::assert_throttled_as;
use crate::support::{
    Db, PASSWORD, TestApp, assert_error, email, on_both_backends, spawn_app_with,
};
use futures::future::join_all;
use std::time::Duration;
use tessera_client::{
    pb,
    tonic::{Code, Request, Status},
    tonic_types::StatusExt,
};

on_both_backends!(
    a_password_guesser_waits_twice_as_long_after_each_failure_and_the_owner_then_gets_in,
    a_guesser_cannot_keep_the_owner_out_for_longer_than_the_bound,
    failed_sign_ins_over_many_accounts_are_throttled_per_address,
    sign_ups_from_one_address_are_throttled,
    behind_a_trusted_proxy_each_client_address_has_its_own_counters,
    a_client_cannot_dodge_the_throttle_with_a_forged_header,
    sign_ins_beyond_the_hashing_pool_are_refused_with_a_retry_delay,
);

const SECOND: Duration = Duration::from_secs(1);

/// A sign-in request, as if forwarded for `client` when given.
fn sign_in_request(
    email: &str,
    password: &str,
    client: Option<&str>,
) -> Request<pb::SignInRequest> {
    forwarded_for(
        pb::SignInRequest {
            email: email.to_owned(),
            password: password.to_owned(),
        },
        client,
    )
}

fn forwarded_for<T>(message: T, client: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(client) = client {
        request
            .metadata_mut()
            .insert("x-forwarded-for", client.parse().unwrap());
    }
    request
}

async fn sign_in(app: &TestApp, email: &str, password: &str) -> Result<String, Status> {
    app.accounts()
        .sign_in(sign_in_request(email, password, None))
        .await
        .map(|response| response.into_inner().session_token)
}

async fn sign_up_from(app: &TestApp, client: Option<&str>) -> Result<pb::Account, Status> {
    app.accounts()
        .create_account(forwarded_for(
            pb::CreateAccountRequest {
                email: email(),
                password: PASSWORD.to_owned(),
                display_name: String::new(),
            },
            client,
        ))
        .await
        .map(|response| response.into_inner())
}

fn retry_delay(status: &Status) -> Duration {
    status
        .get_error_details()
        .retry_info()
        .and_then(|info| info.retry_delay)
        .unwrap_or_else(|| panic!("no RetryInfo in {status:?}"))
}

fn advance(app: &TestApp, by: Duration) {
    app.clock.advance(chrono::Duration::from_std(by).unwrap());
}

async fn a_password_guesser_waits_twice_as_long_after_each_failure_and_the_owner_then_gets_in(
    db: Db,
) {
    let Some(app) = spawn_app_with(db, |settings| settings.sign_in_account_limit = 3).await else {
        return;
    };
    let owner = email();
    app.sign_up(&owner).await;
    for _ in 0..3 {
        let wrong = sign_in(&app, &owner, "not the password").await.unwrap_err();
        assert_error(&wrong, Code::Unauthenticated, "INVALID_CREDENTIALS");
    }
    // The fourth attempt waits, before any password check: even the right password.
    let throttled = sign_in(&app, &owner, PASSWORD).await.unwrap_err();
    assert_throttled_as(&throttled, "SIGN_IN_THROTTLED", SECOND);
    let mut wait = SECOND;
    for _ in 0..3 {
        advance(&app, wait);
        let wrong = sign_in(&app, &owner, "not the password").await.unwrap_err();
        assert_error(&wrong, Code::Unauthenticated, "INVALID_CREDENTIALS");
        wait *= 2;
        let throttled = sign_in(&app, &owner, PASSWORD).await.unwrap_err();
        assert_throttled_as(&throttled, "SIGN_IN_THROTTLED", wait);
        assert!(retry_delay(&throttled) > wait / 2, "not about {wait:?}");
    }
    // The owner waits it out and gets in; that clears the account's count.
    advance(&app, wait);
    sign_in(&app, &owner, PASSWORD)
        .await
        .expect("the owner signs in");
    for _ in 0..3 {
        let wrong = sign_in(&app, &owner, "not the password").await.unwrap_err();
        assert_error(&wrong, Code::Unauthenticated, "INVALID_CREDENTIALS");
    }
    // An e-mail with no account is counted alike, so the throttle tells nothing.
    let nobody = email();
    for _ in 0..3 {
        let wrong = sign_in(&app, &nobody, PASSWORD).await.unwrap_err();
        assert_error(&wrong, Code::Unauthenticated, "INVALID_CREDENTIALS");
    }
    let throttled = sign_in(&app, &nobody, PASSWORD).await.unwrap_err();
    assert_throttled_as(&throttled, "SIGN_IN_THROTTLED", SECOND);
    app.stop().await;
}

async fn a_guesser_cannot_keep_the_owner_out_for_longer_than_the_bound(db: Db) {
    let Some(app) = spawn_app_with(db, |settings| {
        settings.sign_in_account_limit = 3;
        settings.throttle_max_delay_minutes = 1;
    })
    .await
    else {
        return;
    };
    let bound = 60 * SECOND;
    let owner = email();
    app.sign_up(&owner).await;
    // A guesser who tries again the moment each wait is over, for a simulated hour.
    let (mut guesses, mut waited) = (0, Duration::ZERO);
    while waited < 60 * bound {
        match sign_in(&app, &owner, "a guess at the password").await {
            Err(status) if status.code() == Code::ResourceExhausted => {
                assert_throttled_as(&status, "SIGN_IN_THROTTLED", bound);
                let delay = retry_delay(&status);
                advance(&app, delay);
                waited += delay;
            }
            Err(status) => {
                assert_error(&status, Code::Unauthenticated, "INVALID_CREDENTIALS");
                guesses += 1;
            }
            Ok(_) => panic!("a guess was the password"),
        }
    }
    assert!(
        (60..=75).contains(&guesses),
        "{guesses} guesses in an hour, at most one a minute past the first few"
    );
    // The guesser goes on; the owner, in the middle of it, waits at most the bound.
    let wrong = sign_in(&app, &owner, "a guess at the password")
        .await
        .unwrap_err();
    assert_error(&wrong, Code::Unauthenticated, "INVALID_CREDENTIALS");
    let throttled = sign_in(&app, &owner, PASSWORD).await.unwrap_err();
    assert_throttled_as(&throttled, "SIGN_IN_THROTTLED", bound);
    advance(&app, retry_delay(&throttled));
    sign_in(&app, &owner, PASSWORD)
        .await
        .expect("the owner gets in after one wait");
    app.stop().await;
}

async fn failed_sign_ins_over_many_accounts_are_throttled_per_address(db: Db) {
    let Some(app) = spawn_app_with(db, |settings| settings.sign_in_address_limit = 5).await else {
        return;
    };
    let owner = email();
    app.sign_up(&owner).await;
    // Credential stuffing: one try at each of many e-mails, from one address.
    for _ in 0..5 {
        let wrong = sign_in(&app, &email(), PASSWORD).await.unwrap_err();
        assert_error(&wrong, Code::Unauthenticated, "INVALID_CREDENTIALS");
    }
    let throttled = sign_in(&app, &email(), PASSWORD).await.unwrap_err();
    assert_throttled_as(&throttled, "SIGN_IN_THROTTLED", SECOND);
    advance(&app, SECOND);
    // Successful sign-ins give their attempt back to the address.
    for _ in 0..3 {
        sign_in(&app, &owner, PASSWORD).await.unwrap();
        advance(&app, 2 * SECOND);
    }
    let wrong = sign_in(&app, &email(), PASSWORD).await.unwrap_err();
    assert_error(&wrong, Code::Unauthenticated, "INVALID_CREDENTIALS");
    let throttled = sign_in(&app, &email(), PASSWORD).await.unwrap_err();
    assert_throttled_as(&throttled, "SIGN_IN_THROTTLED", 2 * SECOND);
    app.stop().await;
}

async fn sign_ups_from_one_address_are_throttled(db: Db) {
    let Some(app) = spawn_app_with(db, |settings| settings.sign_up_address_limit = 4).await else {
        return;
    };
    sign_up_from(&app, None).await.unwrap();
    sign_up_from(&app, None).await.unwrap();
    // An e-mail that exists already is an answer too: it counts.
    let taken = sign_up_from(&app, None).await.unwrap();
    let exists = app
        .accounts()
        .create_account(pb::CreateAccountRequest {
            email: taken.email,
            password: PASSWORD.to_owned(),
            display_name: String::new(),
        })
        .await
        .unwrap_err();
    assert_error(&exists, Code::AlreadyExists, "ACCOUNT_EXISTS");
    let throttled = sign_up_from(&app, None).await.unwrap_err();
    assert_throttled_as(&throttled, "SIGN_UP_THROTTLED", SECOND);
    // Malformed sign-ups are refused before the throttle and do not count.
    let invalid = app
        .accounts()
        .create_account(pb::CreateAccountRequest {
            email: "not an e-mail".to_owned(),
            password: PASSWORD.to_owned(),
            display_name: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(invalid.code(), Code::InvalidArgument);
    advance(&app, SECOND);
    sign_up_from(&app, None).await.expect("after the wait");
    let throttled = sign_up_from(&app, None).await.unwrap_err();
    assert_throttled_as(&throttled, "SIGN_UP_THROTTLED", 2 * SECOND);
    app.stop().await;
}

async fn behind_a_trusted_proxy_each_client_address_has_its_own_counters(db: Db) {
    let Some(app) = spawn_app_with(db, |settings| {
        settings.sign_up_address_limit = 2;
        settings.sign_in_address_limit = 2;
        settings.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await
    else {
        return;
    };
    let guesser = Some("198.51.100.7");
    for _ in 0..2 {
        sign_up_from(&app, guesser).await.unwrap();
    }
    let throttled = sign_up_from(&app, guesser).await.unwrap_err();
    assert_throttled_as(&throttled, "SIGN_UP_THROTTLED", SECOND);
    // Other customers behind the same proxy are counted by their own addresses.
    for client in ["198.51.100.8", "2001:db8::8"] {
        sign_up_from(&app, Some(client)).await.unwrap();
    }
    // So are their sign-ins; the standard `forwarded` header works too.
    let owner = email();
    app.sign_up(&owner).await;
    for _ in 0..2 {
        let wrong = app
            .accounts()
            .sign_in(sign_in_request(&email(), PASSWORD, guesser))
            .await
            .unwrap_err();
        assert_error(&wrong, Code::Unauthenticated, "INVALID_CREDENTIALS");
    }
    let throttled = app
        .accounts()
        .sign_in(sign_in_request(&email(), PASSWORD, guesser))
        .await
        .unwrap_err();
    assert_throttled_as(&throttled, "SIGN_IN_THROTTLED", SECOND);
    let mut request = sign_in_request(&owner, PASSWORD, None);
    request.metadata_mut().insert(
        "forwarded",
        r#"for="[2001:db8::9]:4711";proto=https"#.parse().unwrap(),
    );
    app.accounts()
        .sign_in(request)
        .await
        .expect("another client of the proxy signs in");
    app.stop().await;
}

async fn a_client_cannot_dodge_the_throttle_with_a_forged_header(db: Db) {
    // No trusted proxies: the connection's peer is the client, whatever it claims.
    let Some(app) = spawn_app_with(db, |settings| settings.sign_up_address_limit = 2).await else {
        return;
    };
    for client in ["198.51.100.1", "198.51.100.2"] {
        sign_up_from(&app, Some(client)).await.unwrap();
    }
    let throttled = sign_up_from(&app, Some("198.51.100.3")).await.unwrap_err();
    assert_throttled_as(&throttled, "SIGN_UP_THROTTLED", SECOND);
    app.stop().await;
}

async fn sign_ins_beyond_the_hashing_pool_are_refused_with_a_retry_delay(db: Db) {
    let Some(app) = spawn_app_with(db, |settings| {
        settings.password_hash_workers = 1;
        settings.password_hash_queue_ms = 1;
    })
    .await
    else {
        return;
    };
    // Set up one call at a time, retrying what the pool refuses.
    let owner = email();
    let mut signed_up = false;
    for _ in 0..50 {
        let request = pb::CreateAccountRequest {
            email: owner.clone(),
            password: PASSWORD.to_owned(),
            display_name: String::new(),
        };
        match app.accounts().create_account(request).await {
            Ok(_) => {
                signed_up = true;
                break;
            }
            Err(status) => assert_error(&status, Code::Unavailable, "PASSWORD_HASHING_BUSY"),
        }
    }
    assert!(signed_up, "one sign-up at a time gets through");
    let calls = (0..24).map(|_| {
        let mut accounts = app.accounts();
        let request = sign_in_request(&owner, PASSWORD, None);
        async move { accounts.sign_in(request).await }
    });
    let outcomes = join_all(calls).await;
    let mut busy = 0;
    for outcome in &outcomes {
        if let Err(status) = outcome {
            assert_error(status, Code::Unavailable, "PASSWORD_HASHING_BUSY");
            assert!(retry_delay(status) >= SECOND);
            busy += 1;
        }
    }
    assert!(
        busy > 0,
        "24 concurrent sign-ins on one hashing thread with 1 ms of queue: none refused"
    );
    // One at a time, sign-ins get through.
    let mut signed_in = false;
    for _ in 0..50 {
        match sign_in(&app, &owner, PASSWORD).await {
            Ok(_) => {
                signed_in = true;
                break;
            }
            Err(status) => assert_error(&status, Code::Unavailable, "PASSWORD_HASHING_BUSY"),
        }
    }
    assert!(signed_in, "one sign-in at a time gets through");
    app.stop().await;
}
