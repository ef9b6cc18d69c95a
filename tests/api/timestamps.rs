//! Timestamps in requests: any outside the range of `google.protobuf.Timestamp`
//! (0001-01-01 to 9999-12-31, nanos 0 to 999,999,999) is refused wherever it appears,
//! naming the field; a carrier's `start_time` may go back at most one term of the plan
//! and a term may end at most ten years ahead (the term window). Before, such values
//! were stored and echoed, and strict clients could no longer read the subscription.

use crate::support::{
    Db, TestApp, TestPartner, admin, assert_invalid_field, on_both_backends, spawn_app, tick,
};
use chrono::{DateTime, Duration, Months, Utc};
use prost_types::{FieldMask, Timestamp};
use tessera::api::convert::{MAX_TIMESTAMP_SECONDS, MIN_TIMESTAMP_SECONDS, timestamp};
use tessera_client::{pb, tonic::Status, with_token};

on_both_backends!(
    timestamps_outside_the_protobuf_range_are_refused_in_every_request_field,
    a_start_may_go_back_one_term_and_an_end_ten_years_ahead,
);

/// Timestamps no strict client can read: year 10000, year 0, a second of nanos, and
/// negative nanos.
fn out_of_range() -> [Timestamp; 4] {
    [
        Timestamp {
            seconds: MAX_TIMESTAMP_SECONDS + 1,
            nanos: 0,
        },
        Timestamp {
            seconds: MIN_TIMESTAMP_SECONDS - 1,
            nanos: 0,
        },
        Timestamp {
            seconds: 1_800_000_000,
            nanos: 1_000_000_000,
        },
        Timestamp {
            seconds: 1_800_000_000,
            nanos: -1,
        },
    ]
}

async fn provision_from(
    app: &TestApp,
    partner: &TestPartner,
    plan: &str,
    start: DateTime<Utc>,
) -> Result<pb::ProvisionSubscriptionResponse, Status> {
    provision_at(app, partner, plan, Some(timestamp(start))).await
}

async fn provision_at(
    app: &TestApp,
    partner: &TestPartner,
    plan: &str,
    start_time: Option<Timestamp>,
) -> Result<pb::ProvisionSubscriptionResponse, Status> {
    app.subscriptions()
        .provision_subscription(with_token(
            &partner.api_key,
            pb::ProvisionSubscriptionRequest {
                partner_reference: "contract-1".to_owned(),
                plan: plan.to_owned(),
                start_time,
                request_id: uuid::Uuid::new_v4().to_string(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

async fn renew_until(
    app: &TestApp,
    partner: &TestPartner,
    name: &str,
    end_time: Timestamp,
) -> Result<pb::Subscription, Status> {
    app.subscriptions()
        .renew_subscription(with_token(
            &partner.api_key,
            pb::RenewSubscriptionRequest {
                name: name.to_owned(),
                end_time: Some(end_time),
                request_id: uuid::Uuid::new_v4().to_string(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

async fn timestamps_outside_the_protobuf_range_are_refused_in_every_request_field(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let telco = app.partner("Telco").await;
    let provisioned = app.provision(&telco, "contract-1", "plans/deluxe-3").await;
    let subscription = provisioned.subscription.unwrap();
    let last_event = app.last_event_seq().await;

    for bad in out_of_range() {
        let refused = provision_at(&app, &telco, "plans/deluxe-3", Some(bad))
            .await
            .unwrap_err();
        assert_invalid_field(&refused, "start_time");

        let refused = renew_until(&app, &telco, &subscription.name, bad)
            .await
            .unwrap_err();
        assert_invalid_field(&refused, "end_time");

        // Output-only fields are never read, but a malformed timestamp is refused
        // wherever it is, as a string that is not UTF-8 would be.
        let refused = app
            .subscriptions()
            .update_subscription(admin(pb::UpdateSubscriptionRequest {
                subscription: Some(pb::Subscription {
                    name: subscription.name.clone(),
                    auto_renew: false,
                    update_time: Some(bad),
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["auto_renew".to_owned()],
                }),
            }))
            .await
            .unwrap_err();
        assert_invalid_field(&refused, "subscription.update_time");

        let refused = app
            .partners()
            .update_partner(admin(pb::UpdatePartnerRequest {
                partner: Some(pb::Partner {
                    name: telco.name.clone(),
                    display_name: "Telco Two".to_owned(),
                    create_time: Some(bad),
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["display_name".to_owned()],
                }),
            }))
            .await
            .unwrap_err();
        assert_invalid_field(&refused, "partner.create_time");
    }
    assert_eq!(
        app.last_event_seq().await,
        last_event,
        "nothing was changed"
    );
    let unchanged = app
        .get_subscription(&telco.api_key, &subscription.name)
        .await
        .unwrap();
    assert_eq!(unchanged.end_time, subscription.end_time);
    app.stop().await;
}

async fn a_start_may_go_back_one_term_and_an_end_ten_years_ahead(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let telco = app.partner("Telco").await;
    let now = app.services.now();

    // The Unix epoch (an unset field on the carrier's side) and a year before a monthly
    // term are refused; it used to write one RENEWED event per month since.
    for far_back in [DateTime::<Utc>::UNIX_EPOCH, now - Duration::days(365)] {
        let refused = provision_from(&app, &telco, "plans/deluxe-3-monthly", far_back)
            .await
            .unwrap_err();
        assert_invalid_field(&refused, "start_time");
    }
    let refused = provision_from(
        &app,
        &telco,
        "plans/deluxe-3",
        now + Duration::days(365 * 10),
    )
    .await
    .unwrap_err();
    assert_invalid_field(&refused, "start_time");

    // One whole term back is the limit: the term has just ended, and the worker renews
    // it once.
    let one_term_back = now.checked_sub_months(Months::new(1)).unwrap();
    let before = app.last_event_seq().await;
    let late = provision_from(&app, &telco, "plans/deluxe-3-monthly", one_term_back)
        .await
        .expect("a contract provisioned one term late")
        .subscription
        .unwrap();
    assert_eq!(late.start_time, Some(timestamp(one_term_back)));
    assert_eq!(tick(&app).await, 1);
    assert_eq!(
        app.last_event_seq().await,
        before + 2,
        "SUBSCRIPTION_CREATED, then one SUBSCRIPTION_RENEWED"
    );
    let renewed = app
        .get_subscription(&telco.api_key, &late.name)
        .await
        .unwrap();
    assert!(renewed.end_time.unwrap().seconds > now.timestamp());

    // An end up to ten years ahead is taken, one second more is not.
    let ten_years = now.checked_add_months(Months::new(120)).unwrap();
    let refused = renew_until(
        &app,
        &telco,
        &late.name,
        timestamp(ten_years + Duration::seconds(1)),
    )
    .await
    .unwrap_err();
    assert_invalid_field(&refused, "end_time");
    let renewed = renew_until(&app, &telco, &late.name, timestamp(ten_years))
        .await
        .expect("a renewal ten years ahead");
    assert_eq!(renewed.end_time, Some(timestamp(ten_years)));
    app.stop().await;
}
