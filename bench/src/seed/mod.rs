//! The bulk loader: accounts, their sessions, one subscription each with a few seats,
//! and the seats' device tokens, written straight into the server's tables in large
//! transactions of multi-row inserts. The values come from the domain itself —
//! [`Subscription::create`] and [`Subscription::seat_device`] make the subscription and
//! take its seats, so the seat limit holds and `subscriptions.active_seats` counts the
//! seats — and ids and tokens from the [`Seed`]. Events are not loaded: the outbox
//! starts empty, as after a fresh install whose history was purged.
//!
//! Each backend writes the rows in its own column encodings (`sqlite.rs`, `postgres.rs`,
//! as `src/store/*/rows.rs` read them).

mod postgres;
mod sqlite;

use crate::ids::Seed;
use anyhow::{Context as _, Result, ensure};
use chrono::{DateTime, Utc};
use std::{
    ops::Range,
    time::{Duration, Instant},
};
use tessera::{
    domain::{
        account::Password,
        plan::Plan,
        seat::{NewSeat, Platform, Seat, SeatClaim},
        secret::token_hash,
        subscription::{Channel, NewSubscription, Subscription},
    },
    store::Backend,
};
use uuid::Uuid;

/// Subscriptions written per transaction.
const BATCH: u64 = 10_000;

/// What to load: subscriptions of `seed`, each with `seats` seats on `plan`.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Where ids and tokens come from.
    pub seed: Seed,
    /// The plan of every subscription.
    pub plan: &'static Plan,
    /// Seats taken on each subscription.
    pub seats: u64,
}

/// An account as stored, with the one password hash every seeded account shares.
struct AccountRow {
    id: Uuid,
    email: String,
    display_name: String,
    created_at: DateTime<Utc>,
}

/// A session as stored.
struct SessionRow {
    token_hash: String,
    account_id: Uuid,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

/// A device token as stored.
struct DeviceTokenRow {
    token_hash: String,
    seat_id: Uuid,
    created_at: DateTime<Utc>,
}

/// The rows of a batch of subscriptions, table by table.
#[derive(Default)]
struct Rows {
    accounts: Vec<AccountRow>,
    sessions: Vec<SessionRow>,
    subscriptions: Vec<Subscription>,
    seats: Vec<Seat>,
    device_tokens: Vec<DeviceTokenRow>,
}

/// Rows written, table by table, and how long it took.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// `accounts`.
    pub accounts: u64,
    /// `sessions`.
    pub sessions: u64,
    /// `subscriptions`.
    pub subscriptions: u64,
    /// `seats`.
    pub seats: u64,
    /// `device_tokens`.
    pub device_tokens: u64,
}

impl Counts {
    fn add(&mut self, rows: &Rows) {
        self.accounts += rows.accounts.len() as u64;
        self.sessions += rows.sessions.len() as u64;
        self.subscriptions += rows.subscriptions.len() as u64;
        self.seats += rows.seats.len() as u64;
        self.device_tokens += rows.device_tokens.len() as u64;
    }

    /// Every row.
    pub fn total(&self) -> u64 {
        self.accounts + self.sessions + self.subscriptions + self.seats + self.device_tokens
    }
}

fn platform(j: u64) -> Platform {
    match j % 4 {
        0 => Platform::Windows,
        1 => Platform::MacOs,
        2 => Platform::Android,
        _ => Platform::Ios,
    }
}

impl Shape {
    /// The rows of subscriptions `range`.
    fn rows(&self, range: Range<u64>) -> Result<Rows> {
        let mut rows = Rows::default();
        let seed = &self.seed;
        for i in range {
            let account_id = seed.account_id(i);
            let created_at = seed.created_at(i);
            rows.accounts.push(AccountRow {
                id: account_id,
                email: seed.email(i),
                display_name: format!("Bench customer {i}"),
                created_at,
            });
            rows.sessions.push(SessionRow {
                token_hash: token_hash(&seed.session_token(i)),
                account_id,
                created_at,
                expires_at: seed.session_expiry(),
            });
            let new = NewSubscription {
                plan: self.plan.clone(),
                channel: Channel::Direct,
                account_id: Some(account_id),
                auto_renew: true,
                term_start: created_at,
                term_end: None,
                partner_id: None,
                partner_reference: None,
                product_key: None,
            };
            let mut subscription = Subscription::create(new, created_at, &mut Vec::new());
            subscription.id = seed.subscription_id(i);
            let mut taken: Vec<Seat> = Vec::new();
            for j in 0..self.seats {
                let device = NewSeat {
                    device_id: seed.device_id(i, j),
                    platform: platform(j),
                    display_name: format!("Bench device {j}"),
                };
                let at = seed.activated_at(i, j);
                let claim = subscription
                    .seat_device(&device, &taken, at, &mut Vec::new())
                    .with_context(|| format!("seating device {j} of subscription {i}"))?;
                let SeatClaim::Taken(mut seat) = claim else {
                    anyhow::bail!("device {j} of subscription {i} already held a seat");
                };
                seat.id = seed.seat_id(i, j);
                rows.device_tokens.push(DeviceTokenRow {
                    token_hash: token_hash(&seed.device_token(i, j)),
                    seat_id: seat.id,
                    created_at: at,
                });
                taken.push(seat);
            }
            rows.subscriptions.push(subscription);
            rows.seats.extend(taken);
        }
        Ok(rows)
    }
}

/// Where the loader writes.
enum Writer {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Writer {
    async fn open(url: &str) -> Result<Self> {
        Ok(match Backend::of_url(url)? {
            Backend::Sqlite => Self::Sqlite(sqlite::open(url).await?),
            Backend::Postgres => Self::Postgres(postgres::open(url).await?),
        })
    }

    async fn write(&mut self, rows: &Rows, password_hash: &str) -> Result<()> {
        match self {
            Self::Sqlite(conn) => sqlite::write(conn, rows, password_hash).await,
            Self::Postgres(conn) => postgres::write(conn, rows, password_hash).await,
        }
    }

    async fn finish(self) -> Result<()> {
        match self {
            Self::Sqlite(conn) => sqlite::finish(conn).await,
            Self::Postgres(conn) => postgres::finish(conn).await,
        }
    }
}

/// Migrates the database at `url` (as the server would) and loads subscriptions
/// `range` of `shape` into it, one transaction per [`BATCH`] subscriptions, reporting
/// progress through `progress` (subscriptions written so far, time spent).
pub async fn load(
    url: &str,
    shape: &Shape,
    range: Range<u64>,
    mut progress: impl FnMut(u64, Duration),
) -> Result<Counts> {
    ensure!(
        shape.seats <= shape.plan.seat_limit as u64,
        "{} seats do not fit plan {} (seat limit {})",
        shape.seats,
        shape.plan.code,
        shape.plan.seat_limit
    );
    let store = tessera::store::connect(url).await?;
    store.migrate().await?;
    store.close().await;

    let password_hash = Password::parse("bench password, never used to sign in")?.hash()?;
    let started = Instant::now();
    let mut writer = Writer::open(url).await?;
    let mut counts = Counts::default();
    let mut next = range.start;
    while next < range.end {
        let end = (next + BATCH).min(range.end);
        let rows = shape.rows(next..end)?;
        writer
            .write(&rows, &password_hash)
            .await
            .with_context(|| format!("loading subscriptions {next}..{end}"))?;
        counts.add(&rows);
        progress(end - range.start, started.elapsed());
        next = end;
    }
    writer.finish().await?;
    Ok(counts)
}

#[cfg(test)]
mod tests;
