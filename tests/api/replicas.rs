//! Several servers on one PostgreSQL database, as in production: the seat limit,
//! idempotency, redemption and the lifecycle worker hold across replicas.

use crate::support::{Db, TestApp, WAIT, activation, admin, email, spawn_app_with, tick};
use chrono::Duration;
use futures::future::join_all;
use tessera::{domain::codes::CodeKind, settings::Settings};
use tessera_client::{
    CarrierClient, error_reason, pb, pb::event_service_client::EventServiceClient, tonic::Code,
    with_token,
};
use tokio::time::timeout;

/// Two servers on one fresh PostgreSQL database (always `Some`; tests using it are
/// ignored without `TEST_DATABASE_URL`).
pub async fn two_replicas() -> Option<(TestApp, TestApp)> {
    two_replicas_with(|_| {}).await
}

/// As [`two_replicas`], both configured by `adjust`.
async fn two_replicas_with(adjust: impl Fn(&mut Settings)) -> Option<(TestApp, TestApp)> {
    let first = spawn_app_with(Db::Postgres, &adjust).await?;
    let url = first.database_url.clone();
    let second = spawn_app_with(Db::Postgres, |settings| {
        adjust(settings);
        settings.database_url = url;
    })
    .await
    .expect("a second replica on the same database");
    Some((first, second))
}

/// Round-robin: even calls go to the first replica, odd ones to the second.
fn pick(replicas: &(TestApp, TestApp), i: usize) -> &TestApp {
    if i.is_multiple_of(2) {
        &replicas.0
    } else {
        &replicas.1
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is unset")]
async fn devices_racing_through_two_replicas_never_exceed_the_seat_limit() {
    let Some(replicas) = two_replicas().await else {
        return;
    };
    let (account, token) = replicas.0.sign_up(&email()).await;
    for round in 0..10 {
        let subscription = replicas.0.buy(&account, "deluxe-5").await;
        let calls = (0..64).map(|device| {
            let mut seats = pick(&replicas, device).seats();
            let request = with_token(
                &token,
                activation(&subscription.name, &format!("d{device}")),
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
        let counted = replicas
            .1
            .get_subscription(&token, &subscription.name)
            .await
            .unwrap();
        assert_eq!(counted.active_seat_count, 5, "round {round}");
    }
    replicas.1.stop().await;
    replicas.0.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is unset")]
async fn one_request_id_retried_through_two_replicas_makes_one_change() {
    let Some(replicas) = two_replicas().await else {
        return;
    };
    let telco = replicas.0.partner("Telco").await;
    let carriers = [
        CarrierClient::from_channel(replicas.0.channel.clone(), &telco.api_key).unwrap(),
        CarrierClient::from_channel(replicas.1.channel.clone(), &telco.api_key).unwrap(),
    ];
    let provisions = (0..16).map(|i| {
        let carrier = carriers[i % 2].clone();
        async move {
            carrier
                .provision_with_id("prov-replicas", "contract-r", "plans/deluxe-3", None)
                .await
        }
    });
    let answers: Vec<_> = join_all(provisions)
        .await
        .into_iter()
        .map(|a| a.expect("every retry succeeds"))
        .collect();
    assert!(
        answers
            .iter()
            .all(|a| a.partner_code == answers[0].partner_code)
    );
    assert_eq!(
        carriers[1]
            .find_by_reference("contract-r")
            .await
            .unwrap()
            .len(),
        1
    );

    // The code it handed out is claimed by exactly one of 16 racing customers.
    let mut customers = Vec::new();
    for _ in 0..16 {
        customers.push(replicas.0.sign_up(&email()).await.1);
    }
    let redemptions = customers
        .iter()
        .enumerate()
        .map(|(i, token)| pick(&replicas, i).redeem_code(token, &answers[0].partner_code));
    let outcomes = join_all(redemptions).await;
    assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1);
    replicas.1.stop().await;
    replicas.0.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is unset")]
async fn two_replicas_running_the_worker_at_once_never_apply_a_transition_twice() {
    let Some(replicas) = two_replicas().await else {
        return;
    };
    let (first, second) = (&replicas.0, &replicas.1);
    let (account, _) = first.sign_up(&email()).await;
    let mut names = Vec::new();
    for _ in 0..60 {
        names.push(first.buy(&account, "deluxe-3-monthly").await.name);
    }
    first.clock.advance(Duration::days(32));
    second.clock.advance(Duration::days(32));
    let (a, b) = tokio::join!(tick(first), tick(second));
    assert_eq!(a + b, 60, "each due subscription handled once: {a} + {b}");
    eprintln!("two replicas: {a} and {b} of 60 renewals");
    let (a, b) = tokio::join!(tick(first), tick(second));
    assert_eq!(a + b, 0);
    for name in &names {
        let renewed = first
            .subscriptions()
            .get_subscription(admin(pb::GetSubscriptionRequest { name: name.clone() }))
            .await
            .unwrap()
            .into_inner();
        assert!(
            (28..=31).contains(&(renewed.days_left)),
            "renewed once: {}",
            renewed.days_left
        );
    }
    replicas.1.stop().await;
    replicas.0.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is unset")]
async fn a_commit_on_one_replica_wakes_the_watchers_of_another_at_once() {
    // Watchers poll only hourly here: the commit notice alone has to bring the news.
    let Some(replicas) =
        two_replicas_with(|settings| settings.event_poll_interval_ms = 3_600_000).await
    else {
        return;
    };
    let (account, _) = replicas.0.sign_up(&email()).await;
    let mut watcher = EventServiceClient::new(replicas.1.channel.clone())
        .watch_events(admin(pb::WatchEventsRequest {
            after_sequence: 0,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    let woken = replicas.1.store.commits();
    let notice = woken.notified();
    tokio::pin!(notice);
    notice.as_mut().enable();

    let bought = replicas.0.buy(&account, "deluxe-3").await;

    timeout(WAIT, notice)
        .await
        .expect("the second replica hears of the first one's commit");
    let event = timeout(WAIT, watcher.message())
        .await
        .expect("the watcher on the second replica gets the event")
        .unwrap()
        .expect("the stream stays open")
        .event
        .unwrap();
    assert_eq!(event.subscription, bought.name);
    assert_eq!(event.r#type, pb::EventType::SubscriptionCreated as i32);
    replicas.1.stop().await;
    replicas.0.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_attempts_through_two_replicas_count_against_one_throttle() {
    let Some(replicas) = two_replicas_with(|settings| {
        settings.sign_in_account_limit = 3;
        settings.redeem_account_limit = 3;
    })
    .await
    else {
        return;
    };
    let owner = email();
    let (_, token) = replicas.0.sign_up(&owner).await;
    for i in 0..3 {
        let wrong = pick(&replicas, i)
            .accounts()
            .sign_in(pb::SignInRequest {
                email: owner.clone(),
                password: "not the password".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(wrong.code(), Code::Unauthenticated, "{wrong:?}");
    }
    for replica in [&replicas.0, &replicas.1] {
        let throttled = replica
            .accounts()
            .sign_in(pb::SignInRequest {
                email: owner.clone(),
                password: "not the password".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(
            error_reason(&throttled).as_deref(),
            Some("SIGN_IN_THROTTLED")
        );
    }
    for i in 0..3 {
        let unknown = pick(&replicas, i)
            .redeem_code(&token, &CodeKind::PartnerCode.generate())
            .await
            .unwrap_err();
        assert_eq!(unknown.code(), Code::NotFound, "{unknown:?}");
    }
    for replica in [&replicas.0, &replicas.1] {
        let throttled = replica
            .redeem_code(&token, &CodeKind::PartnerCode.generate())
            .await
            .unwrap_err();
        assert_eq!(
            error_reason(&throttled).as_deref(),
            Some("REDEMPTION_THROTTLED")
        );
    }
    replicas.1.stop().await;
    replicas.0.stop().await;
}
