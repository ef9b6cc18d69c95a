//! SQLite: one file, one writer at a time. Writers queue at an in-process gate (a
//! [`tokio::sync::Mutex`]) rather than spin on `SQLITE_BUSY`, and each unit of work
//! begins with `BEGIN IMMEDIATE`, so it holds the database's write lock from its first
//! statement (which also guards against another process). Readers run beside the writer
//! (WAL). Rows are locked by that write lock: no `FOR UPDATE`, no `SKIP LOCKED`.
//!
//! Ids are stored as hyphenated UUID text, instants as micro-seconds since the Unix
//! epoch, flags as 0/1 (see `migrations/sqlite/`).

mod accounts;
mod codes;
mod idempotency;
mod outbox;
mod partners;
mod purchases;
mod rows;
mod scope;
mod seats;
mod subscriptions;

use super::{Backend, CommitListener, Store, UnitOfWork, WriteContext, records};
use crate::{
    domain::{clock::to_micros, event::NewEvent, idempotency::hex, secret::random_bytes},
    error::{Error, Result},
};
use async_trait::async_trait;
use sqlx::{
    Sqlite, SqlitePool, Transaction,
    migrate::Migrator,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};
use std::{str::FromStr, sync::Arc, time::Duration};
use tokio::sync::{Mutex, MutexGuard, Notify, OwnedMutexGuard};

static MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");

/// Connections in the pool: one writer and readers beside it.
const MAX_CONNECTIONS: u32 = 8;
/// How long to wait for a free connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long SQLite waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// An SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// One writer at a time: held for a whole unit of work, and for each single-statement
    /// write outside one.
    write_gate: Arc<Mutex<()>>,
    /// Woken after every commit that wrote events.
    commits: Arc<Notify>,
}

impl SqliteStore {
    /// Opens the database `url` names (`sqlite:path`, created if missing unless the URL
    /// sets its own `mode=`), in WAL mode with `synchronous=FULL` so that an acknowledged
    /// write survives a crash, foreign keys on and a busy timeout, on every connection.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, super::SqliteSync::Full).await
    }

    /// [`Self::connect`], with `synchronous=OFF` instead for
    /// [`super::SqliteSync::UnsafeOff`] (benchmarks only), which it warns about loudly.
    pub async fn connect_with(url: &str, sync: super::SqliteSync) -> Result<Self> {
        let synchronous = match sync {
            super::SqliteSync::Full => SqliteSynchronous::Full,
            super::SqliteSync::UnsafeOff => {
                tracing::warn!(
                    "UNSAFE: SQLite runs with synchronous=OFF (--unsafe-sqlite-synchronous-off): \
                     commits do not wait for the disk, so a power failure or an operating-system \
                     crash can lose acknowledged writes or corrupt the database. For benchmarks \
                     only; never run a real server like this"
                );
                SqliteSynchronous::Off
            }
        };
        let options = SqliteConnectOptions::from_str(&url_with_create(url))?
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        Ok(Self {
            pool,
            write_gate: Arc::new(Mutex::new(())),
            commits: Arc::new(Notify::new()),
        })
    }

    /// The connection pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Waits for this process's turn to write, for one statement outside a unit of work.
    async fn write_turn(&self) -> MutexGuard<'_, ()> {
        self.write_gate.lock().await
    }
}

/// `sqlite:path` with `mode=rwc`, so that a missing file is created.
fn url_with_create(url: &str) -> String {
    if url.contains("mode=") || url.contains(":memory:") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn migrate(&self) -> Result<()> {
        let _turn = self.write_turn().await;
        MIGRATIONS
            .run(&self.pool)
            .await
            .map_err(|e| Error::Internal(format!("migrating the SQLite database: {e}")))
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    async fn begin(&self, context: WriteContext) -> Result<Box<dyn UnitOfWork>> {
        let gate = self.write_gate.clone().lock_owned().await;
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok(Box::new(SqliteUnit {
            tx,
            _gate: gate,
            context,
            pending: Vec::new(),
            commits: self.commits.clone(),
        }))
    }

    async fn server_secret(&self, name: &str) -> Result<Vec<u8>> {
        {
            let _turn = self.write_turn().await;
            sqlx::query(
                "INSERT INTO server_secrets (name, value) VALUES (?, ?) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(hex(&random_bytes::<32>()))
            .execute(&self.pool)
            .await?;
        }
        let value: String = sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = ?")
            .bind(name)
            .fetch_one(&self.pool)
            .await?;
        Ok(value.into_bytes())
    }

    fn commits(&self) -> Arc<Notify> {
        self.commits.clone()
    }

    async fn listen_for_commits(&self, _database_url: &str) -> Result<Option<CommitListener>> {
        Ok(None)
    }
}

/// A unit of work: a transaction begun with `BEGIN IMMEDIATE`, holding the write gate
/// until it ends. Dropped without [`UnitOfWork::commit`], it rolls back.
pub struct SqliteUnit {
    tx: Transaction<'static, Sqlite>,
    _gate: OwnedMutexGuard<()>,
    context: WriteContext,
    /// Events emitted so far, written at commit.
    pending: Vec<NewEvent>,
    commits: Arc<Notify>,
}

#[async_trait]
impl UnitOfWork for SqliteUnit {
    async fn commit(self: Box<Self>) -> Result<()> {
        let SqliteUnit {
            mut tx,
            _gate: gate,
            context,
            pending,
            commits,
        } = *self;
        let wrote_events = !pending.is_empty();
        if wrote_events {
            let rows = pending
                .iter()
                .map(|event| records::event_row(&context, event))
                .collect::<Result<Vec<_>>>()?;
            let count = rows.len() as i64;
            let last: i64 = sqlx::query_scalar(
                "UPDATE event_sequence SET last = last + ? WHERE id = 1 RETURNING last",
            )
            .bind(count)
            .fetch_one(&mut *tx)
            .await?;
            let created_at = to_micros(context.now);
            for (seq, row) in (last - count + 1..).zip(rows) {
                sqlx::query(
                    "INSERT INTO events (seq, event_type, subscription_id, partner_id, \
                     account_id, payload, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(seq)
                .bind(row.event_type)
                .bind(row.subscription_id.to_string())
                .bind(row.partner_id.map(|id| id.to_string()))
                .bind(row.account_id.map(|id| id.to_string()))
                .bind(row.payload)
                .bind(created_at)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        drop(gate);
        if wrote_events {
            commits.notify_waiters();
        }
        Ok(())
    }
}

/// Whether `error` is a unique violation of `table.column` (SQLite names the columns in
/// its message: `UNIQUE constraint failed: accounts.email`).
fn is_unique_violation_of(error: &sqlx::Error, column: &str) -> bool {
    matches!(error, sqlx::Error::Database(db)
        if db.is_unique_violation() && db.message().contains(column))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SeatStore;
    use chrono::Utc;

    /// A scratch database file, removed with its WAL files when dropped.
    struct Scratch(std::path::PathBuf);

    impl Scratch {
        fn new() -> Self {
            let name = format!("tessera-sqlite-unit-{}.db", uuid::Uuid::new_v4().simple());
            Self(std::env::temp_dir().join(name))
        }

        fn url(&self) -> String {
            format!("sqlite:{}", self.0.display())
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
            }
        }
    }

    fn context() -> WriteContext {
        WriteContext {
            author: None,
            request_id: None,
            now: Utc::now(),
        }
    }

    #[tokio::test]
    async fn every_connection_is_durable_and_checks_foreign_keys() {
        let file = Scratch::new();
        let store = SqliteStore::connect(&file.url()).await.unwrap();
        store.migrate().await.unwrap();
        store
            .migrate()
            .await
            .expect("migrating twice changes nothing");
        assert!(file.0.exists(), "the missing file was created");
        let mut held = Vec::new();
        for _ in 0..3 {
            let mut conn = store.pool().acquire().await.unwrap();
            let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            let busy_timeout: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            assert_eq!(
                (journal.as_str(), synchronous, foreign_keys, busy_timeout),
                ("wal", 2, 1, 10_000)
            );
            held.push(conn);
        }
        drop(held);
        store.close().await;
    }

    #[tokio::test]
    async fn the_unsafe_setting_turns_synchronous_off_on_every_connection() {
        let file = Scratch::new();
        let store = SqliteStore::connect_with(&file.url(), crate::store::SqliteSync::UnsafeOff)
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let mut held = Vec::new();
        for _ in 0..3 {
            let mut conn = store.pool().acquire().await.unwrap();
            let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            assert_eq!(synchronous, 0);
            held.push(conn);
        }
        drop(held);
        store.close().await;
    }

    #[tokio::test]
    async fn writers_wait_at_the_gate_until_the_unit_of_work_ends() {
        let file = Scratch::new();
        let store = SqliteStore::connect(&file.url()).await.unwrap();
        store.migrate().await.unwrap();
        let first = store.begin(context()).await.unwrap();
        let wait = Duration::from_millis(200);
        let second = tokio::time::timeout(wait, store.begin(context())).await;
        assert!(second.is_err(), "a second unit began beside the first");
        let touch = store.touch_seat(uuid::Uuid::now_v7(), Utc::now());
        assert!(tokio::time::timeout(wait, touch).await.is_err());
        first.commit().await.unwrap();
        let second = tokio::time::timeout(wait, store.begin(context())).await;
        drop(second.expect("the gate opens at commit").unwrap());
        let touch = store.touch_seat(uuid::Uuid::now_v7(), Utc::now());
        tokio::time::timeout(wait, touch)
            .await
            .expect("the gate opens when a unit is dropped")
            .unwrap();
        store.close().await;
    }

    #[test]
    fn a_missing_file_is_created_unless_the_url_says_otherwise() {
        assert_eq!(url_with_create("sqlite:a.db"), "sqlite:a.db?mode=rwc");
        assert_eq!(
            url_with_create("sqlite:a.db?cache=private"),
            "sqlite:a.db?cache=private&mode=rwc"
        );
        assert_eq!(
            url_with_create("sqlite:a.db?mode=ro"),
            "sqlite:a.db?mode=ro"
        );
        assert_eq!(url_with_create("sqlite::memory:"), "sqlite::memory:");
    }
}
