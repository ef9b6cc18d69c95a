//! PostgreSQL, on sqlx's native driver and PostgreSQL's own types: ids are `uuid`,
//! instants `timestamptz`, flags `boolean` (migration 0005 converted the earlier
//! schema in place).
//!
//! [`PgStore`] is the pool; a unit of work is a [`PgUnit`], one transaction in which
//! rows are locked as they are read for update (`FOR UPDATE`), rows that may not exist
//! yet are guarded by transaction-scoped advisory locks, and the lifecycle worker's
//! claims skip rows another replica holds (`FOR UPDATE SKIP LOCKED`). Units write their
//! events unnumbered; one sequencer per cluster numbers them ([`outbox`],
//! [`sequencer`]). Row structs are in [`rows`], one file per aggregate implements its
//! traits.

mod accounts;
mod codes;
mod commit_notices;
mod idempotency;
mod outbox;
mod partners;
mod purchases;
mod rows;
mod seats;
mod sequencer;
mod subscriptions;
mod throttle;

use super::{
    Backend, CommitListener, PoolUse, Store, UnitOfWork, WriteContext,
    cached::change::{ChangeSet, NoticeSink},
};
use crate::{
    domain::{
        clock::{from_micros, to_micros},
        event::NewEvent,
        principal::Scope,
        secret::{KeyFingerprint, KeyOrigin, random_bytes},
    },
    error::{Error, Result},
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::{
    PgConnection, PgPool, Postgres, QueryBuilder, Transaction, migrate::Migrator,
    postgres::PgPoolOptions,
};
use std::{sync::Arc, time::Duration};
use tokio::sync::Notify;
use uuid::Uuid;

static MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// Connections in the pool.
const MAX_CONNECTIONS: u32 = 16;
/// How long a caller waits for a free connection before the store reports itself
/// unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// A PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Woken after events are numbered here, and on other replicas' notices.
    commits: Arc<Notify>,
    /// Whether this process runs the event sequencer, and how to reach it.
    sequencer: Arc<sequencer::Local>,
}

impl PgStore {
    /// Connects to `url` (`postgres://…`) with a pool of 16 connections. Migrations are
    /// not applied: that is [`Store::migrate`].
    pub async fn connect(url: &str) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(url)
            .await?;
        Ok(Self {
            pool,
            commits: Arc::new(Notify::new()),
            sequencer: Arc::default(),
        })
    }
}

/// One unit of work: a PostgreSQL transaction, the context its events are stamped with,
/// and the events waiting for its commit. Dropped without [`UnitOfWork::commit`], it
/// rolls back.
pub struct PgUnit {
    tx: Transaction<'static, Postgres>,
    context: WriteContext,
    pending: Vec<NewEvent>,
    /// Whether the transaction holds a batch of events (see `outbox.rs`).
    wrote_events: bool,
    /// The store, whose sequencer numbers the events once committed.
    store: PgStore,
}

impl PgStore {
    /// Begins a unit of work ([`Store::begin`]).
    async fn begin_unit(&self, context: WriteContext) -> Result<PgUnit> {
        Ok(PgUnit {
            tx: self.pool.begin().await?,
            context,
            pending: Vec::new(),
            wrote_events: false,
            store: self.clone(),
        })
    }
}

impl PgUnit {
    fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn migrate(&self) -> Result<()> {
        MIGRATIONS
            .run(&self.pool)
            .await
            .map_err(|e| super::migration_error("PostgreSQL", e))
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    async fn begin(&self, context: WriteContext) -> Result<Box<dyn UnitOfWork>> {
        Ok(Box::new(self.begin_unit(context).await?))
    }

    async fn server_secret(&self, name: &str) -> Result<Vec<u8>> {
        // The hex text itself is the key, as it has been since secrets were first kept:
        // codes hashed under it must keep their hashes.
        let fresh = crate::domain::idempotency::hex(&random_bytes::<32>());
        sqlx::query(
            "INSERT INTO server_secrets (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(fresh)
        .execute(&self.pool)
        .await?;
        let value: String = sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await?;
        Ok(value.into_bytes())
    }

    async fn key_fingerprint(&self, name: &str) -> Result<Option<KeyFingerprint>> {
        let row: Option<(String, String, DateTime<Utc>)> = sqlx::query_as(
            "SELECT fingerprint, origin, recorded_at FROM key_fingerprints WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|(fingerprint, origin, recorded_at)| {
            Ok(KeyFingerprint {
                fingerprint,
                origin: super::rows::stored("key_fingerprints.origin", &origin, KeyOrigin::parse)?,
                recorded_at,
            })
        })
        .transpose()
    }

    async fn record_key_fingerprint(
        &self,
        name: &str,
        fingerprint: &KeyFingerprint,
    ) -> Result<KeyFingerprint> {
        sqlx::query(
            "INSERT INTO key_fingerprints (name, fingerprint, origin, recorded_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(&fingerprint.fingerprint)
        .bind(fingerprint.origin.as_str())
        .bind(fingerprint.recorded_at)
        .execute(&self.pool)
        .await?;
        self.key_fingerprint(name).await?.ok_or_else(|| {
            Error::Internal(format!("the fingerprint of key {name} was not recorded"))
        })
    }

    fn commits(&self) -> Arc<Notify> {
        self.commits.clone()
    }

    async fn listen_for_commits(
        &self,
        database_url: &str,
        sink: NoticeSink,
    ) -> Result<Option<CommitListener>> {
        commit_notices::listen(database_url, self.commits.clone(), sink)
            .await
            .map(Some)
    }

    async fn announce_changes(&self, changes: &ChangeSet) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        commit_notices::announce_changes(&mut conn, changes).await
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    fn pool_use(&self) -> PoolUse {
        PoolUse::of(&self.pool)
    }
}

#[async_trait]
impl UnitOfWork for PgUnit {
    async fn commit(self: Box<Self>) -> Result<()> {
        let mut unit = *self;
        unit.write_pending_events().await?;
        unit.tx.commit().await?;
        if unit.wrote_events {
            sequencer::committed(&unit.store).await;
        }
        Ok(())
    }
}

/// Narrows a query over subscriptions aliased `s` to those `scope` lets the reader see,
/// by appending `AND …` with the id bound. Every scoped read goes through here.
/// Returns `false` for [`Scope::Nothing`]: the reader sees nothing, so the query need
/// not run at all.
fn push_scope(query: &mut QueryBuilder<Postgres>, scope: Scope) -> bool {
    let (column, id) = match scope {
        Scope::All => return true,
        Scope::Nothing => return false,
        Scope::Account(id) => ("s.account_id", id),
        Scope::Partner(id) => ("s.partner_id", id),
        Scope::Subscription(id) => ("s.id", id),
    };
    query.push(" AND ").push(column).push(" = ").push_bind(id);
    true
}

/// Whether a database error is a unique-constraint violation.
fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Waits for, and holds until the transaction ends, the advisory lock named `name`, so
/// that concurrent transactions about one row that may not exist yet take turns. The
/// lock's key is the first 8 bytes of the name's SHA-256 (as 0fdacf9 computed it, so
/// replicas of either version exclude each other).
async fn advisory_lock(conn: &mut PgConnection, name: &str) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(lock_key(name))
        .execute(conn)
        .await?;
    Ok(())
}

/// The advisory lock key of `name`: the first 8 bytes of its SHA-256.
fn lock_key(name: &str) -> i64 {
    let digest = Sha256::digest(name.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// PostgreSQL's earliest `timestamptz` (4714-11-24 BC), in micro-seconds since the Unix
/// epoch. Later ones up to chrono's last instant are all representable.
const EARLIEST_MICROS: i64 = -210_866_803_200_000_000;

/// The position a page token names: the sort instant (micro-seconds, as
/// [`crate::domain::page::PageRequest::after`] holds it) and the row id. A token that
/// cannot have come from a page of ours is `InvalidArgument` (page_token).
fn page_position(after: &(i64, String)) -> Result<(DateTime<Utc>, Uuid)> {
    let invalid = || Error::invalid("page_token", "is not valid");
    let (micros, id) = after;
    let representable =
        *micros >= EARLIEST_MICROS && DateTime::<Utc>::from_timestamp_micros(*micros).is_some();
    if !representable {
        return Err(invalid());
    }
    let id = Uuid::parse_str(id).map_err(|_| invalid())?;
    Ok((from_micros(*micros), id))
}

/// The page-token position of a row sorted by `at`, then `id`.
fn position_of(at: DateTime<Utc>, id: Uuid) -> (i64, String) {
    (to_micros(at), id.to_string())
}

#[cfg(test)]
mod tests;
