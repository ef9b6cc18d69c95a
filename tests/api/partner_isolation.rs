//! The isolation matrix: every principal × every method × every resource it does not
//! own answers exactly as a missing resource does, and changes nothing.

use crate::support::{Db, TestApp, email, error_shape, on_both_backends, spawn_app};
use tessera_client::{
    pb,
    tonic::{Code, Status},
    with_token,
};

on_both_backends!(every_principal_sees_foreign_resources_exactly_as_missing_ones);

const METHODS: &[&str] = &[
    "GetSubscription",
    "UpdateSubscription",
    "CancelSubscription",
    "ChangePlan",
    "SuspendSubscription",
    "ResumeSubscription",
    "RenewSubscription",
    "ReissuePartnerCode",
    "ActivateSeat",
    "ListSeats",
    "DeactivateSeat",
];

/// Calls `method` on `subscription` (and `seat` for DeactivateSeat) with `token`.
async fn call(
    app: &TestApp,
    method: &str,
    token: &str,
    subscription: &str,
    seat: &str,
) -> Result<(), Status> {
    let id = || uuid::Uuid::new_v4().to_string();
    let name = subscription.to_owned();
    let (mut subs, mut seats) = (app.subscriptions(), app.seats());
    match method {
        "GetSubscription" => subs
            .get_subscription(with_token(token, pb::GetSubscriptionRequest { name }))
            .await
            .map(drop),
        "UpdateSubscription" => subs
            .update_subscription(with_token(
                token,
                pb::UpdateSubscriptionRequest {
                    subscription: Some(pb::Subscription {
                        name,
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["auto_renew".into()],
                    }),
                },
            ))
            .await
            .map(drop),
        "CancelSubscription" => subs
            .cancel_subscription(with_token(
                token,
                pb::CancelSubscriptionRequest {
                    name,
                    immediately: true,
                    request_id: id(),
                },
            ))
            .await
            .map(drop),
        "ChangePlan" => subs
            .change_plan(with_token(
                token,
                pb::ChangePlanRequest {
                    name,
                    plan: "plans/standard-1".into(),
                    downgrade_policy: 2,
                    request_id: id(),
                },
            ))
            .await
            .map(drop),
        "SuspendSubscription" => subs
            .suspend_subscription(with_token(
                token,
                pb::SuspendSubscriptionRequest {
                    name,
                    request_id: id(),
                },
            ))
            .await
            .map(drop),
        "ResumeSubscription" => subs
            .resume_subscription(with_token(
                token,
                pb::ResumeSubscriptionRequest {
                    name,
                    request_id: id(),
                },
            ))
            .await
            .map(drop),
        "RenewSubscription" => subs
            .renew_subscription(with_token(
                token,
                pb::RenewSubscriptionRequest {
                    name,
                    end_time: None,
                    request_id: id(),
                },
            ))
            .await
            .map(drop),
        "ReissuePartnerCode" => subs
            .reissue_partner_code(with_token(
                token,
                pb::ReissuePartnerCodeRequest {
                    name,
                    request_id: id(),
                },
            ))
            .await
            .map(drop),
        "ActivateSeat" => seats
            .activate_seat(with_token(
                token,
                crate::support::activation(subscription, "intruder"),
            ))
            .await
            .map(drop),
        "ListSeats" => seats
            .list_seats(with_token(
                token,
                pb::ListSeatsRequest {
                    parent: name,
                    ..Default::default()
                },
            ))
            .await
            .map(drop),
        "DeactivateSeat" => seats
            .deactivate_seat(with_token(
                token,
                pb::DeactivateSeatRequest { name: seat.into() },
            ))
            .await
            .map(drop),
        other => panic!("unknown method {other}"),
    }
}

async fn every_principal_sees_foreign_resources_exactly_as_missing_ones(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let telco = app.partner("Telco").await;
    let rival = app.partner("Rival").await;
    let (customer, customer_token) = app.sign_up(&email()).await;

    // Telco's subscription, claimed by the customer, with a device.
    let provisioned = app.provision(&telco, "contract-1", "plans/deluxe-3").await;
    let carrier_sub = provisioned.subscription.unwrap().name;
    app.redeem_code(&customer_token, &provisioned.partner_code)
        .await
        .unwrap();
    let carrier_seat = app
        .activate(&customer_token, &carrier_sub, "phone")
        .await
        .unwrap();
    // The customer's own direct subscription, with a device.
    let direct_sub = app.buy(&customer, "deluxe-3").await.name;
    let direct_seat = app
        .activate(&customer_token, &direct_sub, "laptop")
        .await
        .unwrap();
    // A device of a stranger's subscription.
    let (stranger, stranger_token) = app.sign_up(&email()).await;
    let stranger_sub = app.buy(&stranger, "deluxe-3").await.name;
    let device_token = app
        .activate(&stranger_token, &stranger_sub, "stranger-pc")
        .await
        .unwrap()
        .device_token;

    let missing_sub = "subscriptions/00000000-0000-7000-8000-000000000000".to_owned();
    let missing_seat = format!("{missing_sub}/seats/00000000-0000-7000-8000-000000000001");
    let seat_of = |r: &pb::ActivateSeatResponse| r.seat.clone().unwrap().name;

    // (principal, token, foreign subscription, its seat, methods that must look missing)
    let all: Vec<&str> = METHODS.to_vec();
    let device_level: Vec<&str> = vec!["ActivateSeat", "ListSeats", "DeactivateSeat"];
    let matrix: Vec<(&str, &str, &str, String, Vec<&str>)> = vec![
        (
            "rival partner",
            &rival.api_key,
            &carrier_sub,
            seat_of(&carrier_seat),
            all.clone(),
        ),
        (
            "rival partner",
            &rival.api_key,
            &direct_sub,
            seat_of(&direct_seat),
            all.clone(),
        ),
        (
            "partner",
            &telco.api_key,
            &direct_sub,
            seat_of(&direct_seat),
            all.clone(),
        ),
        (
            "partner on its own devices",
            &telco.api_key,
            &carrier_sub,
            seat_of(&carrier_seat),
            device_level,
        ),
        (
            "other account",
            &stranger_token,
            &carrier_sub,
            seat_of(&carrier_seat),
            all.clone(),
        ),
        (
            "other account",
            &stranger_token,
            &direct_sub,
            seat_of(&direct_seat),
            all.clone(),
        ),
        (
            "device",
            &device_token,
            &carrier_sub,
            seat_of(&carrier_seat),
            all.clone(),
        ),
        (
            "device",
            &device_token,
            &direct_sub,
            seat_of(&direct_seat),
            all.clone(),
        ),
    ];

    let mut checked = 0;
    for (principal, token, subscription, seat, methods) in &matrix {
        for method in methods {
            let foreign = call(&app, method, token, subscription, seat).await;
            let missing = call(&app, method, token, &missing_sub, &missing_seat).await;
            let foreign =
                foreign.expect_err(&format!("{principal} {method} on {subscription} succeeded"));
            let missing = missing.expect_err(&format!(
                "{principal} {method} on a missing resource succeeded"
            ));
            assert_eq!(
                error_shape(&foreign),
                error_shape(&missing),
                "{principal} {method} on {subscription}"
            );
            assert!(
                matches!(foreign.code(), Code::NotFound | Code::PermissionDenied),
                "{principal} {method}: {foreign:?}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 7 * METHODS.len() + 3);
    eprintln!("isolation matrix: {checked} principal × method × resource cases");

    // Nothing anybody tried changed anything.
    for (subscription, plan) in [
        (&carrier_sub, "plans/deluxe-3"),
        (&direct_sub, "plans/deluxe-3"),
    ] {
        let after = app
            .get_subscription(&customer_token, subscription)
            .await
            .unwrap();
        assert_eq!(after.status, pb::SubscriptionStatus::Active as i32);
        assert_eq!(after.plan, plan);
        assert_eq!(after.active_seat_count, 1);
        assert!(after.auto_renew);
    }
    app.stop().await;
}
