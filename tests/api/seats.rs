use crate::support::{
    Db, activation, admin, assert_error, assert_invalid_field, email, on_both_backends, spawn_app,
};
use tessera_client::{pb, tonic::Code, tonic_types::StatusExt, with_token};

on_both_backends!(
    a_full_subscription_refuses_a_device_and_lists_the_devices_holding_seats,
    reactivating_a_device_returns_its_seat_without_taking_another,
    seat_requests_are_checked_field_by_field,
    a_device_asks_whether_it_is_protected_and_is_seen,
    a_device_removed_remotely_is_told_it_is_not_protected_and_nothing_more,
    seats_are_listed_page_by_page_and_freed_ones_on_request,
    a_device_can_sign_itself_out_but_no_other_device,
);

async fn a_full_subscription_refuses_a_device_and_lists_the_devices_holding_seats(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let (account, token) = app.sign_up(&email()).await;
    let subscription = app.buy(&account, "deluxe-3").await;
    let mut seats = Vec::new();
    for device in ["pc", "mac", "phone"] {
        seats.push(
            app.activate(&token, &subscription.name, device)
                .await
                .unwrap()
                .seat
                .unwrap(),
        );
    }
    let refused = app
        .activate(&token, &subscription.name, "tablet")
        .await
        .unwrap_err();
    assert_error(&refused, Code::ResourceExhausted, "SEAT_LIMIT_REACHED");
    let details = refused.get_error_details();
    let held: Vec<_> = details
        .precondition_failure()
        .expect("the devices holding seats")
        .violations
        .iter()
        .map(|v| v.subject.clone())
        .collect();
    let names: Vec<_> = seats.iter().map(|s| s.name.clone()).collect();
    assert_eq!(held, names);
    assert_eq!(details.error_info().unwrap().metadata["seat_limit"], "3");
    assert_eq!(
        app.get_subscription(&token, &subscription.name)
            .await
            .unwrap()
            .active_seat_count,
        3
    );

    app.seats()
        .deactivate_seat(with_token(
            &token,
            pb::DeactivateSeatRequest {
                name: seats[1].name.clone(),
            },
        ))
        .await
        .unwrap();
    let tablet = app
        .activate(&token, &subscription.name, "tablet")
        .await
        .unwrap();
    assert_eq!(tablet.seat.unwrap().device_id, "tablet");
    assert_eq!(
        app.get_subscription(&token, &subscription.name)
            .await
            .unwrap()
            .active_seat_count,
        3
    );
    app.stop().await;
}

async fn reactivating_a_device_returns_its_seat_without_taking_another(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let (account, token) = app.sign_up(&email()).await;
    let subscription = app.buy(&account, "standard-1").await;
    let first = app
        .activate(&token, &subscription.name, "pc")
        .await
        .unwrap();
    let again = app
        .activate(&token, &subscription.name, "pc")
        .await
        .unwrap();
    assert_eq!(first.seat, again.seat);
    assert_ne!(first.device_token, again.device_token);
    assert_eq!(
        app.get_subscription(&token, &subscription.name)
            .await
            .unwrap()
            .active_seat_count,
        1
    );
    for token in [&first.device_token, &again.device_token] {
        let check = app.check_protection(token).await;
        assert!(check.protected);
    }
    app.stop().await;
}

async fn seat_requests_are_checked_field_by_field(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let (account, token) = app.sign_up(&email()).await;
    let subscription = app.buy(&account, "deluxe-3").await;
    let valid = activation(&subscription.name, "pc");
    let cases = [
        (
            pb::ActivateSeatRequest {
                parent: String::new(),
                ..valid.clone()
            },
            "parent",
        ),
        (
            pb::ActivateSeatRequest {
                parent: "subscriptions/nope".into(),
                ..valid.clone()
            },
            "parent",
        ),
        (
            pb::ActivateSeatRequest {
                device_id: String::new(),
                ..valid.clone()
            },
            "device_id",
        ),
        (
            pb::ActivateSeatRequest {
                device_id: "has space".into(),
                ..valid.clone()
            },
            "device_id",
        ),
        (
            pb::ActivateSeatRequest {
                device_id: "d".repeat(129),
                ..valid.clone()
            },
            "device_id",
        ),
        (
            pb::ActivateSeatRequest {
                platform: 0,
                ..valid.clone()
            },
            "platform",
        ),
        (
            pb::ActivateSeatRequest {
                platform: 77,
                ..valid.clone()
            },
            "platform",
        ),
        (
            pb::ActivateSeatRequest {
                display_name: "  ".into(),
                ..valid.clone()
            },
            "display_name",
        ),
    ];
    for (request, field) in cases {
        let status = app
            .seats()
            .activate_seat(with_token(&token, request))
            .await
            .unwrap_err();
        assert_invalid_field(&status, field);
    }
    assert_eq!(
        app.get_subscription(&token, &subscription.name)
            .await
            .unwrap()
            .active_seat_count,
        0
    );

    let oversized = app
        .seats()
        .activate_seat(with_token(
            &token,
            pb::ActivateSeatRequest {
                display_name: "x".repeat(100 * 1024),
                ..valid.clone()
            },
        ))
        .await
        .unwrap_err();
    assert_error(&oversized, Code::InvalidArgument, "REQUEST_TOO_LARGE");

    let bad_seat_name = app
        .seats()
        .deactivate_seat(with_token(
            &token,
            pb::DeactivateSeatRequest {
                name: subscription.name.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_invalid_field(&bad_seat_name, "name");
    app.stop().await;
}

async fn a_device_asks_whether_it_is_protected_and_is_seen(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let (account, token) = app.sign_up(&email()).await;
    let subscription = app.buy(&account, "deluxe-3").await;
    let device = app
        .activate(&token, &subscription.name, "pc")
        .await
        .unwrap();
    let activated = device.seat.clone().unwrap().last_seen_time.unwrap();

    app.clock.advance(chrono::Duration::days(10));
    let check = app.check_protection(&device.device_token).await;
    assert!(check.protected);
    assert_eq!(check.status, pb::SubscriptionStatus::Active as i32);
    assert!(
        (354..=356).contains(&check.days_left),
        "{}",
        check.days_left
    );
    assert_eq!(check.end_time, subscription.end_time);
    let seen = check.seat.unwrap().last_seen_time.unwrap();
    assert!(seen.seconds >= activated.seconds + 10 * 86_400);
    assert_eq!(check.subscription.unwrap().product_key, "");

    let as_account = app
        .seats()
        .check_protection(with_token(&token, pb::CheckProtectionRequest {}))
        .await
        .unwrap_err();
    assert_error(&as_account, Code::PermissionDenied, "PRINCIPAL_NOT_ALLOWED");
    let device_lists = app
        .seats()
        .list_seats(with_token(
            &device.device_token,
            pb::ListSeatsRequest {
                parent: subscription.name.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_error(
        &device_lists,
        Code::PermissionDenied,
        "PRINCIPAL_NOT_ALLOWED",
    );
    app.stop().await;
}

async fn a_device_removed_remotely_is_told_it_is_not_protected_and_nothing_more(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let (account, token) = app.sign_up(&email()).await;
    let subscription = app.buy(&account, "deluxe-3").await;
    let device = app
        .activate(&token, &subscription.name, "pc")
        .await
        .unwrap();
    let removed = app
        .seats()
        .deactivate_seat(with_token(
            &token,
            pb::DeactivateSeatRequest {
                name: device.seat.unwrap().name,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(removed.state, pb::SeatState::Deactivated as i32);
    assert!(removed.deactivate_time.is_some());
    let check = app.check_protection(&device.device_token).await;
    assert_told_removed_and_nothing_more(&check);
    // The token answers nothing else any more.
    let subscription_read = app
        .get_subscription(&device.device_token, &subscription.name)
        .await
        .unwrap_err();
    assert_eq!(subscription_read.code(), Code::NotFound);
    assert_eq!(
        app.get_subscription(&token, &subscription.name)
            .await
            .unwrap()
            .active_seat_count,
        0
    );
    app.stop().await;
}

async fn seats_are_listed_page_by_page_and_freed_ones_on_request(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let (account, token) = app.sign_up(&email()).await;
    let subscription = app.buy(&account, "premium-10").await;
    let mut names = Vec::new();
    for i in 0..7 {
        let seat = app
            .activate(&token, &subscription.name, &format!("d{i}"))
            .await
            .unwrap();
        names.push(seat.seat.unwrap().name);
        app.clock.advance(chrono::Duration::seconds(1));
    }
    app.seats()
        .deactivate_seat(admin(pb::DeactivateSeatRequest {
            name: names[0].clone(),
        }))
        .await
        .unwrap();
    let list = |page_token: String, show_deactivated| {
        with_token(
            &token,
            pb::ListSeatsRequest {
                parent: subscription.name.clone(),
                page_size: 4,
                page_token,
                show_deactivated,
            },
        )
    };
    let first = app
        .seats()
        .list_seats(list(String::new(), false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.seats.len(), 4);
    let second = app
        .seats()
        .list_seats(list(first.next_page_token, false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.seats.len(), 2);
    assert!(second.next_page_token.is_empty());
    let active: Vec<_> = first
        .seats
        .iter()
        .chain(&second.seats)
        .map(|s| s.name.clone())
        .collect();
    assert_eq!(active, names[1..]);

    let all = app
        .seats()
        .list_seats(list(String::new(), true))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.seats[0].name, names[0]);
    assert_eq!(all.seats[0].state, pb::SeatState::Deactivated as i32);
    app.stop().await;
}

async fn a_device_can_sign_itself_out_but_no_other_device(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let (account, token) = app.sign_up(&email()).await;
    let subscription = app.buy(&account, "deluxe-3").await;
    let pc = app
        .activate(&token, &subscription.name, "pc")
        .await
        .unwrap();
    let phone = app
        .activate(&token, &subscription.name, "phone")
        .await
        .unwrap();
    let other = app
        .seats()
        .deactivate_seat(with_token(
            &pc.device_token,
            pb::DeactivateSeatRequest {
                name: phone.seat.clone().unwrap().name,
            },
        ))
        .await
        .unwrap_err();
    assert_error(&other, Code::NotFound, "SEAT_NOT_FOUND");
    let itself = app
        .seats()
        .deactivate_seat(with_token(
            &pc.device_token,
            pb::DeactivateSeatRequest {
                name: pc.seat.clone().unwrap().name,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(itself.state, pb::SeatState::Deactivated as i32);
    assert_eq!(
        app.get_subscription(&token, &subscription.name)
            .await
            .unwrap()
            .active_seat_count,
        1
    );
    app.stop().await;
}

/// What a device whose seat was removed is told: that it is not protected, and why —
/// not its subscription, plan, term or seat.
#[track_caller]
pub fn assert_told_removed_and_nothing_more(check: &pb::CheckProtectionResponse) {
    let expected = pb::CheckProtectionResponse {
        protected: false,
        warnings: vec![pb::ProtectionWarning {
            kind: pb::WarningKind::SeatRemoved as i32,
            message: "This device was removed from your subscription.".to_owned(),
            days: 0,
        }],
        ..Default::default()
    };
    assert_eq!(check, &expected);
}
