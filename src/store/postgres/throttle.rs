//! The counters of the throttles on guessing. A counter row is locked while an attempt
//! is counted, so concurrent attempts of one subject — on any replica — take turns.

use super::{PgStore, PgUnit, rows::AttemptCounterRow};
use crate::{
    domain::throttle::AttemptCounter,
    error::Result,
    store::{ThrottleStore, ThrottleTx},
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
impl ThrottleStore for PgStore {
    async fn release_attempts(&self, give_back: &[String], forget: &[String]) -> Result<()> {
        // One statement per counter, each its own transaction: a statement that holds
        // one row and waits for no other cannot close a cycle with the units counting
        // attempts, which lock an account's counter and then an address's.
        for subject in give_back {
            sqlx::query(
                "UPDATE attempt_counters SET attempts = attempts - 1 \
                 WHERE subject = $1 AND attempts > 0",
            )
            .bind(subject)
            .execute(&self.pool)
            .await?;
        }
        for subject in forget {
            sqlx::query("DELETE FROM attempt_counters WHERE subject = $1")
                .bind(subject)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    async fn purge_attempt_counters(&self, cutoff: DateTime<Utc>) -> Result<u64> {
        let done = sqlx::query("DELETE FROM attempt_counters WHERE last_attempt_at < $1")
            .bind(cutoff)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl ThrottleTx for PgUnit {
    async fn lock_attempt_counter(
        &mut self,
        subject: &str,
        now: DateTime<Utc>,
    ) -> Result<AttemptCounter> {
        // A concurrent first insert of the same subject waits here for the other
        // transaction to end; then the row exists and both lock it in turn. Should a
        // purge delete an old row between the two statements, it is inserted again.
        loop {
            sqlx::query(
                "INSERT INTO attempt_counters (subject, last_attempt_at, attempts) \
                 VALUES ($1, $2, 0) ON CONFLICT (subject) DO NOTHING",
            )
            .bind(subject)
            .bind(now)
            .execute(self.conn())
            .await?;
            let row: Option<AttemptCounterRow> = sqlx::query_as(
                "SELECT subject, last_attempt_at, attempts FROM attempt_counters \
                 WHERE subject = $1 FOR UPDATE",
            )
            .bind(subject)
            .fetch_optional(self.conn())
            .await?;
            if let Some(row) = row {
                return Ok(row.into());
            }
        }
    }

    async fn save_attempt_counter(&mut self, counter: &AttemptCounter) -> Result<()> {
        sqlx::query(
            "UPDATE attempt_counters SET last_attempt_at = $2, attempts = $3 WHERE subject = $1",
        )
        .bind(&counter.subject)
        .bind(counter.last_attempt_at)
        .bind(counter.attempts)
        .execute(self.conn())
        .await?;
        Ok(())
    }
}
