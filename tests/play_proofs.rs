//! Google Play purchase tokens, verified against a local stand-in for Google's OAuth
//! token endpoint and the Play Developer API's `purchases.subscriptionsv2.get`
//! (`support/play_stand_in.rs`, shared with the server-level restore scenarios).

#[path = "support/play_stand_in.rs"]
mod play_stand_in;

use chrono::{DateTime, Utc};
use play_stand_in::{
    ACTIVE_TOKEN, CANCELED_TOKEN, EXPIRED_TOKEN, GARBLED_TOKEN, Google, KEY_FILE, PACKAGE, StandIn,
};
use serde_json::Value;
use std::time::Duration;
use tessera::Error;
use tessera::app_stores::google::{PlayConfig, PlayPurchase, PlayState, PlayVerifier};
use tessera::domain::purchase::StoreKind;
use tokio::net::TcpListener;

/// Verifies a token that must verify, showing what the stand-in rejected if not.
async fn verified(stand_in: &StandIn, verifier: &PlayVerifier, token: &str) -> PlayPurchase {
    verifier.verify(token).await.unwrap_or_else(|error| {
        panic!(
            "{error:?}; the stand-in rejected: {:?}",
            stand_in.rejections()
        )
    })
}

fn at(rfc3339: &str) -> DateTime<Utc> {
    rfc3339.parse().unwrap()
}

fn reason(error: &Error) -> &'static str {
    match error {
        Error::InvalidArgument { reason, .. }
        | Error::PermissionDenied { reason, .. }
        | Error::Unavailable { reason, .. } => reason.as_str(),
        other => panic!("unexpected error {other:?}"),
    }
}

#[tokio::test]
async fn an_active_subscription_verifies_with_its_latest_line_item() {
    let stand_in = StandIn::spawn(Google::Working).await;
    let play = verified(&stand_in, &stand_in.verifier(), ACTIVE_TOKEN).await;

    assert_eq!(play.state, PlayState::Active);
    assert!(play.acknowledged);
    assert_eq!(play.linked_purchase_token, None);
    let purchase = play.purchase;
    assert_eq!(purchase.store, StoreKind::PlayStore);
    assert_eq!(purchase.original_id, ACTIVE_TOKEN);
    assert_eq!(purchase.product_id, "premium_10");
    assert_eq!(purchase.purchased_at, at("2024-05-01T10:00:00.456Z"));
    assert_eq!(purchase.expires_at, at("2099-01-31T10:00:00.123Z"));
    assert_eq!(purchase.auto_renew, Some(true));
    assert_eq!(purchase.environment, "Production");
    assert!(!purchase.revoked);
}

#[tokio::test]
async fn an_expired_subscription_reports_its_state_and_past_expiry() {
    let stand_in = StandIn::spawn(Google::Working).await;
    let play = verified(&stand_in, &stand_in.verifier(), EXPIRED_TOKEN).await;

    assert_eq!(play.state, PlayState::Expired);
    assert_eq!(play.purchase.expires_at, at("2024-06-01T08:00:00Z"));
    assert!(play.purchase.expires_at < Utc::now());
    assert_eq!(play.purchase.auto_renew, Some(false));
    assert!(!play.purchase.revoked, "it ran its full term");
}

#[tokio::test]
async fn a_canceled_subscription_keeps_its_paid_period_and_names_the_token_it_replaced() {
    let stand_in = StandIn::spawn(Google::Working).await;
    let play = verified(
        &stand_in,
        &stand_in.test_purchase_verifier(),
        CANCELED_TOKEN,
    )
    .await;

    assert_eq!(play.state, PlayState::Canceled);
    assert_eq!(play.purchase.expires_at, at("2099-03-01T12:00:00Z"));
    assert_eq!(play.purchase.auto_renew, Some(false));
    assert!(!play.purchase.revoked);
    assert_eq!(play.purchase.environment, "Sandbox");
    assert_eq!(
        play.linked_purchase_token.as_deref(),
        Some("older-token.AO-J1Ow_1lVp")
    );
    assert!(!play.acknowledged);
}

#[tokio::test]
async fn a_license_testers_purchase_is_refused_unless_test_purchases_are_accepted() {
    let stand_in = StandIn::spawn(Google::Working).await;

    let error = stand_in
        .verifier()
        .verify(CANCELED_TOKEN)
        .await
        .unwrap_err();
    assert_eq!(reason(&error), "PLAY_TEST_PURCHASE_REFUSED");
    assert!(matches!(error, Error::PermissionDenied { .. }));

    let accepted = verified(
        &stand_in,
        &stand_in.test_purchase_verifier(),
        CANCELED_TOKEN,
    )
    .await;
    assert_eq!(accepted.purchase.environment, "Sandbox");
    // Paid purchases verify the same on either kind of server.
    for verifier in [stand_in.verifier(), stand_in.test_purchase_verifier()] {
        let paid = verified(&stand_in, &verifier, ACTIVE_TOKEN).await;
        assert_eq!(paid.purchase.environment, "Production");
    }
}

#[tokio::test]
async fn a_token_google_does_not_know_is_not_found() {
    let stand_in = StandIn::spawn(Google::Working).await;
    let error = stand_in
        .verifier()
        .verify("unknown-token.AO-J1Oq")
        .await
        .unwrap_err();

    assert_eq!(reason(&error), "PLAY_PURCHASE_NOT_FOUND");
    assert!(matches!(
        error,
        Error::InvalidArgument {
            field: "signed_proof",
            ..
        }
    ));
}

#[tokio::test]
async fn a_malformed_token_is_refused_without_asking_google() {
    let stand_in = StandIn::spawn(Google::Working).await;
    let verifier = stand_in.verifier();
    let oversized = "a".repeat(5000);

    for token in [
        "",
        "a/../../other",
        "token with spaces",
        "tok%2Fen",
        &oversized,
    ] {
        let error = verifier.verify(token).await.unwrap_err();
        assert_eq!(reason(&error), "PLAY_TOKEN_MALFORMED", "token {token:?}");
    }
    assert_eq!(stand_in.token_requests(), 0);
    assert_eq!(stand_in.api_requests(), 0);
}

#[tokio::test]
async fn a_service_account_refused_by_the_token_endpoint_is_permission_denied() {
    let stand_in = StandIn::spawn(Google::RefusesServiceAccount).await;
    let error = stand_in.verifier().verify(ACTIVE_TOKEN).await.unwrap_err();

    assert!(matches!(error, Error::PermissionDenied { .. }), "{error:?}");
    assert_eq!(reason(&error), "PLAY_ACCESS_DENIED");
    assert_eq!(stand_in.api_requests(), 0);
}

#[tokio::test]
async fn an_assertion_for_another_account_is_refused_by_the_stand_in() {
    let stand_in = StandIn::spawn(Google::Working).await;
    let mut key_file: Value = serde_json::from_str(KEY_FILE).unwrap();
    key_file["client_email"] = "someone-else@tessera-test.iam.gserviceaccount.com".into();
    let verifier = PlayVerifier::new(PlayConfig {
        service_account_json: key_file.to_string(),
        ..stand_in.config()
    })
    .unwrap();

    let error = verifier.verify(ACTIVE_TOKEN).await.unwrap_err();
    assert_eq!(reason(&error), "PLAY_ACCESS_DENIED");
    assert!(stand_in.rejections()[0].starts_with("claims are"));
}

#[tokio::test]
async fn an_app_the_service_account_may_not_see_is_permission_denied() {
    let stand_in = StandIn::spawn(Google::ForbidsTheApp).await;
    let error = stand_in.verifier().verify(ACTIVE_TOKEN).await.unwrap_err();

    assert!(matches!(error, Error::PermissionDenied { .. }), "{error:?}");
    assert_eq!(reason(&error), "PLAY_ACCESS_DENIED");
}

#[tokio::test]
async fn a_rejected_access_token_is_replaced_once_then_permission_denied() {
    let stand_in = StandIn::spawn(Google::RejectsEveryBearer).await;
    let error = stand_in.verifier().verify(ACTIVE_TOKEN).await.unwrap_err();

    assert_eq!(reason(&error), "PLAY_ACCESS_DENIED");
    assert_eq!(stand_in.token_requests(), 2);
    assert_eq!(stand_in.api_requests(), 2);
}

#[tokio::test]
async fn one_access_token_serves_many_verifications() {
    let stand_in = StandIn::spawn(Google::Working).await;
    let verifier = stand_in.verifier();

    verified(&stand_in, &verifier, ACTIVE_TOKEN).await;
    verified(&stand_in, &verifier, EXPIRED_TOKEN).await;
    verifier.verify("unknown-token").await.unwrap_err();

    assert_eq!(stand_in.token_requests(), 1);
    assert_eq!(stand_in.api_requests(), 3);
}

#[tokio::test]
async fn concurrent_verifications_share_one_token_request() {
    let stand_in = StandIn::spawn(Google::Working).await;
    let verifier = stand_in.test_purchase_verifier();

    let (a, b, c) = tokio::join!(
        verifier.verify(ACTIVE_TOKEN),
        verifier.verify(EXPIRED_TOKEN),
        verifier.verify(CANCELED_TOKEN),
    );
    assert!(a.is_ok() && b.is_ok() && c.is_ok());
    assert_eq!(stand_in.token_requests(), 1);
}

#[tokio::test]
async fn a_server_error_at_google_asks_the_caller_to_retry() {
    let stand_in = StandIn::spawn(Google::Unavailable).await;
    let error = stand_in.verifier().verify(ACTIVE_TOKEN).await.unwrap_err();

    let Error::Unavailable {
        reason,
        retry_after,
        ..
    } = error
    else {
        panic!("expected a retryable error, got {error:?}");
    };
    assert_eq!(reason.as_str(), "PLAY_UNAVAILABLE");
    assert_eq!(retry_after, Duration::from_secs(5));
}

#[tokio::test]
async fn an_unreachable_google_asks_the_caller_to_retry() {
    // A port that was just free: nothing listens there.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut config = PlayConfig::new(PACKAGE, KEY_FILE);
    config.api_base_url = base_url.clone();
    config.token_uri_override = Some(format!("{base_url}/token"));
    let verifier = PlayVerifier::new(config).unwrap();

    let error = verifier.verify(ACTIVE_TOKEN).await.unwrap_err();
    assert_eq!(reason(&error), "PLAY_UNAVAILABLE");
}

#[tokio::test]
async fn an_answer_that_does_not_parse_is_an_internal_error() {
    let stand_in = StandIn::spawn(Google::Working).await;
    let error = stand_in.verifier().verify(GARBLED_TOKEN).await.unwrap_err();

    assert!(matches!(error, Error::Internal(_)), "{error:?}");
}

#[test]
fn a_malformed_key_file_is_a_configuration_error() {
    let mut key_file: Value = serde_json::from_str(KEY_FILE).unwrap();
    key_file["private_key"] =
        "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n".into();

    for service_account_json in [key_file.to_string(), "{not json".to_owned()] {
        let error = PlayVerifier::new(PlayConfig::new(PACKAGE, service_account_json)).unwrap_err();
        let Error::Internal(message) = error else {
            panic!("expected a configuration error, got {error:?}");
        };
        assert!(message.contains("Play service-account"), "{message}");
    }
}

#[test]
fn the_configuration_never_shows_the_private_key() {
    let config = PlayConfig::new(PACKAGE, KEY_FILE);
    let shown = format!("{config:?}");
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");
    assert!(shown.contains(PACKAGE));
}

#[test]
fn a_verifier_for_google_itself_builds_with_the_system_trust_roots() {
    let verifier = PlayVerifier::new(PlayConfig::new(PACKAGE, KEY_FILE)).unwrap();
    let shown = format!("{verifier:?}");
    assert!(
        shown.contains("https://androidpublisher.googleapis.com"),
        "{shown}"
    );
    assert!(
        shown.contains("https://oauth2.googleapis.com/token"),
        "{shown}"
    );
}
