//! Partner codes: a redeemed code gives the carrier's subscription to the account, once
//! and to one account only; typos are caught before any look-up; a code expires, and is
//! reissued until the subscription is claimed.

use super::{
    DAY, adjacent_swap, as_partner, linked_identities, replace_char, seconds, single_typo,
};
use crate::support::{
    Db, TestApp, TestPartner, assert_error, assert_invalid_field, email, on_both_backends,
    spawn_app, spawn_app_with,
};
use tessera::domain::codes::CodeKind;
use tessera_client::{
    pb,
    tonic::{Code, Status},
    with_token,
};

on_both_backends!(
    a_redeemed_partner_code_gives_the_carrier_subscription_to_the_account_and_links_the_carrier_reference,
    a_partner_code_redeemed_again_by_its_owner_changes_nothing_and_another_account_is_refused,
    malformed_partner_codes_are_invalid_and_unknown_well_formed_ones_are_not_found,
    a_partner_code_past_its_lifetime_is_expired,
    a_reissued_partner_code_replaces_the_old_one_until_the_subscription_is_claimed,
);

async fn reissue(
    app: &TestApp,
    partner: &TestPartner,
    subscription: &str,
) -> Result<pb::ReissuePartnerCodeResponse, Status> {
    app.subscriptions()
        .reissue_partner_code(with_token(
            &partner.api_key,
            pb::ReissuePartnerCodeRequest {
                name: subscription.to_owned(),
                request_id: uuid::Uuid::new_v4().to_string(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

async fn a_redeemed_partner_code_gives_the_carrier_subscription_to_the_account_and_links_the_carrier_reference(
    db: Db,
) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let carrier = app.partner("Telco One").await;
    let provisioned = app.provision(&carrier, "contract-4711", "deluxe-3").await;
    let unclaimed = provisioned.subscription.unwrap();
    assert!(unclaimed.account.is_empty());
    assert!(!unclaimed.claimed);
    let (account, token) = app.sign_up(&email()).await;
    assert!(linked_identities(&app, &token).await.is_empty());

    // Typed sloppily: lower case, spaces where the dashes were.
    let typed = provisioned.partner_code.to_lowercase().replace('-', " ");
    let redeemed = app.redeem_code(&token, &typed).await.unwrap();
    assert_eq!(redeemed.name, unclaimed.name);
    assert_eq!(redeemed.account, account);
    assert!(redeemed.claimed);
    assert_eq!(redeemed.status, pb::SubscriptionStatus::Active as i32);
    assert_eq!(redeemed.channel, pb::Channel::Carrier as i32);
    assert_eq!(redeemed.seat_limit, 3);
    assert_eq!(redeemed.partner, carrier.name);
    assert_eq!(redeemed.partner_reference, "contract-4711");

    let read = app.get_subscription(&token, &unclaimed.name).await.unwrap();
    assert_eq!(read.account, account);
    let listed = app.list_subscriptions(&token).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, unclaimed.name);
    assert_eq!(
        linked_identities(&app, &token).await,
        vec![pb::LinkedIdentity {
            partner: carrier.name.clone(),
            reference: "contract-4711".into(),
        }]
    );
    let seen_by_carrier = as_partner(&app, &carrier, &unclaimed.name).await;
    assert!(seen_by_carrier.claimed);
    assert!(seen_by_carrier.account.is_empty());
    app.stop().await;
}

async fn a_partner_code_redeemed_again_by_its_owner_changes_nothing_and_another_account_is_refused(
    db: Db,
) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let carrier = app.partner("Telco One").await;
    let provisioned = app.provision(&carrier, "contract-1", "deluxe-5").await;
    let (account, token) = app.sign_up(&email()).await;
    let first = app
        .redeem_code(&token, &provisioned.partner_code)
        .await
        .unwrap();
    app.clock.advance(chrono::Duration::minutes(5));
    let again = app
        .redeem_code(&token, &provisioned.partner_code)
        .await
        .unwrap();
    assert_eq!(again.name, first.name);
    assert_eq!(again.account, account);
    assert_eq!(again.update_time, first.update_time, "nothing changed");
    assert_eq!(again.end_time, first.end_time);
    assert_eq!(app.list_subscriptions(&token).await.len(), 1);
    assert_eq!(linked_identities(&app, &token).await.len(), 1);

    let (_, other) = app.sign_up(&email()).await;
    let refused = app
        .redeem_code(&other, &provisioned.partner_code)
        .await
        .unwrap_err();
    assert_error(
        &refused,
        Code::FailedPrecondition,
        "PARTNER_CODE_ALREADY_REDEEMED",
    );
    assert!(app.list_subscriptions(&other).await.is_empty());
    assert!(linked_identities(&app, &other).await.is_empty());
    let still = app.get_subscription(&token, &first.name).await.unwrap();
    assert_eq!(still.account, account);
    app.stop().await;
}

async fn malformed_partner_codes_are_invalid_and_unknown_well_formed_ones_are_not_found(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let carrier = app.partner("Telco One").await;
    let code = app
        .provision(&carrier, "contract-1", "deluxe-3")
        .await
        .partner_code;
    assert_eq!(code.len(), 17, "{code}");
    let (_, token) = app.sign_up(&email()).await;
    let bare = code.replace('-', "");
    let mut malformed = vec![
        String::new(),
        bare[..14].to_owned(),
        format!("{bare}2"),
        CodeKind::ProductKey.generate(),
        replace_char(&code, 0, b'O'),
        replace_char(&code, 3, b'0'),
        replace_char(&code, 7, b'1'),
        replace_char(&code, 9, b'I'),
        replace_char(&code, 14, b'L'),
        replace_char(&code, 2, b'#'),
    ];
    malformed.extend((0..15).map(|i| single_typo(&code, i)));
    malformed.push(adjacent_swap(&code));
    for typed in &malformed {
        let status = app.redeem_code(&token, typed).await.unwrap_err();
        assert_error(&status, Code::InvalidArgument, "PARTNER_CODE_MALFORMED");
        assert_invalid_field(&status, "partner_code");
    }

    let unknown = CodeKind::PartnerCode.generate();
    let status = app.redeem_code(&token, &unknown).await.unwrap_err();
    assert_error(&status, Code::NotFound, "PARTNER_CODE_NOT_FOUND");

    // None of the attempts above claimed anything; the real code still works.
    assert!(app.list_subscriptions(&token).await.is_empty());
    app.redeem_code(&token, &code).await.unwrap();
    app.stop().await;
}

async fn a_partner_code_past_its_lifetime_is_expired(db: Db) {
    let Some(app) = spawn_app_with(db, |settings| settings.partner_code_ttl_days = 1).await else {
        return;
    };
    let carrier = app.partner("Telco One").await;
    let early = app.provision(&carrier, "contract-1", "deluxe-3").await;
    let late = app.provision(&carrier, "contract-2", "deluxe-3").await;
    let provisioned_at = seconds(&late.subscription.as_ref().unwrap().create_time);
    assert_eq!(
        seconds(&late.partner_code_expire_time) - provisioned_at,
        DAY
    );
    let (account, token) = app.sign_up(&email()).await;

    app.clock.advance(chrono::Duration::hours(23));
    let in_time = app.redeem_code(&token, &early.partner_code).await.unwrap();
    assert_eq!(in_time.account, account);

    app.clock.advance(chrono::Duration::hours(25));
    let status = app
        .redeem_code(&token, &late.partner_code)
        .await
        .unwrap_err();
    assert_error(&status, Code::FailedPrecondition, "PARTNER_CODE_EXPIRED");
    let subscription = late.subscription.unwrap();
    assert!(!as_partner(&app, &carrier, &subscription.name).await.claimed);
    assert_eq!(app.list_subscriptions(&token).await.len(), 1);

    // A fresh code from the carrier lets the customer in.
    let fresh = reissue(&app, &carrier, &subscription.name).await.unwrap();
    let claimed = app.redeem_code(&token, &fresh.partner_code).await.unwrap();
    assert_eq!(claimed.name, subscription.name);
    app.stop().await;
}

async fn a_reissued_partner_code_replaces_the_old_one_until_the_subscription_is_claimed(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let carrier = app.partner("Telco One").await;
    let provisioned = app.provision(&carrier, "contract-9", "premium-10").await;
    let subscription = provisioned.subscription.unwrap();
    // The default lifetime of a code is 90 days.
    assert_eq!(
        seconds(&provisioned.partner_code_expire_time) - seconds(&subscription.create_time),
        90 * DAY
    );

    let reissued = reissue(&app, &carrier, &subscription.name).await.unwrap();
    assert_ne!(reissued.partner_code, provisioned.partner_code);
    CodeKind::PartnerCode
        .parse(&reissued.partner_code)
        .expect("a well-formed code");
    let (account, token) = app.sign_up(&email()).await;
    let old = app
        .redeem_code(&token, &provisioned.partner_code)
        .await
        .unwrap_err();
    assert_error(&old, Code::NotFound, "PARTNER_CODE_NOT_FOUND");

    let claimed = app
        .redeem_code(&token, &reissued.partner_code)
        .await
        .unwrap();
    assert_eq!(claimed.name, subscription.name);
    assert_eq!(claimed.account, account);

    let too_late = reissue(&app, &carrier, &subscription.name)
        .await
        .unwrap_err();
    assert_error(
        &too_late,
        Code::FailedPrecondition,
        "SUBSCRIPTION_ALREADY_CLAIMED",
    );
    // The refused reissue left the redeemed code and the owner alone.
    let again = app
        .redeem_code(&token, &reissued.partner_code)
        .await
        .unwrap();
    assert_eq!(again.account, account);
    app.stop().await;
}
