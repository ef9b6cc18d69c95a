//! Who may watch, and how much: a partner sees only its own subscriptions and never a
//! seat; customers and devices may not watch at all.

use super::{
    after, claimed_carrier_subscription, events, events_until, replay_all, seat_count,
    set_suspended, watch,
};
use crate::support::{Db, assert_error, email, on_both_backends, spawn_app};
use std::time::Duration;
use tessera_client::{
    pb::{self, EventType},
    tonic::Code,
};
use tokio::time::timeout;

on_both_backends!(
    a_partner_sees_only_its_own_subscriptions_and_never_a_seat,
    customers_and_devices_may_not_watch_events,
);

async fn a_partner_sees_only_its_own_subscriptions_and_never_a_seat(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let (account, token) = app.sign_up(&email()).await;
    let ours = app.partner("Our Carrier").await;
    let theirs = app.partner("Their Carrier").await;
    let mine = claimed_carrier_subscription(&app, &ours, &token, "deluxe-5").await;
    let foreign = claimed_carrier_subscription(&app, &theirs, &token, "deluxe-5").await;
    let direct = app.buy(&account, "deluxe-5").await.name;
    for subscription in [&mine, &foreign, &direct] {
        app.activate(&token, subscription, "laptop").await.unwrap();
    }
    let mut subscriptions = app.subscriptions();
    set_suspended(&mut subscriptions, &theirs.api_key, &foreign, true)
        .await
        .unwrap();
    // The last change, on our subscription, ends the partner's read.
    set_suspended(&mut subscriptions, &ours.api_key, &mine, true)
        .await
        .unwrap();

    let mut stream = watch(&app, &ours.api_key, after(0)).await.unwrap();
    let seen = events_until(&mut stream, |e| {
        e.r#type() == EventType::SubscriptionSuspended
    })
    .await;
    let kinds: Vec<EventType> = seen.iter().map(|e| e.r#type()).collect();
    assert_eq!(
        kinds,
        vec![
            EventType::SubscriptionCreated,
            EventType::PartnerCodeRedeemed,
            EventType::SeatActivated,
            EventType::SubscriptionSuspended,
        ]
    );
    for event in &seen {
        assert_eq!(event.subscription, mine);
        assert_eq!(event.seat, None, "partners never see a seat");
        if event.actor_kind() == pb::ActorKind::Account {
            assert_eq!(event.actor, "", "partners never learn which account acted");
        }
        let state = event.subscription_state.as_ref().unwrap();
        assert_eq!(state.account, "", "partners see `claimed`, not the account");
        assert_eq!(state.partner, ours.name);
    }
    assert_eq!(seat_count(&seen[2]), 1);
    assert!(seen[2].subscription_state.as_ref().unwrap().claimed);

    // Asking for another partner's subscription yields nothing, not even its creation.
    let mut elsewhere = watch(
        &app,
        &ours.api_key,
        pb::WatchEventsRequest {
            subscription: foreign.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let nothing = timeout(Duration::from_millis(600), elsewhere.message()).await;
    assert!(nothing.is_err(), "unexpected: {nothing:?}");

    // The admin sees all of it, seats included.
    let all = replay_all(&app).await;
    assert_eq!(all.len(), 10);
    eprintln!(
        "EXPERIMENT actors seen by partner: {:?}",
        seen.iter()
            .map(|e| (e.r#type(), e.actor_kind(), e.actor.clone()))
            .collect::<Vec<_>>()
    );
    for subscription in [&mine, &foreign, &direct] {
        let seat = all
            .iter()
            .find(|e| &e.subscription == subscription && e.r#type() == EventType::SeatActivated)
            .and_then(|e| e.seat.as_ref())
            .expect("the admin sees the seat");
        assert_eq!(seat.device_id, "laptop");
    }
    app.stop().await;
}

async fn customers_and_devices_may_not_watch_events(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let (account, token) = app.sign_up(&email()).await;
    let subscription = app.buy(&account, "deluxe-3").await.name;
    let device = app
        .activate(&token, &subscription, "phone")
        .await
        .unwrap()
        .device_token;
    for credential in [&token, &device] {
        let status = watch(&app, credential, after(0)).await.unwrap_err();
        assert_error(&status, Code::PermissionDenied, "PRINCIPAL_NOT_ALLOWED");
    }
    let status = watch(&app, "not-a-token", after(0)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = events(&app.channel)
        .watch_events(after(0))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    app.stop().await;
}
