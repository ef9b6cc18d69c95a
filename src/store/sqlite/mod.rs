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
mod group_commit;
mod idempotency;
mod outbox;
mod partners;
mod purchases;
mod rows;
mod scope;
mod seats;
mod subscriptions;
mod throttle;

use self::group_commit::{GroupCommit, Turn};
use super::{
    Backend, CommitListener, PoolUse, Store, UnitOfWork, WriteContext,
    cached::change::{ChangeSet, NoticeSink},
    records,
};
use crate::{
    domain::{
        clock::{from_micros, to_micros},
        event::NewEvent,
        idempotency::hex,
        secret::{KeyFingerprint, KeyOrigin, random_bytes},
    },
    error::{Error, Result},
};
use async_trait::async_trait;
use sqlx::{
    SqliteConnection, SqlitePool,
    migrate::Migrator,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};
use std::{str::FromStr, sync::Arc, time::Duration};
use tokio::sync::Notify;

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
    /// One writer at a time: units of work take turns inside a shared transaction
    /// (group commit); a write outside one takes the turn alone.
    writer: Arc<GroupCommit>,
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
        let commits = Arc::new(Notify::new());
        Ok(Self {
            writer: Arc::new(GroupCommit::new(pool.clone(), commits.clone())),
            pool,
            commits,
        })
    }

    /// The connection pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Waits for this process's turn to write, for a write outside a unit of work.
    async fn write_turn(&self) -> Turn {
        self.writer.solo().await
    }
}

/// The file an `sqlite:` URL names; `None` for an in-memory database.
/// Errors: `Internal` for a URL sqlx cannot read.
pub fn database_file(url: &str) -> Result<Option<std::path::PathBuf>> {
    if url.contains(":memory:") || url.contains("mode=memory") {
        return Ok(None);
    }
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| Error::Internal(format!("the database URL {url} is not valid: {e}")))?;
    Ok(Some(options.get_filename().to_path_buf()))
}

/// Copies the database `url` names into the new file `to`, consistently, while other
/// connections (a running server) read and write it: `VACUUM INTO` on a read-only
/// connection. `to` is created readable by its owner only, and must not exist.
/// Errors: `Internal` naming the cause: no such database, `to` exists or cannot be
/// written.
pub async fn backup(url: &str, to: &std::path::Path) -> Result<u64> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(to).map_err(|e| {
        Error::Internal(match e.kind() {
            std::io::ErrorKind::AlreadyExists => format!(
                "{} exists already, and a backup never overwrites a file: choose another --to",
                to.display()
            ),
            _ => format!("cannot create {}: {e}", to.display()),
        })
    })?;
    let copied = async {
        let options = SqliteConnectOptions::from_str(url)?
            .read_only(true)
            .busy_timeout(BUSY_TIMEOUT);
        let mut conn = sqlx::ConnectOptions::connect(&options).await?;
        // SQLite writes into the empty file created above, keeping its mode.
        sqlx::query("VACUUM INTO ?")
            .bind(to.to_string_lossy().into_owned())
            .execute(&mut conn)
            .await?;
        sqlx::Connection::close(conn).await?;
        Ok::<_, sqlx::Error>(())
    }
    .await;
    if let Err(e) = copied {
        let _ = std::fs::remove_file(to);
        return Err(Error::Internal(format!(
            "backing up {url} into {}: {e}",
            to.display()
        )));
    }
    Ok(std::fs::metadata(to).map(|m| m.len()).unwrap_or(0))
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
            .map_err(|e| super::migration_error("SQLite", e))
    }

    async fn close(&self) {
        // An open batch holds a connection, which closing the pool would wait for.
        let _turn = self.write_turn().await;
        self.pool.close().await;
    }

    async fn begin(&self, context: WriteContext) -> Result<Box<dyn UnitOfWork>> {
        let turn = self.writer.join().await?;
        Ok(Box::new(SqliteUnit {
            turn: Some(turn),
            writer: self.writer.clone(),
            context,
            pending: Vec::new(),
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

    async fn key_fingerprint(&self, name: &str) -> Result<Option<KeyFingerprint>> {
        let row: Option<(String, String, i64)> = sqlx::query_as(
            "SELECT fingerprint, origin, recorded_at FROM key_fingerprints WHERE name = ?",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|(fingerprint, origin, recorded_at)| {
            Ok(KeyFingerprint {
                fingerprint,
                origin: super::rows::stored("key_fingerprints.origin", &origin, KeyOrigin::parse)?,
                recorded_at: from_micros(recorded_at),
            })
        })
        .transpose()
    }

    async fn record_key_fingerprint(
        &self,
        name: &str,
        fingerprint: &KeyFingerprint,
    ) -> Result<KeyFingerprint> {
        {
            let _turn = self.write_turn().await;
            sqlx::query(
                "INSERT INTO key_fingerprints (name, fingerprint, origin, recorded_at) \
                 VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(&fingerprint.fingerprint)
            .bind(fingerprint.origin.as_str())
            .bind(to_micros(fingerprint.recorded_at))
            .execute(&self.pool)
            .await?;
        }
        self.key_fingerprint(name).await?.ok_or_else(|| {
            Error::Internal(format!("the fingerprint of key {name} was not recorded"))
        })
    }

    fn commits(&self) -> Arc<Notify> {
        self.commits.clone()
    }

    async fn listen_for_commits(
        &self,
        _database_url: &str,
        _sink: NoticeSink,
    ) -> Result<Option<CommitListener>> {
        Ok(None)
    }

    async fn announce_changes(&self, _changes: &ChangeSet) -> Result<()> {
        Ok(())
    }

    async fn ping(&self) -> Result<()> {
        // Reads the schema's first page, so the file itself must answer.
        sqlx::query("SELECT count(*) FROM sqlite_master")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    fn pool_use(&self) -> PoolUse {
        PoolUse::of(&self.pool)
    }
}

/// A unit of work: a savepoint in the batch of [`group_commit`], holding the write turn
/// until it ends. Dropped without [`UnitOfWork::commit`], it rolls back alone.
pub struct SqliteUnit {
    /// `None` once handed to the group commit.
    turn: Option<Turn>,
    writer: Arc<GroupCommit>,
    context: WriteContext,
    /// Events emitted so far, written at commit.
    pending: Vec<NewEvent>,
}

impl SqliteUnit {
    /// The connection of the unit's transaction.
    fn conn(&mut self) -> &mut SqliteConnection {
        group_commit::conn(
            self.turn
                .as_mut()
                .expect("a live unit holds the write turn"),
        )
    }

    /// Numbers the pending events after the last ones and writes them.
    async fn write_pending_events(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let rows = self
            .pending
            .iter()
            .map(|event| records::event_row(&self.context, event))
            .collect::<Result<Vec<_>>>()?;
        let count = rows.len() as i64;
        let last: i64 = sqlx::query_scalar(
            "UPDATE event_sequence SET last = last + ? WHERE id = 1 RETURNING last",
        )
        .bind(count)
        .fetch_one(self.conn())
        .await?;
        let created_at = to_micros(self.context.now);
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
            .execute(self.conn())
            .await?;
        }
        Ok(())
    }
}

impl Drop for SqliteUnit {
    fn drop(&mut self) {
        if let Some(turn) = self.turn.as_mut() {
            self.writer.abandon(turn);
        }
    }
}

#[async_trait]
impl UnitOfWork for SqliteUnit {
    async fn commit(mut self: Box<Self>) -> Result<()> {
        self.write_pending_events().await?;
        let turn = self.turn.take().expect("a live unit holds the write turn");
        self.writer.commit(turn).await
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
        let seen = [(uuid::Uuid::now_v7(), Utc::now())];
        let touch = store.record_last_seen(&seen);
        assert!(tokio::time::timeout(wait, touch).await.is_err());
        first.commit().await.unwrap();
        let second = tokio::time::timeout(wait, store.begin(context())).await;
        drop(second.expect("the gate opens at commit").unwrap());
        let touch = store.record_last_seen(&seen);
        tokio::time::timeout(wait, touch)
            .await
            .expect("the gate opens when a unit is dropped")
            .unwrap();
        store.close().await;
    }

    /// A unit of work of `store`, for writing rows no trait method writes.
    async fn raw_unit(store: &SqliteStore) -> SqliteUnit {
        SqliteUnit {
            turn: Some(store.writer.join().await.unwrap()),
            writer: store.writer.clone(),
            context: context(),
            pending: Vec::new(),
        }
    }

    async fn write_secret(unit: &mut SqliteUnit, name: &str) {
        sqlx::query("INSERT INTO server_secrets (name, value) VALUES (?, 'x')")
            .bind(name)
            .execute(unit.conn())
            .await
            .unwrap();
    }

    /// Yields until `n` callers queue for the write turn.
    async fn until_waiting(store: &SqliteStore, n: usize) {
        while store.writer.waiting() < n {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queued_units_commit_together_and_a_failing_one_rolls_back_alone() {
        let file = Scratch::new();
        let store = SqliteStore::connect(&file.url()).await.unwrap();
        store.migrate().await.unwrap();
        let batches = store.writer.batches();

        let mut first = raw_unit(&store).await;
        write_secret(&mut first, "first").await;
        let failing = tokio::spawn({
            let store = store.clone();
            async move {
                let mut unit = raw_unit(&store).await;
                write_secret(&mut unit, "failing").await;
                // Dropped: the request failed after writing.
            }
        });
        until_waiting(&store, 1).await;
        let third = tokio::spawn({
            let store = store.clone();
            async move {
                let mut unit = raw_unit(&store).await;
                write_secret(&mut unit, "third").await;
                Box::new(unit).commit().await
            }
        });
        until_waiting(&store, 2).await;

        // Others queue behind it, so the first unit's commit waits for theirs.
        Box::new(first).commit().await.unwrap();
        third.await.unwrap().unwrap();
        failing.await.unwrap();
        assert_eq!(
            store.writer.batches() - batches,
            1,
            "the queued units committed as one transaction"
        );
        let names: Vec<String> =
            sqlx::query_scalar("SELECT name FROM server_secrets ORDER BY name")
                .fetch_all(store.pool())
                .await
                .unwrap();
        assert_eq!(
            names,
            ["first", "third"],
            "the failing unit rolled back alone"
        );
        store.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_whose_last_unit_failed_still_commits() {
        let file = Scratch::new();
        let store = SqliteStore::connect(&file.url()).await.unwrap();
        store.migrate().await.unwrap();
        let mut first = raw_unit(&store).await;
        write_secret(&mut first, "first").await;
        let failing = tokio::spawn({
            let store = store.clone();
            async move {
                let mut unit = raw_unit(&store).await;
                write_secret(&mut unit, "failing").await;
            }
        });
        until_waiting(&store, 1).await;
        // Nobody queues after the failing unit: the first one commits the batch itself.
        Box::new(first).commit().await.unwrap();
        failing.await.unwrap();
        let names: Vec<String> = sqlx::query_scalar("SELECT name FROM server_secrets")
            .fetch_all(store.pool())
            .await
            .unwrap();
        assert_eq!(names, ["first"]);
        store.close().await;
    }

    /// The details of a plan SQLite gave (`EXPLAIN QUERY PLAN` rows).
    fn details(rows: Vec<sqlx::sqlite::SqliteRow>) -> Vec<String> {
        use sqlx::Row;
        rows.iter()
            .map(|row| row.get::<String, _>("detail"))
            .collect()
    }

    #[tokio::test]
    async fn due_work_and_a_partners_events_are_read_through_their_indexes() {
        let file = Scratch::new();
        let store = SqliteStore::connect(&file.url()).await.unwrap();
        store.migrate().await.unwrap();
        let explain = format!("EXPLAIN QUERY PLAN {}", subscriptions::CLAIM_DUE);
        let due = sqlx::query(sqlx::AssertSqlSafe(explain))
            .bind(2_i64)
            .bind(1_i64)
            .bind(100_i64)
            .fetch_all(store.pool())
            .await
            .unwrap();
        let due = details(due);
        assert!(
            due.iter()
                .any(|d| d.contains("USING INDEX subscriptions_due")),
            "{due:?}"
        );

        let (partner, subscription) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
        for (subscription, index) in [
            (None, "USING INDEX events_by_partner"),
            (Some(subscription), "USING INDEX events_by_subscription"),
        ] {
            let mut query = outbox::select_events(
                "EXPLAIN QUERY PLAN ",
                crate::domain::principal::Scope::Partner(partner),
                0,
                subscription,
                10,
            )
            .unwrap();
            let events = details(query.build().fetch_all(store.pool()).await.unwrap());
            assert!(events.iter().any(|d| d.contains(index)), "{events:?}");
        }
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
