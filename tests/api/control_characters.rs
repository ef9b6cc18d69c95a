//! Control characters (NUL, tab, escape, …) in a string Tessera stores or filters by are
//! refused with INVALID_ARGUMENT naming the field, the same on both backends: PostgreSQL
//! cannot hold NUL in text (it used to answer INTERNAL), SQLite stored it as sent.

use crate::support::{
    ADMIN_TOKEN, Db, admin, assert_invalid_field, email, on_both_backends, spawn_app,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use prost_types::FieldMask;
use tessera_client::{pb, tonic::Status, with_token};

on_both_backends!(
    a_nul_byte_in_a_batch_label_or_a_reference_filter_is_an_invalid_argument,
    no_stored_or_filtered_string_takes_a_control_character,
);

/// Text with a control character, of each kind.
const HOSTILE: &[&str] = &["nul\0byte", "tab\there", "escape\u{1b}[2J", "line\nbreak"];

async fn a_nul_byte_in_a_batch_label_or_a_reference_filter_is_an_invalid_argument(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let label = app
        .product_keys()
        .issue_product_keys(admin(pb::IssueProductKeysRequest {
            plan: "plans/deluxe-3".to_owned(),
            count: 1,
            kind: pb::ProductKeyKind::New as i32,
            batch_label: "2026\0Q4".to_owned(),
        }))
        .await
        .unwrap_err();
    assert_invalid_field(&label, "batch_label");

    let telco = app.partner("Telco").await;
    app.provision(&telco, "contract-1", "plans/deluxe-3").await;
    let filter = app
        .subscriptions()
        .list_partner_subscriptions(with_token(
            &telco.api_key,
            pb::ListPartnerSubscriptionsRequest {
                partner_reference: "contract\0-1".to_owned(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_invalid_field(&filter, "partner_reference");

    // The same values without the NUL work.
    app.issue_keys("plans/deluxe-3", 1, pb::ProductKeyKind::New)
        .await;
    let found = app
        .subscriptions()
        .list_partner_subscriptions(with_token(
            &telco.api_key,
            pb::ListPartnerSubscriptionsRequest {
                partner_reference: "contract-1".to_owned(),
                ..Default::default()
            },
        ))
        .await
        .expect("a clean filter works")
        .into_inner();
    assert_eq!(found.subscriptions.len(), 1);
    app.stop().await;
}

async fn no_stored_or_filtered_string_takes_a_control_character(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let (account, session) = app.sign_up(&email()).await;
    let subscription = app.buy(&account, "deluxe-3").await;
    let telco = app.partner("Telco").await;
    let carrier = app.provision(&telco, "contract-1", "plans/deluxe-3").await;
    let carrier = carrier.subscription.unwrap().name;

    for bad in HOSTILE {
        let bad = bad.to_string();
        let mut refused: Vec<(&str, Status)> = Vec::new();
        let mut accounts = app.accounts();
        let mut seats = app.seats();
        let mut partners = app.partners();
        let mut subscriptions = app.subscriptions();

        let sign_up = |email: String, display_name: String| pb::CreateAccountRequest {
            email,
            password: "a long enough password".to_owned(),
            display_name,
        };
        refused.push((
            "email",
            accounts
                .create_account(sign_up(format!("ann{bad}@example.com"), "Ann".into()))
                .await
                .unwrap_err(),
        ));
        refused.push((
            "display_name",
            accounts
                .create_account(sign_up(email(), format!("Ann {bad}")))
                .await
                .unwrap_err(),
        ));
        let activation = |device_id: String, display_name: String| {
            with_token(
                &session,
                pb::ActivateSeatRequest {
                    parent: subscription.name.clone(),
                    device_id,
                    platform: pb::Platform::Windows as i32,
                    display_name,
                },
            )
        };
        refused.push((
            "device_id",
            seats
                .activate_seat(activation(format!("pc-{bad}"), "PC".into()))
                .await
                .unwrap_err(),
        ));
        refused.push((
            "display_name",
            seats
                .activate_seat(activation("pc-1".into(), format!("PC {bad}")))
                .await
                .unwrap_err(),
        ));
        refused.push((
            "display_name",
            partners
                .create_partner(admin(pb::CreatePartnerRequest {
                    display_name: format!("Carrier {bad}"),
                }))
                .await
                .unwrap_err(),
        ));
        refused.push((
            "partner.display_name",
            partners
                .update_partner(admin(pb::UpdatePartnerRequest {
                    partner: Some(pb::Partner {
                        name: telco.name.clone(),
                        display_name: format!("Telco {bad}"),
                        ..Default::default()
                    }),
                    update_mask: Some(FieldMask {
                        paths: vec!["display_name".to_owned()],
                    }),
                }))
                .await
                .unwrap_err(),
        ));
        // A page token that decodes to a position with a control character.
        refused.push((
            "page_token",
            partners
                .list_partners(admin(pb::ListPartnersRequest {
                    page_size: 10,
                    page_token: URL_SAFE_NO_PAD.encode(format!("1:Telco{bad}")),
                }))
                .await
                .unwrap_err(),
        ));
        refused.push((
            "batch_label",
            app.product_keys()
                .issue_product_keys(admin(pb::IssueProductKeysRequest {
                    plan: "plans/deluxe-3".to_owned(),
                    count: 1,
                    kind: pb::ProductKeyKind::New as i32,
                    batch_label: format!("batch {bad}"),
                }))
                .await
                .unwrap_err(),
        ));
        let provision = |reference: String, request_id: String| {
            with_token(
                &telco.api_key,
                pb::ProvisionSubscriptionRequest {
                    partner_reference: reference,
                    plan: "plans/deluxe-3".to_owned(),
                    start_time: None,
                    request_id,
                },
            )
        };
        refused.push((
            "partner_reference",
            subscriptions
                .provision_subscription(provision(format!("contract {bad}"), "p-1".into()))
                .await
                .unwrap_err(),
        ));
        refused.push((
            "request_id",
            subscriptions
                .provision_subscription(provision("contract-2".into(), format!("p-{bad}")))
                .await
                .unwrap_err(),
        ));
        refused.push((
            "partner_reference",
            subscriptions
                .list_partner_subscriptions(with_token(
                    &telco.api_key,
                    pb::ListPartnerSubscriptionsRequest {
                        partner_reference: format!("contract{bad}1"),
                        ..Default::default()
                    },
                ))
                .await
                .unwrap_err(),
        ));
        refused.push((
            "request_id",
            subscriptions
                .suspend_subscription(with_token(
                    &telco.api_key,
                    pb::SuspendSubscriptionRequest {
                        name: carrier.clone(),
                        request_id: format!("s-{bad}"),
                    },
                ))
                .await
                .unwrap_err(),
        ));
        refused.push((
            "request_id",
            subscriptions
                .create_subscription(with_token(
                    ADMIN_TOKEN,
                    pb::CreateSubscriptionRequest {
                        parent: account.clone(),
                        plan: "plans/deluxe-3".to_owned(),
                        auto_renew: true,
                        request_id: format!("c-{bad}"),
                    },
                ))
                .await
                .unwrap_err(),
        ));
        for (field, status) in &refused {
            assert_invalid_field(status, field);
        }
    }
    // Nothing of it was stored: the account still has its one subscription, the partner
    // its one, with no seat taken.
    assert_eq!(app.list_subscriptions(&session).await.len(), 1);
    assert_eq!(
        app.get_subscription(&session, &subscription.name)
            .await
            .unwrap()
            .active_seat_count,
        0
    );
    let listed = app
        .subscriptions()
        .list_partner_subscriptions(with_token(
            &telco.api_key,
            pb::ListPartnerSubscriptionsRequest::default(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.subscriptions.len(), 1);
    app.stop().await;
}
