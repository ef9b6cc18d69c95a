//! Product keys: a new key creates a retail subscription whose key only its owner sees, a
//! renewal key extends a named subscription by one term once, typos are caught before any
//! look-up, and only the admin issues keys.

use super::{DAY, adjacent_swap, replace_char, seconds, single_typo};
use crate::support::{
    Db, admin, assert_error, assert_invalid_field, email, on_both_backends, spawn_app,
};
use tessera::domain::codes::{ALPHABET, CodeKind};
use tessera_client::{pb, tonic::Code, with_token};

on_both_backends!(
    a_new_product_key_creates_a_retail_subscription_that_shows_the_key_only_to_its_owner,
    a_product_key_redeemed_again_by_its_owner_changes_nothing_and_another_account_is_refused,
    malformed_product_keys_are_invalid_and_unknown_well_formed_ones_are_not_found,
    a_renewal_key_extends_the_named_subscription_of_the_account_by_one_term_once,
    issuing_product_keys_rejects_bad_requests_and_callers_other_than_the_admin,
);

fn issue_request(
    plan: &str,
    count: i32,
    kind: pb::ProductKeyKind,
    batch_label: &str,
) -> pb::IssueProductKeysRequest {
    pb::IssueProductKeysRequest {
        plan: plan.to_owned(),
        count,
        kind: kind as i32,
        batch_label: batch_label.to_owned(),
    }
}

async fn a_new_product_key_creates_a_retail_subscription_that_shows_the_key_only_to_its_owner(
    db: Db,
) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let keys = app
        .issue_keys("plans/deluxe-3", 3, pb::ProductKeyKind::New)
        .await;
    assert_eq!(keys.len(), 3);
    for key in &keys {
        assert_eq!(key.len(), 29, "{key}");
        for (i, c) in key.bytes().enumerate() {
            if i % 6 == 5 {
                assert_eq!(c, b'-', "{key}");
            } else {
                assert!(ALPHABET.contains(&c), "{key}");
            }
        }
        assert_eq!(&CodeKind::ProductKey.parse(key).unwrap(), key);
    }
    assert!(keys[0] != keys[1] && keys[1] != keys[2] && keys[0] != keys[2]);

    let (account, token) = app.sign_up(&email()).await;
    // Typed sloppily: lower case, spaces instead of dashes.
    let typed = keys[1].to_lowercase().replace('-', " ");
    let redeemed = app.redeem_key(&token, &typed, "").await.unwrap();
    assert_eq!(redeemed.account, account);
    assert_eq!(redeemed.channel, pb::Channel::Retail as i32);
    assert_eq!(redeemed.status, pb::SubscriptionStatus::Active as i32);
    assert_eq!(redeemed.plan, "plans/deluxe-3");
    assert_eq!(redeemed.seat_limit, 3);
    assert_eq!(redeemed.product_key, keys[1]);
    assert!((364..=366).contains(&redeemed.days_left), "{redeemed:?}");

    let read = app.get_subscription(&token, &redeemed.name).await.unwrap();
    assert_eq!(read.product_key, keys[1]);
    let listed = app.list_subscriptions(&token).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, redeemed.name);
    assert_eq!(listed[0].product_key, keys[1]);

    let by_admin = app
        .subscriptions()
        .get_subscription(admin(pb::GetSubscriptionRequest {
            name: redeemed.name.clone(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_admin.account, account);
    assert!(by_admin.product_key.is_empty(), "{by_admin:?}");
    let admin_list = app
        .subscriptions()
        .list_subscriptions(admin(pb::ListSubscriptionsRequest {
            parent: account.clone(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .subscriptions;
    assert_eq!(admin_list.len(), 1);
    assert!(admin_list[0].product_key.is_empty(), "{admin_list:?}");

    let (_, other) = app.sign_up(&email()).await;
    let hidden = app
        .get_subscription(&other, &redeemed.name)
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound, "{hidden:?}");
    assert!(!hidden.message().contains(&keys[1]));
    app.stop().await;
}

async fn a_product_key_redeemed_again_by_its_owner_changes_nothing_and_another_account_is_refused(
    db: Db,
) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let keys = app.issue_keys("deluxe-3", 2, pb::ProductKeyKind::New).await;
    let (account, token) = app.sign_up(&email()).await;
    let first = app.redeem_key(&token, &keys[0], "").await.unwrap();
    app.clock.advance(chrono::Duration::minutes(5));
    let again = app.redeem_key(&token, &keys[0], "").await.unwrap();
    assert_eq!(again.name, first.name);
    assert_eq!(again.account, account);
    assert_eq!(again.product_key, keys[0]);
    assert_eq!(again.update_time, first.update_time, "nothing changed");
    assert_eq!(again.end_time, first.end_time);
    assert_eq!(app.list_subscriptions(&token).await.len(), 1);

    let (_, other) = app.sign_up(&email()).await;
    let refused = app.redeem_key(&other, &keys[0], "").await.unwrap_err();
    assert_error(
        &refused,
        Code::FailedPrecondition,
        "PRODUCT_KEY_ALREADY_REDEEMED",
    );
    assert!(app.list_subscriptions(&other).await.is_empty());
    // The other key of the batch is still there for the other account.
    let own = app.redeem_key(&other, &keys[1], "").await.unwrap();
    assert_ne!(own.name, first.name);
    assert_eq!(app.list_subscriptions(&token).await.len(), 1);
    app.stop().await;
}

async fn malformed_product_keys_are_invalid_and_unknown_well_formed_ones_are_not_found(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let key = app
        .issue_keys("deluxe-3", 1, pb::ProductKeyKind::New)
        .await
        .remove(0);
    let (_, token) = app.sign_up(&email()).await;
    let bare = key.replace('-', "");
    let mut malformed = vec![
        String::new(),
        bare[..24].to_owned(),
        format!("{bare}2"),
        CodeKind::PartnerCode.generate(),
        replace_char(&key, 0, b'O'),
        replace_char(&key, 4, b'0'),
        replace_char(&key, 10, b'I'),
        replace_char(&key, 16, b'1'),
        replace_char(&key, 24, b'L'),
        replace_char(&key, 12, b'l'),
        replace_char(&key, 20, b'o'),
    ];
    malformed.extend((0..25).map(|i| single_typo(&key, i)));
    malformed.push(adjacent_swap(&key));
    for typed in &malformed {
        let status = app.redeem_key(&token, typed, "").await.unwrap_err();
        assert_error(&status, Code::InvalidArgument, "PRODUCT_KEY_MALFORMED");
        assert_invalid_field(&status, "product_key");
    }

    let unknown = CodeKind::ProductKey.generate();
    let status = app.redeem_key(&token, &unknown, "").await.unwrap_err();
    assert_error(&status, Code::NotFound, "PRODUCT_KEY_NOT_FOUND");

    assert!(app.list_subscriptions(&token).await.is_empty());
    app.redeem_key(&token, &key, "").await.unwrap();
    assert_eq!(app.list_subscriptions(&token).await.len(), 1);
    app.stop().await;
}

async fn a_renewal_key_extends_the_named_subscription_of_the_account_by_one_term_once(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let (account, token) = app.sign_up(&email()).await;
    let (other_account, other) = app.sign_up(&email()).await;
    let mine = app.buy(&account, "deluxe-3").await;
    let theirs = app.buy(&other_account, "deluxe-3").await;
    let key = app
        .issue_keys("deluxe-3", 1, pb::ProductKeyKind::Renewal)
        .await
        .remove(0);

    let unnamed = app.redeem_key(&token, &key, "").await.unwrap_err();
    assert_invalid_field(&unnamed, "subscription");
    let badly_named = app
        .redeem_key(&token, &key, "my-subscription")
        .await
        .unwrap_err();
    assert_invalid_field(&badly_named, "subscription");
    let not_mine = app
        .redeem_key(&token, &key, &theirs.name)
        .await
        .unwrap_err();
    assert_error(&not_mine, Code::NotFound, "SUBSCRIPTION_NOT_FOUND");
    let untouched = app.get_subscription(&other, &theirs.name).await.unwrap();
    assert_eq!(untouched.end_time, theirs.end_time);
    assert_eq!(
        app.get_subscription(&token, &mine.name)
            .await
            .unwrap()
            .end_time,
        mine.end_time
    );

    let renewed = app.redeem_key(&token, &key, &mine.name).await.unwrap();
    assert_eq!(renewed.name, mine.name);
    assert_eq!(renewed.account, account);
    assert_eq!(renewed.channel, pb::Channel::Direct as i32);
    let moved = seconds(&renewed.end_time) - seconds(&mine.end_time);
    assert!(
        (365 * DAY..=366 * DAY).contains(&moved),
        "end moved by {moved} s"
    );
    let read = app.get_subscription(&token, &mine.name).await.unwrap();
    assert_eq!(read.end_time, renewed.end_time);
    assert_eq!(
        app.list_subscriptions(&token).await.len(),
        1,
        "no new subscription"
    );

    app.clock.advance(chrono::Duration::minutes(5));
    let again = app.redeem_key(&token, &key, &mine.name).await.unwrap();
    assert_eq!(again.name, mine.name);
    assert_eq!(again.end_time, renewed.end_time, "no second extension");
    let read = app.get_subscription(&token, &mine.name).await.unwrap();
    assert_eq!(read.end_time, renewed.end_time);

    let refused = app
        .redeem_key(&other, &key, &theirs.name)
        .await
        .unwrap_err();
    assert_error(
        &refused,
        Code::FailedPrecondition,
        "PRODUCT_KEY_ALREADY_REDEEMED",
    );
    let untouched = app.get_subscription(&other, &theirs.name).await.unwrap();
    assert_eq!(untouched.end_time, theirs.end_time);
    app.stop().await;
}

async fn issuing_product_keys_rejects_bad_requests_and_callers_other_than_the_admin(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    use pb::ProductKeyKind::{New, Renewal, Unspecified};
    let cases = [
        (issue_request("deluxe-3", 0, New, "batch"), "count"),
        (issue_request("deluxe-3", -1, New, "batch"), "count"),
        (issue_request("deluxe-3", 10_001, Renewal, "batch"), "count"),
        (issue_request("plans/gold-99", 5, New, "batch"), "plan"),
        (issue_request("", 5, New, "batch"), "plan"),
        (issue_request("deluxe-3", 5, Unspecified, "batch"), "kind"),
        (issue_request("deluxe-3", 5, New, ""), "batch_label"),
        (issue_request("deluxe-3", 5, New, "   "), "batch_label"),
        (
            issue_request("deluxe-3", 5, New, &"b".repeat(101)),
            "batch_label",
        ),
    ];
    for (request, field) in cases {
        let status = app
            .product_keys()
            .issue_product_keys(admin(request))
            .await
            .unwrap_err();
        assert_invalid_field(&status, field);
    }
    let mut unknown_kind = issue_request("deluxe-3", 5, New, "batch");
    unknown_kind.kind = 7;
    let status = app
        .product_keys()
        .issue_product_keys(admin(unknown_kind))
        .await
        .unwrap_err();
    assert_invalid_field(&status, "kind");

    let (_, token) = app.sign_up(&email()).await;
    let as_customer = app
        .product_keys()
        .issue_product_keys(with_token(
            &token,
            issue_request("deluxe-3", 5, New, "batch"),
        ))
        .await
        .unwrap_err();
    assert_error(
        &as_customer,
        Code::PermissionDenied,
        "PRINCIPAL_NOT_ALLOWED",
    );
    let carrier = app.partner("Telco One").await;
    let as_partner = app
        .product_keys()
        .issue_product_keys(with_token(
            &carrier.api_key,
            issue_request("deluxe-3", 5, New, "batch"),
        ))
        .await
        .unwrap_err();
    assert_error(&as_partner, Code::PermissionDenied, "PRINCIPAL_NOT_ALLOWED");

    // At the limits, the request is fine.
    let one = app
        .product_keys()
        .issue_product_keys(admin(issue_request(
            "plans/deluxe-3",
            1,
            Renewal,
            &"b".repeat(100),
        )))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(one.product_keys.len(), 1);
    app.stop().await;
}
