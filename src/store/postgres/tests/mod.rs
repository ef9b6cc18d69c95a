//! What only PostgreSQL does, or does its own way: migrations 0005 and 0006, the SQL of
//! every method, the locks that make concurrent units and replicas take turns, and the
//! event sequencer that spares them a turn on the event counter. The behaviour both
//! backends share is the conformance suite's (`tests/store/`).
//!
//! Each test runs when `TEST_DATABASE_URL` points at a server, on a database of its own
//! created there; without it, it is ignored (`cfg(postgres_tests)`, see `build.rs`).

mod concurrency;
mod methods;
mod migration;
mod plans;
mod sequencer;

use super::PgStore;
use crate::{
    domain::{
        catalog::Catalog,
        subscription::{Channel, NewSubscription, Subscription},
    },
    store::{Store, WriteContext},
};
use chrono::{DateTime, Utc};
use sqlx::{Connection, Executor, PgConnection};
use uuid::Uuid;

/// A database of its own on the server `TEST_DATABASE_URL` names.
pub(super) struct TestDb {
    admin_url: String,
    name: String,
    pub(super) url: String,
}

impl TestDb {
    /// A new, empty database. Panics when `TEST_DATABASE_URL` is unset: these tests are
    /// ignored then (see `build.rs`).
    pub(super) async fn create(label: &str) -> Self {
        let admin_url = std::env::var("TEST_DATABASE_URL")
            .expect("TEST_DATABASE_URL is set wherever PostgreSQL tests run");
        let name = format!("tessera_pg_{label}_{}", Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .expect("TEST_DATABASE_URL is reachable");
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("creating the test database");
        let url = with_database(&admin_url, &name);
        Self {
            admin_url,
            name,
            url,
        }
    }

    /// A migrated store on a new database.
    pub(super) async fn store(label: &str) -> (Self, PgStore) {
        let db = Self::create(label).await;
        let store = PgStore::connect(&db.url).await.expect("connecting");
        store.migrate().await.expect("migrating");
        (db, store)
    }

    /// Drops the database (a failed test leaves it behind, for a look).
    pub(super) async fn drop_database(self) {
        let mut admin = PgConnection::connect(&self.admin_url).await.unwrap();
        admin
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .await
            .unwrap();
    }
}

/// `admin_url` with its database replaced by `name`.
fn with_database(admin_url: &str, name: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (admin_url, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    format!("{base}/{name}{query}")
}

/// An instant with micro-seconds, as stored.
pub(super) fn at(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap()
}

/// A unit of work of Tessera itself at `now`.
pub(super) fn system(now: DateTime<Utc>) -> WriteContext {
    WriteContext {
        author: None,
        request_id: None,
        now,
    }
}

/// A new subscription of `plan_code` (not yet stored).
pub(super) fn subscription(
    plan_code: &str,
    channel: Channel,
    account_id: Option<Uuid>,
    partner_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> Subscription {
    Subscription::create(
        NewSubscription {
            plan: Catalog::embedded().plan(plan_code).unwrap().clone(),
            channel,
            account_id,
            auto_renew: true,
            term_start: now,
            term_end: None,
            partner_id,
            partner_reference: partner_id.map(|_| "contract-1".to_owned()),
            product_key: None,
        },
        now,
        &mut Vec::new(),
    )
}
