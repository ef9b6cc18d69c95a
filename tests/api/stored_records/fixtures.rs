//! The fixture files of `tests/fixtures/stored/` and how their rows go into a database:
//! raw `INSERT`s naming only the columns each row has, so they depend on today's column
//! names and nothing of Tessera's own code.

use crate::support::{ADMIN_TOKEN, TestApp};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, AssertSqlSafe, Connection};
use std::collections::BTreeMap;

/// A table row, verbatim: column name to value (text, integer or null).
pub type Row = Map<String, Value>;

/// `events-v1.json`: rows of `events` and what the admin's watcher read from each.
#[derive(Debug, Deserialize)]
pub struct EventsFile {
    pub events: Vec<StoredEvent>,
}

#[derive(Debug, Deserialize)]
pub struct StoredEvent {
    pub row: Row,
    /// The event as the admin's `WatchEvents` returned it (see `describe::event`).
    pub expected: Value,
}

/// `answers-v1.json`: rows of `idempotency_keys`, the requests they answered and the
/// answer a retry of each returned.
#[derive(Debug, Deserialize)]
pub struct AnswersFile {
    pub answers: Vec<StoredAnswer>,
}

#[derive(Debug, Deserialize)]
pub struct StoredAnswer {
    pub row: Row,
    /// The gRPC method, as named in the fingerprint.
    pub method: String,
    /// The request's fields (see `requests::Request::from_fields`).
    pub request: Value,
    /// The answer as first returned (see `describe`).
    pub expected: Value,
}

/// `principals-v1.json`: the callers the replays and the watchers need.
#[derive(Debug, Deserialize)]
pub struct PrincipalsFile {
    /// Rows of `accounts` (the owners named by the stored records).
    pub accounts: Vec<Row>,
    /// Rows of `partners`.
    pub partners: Vec<Row>,
    /// Rows of `partner_keys`.
    pub partner_keys: Vec<Row>,
    /// Partner id to an API key whose SHA-256 is that partner's stored `key_hash`.
    pub api_keys: BTreeMap<String, String>,
}

/// Everything in `tests/fixtures/stored/`.
pub struct Fixtures {
    pub events: Vec<StoredEvent>,
    pub answers: Vec<StoredAnswer>,
    pub principals: PrincipalsFile,
}

pub const DIRECTORY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/stored");

fn read<T: serde::de::DeserializeOwned>(file: &str) -> T {
    let path = format!("{DIRECTORY}/{file}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"))
}

/// Reads the fixture files.
pub fn load() -> Fixtures {
    Fixtures {
        events: read::<EventsFile>("events-v1.json").events,
        answers: read::<AnswersFile>("answers-v1.json").answers,
        principals: read("principals-v1.json"),
    }
}

impl Fixtures {
    /// Writes every fixture row into `app`'s database, then moves the event counter past
    /// the stored events, as the commits that wrote them did.
    pub async fn insert_into(&self, app: &TestApp) {
        let mut db = connect(app).await;
        let principals = &self.principals;
        for account in &principals.accounts {
            insert(&mut db, "accounts", account).await;
            insert(&mut db, "sessions", &session_row(account)).await;
        }
        for partner in &principals.partners {
            insert(&mut db, "partners", partner).await;
        }
        for key in &principals.partner_keys {
            insert(&mut db, "partner_keys", key).await;
        }
        for event in &self.events {
            insert(&mut db, "events", &event.row).await;
        }
        for answer in &self.answers {
            insert(&mut db, "idempotency_keys", &answer.row).await;
        }
        let last = self.events.iter().map(|e| integer(&e.row, "seq")).max();
        sqlx::query("UPDATE event_sequence SET last = $1 WHERE id = 1")
            .bind(last.unwrap_or(0))
            .execute(&mut db)
            .await
            .expect("moving the event counter");
    }

    /// The bearer token of the caller whose idempotency `scope` is given: the admin,
    /// a partner (`partner:{id}`, by its API key) or an account (`account:{id}`, by the
    /// session [`Fixtures::insert_into`] made for it).
    pub fn token_for(&self, scope: &str) -> String {
        match scope.split_once(':') {
            None if scope == "admin" => ADMIN_TOKEN.to_owned(),
            Some(("partner", id)) => self.principals.api_keys[id].clone(),
            Some(("account", id)) => session_token(id),
            _ => panic!("no caller is known for the scope {scope:?}"),
        }
    }
}

/// The number of rows of `table` in `app`'s database.
pub async fn count(app: &TestApp, table: &str) -> i64 {
    sqlx::query_scalar(AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
        .fetch_one(&mut connect(app).await)
        .await
        .unwrap_or_else(|e| panic!("counting {table}: {e}"))
}

/// The integer in `column` of `row`.
pub fn integer(row: &Row, column: &str) -> i64 {
    row[column]
        .as_i64()
        .unwrap_or_else(|| panic!("{column} is not an integer in {row:?}"))
}

/// The text in `column` of `row`.
pub fn text<'a>(row: &'a Row, column: &str) -> &'a str {
    row[column]
        .as_str()
        .unwrap_or_else(|| panic!("{column} is not text in {row:?}"))
}

async fn connect(app: &TestApp) -> AnyConnection {
    sqlx::any::install_default_drivers();
    AnyConnection::connect(&app.database_url)
        .await
        .expect("the test database accepts a second connection")
}

/// The type PostgreSQL gives `table.column`; `None` on SQLite, whose columns keep the
/// stored forms of the fixtures (text ids, micro-seconds, 0/1 flags).
async fn column_type(db: &mut AnyConnection, table: &str, column: &str) -> Option<String> {
    sqlx::query_scalar(
        "SELECT data_type::text FROM information_schema.columns \
         WHERE table_name = $1 AND column_name = $2",
    )
    .bind(table.to_owned())
    .bind(column.to_owned())
    .fetch_optional(&mut *db)
    .await
    .ok()
    .flatten()
}

/// The SQL that turns the fixture's stored form, bound as `${n}`, into a value of the
/// column's type: PostgreSQL keeps ids as `uuid`, instants as `timestamptz` and flags as
/// `boolean` since migration 0005; the fixtures keep what 0fdacf9 stored.
fn converted(n: usize, column_type: Option<&str>) -> String {
    match column_type {
        Some("uuid") => format!("CAST(${n} AS uuid)"),
        Some("timestamp with time zone") => {
            format!("(TIMESTAMPTZ 'epoch' + ${n} * INTERVAL '1 microsecond')")
        }
        Some("boolean") => format!("(${n} <> 0)"),
        _ => format!("${n}"),
    }
}

/// `INSERT INTO table (…) VALUES (…)` of one row. Nulls are written as `NULL` literals,
/// which fit a column of any type, where a bound null would carry a type of its own.
async fn insert(db: &mut AnyConnection, table: &str, row: &Row) {
    let postgres = db.backend_name() == "PostgreSQL";
    let mut columns = Vec::new();
    let mut values = Vec::new();
    let mut bound = Vec::new();
    for (column, value) in row {
        columns.push(column.as_str());
        if value.is_null() {
            values.push("NULL".to_owned());
        } else {
            bound.push(value);
            let kind = if postgres {
                column_type(db, table, column).await
            } else {
                None
            };
            values.push(converted(bound.len(), kind.as_deref()));
        }
    }
    let sql = format!(
        "INSERT INTO {table} ({}) VALUES ({})",
        columns.join(", "),
        values.join(", ")
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for value in bound {
        query = match value {
            Value::Number(n) => query.bind(n.as_i64().expect("integer columns only")),
            Value::String(s) => query.bind(s.clone()),
            other => panic!("{table} has no column for {other}"),
        };
    }
    query
        .execute(&mut *db)
        .await
        .unwrap_or_else(|e| panic!("inserting into {table} {row:?}: {e}"));
}

/// A session for an account (sessions expire, so none is stored in the fixtures).
fn session_row(account: &Row) -> Row {
    let id = text(account, "id");
    let mut row = Row::new();
    row.insert(
        "token_hash".into(),
        sha256_hex(session_token(id).as_bytes()).into(),
    );
    row.insert("account_id".into(), id.into());
    row.insert("created_at".into(), account["created_at"].clone());
    // 9999-12-31T23:59:59Z: far off, and an instant every backend can hold.
    row.insert("expires_at".into(), 253_402_300_799_000_000_i64.into());
    row
}

fn session_token(account_id: &str) -> String {
    format!("tss_stored-records-{account_id}")
}

/// SHA-256 in lower-case hex, the stored form of tokens, keys and fingerprints.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
