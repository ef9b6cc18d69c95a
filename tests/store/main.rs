//! The store conformance suite: every promise of the traits in `tessera::store` (their
//! error contracts, the database constraints behind the rules, and the concurrency
//! guarantees), written once and run against every backend.
//!
//! Each test is an `async fn name(store: Arc<dyn Store>)` in the module of its aggregate;
//! the module lists its tests in [`store_tests!`], which instantiates each one for
//! `sqlite` (a fresh file in the temporary directory), `postgres` (a fresh database on
//! the server `TEST_DATABASE_URL` names, dropped afterwards; without the variable the
//! PostgreSQL variants are ignored, see `build.rs`) and `read_model` (SQLite behind the
//! read model the server puts in front of every backend). Every test gets a freshly migrated
//! database of its own, opened with `tessera::store::connect`, so `cargo test --test
//! store postgres::` or `… sqlite::` runs one backend, and a test forgotten in the list
//! is dead code, which clippy refuses.
//!
//! Times are fixed instants with micro-seconds (the precision both backends keep), so a
//! round trip compares equal. Nothing sleeps to wait: orderings between concurrent units
//! of work are made with channels, and a unit that must be blocked is checked to still be
//! waiting a short while later (see [`fixtures::assert_waiting`]).

#[path = "../support/test_db.rs"]
mod test_db;

mod fixtures;

mod accounts;
mod codes;
mod counters;
mod database;
mod devices;
mod idempotency;
mod lifecycle;
mod numbering;
mod outbox;
mod partners;
mod purchases;
mod seats;
mod subscription_lists;
mod subscriptions;

use std::{future::Future, sync::Arc};
use tessera::store::{Backend, Store, cached::CachedStore};
use test_db::TestDb;

/// Instantiates the listed tests of the current module for every backend, as
/// `<module>::sqlite::<test>` and `<module>::postgres::<test>`. Tests listed after `url:`
/// take the database URL too, `async fn name(store: Arc<dyn Store>, url: String)`.
macro_rules! store_tests {
    ($($name:ident),* $(,)? $(; url: $($with_url:ident),+ $(,)?)?) => {
        // `cfg_attr(any(), …)` applies nothing: only PostgreSQL's tests can be ignored.
        $crate::store_tests!(@backend sqlite, on_sqlite, [cfg_attr(any(), ignore)];
            $($name),*; $($($with_url),+)?);
        $crate::store_tests!(@backend postgres, on_postgres,
            [cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is unset")];
            $($name),*; $($($with_url),+)?);
        $crate::store_tests!(@backend read_model, on_read_model, [cfg_attr(any(), ignore)];
            $($name),*; $($($with_url),+)?);
    };
    (@backend $backend:ident, $runner:ident, [$attr:meta];
        $($name:ident),*; $($with_url:ident),*) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[$attr]
                async fn $name() {
                    $crate::$runner(|store, _url| super::$name(store)).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[$attr]
                async fn $with_url() {
                    $crate::$runner(super::$with_url).await;
                }
            )*
        }
    };
}
pub(crate) use store_tests;

/// Runs `test` on a fresh, migrated SQLite file.
pub async fn on_sqlite<F, Fut>(test: F)
where
    F: FnOnce(Arc<dyn Store>, String) -> Fut,
    Fut: Future<Output = ()>,
{
    run(TestDb::sqlite(), Backend::Sqlite, |store| store, test).await;
}

/// Runs `test` on a fresh, migrated SQLite file behind the read model
/// (`tessera::store::cached`), which must keep every promise the backend keeps.
pub async fn on_read_model<F, Fut>(test: F)
where
    F: FnOnce(Arc<dyn Store>, String) -> Fut,
    Fut: Future<Output = ()>,
{
    let cached = |store| Arc::new(CachedStore::over(store)) as Arc<dyn Store>;
    run(TestDb::sqlite(), Backend::Sqlite, cached, test).await;
}

/// Runs `test` on a fresh, migrated PostgreSQL database on the server
/// `TEST_DATABASE_URL` names (without it the `postgres` tests are ignored).
pub async fn on_postgres<F, Fut>(test: F)
where
    F: FnOnce(Arc<dyn Store>, String) -> Fut,
    Fut: Future<Output = ()>,
{
    run(
        TestDb::postgres().await,
        Backend::Postgres,
        |store| store,
        test,
    )
    .await;
}

async fn run<F, Fut>(
    db: TestDb,
    backend: Backend,
    wrap: impl FnOnce(Arc<dyn Store>) -> Arc<dyn Store>,
    test: F,
) where
    F: FnOnce(Arc<dyn Store>, String) -> Fut,
    Fut: Future<Output = ()>,
{
    let url = db.url();
    let store = wrap(
        tessera::store::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("connecting to {url}: {e}")),
    );
    assert_eq!(store.backend(), backend, "the backend {url} names");
    store.migrate().await.expect("migrating a fresh database");
    test(store.clone(), url).await;
    store.close().await;
    drop(db);
}
