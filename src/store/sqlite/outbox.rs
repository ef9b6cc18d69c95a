//! The event outbox. Events emitted on a unit of work wait in it and are numbered and
//! written by [`UnitOfWork::commit`](crate::store::UnitOfWork::commit) (see `mod.rs`),
//! under the write lock, so sequence order is commit order without gaps. One process
//! owns the file and writes one unit at a time, so this lock serialises nothing that is
//! not serialised already: SQLite needs no sequencer.

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
    store::{EventSequencer, OutboxStore, OutboxTx},
};
use async_trait::async_trait;
use sqlx::{QueryBuilder, Sqlite};
use uuid::Uuid;

/// `events_after`'s query, after `prefix` (`EXPLAIN QUERY PLAN ` in tests); `None` when
/// the scope sees no events.
pub(super) fn select_events(
    prefix: &str,
    scope: Scope,
    after: i64,
    subscription_id: Option<Uuid>,
    limit: i64,
) -> Option<QueryBuilder<Sqlite>> {
    let mut query = QueryBuilder::<Sqlite>::new(prefix);
    query
        .push("SELECT seq, payload, created_at FROM events WHERE seq > ")
        .push_bind(after);
    match scope {
        Scope::All => {}
        // With a subscription too, its index (a few rows) beats the partner's (all the
        // partner's events), but SQLite, without statistics, cannot tell: the unary `+`
        // keeps it from using the partner's.
        Scope::Partner(id) if subscription_id.is_some() => {
            query.push(" AND +partner_id = ").push_bind(id.to_string());
        }
        Scope::Partner(id) => {
            query.push(" AND partner_id = ").push_bind(id.to_string());
        }
        Scope::Account(_) | Scope::Subscription(_) | Scope::Nothing => return None,
    }
    if let Some(id) = subscription_id {
        query
            .push(" AND subscription_id = ")
            .push_bind(id.to_string());
    }
    query.push(" ORDER BY seq LIMIT ").push_bind(limit.max(0));
    Some(query)
}

#[async_trait]
impl OutboxStore for SqliteStore {
    async fn events_after(
        &self,
        scope: Scope,
        after: i64,
        subscription_id: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<StoredEvent>> {
        let Some(mut query) = select_events("", scope, after, subscription_id, limit) else {
            return Ok(Vec::new());
        };
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

    async fn event_sequencer(&self) -> Result<Option<EventSequencer>> {
        Ok(None)
    }

    async fn number_pending_events(&self) -> Result<()> {
        Ok(())
    }
}

impl OutboxTx for SqliteUnit {
    fn emit(&mut self, event: NewEvent) {
        self.pending.push(event);
    }
}
