//! Subscriptions through simulated time: renewals, grace, expiry and rescue, with the
//! lifecycle worker run at the moments the tests choose; what devices are told; moving
//! devices between subscriptions; double coverage; and the worker on two replicas.

use crate::support::{
    Db, TestApp, WAIT, admin, assert_error, email, on_both_backends, spawn_app_with, status, tick,
};
use chrono::Duration;
use futures::future::join_all;
use tessera_client::{pb, tonic::Code, with_token};

on_both_backends!(
    a_monthly_direct_subscription_renews_itself_for_a_year,
    a_retail_subscription_lapses_into_grace_expires_and_is_rescued_by_a_renewal_key,
    a_carrier_subscription_renews_each_term_until_the_carrier_cancels,
    a_trial_expires_at_the_end_of_its_thirty_days,
    a_device_is_warned_before_its_protection_expires,
    a_device_moves_to_another_subscription_of_its_account,
    an_account_covered_twice_is_told_which_subscription_to_keep,
    a_late_worker_catches_up_missed_terms_in_one_renewal,
    a_carrier_term_that_ended_decades_ago_is_renewed_once_to_the_term_running_now,
);

/// A server whose sessions outlive the years these tests simulate.
async fn spawn_for_years(db: Db) -> Option<TestApp> {
    spawn_app_with(db, |settings| settings.session_ttl_hours = 24 * 365 * 10).await
}

async fn a_monthly_direct_subscription_renews_itself_for_a_year(db: Db) {
    let Some(app) = spawn_for_years(db).await else {
        return;
    };
    let (account, token) = app.sign_up(&email()).await;
    let subscription = app.buy(&account, "deluxe-3-monthly").await;
    let device = app
        .activate(&token, &subscription.name, "pc")
        .await
        .unwrap();
    let mut end = subscription.end_time.unwrap().seconds;
    for month in 1..=12 {
        app.clock.advance(Duration::days(31));
        assert_eq!(tick(&app).await, 1, "month {month}");
        let now = app
            .get_subscription(&token, &subscription.name)
            .await
            .unwrap();
        assert_eq!(
            status(&now),
            pb::SubscriptionStatus::Active,
            "month {month}"
        );
        let new_end = now.end_time.unwrap().seconds;
        assert!(
            (28..=31).contains(&((new_end - end) / 86_400)),
            "month {month}"
        );
        end = new_end;
        assert!(app.check_protection(&device.device_token).await.protected);
    }
    assert_eq!(tick(&app).await, 0, "nothing is due twice");
    app.stop().await;
}

async fn a_retail_subscription_lapses_into_grace_expires_and_is_rescued_by_a_renewal_key(db: Db) {
    let Some(app) = spawn_for_years(db).await else {
        return;
    };
    let (_, token) = app.sign_up(&email()).await;
    let new_key = app.issue_keys("deluxe-3", 1, pb::ProductKeyKind::New).await;
    let subscription = app.redeem_key(&token, &new_key[0], "").await.unwrap();
    let device = app
        .activate(&token, &subscription.name, "pc")
        .await
        .unwrap();

    app.clock.advance(Duration::days(366));
    assert_eq!(tick(&app).await, 1);
    let told = app.check_protection(&device.device_token).await;
    assert_eq!(told.status, pb::SubscriptionStatus::Grace as i32);
    assert!(told.protected, "grace still protects");
    assert_eq!(told.warnings[0].kind, pb::WarningKind::InGrace as i32);
    assert!(told.warnings[0].days <= 14);

    app.clock.advance(Duration::days(14));
    assert_eq!(tick(&app).await, 1);
    let told = app.check_protection(&device.device_token).await;
    assert_eq!(told.status, pb::SubscriptionStatus::Expired as i32);
    assert!(!told.protected);
    assert_eq!(told.warnings[0].kind, pb::WarningKind::Expired as i32);
    let actions: Vec<_> = told.actions.iter().map(|a| a.kind).collect();
    assert_eq!(
        actions,
        vec![
            pb::ActionKind::Renew as i32,
            pb::ActionKind::RecoverPurchase as i32
        ]
    );
    let listed = app.list_seats(&token, &subscription.name).await;
    assert_eq!(listed.len(), 1, "expired seats stay listed");

    let renewal = app
        .issue_keys("deluxe-3", 1, pb::ProductKeyKind::Renewal)
        .await;
    let rescued = app
        .redeem_key(&token, &renewal[0], &subscription.name)
        .await
        .unwrap();
    assert_eq!(status(&rescued), pb::SubscriptionStatus::Active);
    assert!((364..=366).contains(&rescued.days_left));
    assert!(app.check_protection(&device.device_token).await.protected);
    assert_eq!(tick(&app).await, 0);
    app.stop().await;
}

async fn a_carrier_subscription_renews_each_term_until_the_carrier_cancels(db: Db) {
    let Some(app) = spawn_for_years(db).await else {
        return;
    };
    let telco = app.partner("Telco").await;
    let provisioned = app.provision(&telco, "contract-1", "plans/deluxe-3").await;
    let name = provisioned.subscription.unwrap().name;
    let get = || async {
        app.subscriptions()
            .get_subscription(with_token(
                &telco.api_key,
                pb::GetSubscriptionRequest { name: name.clone() },
            ))
            .await
            .unwrap()
            .into_inner()
    };
    for year in 1..=2 {
        app.clock.advance(Duration::days(366));
        assert_eq!(tick(&app).await, 1, "year {year}");
        assert_eq!(status(&get().await), pb::SubscriptionStatus::Active);
    }
    app.subscriptions()
        .suspend_subscription(with_token(
            &telco.api_key,
            pb::SuspendSubscriptionRequest {
                name: name.clone(),
                request_id: "s".into(),
            },
        ))
        .await
        .unwrap();
    app.clock.advance(Duration::days(366));
    assert_eq!(tick(&app).await, 1);
    assert_eq!(
        status(&get().await),
        pb::SubscriptionStatus::Suspended,
        "renewed but still suspended"
    );

    app.subscriptions()
        .cancel_subscription(with_token(
            &telco.api_key,
            pb::CancelSubscriptionRequest {
                name: name.clone(),
                immediately: false,
                request_id: "c".into(),
            },
        ))
        .await
        .unwrap();
    app.clock.advance(Duration::days(366));
    assert_eq!(tick(&app).await, 1);
    assert_eq!(status(&get().await), pb::SubscriptionStatus::Cancelled);
    app.stop().await;
}

async fn a_trial_expires_at_the_end_of_its_thirty_days(db: Db) {
    let Some(app) = spawn_for_years(db).await else {
        return;
    };
    let (account, token) = app.sign_up(&email()).await;
    let trial = app.buy(&account, "trial-5").await;
    app.clock.advance(Duration::days(29));
    assert_eq!(tick(&app).await, 0);
    app.clock.advance(Duration::days(2));
    assert_eq!(tick(&app).await, 1);
    let after = app.get_subscription(&token, &trial.name).await.unwrap();
    assert_eq!(status(&after), pb::SubscriptionStatus::Expired);
    app.stop().await;
}

async fn a_device_is_warned_before_its_protection_expires(db: Db) {
    let Some(app) = spawn_for_years(db).await else {
        return;
    };
    let (account, token) = app.sign_up(&email()).await;
    let keys = app.issue_keys("deluxe-3", 1, pb::ProductKeyKind::New).await;
    let retail = app.redeem_key(&token, &keys[0], "").await.unwrap();
    let renewing = app.buy(&account, "premium-10").await;
    let retail_pc = app.activate(&token, &retail.name, "pc").await.unwrap();
    let renewing_phone = app.activate(&token, &renewing.name, "phone").await.unwrap();

    app.clock.advance(Duration::days(300));
    assert!(
        app.check_protection(&retail_pc.device_token)
            .await
            .warnings
            .is_empty(),
        "not yet in the window"
    );

    app.clock.advance(Duration::days(53));
    let told = app.check_protection(&retail_pc.device_token).await;
    assert!(told.protected);
    let warning = &told.warnings[0];
    assert_eq!(warning.kind, pb::WarningKind::ExpiringSoon as i32);
    assert_eq!(warning.days, told.days_left);
    assert!(
        warning
            .message
            .contains(&format!("expires in {} days", told.days_left)),
        "{}",
        warning.message
    );
    let apply = told
        .actions
        .iter()
        .find(|a| a.kind == pb::ActionKind::ApplySubscription as i32)
        .expect("another subscription with a free seat is offered");
    assert_eq!(apply.subscriptions.len(), 1);
    assert_eq!(apply.subscriptions[0].name, renewing.name);
    assert_eq!(told.actions[0].kind, pb::ActionKind::Renew as i32);

    let renews_itself = app.check_protection(&renewing_phone.device_token).await;
    assert!(
        renews_itself.warnings.is_empty(),
        "an auto-renewing subscription is not a worry"
    );
    app.stop().await;
}

async fn a_device_moves_to_another_subscription_of_its_account(db: Db) {
    let Some(app) = spawn_for_years(db).await else {
        return;
    };
    let (account, token) = app.sign_up(&email()).await;
    let old = app.buy(&account, "standard-1").await;
    let new = app.buy(&account, "standard-1").await;
    let pc = app.activate(&token, &old.name, "pc").await.unwrap();
    let apply = |seat: String, subscription: String, token: String| {
        let mut seats = app.seats();
        async move {
            seats
                .apply_subscription(with_token(
                    &token,
                    pb::ApplySubscriptionRequest { seat, subscription },
                ))
                .await
        }
    };
    let moved = apply(
        pc.seat.clone().unwrap().name,
        new.name.clone(),
        pc.device_token.clone(),
    )
    .await
    .unwrap()
    .into_inner()
    .seat
    .unwrap();
    assert!(moved.name.starts_with(&new.name));
    assert_eq!(moved.device_id, "pc");
    let told = app.check_protection(&pc.device_token).await;
    assert!(told.protected, "the device token follows the seat");
    assert_eq!(told.subscription.unwrap().name, new.name);
    assert_eq!(
        app.get_subscription(&token, &old.name)
            .await
            .unwrap()
            .active_seat_count,
        0
    );
    assert_eq!(
        app.get_subscription(&token, &new.name)
            .await
            .unwrap()
            .active_seat_count,
        1
    );

    // The old subscription's one seat is free again; the new one is full.
    let laptop = app.activate(&token, &old.name, "laptop").await.unwrap();
    let full = apply(laptop.seat.unwrap().name, new.name.clone(), token.clone())
        .await
        .unwrap_err();
    assert_error(&full, Code::ResourceExhausted, "SEAT_LIMIT_REACHED");
    assert_eq!(
        app.get_subscription(&token, &old.name)
            .await
            .unwrap()
            .active_seat_count,
        1
    );

    let (stranger, _) = app.sign_up(&email()).await;
    let foreign = app.buy(&stranger, "premium-10").await;
    let refused = apply(moved.name.clone(), foreign.name.clone(), token.clone())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::NotFound);

    // Two devices racing for the last seat of a third subscription: one wins.
    let third = app.buy(&account, "standard-1").await;
    let a = app.activate(&token, &old.name, "laptop").await.unwrap();
    let big = app.buy(&account, "premium-10").await;
    let b = app.activate(&token, &big.name, "tablet").await.unwrap();
    let outcomes = join_all([
        apply(
            a.seat.unwrap().name,
            third.name.clone(),
            a.device_token.clone(),
        ),
        apply(
            b.seat.unwrap().name,
            third.name.clone(),
            b.device_token.clone(),
        ),
    ])
    .await;
    assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1);
    assert_eq!(
        app.get_subscription(&token, &third.name)
            .await
            .unwrap()
            .active_seat_count,
        1
    );
    app.stop().await;
}

async fn an_account_covered_twice_is_told_which_subscription_to_keep(db: Db) {
    let Some(app) = spawn_for_years(db).await else {
        return;
    };
    let telco = app.partner("Telco").await;
    let (account, token) = app.sign_up(&email()).await;
    let overlap = || async {
        app.subscriptions()
            .check_overlap(with_token(
                &token,
                pb::CheckOverlapRequest {
                    parent: "accounts/me".into(),
                },
            ))
            .await
            .unwrap()
            .into_inner()
    };
    app.buy(&account, "deluxe-3").await;
    app.buy(&account, "deluxe-5").await;
    assert!(
        !overlap().await.overlapping,
        "two direct subscriptions are one place to manage"
    );

    let provisioned = app
        .provision(&telco, "contract-1", "plans/premium-10")
        .await;
    app.redeem_code(&token, &provisioned.partner_code)
        .await
        .unwrap();
    let answer = overlap().await;
    assert!(answer.overlapping);
    assert_eq!(answer.subscriptions.len(), 3);
    assert_eq!(
        answer.recommended,
        provisioned.subscription.unwrap().name,
        "the most seats"
    );
    assert!(!answer.message.is_empty());

    let by_admin = app
        .subscriptions()
        .check_overlap(admin(pb::CheckOverlapRequest {
            parent: account.clone(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_admin.recommended, answer.recommended);
    let (_, stranger) = app.sign_up(&email()).await;
    let foreign = app
        .subscriptions()
        .check_overlap(with_token(
            &stranger,
            pb::CheckOverlapRequest { parent: account },
        ))
        .await
        .unwrap_err();
    assert_eq!(foreign.code(), Code::NotFound);
    app.stop().await;
}

async fn a_late_worker_catches_up_missed_terms_in_one_renewal(db: Db) {
    let Some(app) = spawn_for_years(db).await else {
        return;
    };
    let (account, token) = app.sign_up(&email()).await;
    let monthly = app.buy(&account, "deluxe-3-monthly").await;
    app.clock.advance(Duration::days(95));
    let before = app.last_event_seq().await;
    assert_eq!(tick(&app).await, 1, "three missed terms, one renewal");
    assert_eq!(app.last_event_seq().await, before + 1, "one event");
    let caught_up = app.get_subscription(&token, &monthly.name).await.unwrap();
    let now = app.services.now().timestamp();
    assert!(caught_up.end_time.unwrap().seconds > monthly.end_time.unwrap().seconds + 80 * 86_400);
    assert!(caught_up.start_time.unwrap().seconds <= now);
    assert!(caught_up.end_time.unwrap().seconds > now);
    assert!(caught_up.days_left > 0);
    assert_eq!(tick(&app).await, 0, "nothing more is due");
    app.stop().await;
}

async fn a_carrier_term_that_ended_decades_ago_is_renewed_once_to_the_term_running_now(db: Db) {
    let Some(app) = spawn_for_years(db).await else {
        return;
    };
    let telco = app.partner("Telco").await;
    let provisioned = app
        .provision(&telco, "contract-1", "plans/deluxe-3-monthly")
        .await
        .subscription
        .unwrap();
    // 57 years without a worker pass: 684 monthly terms, which used to be as many
    // RENEWED events delivered to the carrier's stream at once.
    app.clock.advance(Duration::days(365 * 57));
    let before = app.last_event_seq().await;
    assert_eq!(tick(&app).await, 1);
    assert_eq!(app.last_event_seq().await, before + 1, "one event");

    let mut stream = pb::event_service_client::EventServiceClient::new(app.channel.clone())
        .watch_events(admin(pb::WatchEventsRequest {
            after_sequence: before,
            ..Default::default()
        }))
        .await
        .expect("the admin watches events")
        .into_inner();
    let event = tokio::time::timeout(WAIT, stream.message())
        .await
        .expect("the event arrives in time")
        .expect("the stream does not fail")
        .expect("the stream stays open")
        .event
        .unwrap();
    assert_eq!(event.r#type, pb::EventType::SubscriptionRenewed as i32);
    assert_eq!(event.subscription, provisioned.name);
    let state = event.subscription_state.unwrap();
    let now = app.services.now().timestamp();
    let (start, end) = (
        state.start_time.unwrap().seconds,
        state.end_time.unwrap().seconds,
    );
    assert!(
        start <= now && now < end,
        "the term running now: {start}..{end}"
    );
    assert!(
        (28..=31).contains(&((end - start) / 86_400)),
        "one monthly term"
    );
    assert_eq!(status(&state), pb::SubscriptionStatus::Active);
    app.stop().await;
}
