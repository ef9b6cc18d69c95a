//! What an event stands for: a committed change (one that rolls back emits nothing and
//! uses no sequence number), who made it and under which request id, the lifecycle
//! worker's renewals included.

use super::{after, cancel, next_event, replay_all, set_auto_renew, watch};
use crate::support::{
    ADMIN_TOKEN, Db, admin, assert_error, email, on_both_backends, spawn_app, tick,
};
use tessera_client::{
    pb::{self, EventType},
    tonic::Code,
    with_token,
};

on_both_backends!(
    changes_that_roll_back_emit_nothing_and_use_no_sequence_number,
    events_name_the_actor_and_the_request_id,
    a_lifecycle_worker_renewal_is_an_event_of_the_system,
);

/// A timestamp to the micro-second, the precision Tessera stores.
fn micros(time: &Option<prost_types::Timestamp>) -> i64 {
    let time = time.as_ref().expect("a timestamp");
    time.seconds * 1_000_000 + i64::from(time.nanos / 1000)
}

async fn changes_that_roll_back_emit_nothing_and_use_no_sequence_number(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let (account, token) = app.sign_up(&email()).await;
    let carrier = app.partner("Careful Carrier").await;
    let mut subscriptions = app.subscriptions();
    let single = app.buy(&account, "standard-1").await.name;
    app.activate(&token, &single, "only-pc").await.unwrap();
    let ended = app.buy(&account, "deluxe-3").await.name;
    cancel(&mut subscriptions, &token, &ended, true)
        .await
        .unwrap();
    let provision = |plan: &str| {
        with_token(
            &carrier.api_key,
            pb::ProvisionSubscriptionRequest {
                partner_reference: "contract-1".into(),
                plan: plan.into(),
                start_time: None,
                request_id: "prov-1".into(),
            },
        )
    };
    subscriptions
        .provision_subscription(provision("deluxe-5"))
        .await
        .unwrap();
    let before = replay_all(&app).await;
    assert_eq!(before.len(), 5);

    let full = app
        .activate(&token, &single, "second-pc")
        .await
        .unwrap_err();
    assert_error(&full, Code::ResourceExhausted, "SEAT_LIMIT_REACHED");
    let reused = subscriptions
        .provision_subscription(provision("premium-10"))
        .await
        .unwrap_err();
    assert_error(&reused, Code::InvalidArgument, "REQUEST_ID_REUSED");
    let again = cancel(&mut subscriptions, &token, &ended, true)
        .await
        .unwrap_err();
    assert_error(
        &again,
        Code::FailedPrecondition,
        "SUBSCRIPTION_NOT_CANCELLABLE",
    );
    let not_active = app.activate(&token, &ended, "late-pc").await.unwrap_err();
    assert_error(
        &not_active,
        Code::FailedPrecondition,
        "SUBSCRIPTION_NOT_ACTIVE",
    );
    // A retry with the same request id is answered from memory and changes nothing.
    subscriptions
        .provision_subscription(provision("deluxe-5"))
        .await
        .unwrap();
    // Re-activating a device that holds a seat, and setting auto-renew to its current
    // value, change nothing either.
    app.activate(&token, &single, "only-pc").await.unwrap();
    set_auto_renew(&mut subscriptions, &token, &single, true)
        .await
        .unwrap();

    // One real change after all that takes the very next number.
    set_auto_renew(&mut subscriptions, &token, &single, false)
        .await
        .unwrap();
    let after_all = replay_all(&app).await;
    assert_eq!(after_all.len(), before.len() + 1);
    assert_eq!(after_all[..before.len()], before[..]);
    let last = after_all.last().unwrap();
    assert_eq!(last.sequence, before.len() as i64 + 1);
    assert_eq!(
        (last.subscription.as_str(), last.r#type()),
        (single.as_str(), EventType::SubscriptionUpdated)
    );
    app.stop().await;
}

async fn events_name_the_actor_and_the_request_id(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let (account, token) = app.sign_up(&email()).await;
    let carrier = app.partner("Named Carrier").await;
    let provisioned = app
        .subscriptions()
        .provision_subscription(with_token(
            &carrier.api_key,
            pb::ProvisionSubscriptionRequest {
                partner_reference: "contract-9".into(),
                plan: "deluxe-5".into(),
                start_time: None,
                request_id: "r-1".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let carrier_subscription = provisioned.subscription.unwrap().name;
    app.redeem_code(&token, &provisioned.partner_code)
        .await
        .unwrap();
    let sold = app
        .subscriptions()
        .create_subscription(admin(pb::CreateSubscriptionRequest {
            parent: account.clone(),
            plan: "deluxe-3".into(),
            auto_renew: true,
            request_id: "checkout-7".into(),
        }))
        .await
        .unwrap()
        .into_inner()
        .name;
    app.activate(&token, &sold, "desktop").await.unwrap();

    let events = replay_all(&app).await;
    let who = |e: &pb::Event| {
        (
            e.r#type(),
            e.subscription.clone(),
            e.actor_kind(),
            e.actor.clone(),
            e.request_id.clone(),
        )
    };
    assert_eq!(
        events.iter().map(who).collect::<Vec<_>>(),
        vec![
            (
                EventType::SubscriptionCreated,
                carrier_subscription.clone(),
                pb::ActorKind::Partner,
                carrier.name.clone(),
                "r-1".into(),
            ),
            (
                EventType::PartnerCodeRedeemed,
                carrier_subscription.clone(),
                pb::ActorKind::Account,
                account.clone(),
                String::new(),
            ),
            (
                EventType::SubscriptionCreated,
                sold.clone(),
                pb::ActorKind::Admin,
                String::new(),
                "checkout-7".into(),
            ),
            (
                EventType::SeatActivated,
                sold.clone(),
                pb::ActorKind::Account,
                account.clone(),
                String::new(),
            ),
        ]
    );
    assert!(events.iter().all(|e| e.create_time.is_some()));
    app.stop().await;
}

async fn a_lifecycle_worker_renewal_is_an_event_of_the_system(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let carrier = app.partner("Renewing Carrier").await;
    let provisioned = app
        .provision(&carrier, "contract-12", "deluxe-3-monthly")
        .await;
    let subscription = provisioned.subscription.unwrap();
    let mut renewals = watch(
        &app,
        ADMIN_TOKEN,
        pb::WatchEventsRequest {
            subscription: subscription.name.clone(),
            types: vec![EventType::SubscriptionRenewed as i32],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut partner_view = watch(&app, &carrier.api_key, after(1)).await.unwrap();

    app.clock.advance(chrono::Duration::days(32));
    assert_eq!(tick(&app).await, 1);

    let renewed = next_event(&mut renewals).await;
    assert_eq!(renewed.r#type(), EventType::SubscriptionRenewed);
    assert_eq!(renewed.actor_kind(), pb::ActorKind::System);
    assert_eq!(
        (renewed.actor.as_str(), renewed.request_id.as_str()),
        ("", "")
    );
    let state = renewed.subscription_state.as_ref().unwrap();
    assert_eq!(state.status(), pb::SubscriptionStatus::Active);
    assert_eq!(
        micros(&state.start_time),
        micros(&subscription.end_time),
        "the new term follows the old one"
    );
    // The carrier is told too: it is its subscription.
    let told = next_event(&mut partner_view).await;
    assert_eq!(told.sequence, renewed.sequence);
    assert_eq!(told.actor_kind(), pb::ActorKind::System);
    app.stop().await;
}
