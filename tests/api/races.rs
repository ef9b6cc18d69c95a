use crate::support::{Db, activation, admin, email, on_both_backends, spawn_app};
use futures::future::join_all;
use tessera_client::{pb, tonic::Code, with_token};

on_both_backends!(
    sixty_four_devices_racing_for_five_seats_get_exactly_five,
    one_device_activating_sixteen_times_at_once_takes_one_seat,
    sixteen_concurrent_purchases_with_one_request_id_create_one_subscription,
);

async fn sixty_four_devices_racing_for_five_seats_get_exactly_five(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let (account, token) = app.sign_up(&email()).await;
    for round in 0..20 {
        let subscription = app.buy(&account, "deluxe-5").await;
        let calls = (0..64).map(|device| {
            let mut seats = app.seats();
            let request = with_token(
                &token,
                activation(&subscription.name, &format!("device-{device}")),
            );
            async move { seats.activate_seat(request).await }
        });
        let outcomes = join_all(calls).await;
        let won = outcomes.iter().filter(|o| o.is_ok()).count();
        let exhausted = outcomes
            .iter()
            .filter(|o| matches!(o, Err(s) if s.code() == Code::ResourceExhausted))
            .count();
        assert_eq!((won, exhausted), (5, 59), "round {round}");
        let listed = app.list_seats(&token, &subscription.name).await;
        assert_eq!(listed.len(), 5, "round {round}");
        let counted = app
            .get_subscription(&token, &subscription.name)
            .await
            .unwrap();
        assert_eq!(counted.active_seat_count, 5, "round {round}");
    }
    app.stop().await;
}

async fn one_device_activating_sixteen_times_at_once_takes_one_seat(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let (account, token) = app.sign_up(&email()).await;
    for round in 0..5 {
        let subscription = app.buy(&account, "deluxe-5").await;
        let calls = (0..16).map(|_| {
            let mut seats = app.seats();
            let request = with_token(&token, activation(&subscription.name, "the-one-laptop"));
            async move { seats.activate_seat(request).await }
        });
        let outcomes = join_all(calls).await;
        let seats: Vec<_> = outcomes
            .into_iter()
            .map(|o| {
                o.expect("every call gets the seat")
                    .into_inner()
                    .seat
                    .unwrap()
                    .name
            })
            .collect();
        assert!(
            seats.iter().all(|name| name == &seats[0]),
            "round {round}: {seats:?}"
        );
        let counted = app
            .get_subscription(&token, &subscription.name)
            .await
            .unwrap();
        assert_eq!(counted.active_seat_count, 1, "round {round}");
    }
    app.stop().await;
}

async fn sixteen_concurrent_purchases_with_one_request_id_create_one_subscription(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let (account, token) = app.sign_up(&email()).await;
    let calls = (0..16).map(|_| {
        let mut subscriptions = app.subscriptions();
        let request = admin(pb::CreateSubscriptionRequest {
            parent: account.clone(),
            plan: "deluxe-3".into(),
            auto_renew: true,
            request_id: "checkout-42".into(),
        });
        async move { subscriptions.create_subscription(request).await }
    });
    let names: Vec<_> = join_all(calls)
        .await
        .into_iter()
        .map(|o| o.expect("every retry succeeds").into_inner().name)
        .collect();
    assert!(names.iter().all(|n| n == &names[0]), "{names:?}");
    assert_eq!(app.list_subscriptions(&token).await.len(), 1);
    app.stop().await;
}
