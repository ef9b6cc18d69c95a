//! Flow 4, "restore a store purchase", through the real server: App Store signed
//! transactions issued by a test PKI whose root the server is configured to trust, and
//! Google Play tokens answered by a local stand-in for Google. The PKI and the stand-in
//! are the ones the verifiers' own tests use (`tests/support/`).
//!
//! The scenarios are in the modules below, one concern each; what they share is here.

#[path = "../../support/apple_pki.rs"]
mod apple_pki;
#[path = "../../support/play_stand_in.rs"]
mod play_stand_in;

mod app_store;
mod genuine_app_store;
mod google_play;
mod google_states;
mod refusals;
mod store_truth;
mod transfers;

use crate::support::{Db, TestApp, admin, spawn_app_with};
use apple_pki::{BUNDLE_ID, Dates, ENVIRONMENT, Pki};
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use tessera::domain::clock::Clock;
use tessera_client::{
    pb::{self, event_service_client::EventServiceClient},
    tonic::Status,
    with_token,
};

/// The App Store product of the scenarios; the default catalog maps it to `deluxe-5`.
const PRODUCT: &str = "com.example.suite.deluxe_5_yearly";
/// An App Store product the default catalog maps to `premium-10`.
const PREMIUM_PRODUCT: &str = "com.example.suite.premium_10_yearly";
/// An App Store product the default catalog maps to `deluxe-3`.
const DELUXE_3_PRODUCT: &str = "com.example.suite.deluxe_3_yearly";

/// A server that trusts `pki`'s root for App Store proofs of the test app. The root is
/// handed over as a DER file, as an operator would.
async fn spawn_apple_app(db: Db, pki: &Pki) -> Option<TestApp> {
    let root = std::env::temp_dir().join(format!(
        "tessera-test-apple-root-{}.der",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::write(&root, &pki.root_der).expect("writing the test root");
    let app = spawn_app_with(db, |settings| {
        settings.apple_bundle_id = Some(BUNDLE_ID.to_owned());
        settings.apple_environment = ENVIRONMENT.to_owned();
        settings.apple_root_certificate = Some(root.clone());
    })
    .await;
    let _ = std::fs::remove_file(&root);
    app
}

fn ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

fn millis(timestamp: &Option<prost_types::Timestamp>) -> i64 {
    let timestamp = timestamp.as_ref().expect("a timestamp");
    timestamp.seconds * 1000 + i64::from(timestamp.nanos) / 1_000_000
}

/// A transaction of `product_id` bought a day ago, signed now (the server's now) and
/// paid until `expires`.
fn transaction(
    app: &TestApp,
    original_id: &str,
    product_id: &str,
    expires: DateTime<Utc>,
) -> Value {
    let now = app.clock.now();
    apple_pki::transaction(
        original_id,
        product_id,
        Dates {
            purchase_ms: ms(now - Duration::days(1)),
            expires_ms: ms(expires),
            signed_ms: ms(now),
        },
    )
}

async fn restore(
    app: &TestApp,
    token: &str,
    store: pb::Channel,
    proof: &str,
) -> Result<pb::Subscription, Status> {
    restore_with_renewal_info(app, token, store, proof, "").await
}

async fn restore_with_renewal_info(
    app: &TestApp,
    token: &str,
    store: pb::Channel,
    proof: &str,
    renewal_info: &str,
) -> Result<pb::Subscription, Status> {
    app.subscriptions()
        .restore_store_purchase(with_token(
            token,
            pb::RestoreStorePurchaseRequest {
                store: store as i32,
                signed_proof: proof.to_owned(),
                signed_renewal_info: renewal_info.to_owned(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

/// The Tessera account id in an account's resource name: what an app sets as
/// `appAccountToken` or `obfuscatedExternalAccountId` to bind a purchase to it.
fn account_id(name: &str) -> String {
    name.strip_prefix("accounts/")
        .expect("an account name")
        .to_owned()
}

/// Cancels a subscription with a session token.
async fn cancel(app: &TestApp, token: &str, name: &str) -> Result<pb::Subscription, Status> {
    app.subscriptions()
        .cancel_subscription(with_token(
            token,
            pb::CancelSubscriptionRequest {
                name: name.to_owned(),
                immediately: true,
                request_id: String::new(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

async fn restore_play(app: &TestApp, token: &str, proof: &str) -> Result<pb::Subscription, Status> {
    restore(app, token, pb::Channel::PlayStore, proof).await
}

async fn restore_apple(
    app: &TestApp,
    token: &str,
    proof: &str,
) -> Result<pb::Subscription, Status> {
    restore(app, token, pb::Channel::AppStore, proof).await
}

/// The first event of `kind` about `subscription` on the admin's event stream, replayed
/// from the start; waits at most ten seconds for it.
async fn event_of(app: &TestApp, subscription: &str, kind: pb::EventType) -> pb::Event {
    let mut stream = EventServiceClient::new(app.channel.clone())
        .watch_events(admin(pb::WatchEventsRequest {
            after_sequence: 0,
            subscription: subscription.to_owned(),
            types: Vec::new(),
        }))
        .await
        .expect("the admin watches events")
        .into_inner();
    let found = async {
        while let Some(message) = stream.message().await.expect("the stream stays up") {
            let event = message.event.expect("a message carries an event");
            if event.r#type == kind as i32 {
                return event;
            }
        }
        panic!("the event stream ended without a {kind:?} event");
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), found)
        .await
        .unwrap_or_else(|_| panic!("no {kind:?} event for {subscription} within ten seconds"))
}
