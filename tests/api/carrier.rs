//! The carrier lifecycle through `CarrierClient`, as a carrier's provisioning system
//! drives it.

use crate::support::{
    Db, TestApp, TestPartner, admin, assert_error, assert_invalid_field, email, on_both_backends,
    spawn_app,
};
use futures::future::join_all;
use std::time::{Duration, SystemTime};
use tessera_client::{
    CarrierClient, error_reason, pb,
    tonic::{Code, Status},
    with_token,
};

on_both_backends!(
    a_carrier_provisions_and_the_customer_claims_and_uses_the_subscription,
    a_suspended_subscription_keeps_its_seats_but_protects_no_device,
    a_downgrade_below_the_active_devices_is_refused_or_frees_the_least_recently_seen,
    a_carrier_renews_by_a_term_or_to_a_date_and_cancels,
    a_carrier_finds_its_subscriptions_by_customer_reference_and_status,
    a_replayed_carrier_call_returns_the_first_answer_and_changes_nothing,
    a_request_id_reused_for_another_request_is_refused,
    concurrent_calls_with_one_request_id_make_one_change,
    request_ids_of_different_partners_never_collide,
    carrier_requests_are_checked_field_by_field,
    partners_and_their_keys_are_managed_by_the_admin,
);

fn carrier(app: &TestApp, partner: &TestPartner) -> CarrierClient {
    CarrierClient::from_channel(app.channel.clone(), &partner.api_key).unwrap()
}

async fn a_carrier_provisions_and_the_customer_claims_and_uses_the_subscription(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let telco = app.partner("Telco").await;
    let carrier = carrier(&app, &telco);
    let provisioned = carrier
        .provision("contract-1", "plans/deluxe-3", None)
        .await
        .unwrap();
    let subscription = provisioned.subscription.unwrap();
    assert_eq!(subscription.channel, pb::Channel::Carrier as i32);
    assert_eq!(subscription.status, pb::SubscriptionStatus::Active as i32);
    assert_eq!(subscription.partner, telco.name);
    assert_eq!(subscription.partner_reference, "contract-1");
    assert!(!subscription.claimed);
    assert_eq!(subscription.account, "");
    assert_eq!(provisioned.partner_code.len(), 17);
    assert!(provisioned.partner_code_expire_time.is_some());

    let (account, token) = app.sign_up(&email()).await;
    let claimed = app
        .redeem_code(&token, &provisioned.partner_code)
        .await
        .unwrap();
    assert_eq!(claimed.account, account);
    for device in ["phone", "laptop"] {
        app.activate(&token, &subscription.name, device)
            .await
            .unwrap();
    }

    let portal = carrier.get(&subscription.name).await.unwrap();
    assert_eq!((portal.active_seat_count, portal.seat_limit), (2, 3));
    assert!(portal.claimed);
    assert_eq!(
        portal.account, "",
        "carriers see counts, not the customer's account"
    );
    assert!(
        (364..=366).contains(&portal.days_left),
        "{}",
        portal.days_left
    );
    app.stop().await;
}

async fn a_suspended_subscription_keeps_its_seats_but_protects_no_device(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let telco = app.partner("Telco").await;
    let carrier = carrier(&app, &telco);
    let provisioned = app.provision(&telco, "contract-2", "plans/deluxe-3").await;
    let name = provisioned.subscription.unwrap().name;
    let (_, token) = app.sign_up(&email()).await;
    app.redeem_code(&token, &provisioned.partner_code)
        .await
        .unwrap();
    let device = app.activate(&token, &name, "phone").await.unwrap();

    let suspended = carrier.suspend(&name).await.unwrap();
    assert_eq!(suspended.status, pb::SubscriptionStatus::Suspended as i32);
    assert_eq!(suspended.active_seat_count, 1);
    let told = app.check_protection(&device.device_token).await;
    assert!(!told.protected);
    assert_eq!(told.status, pb::SubscriptionStatus::Suspended as i32);
    let refused = app.activate(&token, &name, "tablet").await.unwrap_err();
    assert_error(
        &refused,
        Code::FailedPrecondition,
        "SUBSCRIPTION_NOT_ACTIVE",
    );
    assert_eq!(
        carrier.suspend(&name).await.unwrap().status,
        suspended.status
    );

    let resumed = carrier.resume(&name).await.unwrap();
    assert_eq!(resumed.status, pb::SubscriptionStatus::Active as i32);
    assert!(app.check_protection(&device.device_token).await.protected);
    assert_eq!(carrier.resume(&name).await.unwrap().status, resumed.status);

    carrier.cancel(&name, true).await.unwrap();
    let after_cancel = carrier.resume(&name).await.unwrap_err();
    assert_error(
        &after_cancel,
        Code::FailedPrecondition,
        "SUBSCRIPTION_NOT_SUSPENDED",
    );
    let suspend_cancelled = carrier.suspend(&name).await.unwrap_err();
    assert_error(
        &suspend_cancelled,
        Code::FailedPrecondition,
        "SUBSCRIPTION_NOT_SUSPENDABLE",
    );
    app.stop().await;
}

async fn a_downgrade_below_the_active_devices_is_refused_or_frees_the_least_recently_seen(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let telco = app.partner("Telco").await;
    let carrier = carrier(&app, &telco);
    let provisioned = app.provision(&telco, "contract-3", "plans/deluxe-3").await;
    let name = provisioned.subscription.unwrap().name;
    let (_, token) = app.sign_up(&email()).await;
    app.redeem_code(&token, &provisioned.partner_code)
        .await
        .unwrap();
    let old = app.activate(&token, &name, "old-pc").await.unwrap();
    app.clock.advance(chrono::Duration::minutes(1));
    let fresh = app.activate(&token, &name, "new-phone").await.unwrap();
    app.clock.advance(chrono::Duration::minutes(1));
    app.check_protection(&fresh.device_token).await;

    let upgraded = carrier
        .change_plan(&name, "plans/premium-10", pb::DowngradePolicy::Reject)
        .await
        .unwrap();
    assert_eq!(upgraded.subscription.unwrap().seat_limit, 10);

    let refused = carrier
        .change_plan(&name, "plans/standard-1", pb::DowngradePolicy::Reject)
        .await
        .unwrap_err();
    assert_error(
        &refused,
        Code::FailedPrecondition,
        "SEAT_LIMIT_BELOW_ACTIVE_SEATS",
    );
    let unchanged = carrier.get(&name).await.unwrap();
    assert_eq!((unchanged.seat_limit, unchanged.active_seat_count), (10, 2));
    assert_eq!(unchanged.plan, "plans/premium-10");

    let downgraded = carrier
        .change_plan(
            &name,
            "plans/standard-1",
            pb::DowngradePolicy::DeactivateLeastRecentlySeen,
        )
        .await
        .unwrap();
    assert_eq!(downgraded.deactivated_seat_count, 1);
    let subscription = downgraded.subscription.unwrap();
    assert_eq!(
        (subscription.seat_limit, subscription.active_seat_count),
        (1, 1)
    );
    assert!(
        !app.check_protection(&old.device_token).await.protected,
        "the least recently seen device lost its seat"
    );
    assert!(app.check_protection(&fresh.device_token).await.protected);
    app.stop().await;
}

async fn a_carrier_renews_by_a_term_or_to_a_date_and_cancels(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let telco = app.partner("Telco").await;
    let carrier = carrier(&app, &telco);
    let provisioned = app.provision(&telco, "contract-4", "plans/deluxe-3").await;
    let subscription = provisioned.subscription.unwrap();
    let end = subscription.end_time.unwrap().seconds;

    let renewed = carrier.renew(&subscription.name, None).await.unwrap();
    let extended = renewed.end_time.unwrap().seconds - end;
    assert!(
        (365 * 86_400..=366 * 86_400).contains(&extended),
        "{extended}"
    );

    let target = SystemTime::UNIX_EPOCH
        + Duration::from_secs((renewed.end_time.unwrap().seconds + 30 * 86_400) as u64);
    let dated = carrier
        .renew(&subscription.name, Some(target))
        .await
        .unwrap();
    assert_eq!(
        dated.end_time.unwrap().seconds,
        renewed.end_time.unwrap().seconds + 30 * 86_400
    );

    let backwards = carrier
        .renew(
            &subscription.name,
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1)),
        )
        .await
        .unwrap_err();
    assert_invalid_field(&backwards, "end_time");

    let at_end = carrier.cancel(&subscription.name, false).await.unwrap();
    assert!(at_end.cancel_at_period_end);
    assert_eq!(at_end.status, pb::SubscriptionStatus::Active as i32);
    let now = carrier.cancel(&subscription.name, true).await.unwrap();
    assert_eq!(now.status, pb::SubscriptionStatus::Cancelled as i32);
    let dead = carrier.renew(&subscription.name, None).await.unwrap_err();
    assert_error(
        &dead,
        Code::FailedPrecondition,
        "SUBSCRIPTION_NOT_RENEWABLE",
    );
    app.stop().await;
}

async fn a_carrier_finds_its_subscriptions_by_customer_reference_and_status(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let telco = app.partner("Telco").await;
    let other = app.partner("Other").await;
    let carrier = carrier(&app, &telco);
    let first = app.provision(&telco, "contract-5", "plans/deluxe-3").await;
    let second = app
        .provision(&telco, "contract-5", "plans/premium-10")
        .await;
    app.provision(&telco, "contract-6", "plans/deluxe-3").await;
    app.provision(&other, "contract-5", "plans/deluxe-3").await;

    let found = carrier.find_by_reference("contract-5").await.unwrap();
    let names: Vec<_> = found.iter().map(|s| s.name.clone()).collect();
    assert_eq!(
        names,
        vec![
            second.subscription.unwrap().name,
            first.subscription.clone().unwrap().name
        ]
    );
    carrier
        .suspend(&first.subscription.unwrap().name)
        .await
        .unwrap();
    let suspended = carrier
        .list(Some(pb::SubscriptionStatus::Suspended), 10, "")
        .await
        .unwrap();
    assert_eq!(suspended.subscriptions.len(), 1);
    let all = carrier.list(None, 2, "").await.unwrap();
    assert_eq!(all.subscriptions.len(), 2);
    let rest = carrier.list(None, 2, &all.next_page_token).await.unwrap();
    assert_eq!(rest.subscriptions.len(), 1, "only the partner's own three");
    assert!(rest.next_page_token.is_empty());
    app.stop().await;
}

async fn a_replayed_carrier_call_returns_the_first_answer_and_changes_nothing(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let telco = app.partner("Telco").await;
    let carrier = carrier(&app, &telco);
    let first = carrier
        .provision_with_id("prov-1", "contract-7", "plans/deluxe-3", None)
        .await
        .unwrap();
    app.clock.advance(chrono::Duration::hours(71));
    let replay = carrier
        .provision_with_id("prov-1", "contract-7", "plans/deluxe-3", None)
        .await
        .unwrap();
    assert_eq!(replay.partner_code, first.partner_code);
    assert_eq!(replay.subscription, first.subscription);
    assert_eq!(
        carrier.find_by_reference("contract-7").await.unwrap().len(),
        1
    );

    let name = first.subscription.unwrap().name;
    let renewed = carrier.renew_with_id("renew-1", &name, None).await.unwrap();
    let again = carrier.renew_with_id("renew-1", &name, None).await.unwrap();
    assert_eq!(renewed.end_time, again.end_time);
    assert_eq!(carrier.get(&name).await.unwrap().end_time, renewed.end_time);

    let code = carrier
        .reissue_partner_code_with_id("code-1", &name)
        .await
        .unwrap();
    let same = carrier
        .reissue_partner_code_with_id("code-1", &name)
        .await
        .unwrap();
    assert_eq!(code.partner_code, same.partner_code);
    let (_, token) = app.sign_up(&email()).await;
    app.redeem_code(&token, &code.partner_code)
        .await
        .expect("the replayed code is the live one");
    app.stop().await;
}

async fn a_request_id_reused_for_another_request_is_refused(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let telco = app.partner("Telco").await;
    let carrier = carrier(&app, &telco);
    let first = carrier
        .provision_with_id("prov-2", "contract-8", "plans/deluxe-3", None)
        .await
        .unwrap();
    let reused = carrier
        .provision_with_id("prov-2", "contract-8", "plans/premium-10", None)
        .await
        .unwrap_err();
    assert_error(&reused, Code::InvalidArgument, "REQUEST_ID_REUSED");
    assert_eq!(error_reason(&reused).as_deref(), Some("REQUEST_ID_REUSED"));
    let name = first.subscription.unwrap().name;
    let cross_method = carrier.suspend_with_id("prov-2", &name).await.unwrap_err();
    assert_error(&cross_method, Code::InvalidArgument, "REQUEST_ID_REUSED");
    assert_eq!(
        carrier.get(&name).await.unwrap().status,
        pb::SubscriptionStatus::Active as i32
    );
    assert_eq!(
        carrier.find_by_reference("contract-8").await.unwrap().len(),
        1
    );
    app.stop().await;
}

async fn concurrent_calls_with_one_request_id_make_one_change(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let telco = app.partner("Telco").await;
    let carrier = carrier(&app, &telco);
    let provisions = (0..16).map(|_| {
        let carrier = carrier.clone();
        async move {
            carrier
                .provision_with_id("prov-race", "contract-9", "plans/deluxe-3", None)
                .await
        }
    });
    let answers: Vec<_> = join_all(provisions)
        .await
        .into_iter()
        .map(|a| a.expect("every concurrent retry succeeds"))
        .collect();
    assert!(
        answers
            .iter()
            .all(|a| a.partner_code == answers[0].partner_code)
    );
    assert_eq!(
        carrier.find_by_reference("contract-9").await.unwrap().len(),
        1
    );

    let name = answers[0].subscription.clone().unwrap().name;
    let end = carrier.get(&name).await.unwrap().end_time.unwrap().seconds;
    let renewals = (0..16).map(|_| {
        let (carrier, name) = (carrier.clone(), name.clone());
        async move { carrier.renew_with_id("renew-race", &name, None).await }
    });
    let renewed: Vec<_> = join_all(renewals)
        .await
        .into_iter()
        .map(|r| {
            r.expect("every concurrent retry succeeds")
                .end_time
                .unwrap()
                .seconds
        })
        .collect();
    assert!(renewed.iter().all(|e| *e == renewed[0]));
    let extended = carrier.get(&name).await.unwrap().end_time.unwrap().seconds - end;
    assert!(
        (365 * 86_400..=366 * 86_400).contains(&extended),
        "extended once: {extended}"
    );
    app.stop().await;
}

async fn request_ids_of_different_partners_never_collide(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let telco = app.partner("Telco").await;
    let other = app.partner("Other").await;
    let a = carrier(&app, &telco)
        .provision_with_id("same-id", "contract-a", "plans/deluxe-3", None)
        .await
        .unwrap();
    let b = carrier(&app, &other)
        .provision_with_id("same-id", "contract-b", "plans/premium-10", None)
        .await
        .unwrap();
    assert_ne!(
        a.subscription.unwrap().name,
        b.subscription.clone().unwrap().name
    );
    assert_eq!(b.subscription.unwrap().partner, other.name);
    app.stop().await;
}

async fn carrier_requests_are_checked_field_by_field(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let telco = app.partner("Telco").await;
    let provisioned = app.provision(&telco, "contract-10", "plans/deluxe-3").await;
    let name = provisioned.subscription.unwrap().name;
    let provision = |reference: &str, plan: &str, request_id: &str| {
        with_token(
            &telco.api_key,
            pb::ProvisionSubscriptionRequest {
                partner_reference: reference.into(),
                plan: plan.into(),
                start_time: None,
                request_id: request_id.into(),
            },
        )
    };
    for (request, field) in [
        (provision("", "plans/deluxe-3", "r"), "partner_reference"),
        (
            provision(&"x".repeat(129), "plans/deluxe-3", "r"),
            "partner_reference",
        ),
        (provision("c", "", "r"), "plan"),
        (provision("c", "plans/nope", "r"), "plan"),
        (provision("c", "plans/deluxe-3", ""), "request_id"),
    ] {
        let status = app
            .subscriptions()
            .provision_subscription(request)
            .await
            .unwrap_err();
        assert_invalid_field(&status, field);
    }
    let bad_time = app
        .subscriptions()
        .provision_subscription(with_token(
            &telco.api_key,
            pb::ProvisionSubscriptionRequest {
                partner_reference: "c".into(),
                plan: "plans/deluxe-3".into(),
                start_time: Some(prost_types::Timestamp {
                    seconds: 0,
                    nanos: -5,
                }),
                request_id: "r".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_invalid_field(&bad_time, "start_time");
    let bad_policy = app
        .subscriptions()
        .change_plan(with_token(
            &telco.api_key,
            pb::ChangePlanRequest {
                name: name.clone(),
                plan: "plans/premium-10".into(),
                downgrade_policy: 9,
                request_id: "r2".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_invalid_field(&bad_policy, "downgrade_policy");
    let no_id = app
        .subscriptions()
        .suspend_subscription(with_token(
            &telco.api_key,
            pb::SuspendSubscriptionRequest {
                name: name.clone(),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_invalid_field(&no_id, "request_id");
    let (_, token) = app.sign_up(&email()).await;
    let customer = app
        .subscriptions()
        .provision_subscription(with_token(
            &token,
            pb::ProvisionSubscriptionRequest::default(),
        ))
        .await
        .unwrap_err();
    assert_error(&customer, Code::PermissionDenied, "PRINCIPAL_NOT_ALLOWED");
    app.stop().await;
}

async fn partners_and_their_keys_are_managed_by_the_admin(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let telco = app.partner("Telco").await;
    let duplicate = app
        .partners()
        .create_partner(admin(pb::CreatePartnerRequest {
            display_name: "Telco".into(),
        }))
        .await
        .unwrap_err();
    assert_error(&duplicate, Code::AlreadyExists, "PARTNER_EXISTS");

    let me = app
        .partners()
        .get_partner(with_token(
            &telco.api_key,
            pb::GetPartnerRequest {
                name: "partners/me".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(me.name, telco.name);
    assert_eq!(me.status, pb::PartnerStatus::Active as i32);
    let listed = app
        .partners()
        .list_partners(admin(pb::ListPartnersRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.partners.len(), 1);

    let by_partner = app
        .partners()
        .create_partner_key(with_token(
            &telco.api_key,
            pb::CreatePartnerKeyRequest {
                parent: telco.name.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_error(&by_partner, Code::PermissionDenied, "PRINCIPAL_NOT_ALLOWED");

    let set_status = |status: pb::PartnerStatus, paths: Vec<&str>| {
        admin(pb::UpdatePartnerRequest {
            partner: Some(pb::Partner {
                name: telco.name.clone(),
                status: status as i32,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: paths.into_iter().map(String::from).collect(),
            }),
        })
    };
    let disabled = app
        .partners()
        .update_partner(set_status(pb::PartnerStatus::Disabled, vec!["status"]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(disabled.status, pb::PartnerStatus::Disabled as i32);
    assert_eq!(
        disabled.display_name, "Telco",
        "unmasked fields are untouched"
    );
    let while_disabled = carrier(&app, &telco).list(None, 10, "").await.unwrap_err();
    assert_error(
        &while_disabled,
        Code::Unauthenticated,
        "CREDENTIALS_INVALID",
    );
    app.partners()
        .update_partner(set_status(pb::PartnerStatus::Active, vec!["status"]))
        .await
        .unwrap();
    carrier(&app, &telco)
        .list(None, 10, "")
        .await
        .expect("enabled again");
    for paths in [vec![], vec!["name"]] {
        let bad_mask = app
            .partners()
            .update_partner(set_status(pb::PartnerStatus::Active, paths))
            .await
            .unwrap_err();
        assert_invalid_field(&bad_mask, "update_mask");
    }
    let bad_status = app
        .partners()
        .update_partner(set_status(pb::PartnerStatus::Unspecified, vec!["status"]))
        .await
        .unwrap_err();
    assert_invalid_field(&bad_status, "partner.status");

    let revoked = app
        .partners()
        .revoke_partner_key(admin(pb::RevokePartnerKeyRequest {
            name: telco.key_name.clone(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(revoked.revoke_time.is_some());
    assert!(telco.api_key.starts_with(&revoked.prefix));
    let refused: Status = carrier(&app, &telco).list(None, 10, "").await.unwrap_err();
    assert_error(&refused, Code::Unauthenticated, "CREDENTIALS_INVALID");
    app.stop().await;
}
