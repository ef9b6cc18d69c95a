//! The loader's PostgreSQL writes: native `uuid`, `timestamptz` and `boolean` columns
//! (`src/store/postgres/rows.rs`).

use super::Rows;
use anyhow::Result;
use sqlx::{Connection, PgConnection, Postgres, QueryBuilder, query_builder::Separated};

/// Bound values per statement, under PostgreSQL's limit of 65535.
const MAX_PARAMS: usize = 65_000;

pub(super) async fn open(url: &str) -> Result<PgConnection> {
    Ok(PgConnection::connect(url).await?)
}

/// `INSERT INTO head VALUES …` of `rows`, as many rows per statement as fit.
async fn insert<T>(
    conn: &mut PgConnection,
    head: &str,
    columns: usize,
    rows: &[T],
    mut bind: impl FnMut(Separated<'_, Postgres, &'static str>, &T),
) -> Result<()> {
    for chunk in rows.chunks(MAX_PARAMS / columns) {
        let mut query = QueryBuilder::<Postgres>::new(head);
        query.push(" ");
        query.push_values(chunk, &mut bind);
        query.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Writes `rows` in one transaction.
pub(super) async fn write(conn: &mut PgConnection, rows: &Rows, password_hash: &str) -> Result<()> {
    let mut tx = conn.begin().await?;
    insert(
        &mut tx,
        "INSERT INTO accounts (id, email, password_hash, display_name, created_at)",
        5,
        &rows.accounts,
        |mut b, a| {
            b.push_bind(a.id)
                .push_bind(a.email.as_str())
                .push_bind(password_hash)
                .push_bind(a.display_name.as_str())
                .push_bind(a.created_at);
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
                .push_bind(s.account_id)
                .push_bind(s.created_at)
                .push_bind(s.expires_at);
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
            b.push_bind(s.id)
                .push_bind(s.plan_code.as_str())
                .push_bind(s.channel.as_str())
                .push_bind(s.status.as_str())
                .push_bind(s.account_id)
                .push_bind(s.seat_limit)
                .push_bind(s.active_seats)
                .push_bind(s.term_start)
                .push_bind(s.term_end)
                .push_bind(s.auto_renew)
                .push_bind(s.cancel_at_period_end)
                .push_bind(s.partner_id)
                .push_bind(s.partner_reference.as_deref())
                .push_bind(s.product_key.as_deref())
                .push_bind(s.created_at)
                .push_bind(s.updated_at);
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
            b.push_bind(t.id)
                .push_bind(t.subscription_id)
                .push_bind(t.device_id.as_str())
                .push_bind(t.platform.as_str())
                .push_bind(t.display_name.as_str())
                .push_bind(t.activated_at)
                .push_bind(t.last_seen_at)
                .push_bind(t.deactivated_at);
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
                .push_bind(d.seat_id)
                .push_bind(d.created_at);
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Settles what a bulk load leaves to autovacuum (visibility, planner statistics), so
/// that it does not run in the middle of a measurement.
pub(super) async fn finish(mut conn: PgConnection) -> Result<()> {
    sqlx::query("VACUUM (ANALYZE) accounts, sessions, subscriptions, seats, device_tokens")
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}
