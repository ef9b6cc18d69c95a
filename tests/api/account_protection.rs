//! The account page's "am I protected?": `CheckAccountProtection` tells an account, per
//! subscription, what the devices on it are told by `CheckProtection`.

use crate::support::{Db, email, on_both_backends, spawn_app};
use tessera_client::{
    pb,
    tonic::{Code, Status},
    with_token,
};

on_both_backends!(
    each_subscription_shows_what_its_devices_are_told,
    only_the_account_and_the_admin_may_ask,
);

async fn check(
    app: &crate::support::TestApp,
    token: &str,
    parent: &str,
) -> Result<pb::CheckAccountProtectionResponse, Status> {
    app.seats()
        .check_account_protection(with_token(
            token,
            pb::CheckAccountProtectionRequest {
                parent: parent.to_owned(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

fn kinds(actions: &[pb::ProtectionAction]) -> Vec<i32> {
    actions.iter().map(|a| a.kind).collect()
}

async fn each_subscription_shows_what_its_devices_are_told(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let customer = email();
    let (account, token) = app.sign_up(&customer).await;
    let renewing = app.buy(&account, "deluxe-3").await;
    let lapsing = app
        .subscriptions()
        .create_subscription(crate::support::admin(pb::CreateSubscriptionRequest {
            parent: account.clone(),
            plan: "deluxe-5".to_owned(),
            auto_renew: false,
            request_id: uuid::Uuid::new_v4().to_string(),
        }))
        .await
        .unwrap()
        .into_inner();
    let device = app.activate(&token, &lapsing.name, "pc").await.unwrap();
    // Within the 30-day warning window of the end of the 12-month term.
    app.clock.advance(chrono::Duration::days(340));
    // Sessions last 30 days: sign in again.
    let token = app
        .accounts()
        .sign_in(pb::SignInRequest {
            email: customer,
            password: crate::support::PASSWORD.to_owned(),
        })
        .await
        .unwrap()
        .into_inner()
        .session_token;

    let report = check(&app, &token, "accounts/me").await.unwrap();
    assert_eq!(report.subscriptions.len(), 2);
    let entry = |name: &str| {
        report
            .subscriptions
            .iter()
            .find(|e| e.subscription.as_ref().unwrap().name == name)
            .unwrap_or_else(|| panic!("{name} is not in the report"))
    };
    let quiet = entry(&renewing.name);
    assert!(quiet.protected);
    assert!(quiet.warnings.is_empty() && quiet.actions.is_empty());

    let warned = entry(&lapsing.name);
    assert!(warned.protected);
    assert_eq!(warned.subscription.as_ref().unwrap().active_seat_count, 1);
    assert_eq!(warned.warnings.len(), 1);
    assert_eq!(
        warned.warnings[0].kind,
        pb::WarningKind::ExpiringSoon as i32
    );
    assert_eq!(
        kinds(&warned.actions),
        [
            pb::ActionKind::Renew as i32,
            pb::ActionKind::ApplySubscription as i32,
            pb::ActionKind::RecoverPurchase as i32,
        ]
    );
    let alternatives: Vec<_> = warned.actions[1]
        .subscriptions
        .iter()
        .map(|s| s.name.clone())
        .collect();
    assert_eq!(alternatives, std::slice::from_ref(&renewing.name));

    // The device on it is told the same.
    let told = app.check_protection(&device.device_token).await;
    assert_eq!(told.warnings, warned.warnings);
    assert_eq!(kinds(&told.actions), kinds(&warned.actions));
    assert_eq!(told.actions[1].subscriptions[0].name, renewing.name);
    app.stop().await;
}

async fn only_the_account_and_the_admin_may_ask(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let (account, token) = app.sign_up(&email()).await;
    let subscription = app.buy(&account, "deluxe-3").await;
    let device = app
        .activate(&token, &subscription.name, "pc")
        .await
        .unwrap();
    let (_, stranger) = app.sign_up(&email()).await;
    let partner = app.partner("Telekom").await;

    let own = check(&app, &token, &account).await.unwrap();
    assert_eq!(own.subscriptions.len(), 1);
    let by_admin = check(&app, crate::support::ADMIN_TOKEN, &account)
        .await
        .unwrap();
    assert_eq!(by_admin.subscriptions.len(), 1);

    let foreign = check(&app, &stranger, &account).await.unwrap_err();
    let missing = check(
        &app,
        &stranger,
        &format!("accounts/{}", uuid::Uuid::new_v4()),
    )
    .await
    .unwrap_err();
    assert_eq!(
        crate::support::error_shape(&foreign),
        crate::support::error_shape(&missing)
    );
    assert_eq!(foreign.code(), Code::NotFound);
    for (caller, parent) in [
        (partner.api_key.as_str(), account.as_str()),
        (device.device_token.as_str(), "accounts/me"),
    ] {
        let refused = check(&app, caller, parent).await.unwrap_err();
        crate::support::assert_error(&refused, Code::PermissionDenied, "PRINCIPAL_NOT_ALLOWED");
    }
    app.stop().await;
}
