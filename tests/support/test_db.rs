//! Scratch databases for tests, removed when dropped: an SQLite file in the temporary
//! directory, or a PostgreSQL database made on the server `TEST_DATABASE_URL` names
//! (without it PostgreSQL tests are ignored, see `build.rs`, and this panics). The
//! integration suite (`tests/api`) and the store properties (`tests/properties`) both
//! include it, as `#[path = "…/support/test_db.rs"] mod test_db;`.

#![allow(dead_code)]

use std::path::PathBuf;
use uuid::Uuid;

/// A fresh database of either kind.
pub enum TestDb {
    Sqlite(SqliteFile),
    Postgres(PgDatabase),
}

impl TestDb {
    /// A fresh SQLite file.
    pub fn sqlite() -> Self {
        Self::Sqlite(SqliteFile::new("test"))
    }

    /// A fresh PostgreSQL database on the server `TEST_DATABASE_URL` names. Panics when
    /// it is unset: PostgreSQL tests are marked
    /// `#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is unset")]`, so
    /// they only run where it is set (see `build.rs`).
    pub async fn postgres() -> Self {
        Self::Postgres(PgDatabase::from_env().await)
    }

    pub fn url(&self) -> String {
        match self {
            Self::Sqlite(file) => file.url(),
            Self::Postgres(database) => database.url.clone(),
        }
    }
}

/// An SQLite file that is removed with its journal files when dropped. Nothing is
/// created until something opens it (or copies a file there).
pub struct SqliteFile(pub PathBuf);

impl SqliteFile {
    /// A new path in the temporary directory; `label` tells runs' files apart.
    pub fn new(label: &str) -> Self {
        let id = Uuid::new_v4().simple();
        Self(std::env::temp_dir().join(format!("tessera-{label}-{id}.db")))
    }

    pub fn url(&self) -> String {
        format!("sqlite:{}", self.0.display())
    }
}

impl Drop for SqliteFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

/// A PostgreSQL database made for one test (or one run), dropped afterwards.
pub struct PgDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

impl PgDatabase {
    /// A new database on the server `TEST_DATABASE_URL` names. Panics when it is unset
    /// (a PostgreSQL test that runs without it was not marked ignored).
    pub async fn from_env() -> Self {
        Self::create(admin_url()).await
    }

    /// A new database on the server of `admin_url`, which must be reachable.
    pub async fn create(admin_url: String) -> Self {
        let name = format!("tessera_test_{}", Uuid::new_v4().simple());
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url)
            .await
            .expect("TEST_DATABASE_URL is reachable");
        sqlx::Executor::execute(
            &mut conn,
            sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")),
        )
        .await
        .expect("creating the test database");
        let url = with_database(&admin_url, &name);
        Self {
            admin_url,
            name,
            url,
        }
    }
}

/// `TEST_DATABASE_URL`; panics when it is unset.
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "TEST_DATABASE_URL is unset: this PostgreSQL test should be marked \
             #[cfg_attr(not(postgres_tests), ignore = \"TEST_DATABASE_URL is unset\")]"
        )
    })
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

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop may run inside a test's runtime: use a thread with its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for cleanup");
            runtime.block_on(async {
                if let Ok(mut conn) =
                    <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url).await
                {
                    let _ = sqlx::Executor::execute(
                        &mut conn,
                        sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")),
                    )
                    .await;
                }
            });
        })
        .join();
    }
}
