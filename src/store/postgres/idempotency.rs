//! Stored answers of requests with a request id, written in the same transaction as
//! the change. Concurrent units with one request id take turns on an advisory lock named
//! after it: the second sees the first's answer once the first commits.

use super::{PgStore, PgUnit, advisory_lock, rows::StoredRequestRow};
use crate::{
    domain::idempotency::{IdempotencyKey, StoredRequest},
    error::Result,
    store::{IdempotencyStore, IdempotencyTx},
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
impl IdempotencyStore for PgStore {
    async fn purge_idempotency_keys(&self, cutoff: DateTime<Utc>) -> Result<u64> {
        let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(cutoff)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl IdempotencyTx for PgUnit {
    async fn stored_request(&mut self, key: &IdempotencyKey) -> Result<Option<StoredRequest>> {
        advisory_lock(self.conn(), &format!("{}\0{}", key.scope, key.request_id)).await?;
        let row: Option<StoredRequestRow> = sqlx::query_as(
            "SELECT fingerprint, response FROM idempotency_keys \
             WHERE scope = $1 AND request_id = $2",
        )
        .bind(&key.scope)
        .bind(&key.request_id)
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
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&key.scope)
        .bind(&key.request_id)
        .bind(&key.fingerprint)
        .bind(response)
        .bind(now)
        .execute(self.conn())
        .await?;
        Ok(())
    }
}
