use crate::support::{Db, TestApp, email, error_shape, on_both_backends, spawn_app};
use tessera_client::{
    pb,
    tonic::{Code, Status},
    with_token,
};

on_both_backends!(
    another_account_s_resources_answer_exactly_like_missing_ones,
    a_device_token_reaches_only_its_own_seat_and_subscription,
);

const MISSING_SUBSCRIPTION: &str = "subscriptions/00000000-0000-7000-8000-000000000000";

/// Every subscription- and seat-level call `token` can make against `subscription`,
/// as (method, outcome).
async fn every_call(
    app: &TestApp,
    token: &str,
    subscription: &str,
    seat: &str,
) -> Vec<(&'static str, Result<(), Status>)> {
    vec![
        (
            "GetSubscription",
            ok(app.get_subscription(token, subscription).await),
        ),
        (
            "UpdateSubscription",
            ok(app
                .subscriptions()
                .update_subscription(with_token(
                    token,
                    pb::UpdateSubscriptionRequest {
                        subscription: Some(pb::Subscription {
                            name: subscription.into(),
                            ..Default::default()
                        }),
                        update_mask: Some(prost_types::FieldMask {
                            paths: vec!["auto_renew".into()],
                        }),
                    },
                ))
                .await),
        ),
        (
            "CancelSubscription",
            ok(app
                .subscriptions()
                .cancel_subscription(with_token(
                    token,
                    pb::CancelSubscriptionRequest {
                        name: subscription.into(),
                        immediately: true,
                        request_id: String::new(),
                    },
                ))
                .await),
        ),
        (
            "ActivateSeat",
            ok(app.activate(token, subscription, "intruder").await),
        ),
        (
            "ListSeats",
            ok(app
                .seats()
                .list_seats(with_token(
                    token,
                    pb::ListSeatsRequest {
                        parent: subscription.into(),
                        ..Default::default()
                    },
                ))
                .await),
        ),
        (
            "DeactivateSeat",
            ok(app
                .seats()
                .deactivate_seat(with_token(
                    token,
                    pb::DeactivateSeatRequest { name: seat.into() },
                ))
                .await),
        ),
    ]
}

async fn another_account_s_resources_answer_exactly_like_missing_ones(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let (alice, alice_token) = app.sign_up(&email()).await;
    let (_, mallory_token) = app.sign_up(&email()).await;
    let subscription = app.buy(&alice, "deluxe-3").await;
    let seat = app
        .activate(&alice_token, &subscription.name, "pc")
        .await
        .unwrap()
        .seat
        .unwrap();
    let missing_seat = format!("{MISSING_SUBSCRIPTION}/seats/00000000-0000-7000-8000-000000000001");

    let foreign = every_call(&app, &mallory_token, &subscription.name, &seat.name).await;
    let missing = every_call(&app, &mallory_token, MISSING_SUBSCRIPTION, &missing_seat).await;
    assert_eq!(foreign.len(), 6);
    for ((method, foreign), (_, missing)) in foreign.iter().zip(&missing) {
        let foreign = foreign.as_ref().expect_err(method);
        let missing = missing.as_ref().expect_err(method);
        assert_eq!(foreign.code(), Code::NotFound, "{method}: {foreign:?}");
        assert_eq!(error_shape(foreign), error_shape(missing), "{method}");
    }

    for (name, parent) in [(alice.clone(), "get"), (alice.clone(), "list")] {
        let status = if parent == "get" {
            app.accounts()
                .get_account(with_token(&mallory_token, pb::GetAccountRequest { name }))
                .await
                .unwrap_err()
        } else {
            app.subscriptions()
                .list_subscriptions(with_token(
                    &mallory_token,
                    pb::ListSubscriptionsRequest {
                        parent: name,
                        ..Default::default()
                    },
                ))
                .await
                .unwrap_err()
        };
        assert_eq!(status.code(), Code::NotFound, "{parent}: {status:?}");
    }

    // Nothing the intruder tried changed Alice's subscription.
    let after = app
        .get_subscription(&alice_token, &subscription.name)
        .await
        .unwrap();
    assert_eq!(after.status, pb::SubscriptionStatus::Active as i32);
    assert_eq!(after.active_seat_count, 1);
    assert!(after.auto_renew);
    app.stop().await;
}

async fn a_device_token_reaches_only_its_own_seat_and_subscription(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let (alice, alice_token) = app.sign_up(&email()).await;
    let (bob, bob_token) = app.sign_up(&email()).await;
    let alice_sub = app.buy(&alice, "deluxe-3").await;
    let bob_sub = app.buy(&bob, "deluxe-3").await;
    let alice_pc = app
        .activate(&alice_token, &alice_sub.name, "pc")
        .await
        .unwrap();
    app.activate(&bob_token, &bob_sub.name, "pc").await.unwrap();

    let own = app
        .get_subscription(&alice_pc.device_token, &alice_sub.name)
        .await
        .unwrap();
    assert_eq!(own.name, alice_sub.name);
    assert_eq!(own.product_key, "", "devices never see product keys");
    let other = app
        .get_subscription(&alice_pc.device_token, &bob_sub.name)
        .await
        .unwrap_err();
    assert_eq!(other.code(), Code::NotFound);
    app.stop().await;
}

fn ok<T>(outcome: Result<T, Status>) -> Result<(), Status> {
    outcome.map(|_| ())
}
