//! Stored responses of mutations carrying a request id. Written in the same transaction
//! as the change, so a request id is recorded exactly when its change is.

use super::{Backend, Store, WriteTx};
use crate::{
    domain::{clock::to_micros, idempotency::IdempotencyKey},
    error::{Error, Result},
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use sha2::{Digest, Sha256};
use sqlx::Row;

/// The outcome of an idempotent mutation and when it was first answered, so that a
/// replay renders exactly the first response (days left included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer<T> {
    /// The outcome.
    pub value: T,
    /// When the first call was answered.
    pub answered_at: DateTime<Utc>,
}

impl Store {
    /// Within `tx`: the stored response for `key`, if the request id was used before.
    /// On PostgreSQL a transaction-scoped advisory lock on the key makes a concurrent
    /// call with the same id wait for this one and then replay it.
    /// Errors: `RequestIdReused` when the id came with a different request.
    pub(super) async fn replay<T: DeserializeOwned>(
        &self,
        tx: &mut WriteTx,
        key: &IdempotencyKey,
    ) -> Result<Option<T>> {
        self.advisory_lock(tx, &format!("{}\0{}", key.scope, key.request_id))
            .await?;
        let row = sqlx::query(
            "SELECT fingerprint, response FROM idempotency_keys \
             WHERE scope = $1 AND request_id = $2",
        )
        .bind(key.scope.clone())
        .bind(key.request_id.clone())
        .fetch_optional(tx.conn())
        .await?;
        let Some(row) = row else { return Ok(None) };
        if row.try_get::<String, _>("fingerprint")? != key.fingerprint {
            return Err(Error::RequestIdReused);
        }
        let response: String = row.try_get("response")?;
        serde_json::from_str(&response)
            .map(Some)
            .map_err(|e| Error::Internal(format!("stored response unreadable: {e}")))
    }

    /// Within `tx`: records `response` as the outcome of `key`.
    pub(super) async fn remember<T: Serialize>(
        &self,
        tx: &mut WriteTx,
        key: &IdempotencyKey,
        response: &T,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let response = serde_json::to_string(response)
            .map_err(|e| Error::Internal(format!("storing response: {e}")))?;
        sqlx::query(
            "INSERT INTO idempotency_keys (scope, request_id, fingerprint, response, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(key.scope.clone())
        .bind(key.request_id.clone())
        .bind(key.fingerprint.clone())
        .bind(response)
        .bind(to_micros(now))
        .execute(tx.conn())
        .await?;
        Ok(())
    }

    /// Forgets request ids recorded before `cutoff`. Returns how many were removed.
    pub async fn purge_idempotency_keys(&self, cutoff: DateTime<Utc>) -> Result<u64> {
        let done = self
            .write_one(
                sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
                    .bind(to_micros(cutoff)),
            )
            .await?;
        Ok(done.rows_affected())
    }
}

impl Store {
    /// Within `tx`, on PostgreSQL: waits for and holds until commit a lock named `name`,
    /// so concurrent transactions about the same not-yet-existing row take turns. SQLite
    /// transactions take turns anyway.
    pub(super) async fn advisory_lock(&self, tx: &mut WriteTx, name: &str) -> Result<()> {
        if self.backend == Backend::Postgres {
            let digest = Sha256::digest(name.as_bytes());
            let mut first = [0u8; 8];
            first.copy_from_slice(&digest[..8]);
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(i64::from_be_bytes(first))
                .execute(tx.conn())
                .await?;
        }
        Ok(())
    }
}

/// Runs a mutation under an optional idempotency key: replays a stored [`Answer`], or
/// runs `$body` (an expression using `$tx`) and stores its answer, then commits.
macro_rules! idempotent {
    ($store:expr, $author:expr, $key:expr, $now:expr, |$tx:ident| $body:expr) => {{
        let key: Option<&$crate::domain::idempotency::IdempotencyKey> = $key;
        let mut $tx = $store.begin_write($author, key, $now).await?;
        if let Some(key) = key {
            if let Some(stored) = $store.replay(&mut $tx, key).await? {
                return Ok(stored);
            }
        }
        let result = $crate::store::Answer {
            value: $body,
            answered_at: $now,
        };
        if let Some(key) = key {
            $store.remember(&mut $tx, key, &result, $now).await?;
        }
        $tx.commit().await?;
        Ok(result)
    }};
}
pub(super) use idempotent;
