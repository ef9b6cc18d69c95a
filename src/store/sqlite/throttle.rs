//! The counters of the throttles on guessing. Within a unit of work SQLite's write lock
//! already serialises everything, so "locking" a counter is reading it.

use super::{SqliteStore, SqliteUnit, rows::AttemptCounterRow};
use crate::{
    domain::{clock::to_micros, throttle::AttemptCounter},
    error::Result,
    store::{ThrottleStore, ThrottleTx},
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Sqlite};

/// `UPDATE`/`DELETE … WHERE subject IN (…)` of `subjects`.
fn of_subjects(statement: &str, subjects: &[String]) -> QueryBuilder<Sqlite> {
    let mut query = QueryBuilder::<Sqlite>::new(statement);
    query.push(" subject IN (");
    let mut listed = query.separated(", ");
    for subject in subjects {
        listed.push_bind(subject.clone());
    }
    query.push(")");
    query
}

#[async_trait]
impl ThrottleStore for SqliteStore {
    async fn release_attempts(&self, give_back: &[String], forget: &[String]) -> Result<()> {
        if give_back.is_empty() && forget.is_empty() {
            return Ok(());
        }
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin().await?;
        if !give_back.is_empty() {
            of_subjects(
                "UPDATE attempt_counters SET attempts = attempts - 1 WHERE attempts > 0 AND",
                give_back,
            )
            .build()
            .execute(&mut *tx)
            .await?;
        }
        if !forget.is_empty() {
            of_subjects("DELETE FROM attempt_counters WHERE", forget)
                .build()
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn purge_attempt_counters(&self, cutoff: DateTime<Utc>) -> Result<u64> {
        let _turn = self.write_turn().await;
        let done = sqlx::query("DELETE FROM attempt_counters WHERE last_attempt_at < ?")
            .bind(to_micros(cutoff))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl ThrottleTx for SqliteUnit {
    async fn lock_attempt_counter(
        &mut self,
        subject: &str,
        now: DateTime<Utc>,
    ) -> Result<AttemptCounter> {
        // The unit holds the write lock: inserting the missing counter and reading it back
        // cannot interleave with another writer.
        sqlx::query(
            "INSERT INTO attempt_counters (subject, last_attempt_at, attempts) VALUES (?, ?, 0) \
             ON CONFLICT (subject) DO NOTHING",
        )
        .bind(subject)
        .bind(to_micros(now))
        .execute(self.conn())
        .await?;
        let row: AttemptCounterRow = sqlx::query_as(
            "SELECT subject, last_attempt_at, attempts FROM attempt_counters WHERE subject = ?",
        )
        .bind(subject)
        .fetch_one(self.conn())
        .await?;
        row.try_into()
    }

    async fn save_attempt_counter(&mut self, counter: &AttemptCounter) -> Result<()> {
        sqlx::query(
            "UPDATE attempt_counters SET last_attempt_at = ?, attempts = ? WHERE subject = ?",
        )
        .bind(to_micros(counter.last_attempt_at))
        .bind(counter.attempts)
        .bind(counter.subject.as_str())
        .execute(self.conn())
        .await?;
        Ok(())
    }
}
