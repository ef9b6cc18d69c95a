//! Stored answers of requests with a request id, written in the unit of work of the
//! change they answer.

use super::{SqliteStore, SqliteUnit, rows::StoredRequestRow};
use crate::{
    domain::{
        clock::to_micros,
        idempotency::{IdempotencyKey, StoredRequest},
    },
    error::Result,
    store::{IdempotencyStore, IdempotencyTx},
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
impl IdempotencyStore for SqliteStore {
    async fn purge_idempotency_keys(&self, cutoff: DateTime<Utc>) -> Result<u64> {
        let _turn = self.write_turn().await;
        let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < ?")
            .bind(to_micros(cutoff))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl IdempotencyTx for SqliteUnit {
    async fn stored_request(&mut self, key: &IdempotencyKey) -> Result<Option<StoredRequest>> {
        // A concurrent unit with the same request id waits for this one at the write gate.
        let row: Option<StoredRequestRow> = sqlx::query_as(
            "SELECT fingerprint, response FROM idempotency_keys \
             WHERE scope = ? AND request_id = ?",
        )
        .bind(key.scope.as_str())
        .bind(key.request_id.as_str())
        .fetch_optional(self.conn())
        .await?;
        Ok(row.map(StoredRequest::from))
    }

    async fn store_request(
        &mut self,
        key: &IdempotencyKey,
        response: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO idempotency_keys (scope, request_id, fingerprint, response, created_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(key.scope.as_str())
        .bind(key.request_id.as_str())
        .bind(key.fingerprint.as_str())
        .bind(response)
        .bind(to_micros(now))
        .execute(self.conn())
        .await?;
        Ok(())
    }
}
