//! Restores that are refused and create nothing: forged and foreign App Store proofs,
//! expired and revoked purchases, unknown products, malformed requests, and every proof
//! on a server with no store configured.

use super::apple_pki::{self, Dates, Pki, Rejected, negative_set, with};
use super::play_stand_in;
use super::{PRODUCT, ms, restore, restore_apple, restore_play, spawn_apple_app, transaction};
use crate::support::{
    Db, admin, assert_error, assert_invalid_field, email, on_both_backends, spawn_app,
};
use chrono::Duration;
use serde_json::json;
use tessera::domain::clock::Clock;
use tessera_client::{
    pb,
    tonic::{Code, Status},
    tonic_types::StatusExt,
};

on_both_backends!(
    forged_and_foreign_app_store_proofs_are_refused_and_create_nothing,
    expired_purchases_unknown_products_and_malformed_requests_are_refused,
    a_server_without_store_configuration_refuses_restores,
);

/// Whether `status` is the rejection `expected`: its code and reason, and for
/// INVALID_ARGUMENT the one field `signed_proof`.
fn is_rejection(status: &Status, expected: Rejected) -> bool {
    let details = status.get_error_details();
    let reason = details.error_info().map(|info| info.reason.as_str());
    let fields: Vec<&str> = details
        .bad_request()
        .map(|b| {
            b.field_violations
                .iter()
                .map(|v| v.field.as_str())
                .collect()
        })
        .unwrap_or_default();
    match expected {
        Rejected::InvalidArgument(expected) => {
            status.code() == Code::InvalidArgument
                && reason == Some(expected)
                && fields == ["signed_proof"]
        }
        Rejected::PermissionDenied(expected) => {
            status.code() == Code::PermissionDenied && reason == Some(expected)
        }
    }
}

async fn forged_and_foreign_app_store_proofs_are_refused_and_create_nothing(db: Db) {
    let pki = Pki::new();
    let Some(app) = spawn_apple_app(db, &pki).await else {
        return;
    };
    let (_, token) = app.sign_up(&email()).await;
    let payload = transaction(
        &app,
        "2000000999",
        PRODUCT,
        app.clock.now() + Duration::days(30),
    );
    // The empty proof is refused before any store is asked; see the next scenario.
    let cases: Vec<_> = negative_set(&pki, &payload)
        .into_iter()
        .filter(|case| !case.proof.is_empty())
        .collect();
    assert!(cases.len() >= 5);

    let mut failures = Vec::new();
    for case in &cases {
        match restore_apple(&app, &token, &case.proof).await {
            Ok(subscription) => {
                failures.push(format!("{}: restored as {}", case.name, subscription.name))
            }
            Err(status) if !is_rejection(&status, case.expected) => failures.push(format!(
                "{}: expected {:?}, got {status:?}",
                case.name, case.expected
            )),
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        app.list_subscriptions(&token).await.is_empty(),
        "nothing is created"
    );

    let wrong_bundle = pki.proof(&with(payload.clone(), "bundleId", json!("com.other.app")));
    let denied = restore_apple(&app, &token, &wrong_bundle)
        .await
        .unwrap_err();
    assert_error(&denied, Code::PermissionDenied, "APPLE_PROOF_WRONG_BUNDLE");

    // The purchase the forgeries started from is genuine: it is only the forging that
    // was refused.
    restore_apple(&app, &token, &pki.proof(&payload))
        .await
        .expect("the genuine proof restores");
    assert_eq!(app.list_subscriptions(&token).await.len(), 1);
    app.stop().await;
}

async fn expired_purchases_unknown_products_and_malformed_requests_are_refused(db: Db) {
    let pki = Pki::new();
    let Some(app) = spawn_apple_app(db, &pki).await else {
        return;
    };
    let (_, token) = app.sign_up(&email()).await;
    let now = app.clock.now();

    let lapsed = apple_pki::transaction(
        "2000000111",
        PRODUCT,
        Dates {
            purchase_ms: ms(now - Duration::days(40)),
            expires_ms: ms(now - Duration::days(10)),
            signed_ms: ms(now - Duration::days(10)),
        },
    );
    let expired = restore_apple(&app, &token, &pki.proof(&lapsed))
        .await
        .unwrap_err();
    assert_error(&expired, Code::FailedPrecondition, "STORE_PURCHASE_EXPIRED");

    let refunded = with(
        transaction(&app, "2000000222", PRODUCT, now + Duration::days(30)),
        "revocationDate",
        json!(ms(now - Duration::hours(1))),
    );
    let revoked = restore_apple(&app, &token, &pki.proof(&refunded))
        .await
        .unwrap_err();
    assert_error(&revoked, Code::FailedPrecondition, "STORE_PURCHASE_REVOKED");

    let not_a_plan = transaction(
        &app,
        "2000000333",
        "com.example.suite.platinum_99_yearly",
        now + Duration::days(30),
    );
    let unknown = restore_apple(&app, &token, &pki.proof(&not_a_plan))
        .await
        .unwrap_err();
    assert_error(&unknown, Code::FailedPrecondition, "STORE_PRODUCT_UNKNOWN");

    let genuine = pki.proof(&transaction(
        &app,
        "2000000444",
        PRODUCT,
        now + Duration::days(5),
    ));
    for store in [pb::Channel::Direct, pb::Channel::Unspecified] {
        let wrong_store = restore(&app, &token, store, &genuine).await.unwrap_err();
        assert_invalid_field(&wrong_store, "store");
    }
    for empty in ["", "  \n"] {
        let no_proof = restore_apple(&app, &token, empty).await.unwrap_err();
        assert_invalid_field(&no_proof, "signed_proof");
    }
    let as_admin = app
        .subscriptions()
        .restore_store_purchase(admin(pb::RestoreStorePurchaseRequest {
            store: pb::Channel::AppStore as i32,
            signed_proof: genuine.clone(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(as_admin.code(), Code::PermissionDenied, "{as_admin:?}");
    assert!(
        app.list_subscriptions(&token).await.is_empty(),
        "nothing is created"
    );

    // Once restored, a purchase whose period has since ended restores again quietly.
    let subscription = restore_apple(&app, &token, &genuine).await.unwrap();
    app.clock.advance(Duration::days(6));
    let again = restore_apple(&app, &token, &genuine).await.unwrap();
    assert_eq!(again.name, subscription.name);
    assert_eq!(again.update_time, subscription.update_time);
    app.stop().await;
}

async fn a_server_without_store_configuration_refuses_restores(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let (_, token) = app.sign_up(&email()).await;
    let pki = Pki::new();
    let proof = pki.proof(&transaction(
        &app,
        "2000000555",
        PRODUCT,
        app.clock.now() + Duration::days(30),
    ));

    let apple = restore_apple(&app, &token, &proof).await.unwrap_err();
    assert_error(&apple, Code::FailedPrecondition, "STORE_NOT_CONFIGURED");
    let play = restore_play(&app, &token, play_stand_in::ACTIVE_TOKEN)
        .await
        .unwrap_err();
    assert_error(&play, Code::FailedPrecondition, "STORE_NOT_CONFIGURED");
    assert!(app.list_subscriptions(&token).await.is_empty());
    app.stop().await;
}
