//! Watching part of the stream: by subscription, by event type, or both; and filters
//! that are refused.

use super::{after, deactivate, events_until, next_event, set_auto_renew, watch};
use crate::support::{ADMIN_TOKEN, Db, assert_invalid_field, email, on_both_backends, spawn_app};
use tessera_client::pb::{self, EventType};

on_both_backends!(
    filters_select_by_subscription_and_by_type,
    invalid_filters_are_refused_naming_the_field,
);

async fn filters_select_by_subscription_and_by_type(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let (account, token) = app.sign_up(&email()).await;
    let mut subscriptions = app.subscriptions();
    let one = app.buy(&account, "premium-10").await.name;
    let other = app.buy(&account, "premium-10").await.name;
    for (subscription, device) in [(&one, "a"), (&other, "b"), (&one, "c"), (&other, "d")] {
        app.activate(&token, subscription, device).await.unwrap();
    }
    set_auto_renew(&mut subscriptions, &token, &one, false)
        .await
        .unwrap();
    set_auto_renew(&mut subscriptions, &token, &other, false)
        .await
        .unwrap();
    let freed = app
        .activate(&token, &one, "c")
        .await
        .unwrap()
        .seat
        .unwrap()
        .name;
    deactivate(&mut app.seats(), &token, &freed).await.unwrap();
    // The last change of all, on `other`, ends each read below.
    let sentinel = app.activate(&token, &other, "e").await.unwrap();
    let is_sentinel =
        |e: &pb::Event| e.seat.as_ref().map(|s| &s.name) == sentinel.seat.as_ref().map(|s| &s.name);
    let total = app.last_event_seq().await;
    assert_eq!(total, 10);

    let kinds = |events: &[pb::Event]| events.iter().map(|e| e.r#type()).collect::<Vec<_>>();
    let mut of_one = watch(
        &app,
        ADMIN_TOKEN,
        pb::WatchEventsRequest {
            subscription: one.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let seen = events_until(&mut of_one, |e| e.r#type() == EventType::SeatDeactivated).await;
    assert!(seen.iter().all(|e| e.subscription == one));
    assert_eq!(
        kinds(&seen),
        vec![
            EventType::SubscriptionCreated,
            EventType::SeatActivated,
            EventType::SeatActivated,
            EventType::SubscriptionUpdated,
            EventType::SeatDeactivated,
        ]
    );
    // Nothing of `one` follows; the next change of `one` does, live.
    set_auto_renew(&mut subscriptions, &token, &one, true)
        .await
        .unwrap();
    let live = next_event(&mut of_one).await;
    assert_eq!(
        (live.sequence, live.r#type()),
        (11, EventType::SubscriptionUpdated)
    );

    let mut seat_events = watch(
        &app,
        ADMIN_TOKEN,
        pb::WatchEventsRequest {
            types: vec![
                EventType::SeatActivated as i32,
                EventType::SeatDeactivated as i32,
            ],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let seen = events_until(&mut seat_events, is_sentinel).await;
    let devices: Vec<(EventType, String)> = seen
        .iter()
        .map(|e| (e.r#type(), e.seat.as_ref().unwrap().device_id.clone()))
        .collect();
    let activated = EventType::SeatActivated;
    assert_eq!(
        devices,
        vec![
            (activated, "a".into()),
            (activated, "b".into()),
            (activated, "c".into()),
            (activated, "d".into()),
            (EventType::SeatDeactivated, "c".into()),
            (activated, "e".into()),
        ]
    );

    let mut both = watch(
        &app,
        ADMIN_TOKEN,
        pb::WatchEventsRequest {
            after_sequence: 1,
            subscription: other.clone(),
            types: vec![EventType::SeatActivated as i32],
        },
    )
    .await
    .unwrap();
    let seen = events_until(&mut both, is_sentinel).await;
    let devices: Vec<&str> = seen
        .iter()
        .map(|e| e.seat.as_ref().unwrap().device_id.as_str())
        .collect();
    assert_eq!(devices, ["b", "d", "e"]);
    assert!(seen.iter().all(|e| e.subscription == other));
    app.stop().await;
}

async fn invalid_filters_are_refused_naming_the_field(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let app = &app;
    let refused = |request| async move { watch(app, ADMIN_TOKEN, request).await.unwrap_err() };
    for types in [vec![999], vec![EventType::Unspecified as i32], vec![12, -1]] {
        let status = refused(pb::WatchEventsRequest {
            types,
            ..Default::default()
        })
        .await;
        assert_invalid_field(&status, "types");
    }
    let status = refused(after(-1)).await;
    assert_invalid_field(&status, "after_sequence");
    let status = refused(pb::WatchEventsRequest {
        subscription: "accounts/nope".into(),
        ..Default::default()
    })
    .await;
    assert_invalid_field(&status, "subscription");
}
