use crate::support::{
    Db, admin, assert_error, assert_invalid_field, email, on_both_backends, spawn_app,
};
use tessera_client::{pb, tonic::Code, with_token};

on_both_backends!(
    the_plan_catalog_is_public,
    the_admin_sells_a_direct_subscription_once_per_request_id,
    create_subscription_rejects_bad_requests_and_other_principals,
    an_account_lists_its_subscriptions_page_by_page_and_by_status,
    auto_renew_is_updated_through_a_field_mask,
    cancelling_at_period_end_keeps_protection_and_cancelling_now_ends_it,
    a_replayed_cancel_returns_the_first_answer,
);

fn create(parent: &str, plan: &str, request_id: &str) -> pb::CreateSubscriptionRequest {
    pb::CreateSubscriptionRequest {
        parent: parent.into(),
        plan: plan.into(),
        auto_renew: false,
        request_id: request_id.into(),
    }
}

async fn the_plan_catalog_is_public(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let plans = app
        .subscriptions()
        .list_plans(pb::ListPlansRequest {})
        .await
        .unwrap()
        .into_inner()
        .plans;
    let limits: Vec<_> = plans
        .iter()
        .filter(|p| !p.trial)
        .map(|p| p.seat_limit)
        .collect();
    for limit in [1, 3, 5, 10] {
        assert!(
            limits.contains(&limit),
            "no {limit}-device plan in {plans:?}"
        );
    }
    let trial = plans.iter().find(|p| p.trial).expect("a trial plan");
    assert_eq!(trial.term_days, 30);
    assert!(
        plans
            .iter()
            .filter(|p| !p.trial)
            .any(|p| p.term_months == 12)
    );
    assert!(plans.iter().all(|p| p.name == format!("plans/{}", p.code)));
    app.stop().await;
}

async fn the_admin_sells_a_direct_subscription_once_per_request_id(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let (account, token) = app.sign_up(&email()).await;
    let first = app
        .subscriptions()
        .create_subscription(admin(create(&account, "plans/deluxe-5", "order-1")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.account, account);
    assert_eq!(first.channel, pb::Channel::Direct as i32);
    assert_eq!(first.status, pb::SubscriptionStatus::Active as i32);
    assert_eq!(first.seat_limit, 5);
    assert_eq!(first.active_seat_count, 0);
    assert!(
        (364..=366).contains(&first.days_left),
        "{}",
        first.days_left
    );

    let replay = app
        .subscriptions()
        .create_subscription(admin(create(&account, "plans/deluxe-5", "order-1")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(replay, first);

    let reused = app
        .subscriptions()
        .create_subscription(admin(create(&account, "plans/premium-10", "order-1")))
        .await
        .unwrap_err();
    assert_error(&reused, Code::InvalidArgument, "REQUEST_ID_REUSED");
    assert_invalid_field(&reused, "request_id");

    assert_eq!(app.list_subscriptions(&token).await.len(), 1);
    let trial = app.buy(&account, "trial-5").await;
    assert_eq!(trial.status, pb::SubscriptionStatus::Trial as i32);
    assert_eq!(trial.days_left, 30);
    app.stop().await;
}

async fn create_subscription_rejects_bad_requests_and_other_principals(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let (account, token) = app.sign_up(&email()).await;
    let cases = [
        (create("", "deluxe-3", "r1"), "parent"),
        (create("users/1", "deluxe-3", "r1"), "parent"),
        (create(&account, "", "r1"), "plan"),
        (create(&account, "plans/gold-99", "r1"), "plan"),
        (create(&account, "deluxe-3", ""), "request_id"),
        (create(&account, "deluxe-3", &"r".repeat(129)), "request_id"),
    ];
    for (request, field) in cases {
        let status = app
            .subscriptions()
            .create_subscription(admin(request))
            .await
            .unwrap_err();
        assert_invalid_field(&status, field);
    }
    let missing_account = app
        .subscriptions()
        .create_subscription(admin(create(
            "accounts/00000000-0000-7000-8000-000000000000",
            "deluxe-3",
            "r2",
        )))
        .await
        .unwrap_err();
    assert_error(&missing_account, Code::NotFound, "ACCOUNT_NOT_FOUND");

    let as_customer = app
        .subscriptions()
        .create_subscription(with_token(&token, create(&account, "deluxe-3", "r3")))
        .await
        .unwrap_err();
    assert_error(
        &as_customer,
        Code::PermissionDenied,
        "PRINCIPAL_NOT_ALLOWED",
    );
    app.stop().await;
}

async fn an_account_lists_its_subscriptions_page_by_page_and_by_status(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let (account, token) = app.sign_up(&email()).await;
    let mut bought = Vec::new();
    for _ in 0..5 {
        bought.push(app.buy(&account, "deluxe-3").await.name);
    }
    let mut seen = Vec::new();
    let mut page_token = String::new();
    let mut pages = 0;
    loop {
        let page = app
            .subscriptions()
            .list_subscriptions(with_token(
                &token,
                pb::ListSubscriptionsRequest {
                    parent: account.clone(),
                    page_size: 2,
                    page_token: page_token.clone(),
                    status: 0,
                },
            ))
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        seen.extend(page.subscriptions.into_iter().map(|s| s.name));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(pages, 3);
    bought.reverse();
    assert_eq!(seen, bought, "newest first, each once");

    app.subscriptions()
        .cancel_subscription(with_token(
            &token,
            pb::CancelSubscriptionRequest {
                name: bought[0].clone(),
                immediately: true,
                request_id: String::new(),
            },
        ))
        .await
        .unwrap();
    let cancelled = app
        .subscriptions()
        .list_subscriptions(with_token(
            &token,
            pb::ListSubscriptionsRequest {
                parent: "accounts/me".into(),
                status: pb::SubscriptionStatus::Cancelled as i32,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cancelled.subscriptions.len(), 1);
    assert_eq!(cancelled.subscriptions[0].name, bought[0]);

    for (page_size, page_token, field) in [
        (0, "garbage!", "page_token"),
        (101, "", "page_size"),
        (-1, "", "page_size"),
    ] {
        let status = app
            .subscriptions()
            .list_subscriptions(with_token(
                &token,
                pb::ListSubscriptionsRequest {
                    parent: account.clone(),
                    page_size,
                    page_token: page_token.into(),
                    status: 0,
                },
            ))
            .await
            .unwrap_err();
        assert_invalid_field(&status, field);
    }
    let bad_status = app
        .subscriptions()
        .list_subscriptions(with_token(
            &token,
            pb::ListSubscriptionsRequest {
                parent: account.clone(),
                status: 42,
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_invalid_field(&bad_status, "status");
    app.stop().await;
}

async fn auto_renew_is_updated_through_a_field_mask(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let (account, token) = app.sign_up(&email()).await;
    let subscription = app.buy(&account, "deluxe-3").await;
    assert!(subscription.auto_renew);
    let update = |paths: Vec<&str>, auto_renew: bool| pb::UpdateSubscriptionRequest {
        subscription: Some(pb::Subscription {
            name: subscription.name.clone(),
            auto_renew,
            seat_limit: 99,
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: paths.into_iter().map(String::from).collect(),
        }),
    };
    let updated = app
        .subscriptions()
        .update_subscription(with_token(&token, update(vec!["auto_renew"], false)))
        .await
        .unwrap()
        .into_inner();
    assert!(!updated.auto_renew);
    assert_eq!(updated.seat_limit, 3, "unmasked fields are untouched");

    let no_mask = app
        .subscriptions()
        .update_subscription(with_token(&token, update(vec![], true)))
        .await
        .unwrap_err();
    assert_invalid_field(&no_mask, "update_mask");
    let seat_limit = app
        .subscriptions()
        .update_subscription(with_token(&token, update(vec!["seat_limit"], true)))
        .await
        .unwrap_err();
    assert_invalid_field(&seat_limit, "update_mask");
    let unchanged = app
        .get_subscription(&token, &subscription.name)
        .await
        .unwrap();
    assert!(!unchanged.auto_renew);
    assert_eq!(unchanged.seat_limit, 3);
    app.stop().await;
}

async fn cancelling_at_period_end_keeps_protection_and_cancelling_now_ends_it(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let (account, token) = app.sign_up(&email()).await;
    let subscription = app.buy(&account, "deluxe-3").await;
    let device = app
        .activate(&token, &subscription.name, "laptop")
        .await
        .unwrap();
    let cancel = |immediately| {
        with_token(
            &token,
            pb::CancelSubscriptionRequest {
                name: subscription.name.clone(),
                immediately,
                request_id: String::new(),
            },
        )
    };
    let at_end = app
        .subscriptions()
        .cancel_subscription(cancel(false))
        .await
        .unwrap()
        .into_inner();
    assert!(at_end.cancel_at_period_end);
    assert!(!at_end.auto_renew);
    assert_eq!(at_end.status, pb::SubscriptionStatus::Active as i32);
    let check = app.check_protection(&device.device_token).await;
    assert!(check.protected);

    let now = app
        .subscriptions()
        .cancel_subscription(cancel(true))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(now.status, pb::SubscriptionStatus::Cancelled as i32);
    assert_eq!(now.days_left, 0);
    let check = app.check_protection(&device.device_token).await;
    assert!(!check.protected);
    assert_eq!(check.status, pb::SubscriptionStatus::Cancelled as i32);

    let again = app
        .subscriptions()
        .cancel_subscription(cancel(true))
        .await
        .unwrap_err();
    assert_error(
        &again,
        Code::FailedPrecondition,
        "SUBSCRIPTION_NOT_CANCELLABLE",
    );
    let new_device = app
        .activate(&token, &subscription.name, "phone")
        .await
        .unwrap_err();
    assert_error(
        &new_device,
        Code::FailedPrecondition,
        "SUBSCRIPTION_NOT_ACTIVE",
    );
    app.stop().await;
}

async fn a_replayed_cancel_returns_the_first_answer(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let (account, _) = app.sign_up(&email()).await;
    let subscription = app.buy(&account, "deluxe-3").await;
    let cancel = || {
        admin(pb::CancelSubscriptionRequest {
            name: subscription.name.clone(),
            immediately: true,
            request_id: "cancel-1".into(),
        })
    };
    let first = app
        .subscriptions()
        .cancel_subscription(cancel())
        .await
        .unwrap()
        .into_inner();
    let replay = app
        .subscriptions()
        .cancel_subscription(cancel())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first, replay);
    app.stop().await;
}
