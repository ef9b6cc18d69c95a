//! The read model (`tessera::store::cached`): what authentication and check-ins read
//! from memory follows every commit — at once on the replica that made it, within a
//! second on the others — and check-in times held in memory reach the database.

use crate::{
    replicas::two_replicas,
    seats::assert_told_removed_and_nothing_more,
    support::{Db, TestApp, TestPartner, admin, email, spawn_app},
};
use std::time::{Duration, Instant};
use tessera::domain::principal::Scope;
use tessera_client::{pb, tonic::Code, with_token};

/// How soon another replica must learn of a change.
const BOUND: Duration = Duration::from_secs(1);

/// Asks `check` until it holds, for at most [`BOUND`]; panics naming `what` otherwise.
async fn within_bound<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return;
        }
        assert!(
            start.elapsed() < BOUND,
            "the other replica did not learn within {BOUND:?} that {what}"
        );
        tokio::task::yield_now().await;
    }
}

/// A device protected by a new premium subscription of a new account on `app`: the
/// session, the subscription, the seat's name and the device token.
async fn protected_device(app: &TestApp) -> (String, pb::Subscription, String, String) {
    let (account, session) = app.sign_up(&email()).await;
    let subscription = app.buy(&account, "premium-10").await;
    let activated = app
        .activate(&session, &subscription.name, "laptop")
        .await
        .expect("the device activates");
    let seat = activated.seat.unwrap().name;
    (session, subscription, seat, activated.device_token)
}

/// A partner's subscription, claimed by a new account, with a device on it.
async fn carrier_device(app: &TestApp, partner: &TestPartner) -> (pb::Subscription, String) {
    let provisioned = app.provision(partner, &email(), "premium-10").await;
    let (_, session) = app.sign_up(&email()).await;
    let subscription = app
        .redeem_code(&session, &provisioned.partner_code)
        .await
        .expect("the customer redeems the partner code");
    let device = app
        .activate(&session, &subscription.name, "phone")
        .await
        .expect("the device activates");
    (subscription, device.device_token)
}

async fn is_protected(app: &TestApp, device_token: &str) -> bool {
    app.check_protection(device_token).await.protected
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_removed_on_one_replica_learns_it_on_another_within_a_second() {
    let Some((first, second)) = two_replicas().await else {
        return;
    };
    let (session, _, seat, device) = protected_device(&first).await;
    // The second replica has the device in memory before the change.
    assert!(is_protected(&second, &device).await);
    assert!(is_protected(&second, &device).await);

    first
        .seats()
        .deactivate_seat(with_token(
            &session,
            pb::DeactivateSeatRequest { name: seat.clone() },
        ))
        .await
        .expect("the customer removes the device");

    assert!(
        !is_protected(&first, &device).await,
        "the replica that made the change knows it at once"
    );
    within_bound("the device was removed", || async {
        !is_protected(&second, &device).await
    })
    .await;
    // Both replicas then tell it that, and nothing of the subscription it was on.
    for replica in [&first, &second] {
        assert_told_removed_and_nothing_more(&replica.check_protection(&device).await);
    }
    first.stop().await;
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspension_on_one_replica_reaches_devices_on_another_within_a_second() {
    let Some((first, second)) = two_replicas().await else {
        return;
    };
    let telco = first.partner("Telco").await;
    let (subscription, device) = carrier_device(&first, &telco).await;
    assert!(is_protected(&second, &device).await);

    first
        .subscriptions()
        .suspend_subscription(with_token(
            &telco.api_key,
            pb::SuspendSubscriptionRequest {
                name: subscription.name.clone(),
                request_id: "suspend-1".to_owned(),
            },
        ))
        .await
        .expect("the carrier suspends");

    within_bound("the subscription was suspended", || async {
        !is_protected(&second, &device).await
    })
    .await;
    first.stop().await;
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_moved_on_one_replica_is_on_its_new_subscription_on_another_within_a_second() {
    let Some((first, second)) = two_replicas().await else {
        return;
    };
    let (account, session) = first.sign_up(&email()).await;
    let old = first.buy(&account, "deluxe-3").await;
    let new = first.buy(&account, "premium-10").await;
    let activated = first.activate(&session, &old.name, "laptop").await.unwrap();
    let device = activated.device_token;
    let seen = second.check_protection(&device).await;
    assert_eq!(seen.subscription.unwrap().name, old.name);

    first
        .seats()
        .apply_subscription(with_token(
            &device,
            pb::ApplySubscriptionRequest {
                seat: activated.seat.unwrap().name,
                subscription: new.name.clone(),
            },
        ))
        .await
        .expect("the device moves to the other subscription");

    within_bound("the device moved", || async {
        let answer = second.check_protection(&device).await;
        answer.protected && answer.subscription.unwrap().name == new.name
    })
    .await;
    first.stop().await;
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_out_revocation_and_disabling_reach_another_replica_within_a_second() {
    let Some((first, second)) = two_replicas().await else {
        return;
    };
    let (session, subscription, _, _) = protected_device(&first).await;
    let telco = first.partner("Telco").await;
    let other = first.partner("Other").await;
    let works = |app: &TestApp, token: String| {
        let mut client = app.subscriptions();
        let name = subscription.name.clone();
        async move {
            match client
                .get_subscription(with_token(&token, pb::GetSubscriptionRequest { name }))
                .await
            {
                Ok(_) => true,
                // A partner sees only what it sold: a live key gets NOT_FOUND here.
                Err(status) if status.code() == Code::NotFound => true,
                Err(status) => {
                    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
                    false
                }
            }
        }
    };
    for token in [&session, &telco.api_key, &other.api_key] {
        assert!(works(&second, token.clone()).await, "the credential works");
    }

    first
        .accounts()
        .sign_out(with_token(&session, pb::SignOutRequest {}))
        .await
        .expect("the customer signs out");
    first
        .partners()
        .revoke_partner_key(admin(pb::RevokePartnerKeyRequest {
            name: telco.key_name.clone(),
        }))
        .await
        .expect("the admin revokes the key");
    first
        .partners()
        .update_partner(admin(pb::UpdatePartnerRequest {
            partner: Some(pb::Partner {
                name: other.name.clone(),
                status: pb::PartnerStatus::Disabled as i32,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["status".to_owned()],
            }),
        }))
        .await
        .expect("the admin disables the partner");

    within_bound("the session ended", || async {
        !works(&second, session.clone()).await
    })
    .await;
    within_bound("the key was revoked", || async {
        !works(&second, telco.api_key.clone()).await
    })
    .await;
    within_bound("the partner was disabled", || async {
        !works(&second, other.api_key.clone()).await
    })
    .await;
    first.stop().await;
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_in_shows_at_once_and_is_written_when_the_server_stops() {
    let mut app = spawn_app(Db::Sqlite).await.expect("SQLite needs no setup");
    let (session, subscription, seat, device) = protected_device(&app).await;
    let activated_at = app.list_seats(&session, &subscription.name).await[0]
        .last_seen_time
        .unwrap();
    app.clock.advance(chrono::Duration::minutes(5));
    assert!(is_protected(&app, &device).await);

    let seen = app.list_seats(&session, &subscription.name).await[0]
        .last_seen_time
        .unwrap();
    assert_eq!(
        seen.seconds - activated_at.seconds,
        300,
        "the seat list shows the check-in before it is written"
    );

    let url = app.database_url.clone();
    let store = tessera::store::connect(&url).await.unwrap();
    let (subscription_id, seat_id) = ids_of(&seat);
    let before = store
        .seat(Scope::All, subscription_id, seat_id)
        .await
        .unwrap();
    assert_eq!(
        before.last_seen_at.timestamp(),
        activated_at.seconds,
        "a check-in is not a write"
    );
    // The database outlives the server: it is the test's to read afterwards.
    app.stop_serving().await;
    let after = store
        .seat(Scope::All, subscription_id, seat_id)
        .await
        .unwrap();
    assert_eq!(after.last_seen_at.timestamp(), seen.seconds);
    store.close().await;
}

/// The ids in `subscriptions/{id}/seats/{id}`.
fn ids_of(seat: &str) -> (uuid::Uuid, uuid::Uuid) {
    let parts: Vec<&str> = seat.split('/').collect();
    (
        uuid::Uuid::parse_str(parts[1]).unwrap(),
        uuid::Uuid::parse_str(parts[3]).unwrap(),
    )
}
