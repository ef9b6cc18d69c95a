//! Persistence. One [`Store`] serves both backends through sqlx's `Any` driver: the SQL
//! is written once, in the subset SQLite and PostgreSQL share, and the few places where
//! the backends differ (write locking) are methods of [`Backend`]. Every read and write
//! that touches customer data is filtered by an [`Access`](crate::domain::access::Access).
//!
//! Instants are stored as micro-seconds since the Unix epoch (`BIGINT`), ids as text.

mod accounts;
mod carrier;
mod commit_notices;
mod events;
mod idempotency;
mod lifecycle;
mod moves;
mod partners;
mod purchases;
mod redemption;
mod rows;
mod seats;
mod subscriptions;

use crate::domain::{access::Access, idempotency::IdempotencyKey};
use crate::error::{Error, Result};
use sqlx::{
    AnyConnection, Executor, Transaction,
    any::{AnyPoolOptions, install_default_drivers},
    migrate::Migrator,
};
use std::{str::FromStr, sync::Arc, time::Duration};
use tokio::sync::{Mutex, Notify, OwnedMutexGuard};

pub use carrier::{DowngradePolicy, Renewal};
pub use commit_notices::CommitListener;
pub use idempotency::Answer;
pub use lifecycle::Transitioned;
pub use redemption::IssuedProductKey;
pub use subscriptions::NewSubscription;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file (the default).
    Sqlite,
    /// A PostgreSQL server (production, several replicas).
    Postgres,
}

impl Backend {
    /// Chooses the backend from a database URL's scheme.
    pub fn of_url(url: &str) -> Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            Err(Error::Internal(format!(
                "unsupported database URL scheme in {url:?}: use sqlite: or postgres://"
            )))
        }
    }
}

/// The database behind Tessera.
#[derive(Debug, Clone)]
pub struct Store {
    pool: sqlx::AnyPool,
    backend: Backend,
    /// SQLite allows one writer at a time; writers queue here instead of spinning on
    /// `SQLITE_BUSY`. `BEGIN IMMEDIATE` still guards against other processes.
    write_gate: Option<Arc<Mutex<()>>>,
    /// Woken after every commit that wrote events, for live watchers.
    events_committed: Arc<Notify>,
}

/// A write transaction. On SQLite it holds the database's write lock from its first
/// statement; on PostgreSQL rows are locked as they are read for update. Events emitted
/// on it are written just before it commits (see [`events`]).
pub(crate) struct WriteTx {
    tx: Transaction<'static, sqlx::Any>,
    _gate: Option<OwnedMutexGuard<()>>,
    /// Who is changing things; `None` for Tessera itself.
    author: Option<Access>,
    request_id: Option<String>,
    /// When the change happens, by the server's clock; events are stamped with it.
    now: chrono::DateTime<chrono::Utc>,
    pending: Vec<events::PendingEvent>,
    events_committed: Arc<Notify>,
    backend: Backend,
}

impl WriteTx {
    fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }
}

impl Store {
    /// Connects to `url` (`sqlite:…` or `postgres://…`), creating an SQLite file if it is
    /// missing. SQLite runs in WAL mode with `synchronous=FULL`, so an acknowledged write
    /// survives a crash.
    pub async fn connect(url: &str) -> Result<Self> {
        install_default_drivers();
        let backend = Backend::of_url(url)?;
        let options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(10));
        let pool = match backend {
            Backend::Sqlite => {
                let url = sqlite_url_with_create(url);
                options
                    .max_connections(8)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                                 PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await?
            }
            Backend::Postgres => options.max_connections(16).connect(url).await?,
        };
        let write_gate = (backend == Backend::Sqlite).then(|| Arc::new(Mutex::new(())));
        Ok(Self {
            pool,
            backend,
            write_gate,
            events_committed: Arc::new(Notify::new()),
        })
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&self.pool)
            .await
            .map_err(|e| Error::Internal(format!("migrating: {e}")))
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Begins a write transaction on behalf of `author` (`None`: Tessera itself) at
    /// `now`, with the caller's request id for the events it emits.
    pub(crate) async fn begin_write(
        &self,
        author: Option<Access>,
        key: Option<&IdempotencyKey>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<WriteTx> {
        let gate = match &self.write_gate {
            Some(gate) => Some(gate.clone().lock_owned().await),
            None => None,
        };
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(WriteTx {
            tx,
            _gate: gate,
            author,
            request_id: key.map(|key| key.request_id.clone()),
            now,
            pending: Vec::new(),
            events_committed: self.events_committed.clone(),
            backend: self.backend,
        })
    }

    /// Runs one writing statement outside a transaction. On SQLite it waits its turn at
    /// the write gate rather than spinning on `SQLITE_BUSY`.
    pub(crate) async fn write_one<'q>(
        &self,
        query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> std::result::Result<sqlx::any::AnyQueryResult, sqlx::Error> {
        let _turn = match &self.write_gate {
            Some(gate) => Some(gate.lock().await),
            None => None,
        };
        query.execute(&self.pool).await
    }

    /// `FOR UPDATE` where the backend locks rows; SQLite already holds the write lock.
    fn lock_rows(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }

    /// Like [`Self::lock_rows`], skipping rows another transaction has claimed.
    fn claim_rows(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }
}

/// `sqlite:path` with `mode=rwc`, so a missing file is created.
fn sqlite_url_with_create(url: &str) -> String {
    if url.contains("mode=") || url.contains(":memory:") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

/// Whether a database error is a unique-constraint violation.
fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Parses an id column.
fn parse_uuid(text: &str) -> Result<uuid::Uuid> {
    uuid::Uuid::from_str(text).map_err(|e| Error::Internal(format!("bad id {text:?}: {e}")))
}
