//! A stream lives no longer than its credential: revoking the partner's key or disabling
//! the partner ends an open WatchEvents stream with UNAUTHENTICATED, before any further
//! event, within the second in which every replica's read model follows a change.

use super::{Events, after, next_event, watch};
use crate::{
    replicas::two_replicas,
    support::{
        Db, TestApp, TestPartner, WAIT, admin, assert_error, email, on_both_backends, spawn_app,
    },
};
use std::time::{Duration, Instant};
use tessera_client::{pb, tonic::Code};
use tokio::time::timeout;

on_both_backends!(
    revoking_the_partner_key_ends_its_open_stream,
    disabling_the_partner_ends_its_open_stream,
);

/// How soon a stream must end once its credential stops working.
const BOUND: Duration = Duration::from_secs(1);

/// A partner's subscription, provisioned, and a stream of the partner's events that has
/// delivered its creation: the subscription and its unredeemed partner code.
async fn watched_subscription(app: &TestApp, partner: &TestPartner) -> (Events, String) {
    let provisioned = app.provision(partner, &email(), "deluxe-3").await;
    let mut stream = watch(app, &partner.api_key, after(0))
        .await
        .expect("the partner watches its events");
    let created = next_event(&mut stream).await;
    assert_eq!(created.r#type, pb::EventType::SubscriptionCreated as i32);
    (stream, provisioned.partner_code)
}

/// Asserts that `stream` ends with the authentication error, delivering nothing more,
/// within [`BOUND`] of `since`.
async fn assert_cut_off(stream: &mut Events, since: Instant) {
    let ended = timeout(WAIT, stream.message())
        .await
        .expect("the stream ends in time");
    let status = match ended {
        Err(status) => status,
        Ok(Some(message)) => panic!("an event after the credential stopped working: {message:?}"),
        Ok(None) => panic!("the stream ended without saying why"),
    };
    let elapsed = since.elapsed();
    assert_error(&status, Code::Unauthenticated, "CREDENTIALS_INVALID");
    assert!(
        elapsed < BOUND,
        "the stream ended {elapsed:?} after the change"
    );
    assert!(
        matches!(stream.message().await, Ok(None) | Err(_)),
        "nothing after the error"
    );
}

async fn revoke(app: &TestApp, partner: &TestPartner) {
    app.partners()
        .revoke_partner_key(admin(pb::RevokePartnerKeyRequest {
            name: partner.key_name.clone(),
        }))
        .await
        .expect("the admin revokes the key");
}

async fn revoking_the_partner_key_ends_its_open_stream(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let telco = app.partner("Telco").await;
    let (mut stream, code) = watched_subscription(&app, &telco).await;
    revoke(&app, &telco).await;
    let revoked = Instant::now();
    // A change of the partner's subscription that its stream would have delivered.
    let (_, customer) = app.sign_up(&email()).await;
    app.redeem_code(&customer, &code).await.unwrap();
    assert_cut_off(&mut stream, revoked).await;
    // Nor can it open another.
    let status = watch(&app, &telco.api_key, after(0)).await.unwrap_err();
    assert_error(&status, Code::Unauthenticated, "CREDENTIALS_INVALID");
    app.stop().await;
}

async fn disabling_the_partner_ends_its_open_stream(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let telco = app.partner("Telco").await;
    let (mut stream, code) = watched_subscription(&app, &telco).await;
    app.partners()
        .update_partner(admin(pb::UpdatePartnerRequest {
            partner: Some(pb::Partner {
                name: telco.name.clone(),
                status: pb::PartnerStatus::Disabled as i32,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["status".into()],
            }),
        }))
        .await
        .expect("the admin disables the partner");
    let disabled = Instant::now();
    let (_, customer) = app.sign_up(&email()).await;
    app.redeem_code(&customer, &code).await.unwrap();
    assert_cut_off(&mut stream, disabled).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_on_one_replica_ends_its_stream_on_another_within_a_second() {
    let Some((first, second)) = two_replicas().await else {
        return;
    };
    let telco = first.partner("Telco").await;
    let (mut stream, code) = watched_subscription(&second, &telco).await;
    revoke(&first, &telco).await;
    let revoked = Instant::now();
    let (_, customer) = first.sign_up(&email()).await;
    first.redeem_code(&customer, &code).await.unwrap();
    assert_cut_off(&mut stream, revoked).await;
    second.stop().await;
    first.stop().await;
}
