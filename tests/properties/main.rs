//! Property tests. Random sequences of operations run as use cases of the service layer
//! (`Services`, on a manual clock) over the real store (SQLite in a fresh file per case;
//! PostgreSQL too when `TEST_DATABASE_URL` is set) and after every step, and after every
//! pass of the lifecycle worker, these must hold for each subscription:
//!
//! 1. never more active seats than the seat limit, and the `active_seats` column equals
//!    the number of active seats listed;
//! 2. every status change is listed in `lifecycle::TRANSITIONS` (for the worker: under
//!    the very event it reports);
//! 3. term dates never go backwards (the one exception: an immediate cancellation ends
//!    the term at the moment of cancellation), and a term never ends before it starts
//!    (a term cancelled before it begins is left empty at its start);
//! 4. a device holds at most one active seat per subscription.
//!
//! Also: after the worker has run, nothing is still due; refusals are justified (a full
//! subscription, a status that takes no devices, a downgrade below the active seats);
//! downgrades free the seats of the devices seen least recently; and no operation fails
//! with anything but a refusal (`InvalidArgument`, `FailedPrecondition`,
//! `SeatLimitReached`): every id used exists and every caller may see what it touches.
//! `PROPTEST_CASES=1000 cargo test --test properties` runs a longer soak.
//!
//! The domain side is checked without a database: `lifecycle::next` is the table, and
//! `lifecycle::due_event` only owes events the table allows.

mod invariants;
mod operations;
mod scenario;
mod world;

#[path = "../support/test_db.rs"]
mod test_db;

use chrono::{DateTime, Duration, TimeZone, Utc};
use invariants::GRACE_DAYS;
use operations::play;
use proptest::{
    prelude::*,
    sample::select,
    test_runner::{Config, TestError, TestRunner},
};
use scenario::{CARRIER, Setup, scenario};
use std::sync::Arc;
use tessera::{
    Settings,
    app::{open_services, open_services_now},
    domain::{
        clock::ManualClock,
        lifecycle::{self, Event, TRANSITIONS},
        subscription::{Channel, Status, Subscription},
    },
    error::Reason,
    service::Services,
};
use test_db::{PgDatabase, SqliteFile};
use tokio::runtime::Runtime;
use uuid::Uuid;
use world::World;

const ALL_EVENTS: &[Event] = &[
    Event::Suspend,
    Event::Resume,
    Event::CancelNow,
    Event::PeriodEndCancel,
    Event::Renew,
    Event::EnterGrace,
    Event::Expire,
];

// ---------------------------------------------------------------------------------------
// The domain, without a database.

/// `cases` cases, unless `PROPTEST_CASES` asks for another number (for a longer soak).
fn config(cases: u32) -> Config {
    let defaults = Config::default();
    Config {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() {
            defaults.cases
        } else {
            cases
        },
        // No regression files next to the sources: a failure prints its minimal input.
        failure_persistence: None,
        // A failing sequence shrinks well past the default (four times the cases).
        max_shrink_iters: 1024,
        ..defaults
    }
}

/// Panics with proptest's report (the minimal failing input and why it fails).
fn check<V: std::fmt::Debug>(result: Result<(), TestError<V>>) {
    if let Err(error) = result {
        panic!("{error}");
    }
}

#[test]
fn next_agrees_with_the_transitions_table() {
    let mut runner = TestRunner::new(config(256));
    check(runner.run(
        &(select(Status::ALL), select(ALL_EVENTS)),
        |(from, event)| {
            let listed: Vec<Status> = TRANSITIONS
                .iter()
                .filter(|(f, e, _)| *f == from && *e == event)
                .map(|(_, _, to)| *to)
                .collect();
            prop_assert!(listed.len() <= 1, "{from:?} {event:?} listed twice");
            prop_assert_eq!(lifecycle::next(from, event), listed.first().copied());
            prop_assert_eq!(
                lifecycle::require(from, event, Reason::Internal).ok(),
                listed.first().copied()
            );
            Ok(())
        },
    ));
}

fn any_subscription() -> impl Strategy<Value = (Subscription, DateTime<Utc>, Duration)> {
    (
        select(Status::ALL),
        select(Channel::ALL),
        any::<bool>(),
        any::<bool>(),
        -400 * 86_400i64..400 * 86_400,
        0i64..=30,
    )
        .prop_map(
            |(status, channel, auto_renew, cancel_at_period_end, offset, grace)| {
                let now = Utc.with_ymd_and_hms(2026, 6, 15, 12, 0, 0).unwrap();
                let term_end = now + Duration::seconds(offset);
                let subscription = Subscription {
                    id: Uuid::nil(),
                    plan_code: "deluxe-3".to_owned(),
                    channel,
                    status,
                    account_id: None,
                    seat_limit: 3,
                    active_seats: 0,
                    term_start: term_end - Duration::days(365),
                    term_end,
                    auto_renew,
                    cancel_at_period_end,
                    partner_id: None,
                    partner_reference: None,
                    product_key: None,
                    created_at: term_end - Duration::days(365),
                    updated_at: now,
                };
                (subscription, now, Duration::days(grace))
            },
        )
}

#[test]
fn due_event_only_returns_events_the_table_allows() {
    let mut runner = TestRunner::new(config(1024));
    check(
        runner.run(&any_subscription(), |(subscription, now, grace)| {
            if let Some(event) = lifecycle::due_event(&subscription, now, grace) {
                prop_assert!(
                    lifecycle::next(subscription.status, event).is_some(),
                    "due {event:?} is not allowed from {:?}",
                    subscription.status
                );
                prop_assert!(subscription.term_end <= now, "due before the end of term");
            }
            Ok(())
        }),
    );
}

// ---------------------------------------------------------------------------------------
// The service layer over the store.

/// Services over the database at `url` on a manual clock showing `start`, with the
/// grace period the invariants expect of the worker.
async fn open(url: &str, start: DateTime<Utc>) -> (Services, ManualClock) {
    let clock = ManualClock::new(start);
    let mut settings = Settings::for_database(url);
    settings.grace_days = GRACE_DAYS;
    let services = open_services(&settings, Arc::new(clock.clone()))
        .await
        .expect("the database opens and migrates");
    (services, clock)
}

#[test]
fn random_operations_on_sqlite_keep_every_subscription_invariant() {
    let rt = Runtime::new().expect("a tokio runtime");
    // Migrate once, then give each case a copy of the migrated file.
    let template = SqliteFile::new("prop-template");
    rt.block_on(async {
        let services = open_services_now(&Settings::for_database(template.url()))
            .await
            .expect("sqlite migrates");
        services.store.close().await;
    });
    let mut runner = TestRunner::new(config(48));
    check(runner.run(&scenario(), |(setup, ops)| {
        let file = SqliteFile::new("prop-case");
        std::fs::copy(&template.0, &file.0).expect("copying the migrated database");
        rt.block_on(async {
            let (services, clock) = open(&file.url(), setup.start).await;
            let outcome = play(&services, &clock, &setup, &ops).await;
            services.store.close().await;
            outcome
        })
        .map_err(TestCaseError::fail)
    }));
}

#[test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is unset")]
fn random_operations_on_postgres_keep_every_subscription_invariant() {
    let rt = Runtime::new().expect("a tokio runtime");
    // One database for the run; each case makes its own account and subscriptions (and
    // services with its own clock), and the invariants are per subscription.
    let database = rt.block_on(PgDatabase::from_env());
    let mut runner = TestRunner::new(config(16));
    let result = runner.run(&scenario(), |(setup, ops)| {
        rt.block_on(async {
            let (services, clock) = open(&database.url, setup.start).await;
            let outcome = play(&services, &clock, &setup, &ops).await;
            services.store.close().await;
            outcome
        })
        .map_err(TestCaseError::fail)
    });
    drop(database);
    check(result);
}

/// Found by the properties above (minimal case: a carrier subscription provisioned with a
/// `start_time` one day ahead, then cancelled at once). Cancelling set
/// `term_end = min(term_end, now)`, which for a term that has not started yet puts its
/// end before its start.
#[test]
fn a_term_cancelled_before_it_starts_does_not_end_before_it_starts() {
    let rt = Runtime::new().expect("a tokio runtime");
    let file = SqliteFile::new("prop-cancel-before-start");
    let setup = Setup {
        start: Utc.with_ymd_and_hms(2026, 1, 31, 12, 0, 0).unwrap(),
        direct_plan: "deluxe-3",
        carrier_plan: "deluxe-3",
        direct_auto_renew: false,
        carrier_start_days: 1,
    };
    rt.block_on(async {
        let (services, clock) = open(&file.url(), setup.start).await;
        let world = World::create(services, clock, &setup)
            .await
            .expect("set-up");
        let cancelled = world
            .services
            .cancel_subscription(world.seller(CARRIER), world.ids[CARRIER], true, None)
            .await
            .expect("a cancellation")
            .value;
        world.services.store.close().await;
        assert!(
            cancelled.term_start <= cancelled.term_end,
            "the term starts {} and ends {}",
            cancelled.term_start,
            cancelled.term_end
        );
    });
}
