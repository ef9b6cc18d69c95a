//! The loader's SQLite writes: ids as hyphenated text, instants as micro-seconds since
//! the Unix epoch, flags as 0/1 (`src/store/sqlite/rows.rs`).

use super::Rows;
use anyhow::Result;
use sqlx::{
    ConnectOptions, Connection, QueryBuilder, Sqlite, SqliteConnection,
    query_builder::Separated,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous},
};
use std::str::FromStr;
use tessera::domain::clock::to_micros;

/// Bound values per statement, under SQLite's limit of 32766.
const MAX_PARAMS: usize = 32_000;

/// One connection for the whole load. The loader does not wait for the disk at each
/// commit (a crash mid-load means loading again) and the file is checkpointed at the end.
pub(super) async fn open(url: &str) -> Result<SqliteConnection> {
    Ok(SqliteConnectOptions::from_str(url)?
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Off)
        .foreign_keys(true)
        .pragma("cache_size", "-1048576")
        .connect()
        .await?)
}

/// `INSERT INTO head VALUES …` of `rows`, as many rows per statement as fit.
async fn insert<T>(
    conn: &mut SqliteConnection,
    head: &str,
    columns: usize,
    rows: &[T],
    mut bind: impl FnMut(Separated<'_, Sqlite, &'static str>, &T),
) -> Result<()> {
    for chunk in rows.chunks(MAX_PARAMS / columns) {
        let mut query = QueryBuilder::<Sqlite>::new(head);
        query.push(" ");
        query.push_values(chunk, &mut bind);
        query.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Writes `rows` in one transaction.
pub(super) async fn write(
    conn: &mut SqliteConnection,
    rows: &Rows,
    password_hash: &str,
) -> Result<()> {
    let mut tx = conn.begin().await?;
    insert(
        &mut tx,
        "INSERT INTO accounts (id, email, password_hash, display_name, created_at)",
        5,
        &rows.accounts,
        |mut b, a| {
            b.push_bind(a.id.to_string())
                .push_bind(a.email.as_str())
                .push_bind(password_hash)
                .push_bind(a.display_name.as_str())
                .push_bind(to_micros(a.created_at));
        },
    )
    .await?;
    insert(
        &mut tx,
        "INSERT INTO sessions (token_hash, account_id, created_at, expires_at)",
        4,
        &rows.sessions,
        |mut b, s| {
            b.push_bind(s.token_hash.as_str())
                .push_bind(s.account_id.to_string())
                .push_bind(to_micros(s.created_at))
                .push_bind(to_micros(s.expires_at));
        },
    )
    .await?;
    insert(
        &mut tx,
        "INSERT INTO subscriptions (id, plan_code, channel, status, account_id, seat_limit, \
         active_seats, term_start, term_end, auto_renew, cancel_at_period_end, partner_id, \
         partner_reference, product_key, created_at, updated_at)",
        16,
        &rows.subscriptions,
        |mut b, s| {
            b.push_bind(s.id.to_string())
                .push_bind(s.plan_code.as_str())
                .push_bind(s.channel.as_str())
                .push_bind(s.status.as_str())
                .push_bind(s.account_id.map(|id| id.to_string()))
                .push_bind(s.seat_limit)
                .push_bind(s.active_seats)
                .push_bind(to_micros(s.term_start))
                .push_bind(to_micros(s.term_end))
                .push_bind(i64::from(s.auto_renew))
                .push_bind(i64::from(s.cancel_at_period_end))
                .push_bind(s.partner_id.map(|id| id.to_string()))
                .push_bind(s.partner_reference.as_deref())
                .push_bind(s.product_key.as_deref())
                .push_bind(to_micros(s.created_at))
                .push_bind(to_micros(s.updated_at));
        },
    )
    .await?;
    insert(
        &mut tx,
        "INSERT INTO seats (id, subscription_id, device_id, platform, display_name, \
         activated_at, last_seen_at, deactivated_at)",
        8,
        &rows.seats,
        |mut b, t| {
            b.push_bind(t.id.to_string())
                .push_bind(t.subscription_id.to_string())
                .push_bind(t.device_id.as_str())
                .push_bind(t.platform.as_str())
                .push_bind(t.display_name.as_str())
                .push_bind(to_micros(t.activated_at))
                .push_bind(to_micros(t.last_seen_at))
                .push_bind(t.deactivated_at.map(to_micros));
        },
    )
    .await?;
    insert(
        &mut tx,
        "INSERT INTO device_tokens (token_hash, seat_id, created_at)",
        3,
        &rows.device_tokens,
        |mut b, d| {
            b.push_bind(d.token_hash.as_str())
                .push_bind(d.seat_id.to_string())
                .push_bind(to_micros(d.created_at));
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Moves the write-ahead log into the database file, so the server starts on a file
/// as a long-running one would have it.
pub(super) async fn finish(mut conn: SqliteConnection) -> Result<()> {
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}
