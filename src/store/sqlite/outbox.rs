//! The event outbox. Events emitted on a unit of work wait in it and are numbered and
//! written by [`UnitOfWork::commit`](crate::store::UnitOfWork::commit) (see `mod.rs`),
//! under the write lock, so sequence order is commit order without gaps.

use super::{
    SqliteStore, SqliteUnit,
    rows::{self, EventRow},
};
use crate::{
    domain::{
        event::{NewEvent, StoredEvent},
        principal::Scope,
    },
    error::Result,
    store::{OutboxStore, OutboxTx},
};
use async_trait::async_trait;
use sqlx::{QueryBuilder, Sqlite};
use uuid::Uuid;

#[async_trait]
impl OutboxStore for SqliteStore {
    async fn events_after(
        &self,
        scope: Scope,
        after: i64,
        subscription_id: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<StoredEvent>> {
        let mut query =
            QueryBuilder::<Sqlite>::new("SELECT seq, payload, created_at FROM events WHERE seq > ");
        query.push_bind(after);
        match scope {
            Scope::All => {}
            Scope::Partner(id) => {
                query.push(" AND partner_id = ").push_bind(id.to_string());
            }
            Scope::Account(_) | Scope::Subscription(_) | Scope::Nothing => return Ok(Vec::new()),
        }
        if let Some(id) = subscription_id {
            query
                .push(" AND subscription_id = ")
                .push_bind(id.to_string());
        }
        query.push(" ORDER BY seq LIMIT ").push_bind(limit.max(0));
        let found = query
            .build_query_as::<EventRow>()
            .fetch_all(&self.pool)
            .await?;
        rows::convert(found)
    }

    async fn last_event_seq(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT last FROM event_sequence WHERE id = 1")
                .fetch_one(&self.pool)
                .await?,
        )
    }
}

impl OutboxTx for SqliteUnit {
    fn emit(&mut self, event: NewEvent) {
        self.pending.push(event);
    }
}
