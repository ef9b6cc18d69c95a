//! The event outbox. Events emitted on a unit of work wait in memory; at commit the
//! unit takes the sequence counter's row lock, numbers its events and writes them, so
//! sequence order is commit order and a reader never skips a late commit.

use super::{PgStore, PgUnit, commit_notices, rows::EventRow};
use crate::{
    domain::{
        event::{NewEvent, StoredEvent},
        principal::Scope,
    },
    error::Result,
    store::{OutboxStore, OutboxTx, records},
};
use async_trait::async_trait;
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

impl OutboxTx for PgUnit {
    fn emit(&mut self, event: NewEvent) {
        self.pending.push(event);
    }
}

impl PgUnit {
    /// Writes the pending events, numbered after the last committed ones, and the
    /// commit notice; the caller commits right after. The counter row stays locked
    /// until then, so units number their events in the order they commit.
    pub(super) async fn write_pending_events(&mut self) -> Result<()> {
        // Encode first: the counter's lock is held only for the two statements below.
        let rows = self
            .pending
            .iter()
            .map(|event| records::event_row(&self.context, event))
            .collect::<Result<Vec<_>>>()?;
        let count = rows.len() as i64;
        let last: i64 = sqlx::query_scalar(
            "UPDATE event_sequence SET last = last + $1 WHERE id = 1 RETURNING last",
        )
        .bind(count)
        .fetch_one(self.conn())
        .await?;
        let first = last - count + 1;
        let seqs: Vec<i64> = (first..=last).collect();
        let types: Vec<&str> = rows.iter().map(|r| r.event_type).collect();
        let subscriptions: Vec<Uuid> = rows.iter().map(|r| r.subscription_id).collect();
        let partners: Vec<Option<Uuid>> = rows.iter().map(|r| r.partner_id).collect();
        let accounts: Vec<Option<Uuid>> = rows.iter().map(|r| r.account_id).collect();
        let payloads: Vec<&str> = rows.iter().map(|r| r.payload.as_str()).collect();
        let now = self.context.now;
        sqlx::query(
            "INSERT INTO events (seq, event_type, subscription_id, partner_id, account_id, \
             payload, created_at) \
             SELECT seq, event_type, subscription_id, partner_id, account_id, payload, $7 \
             FROM UNNEST($1::bigint[], $2::text[], $3::uuid[], $4::uuid[], $5::uuid[], \
             $6::text[]) AS e (seq, event_type, subscription_id, partner_id, account_id, payload)",
        )
        .bind(seqs)
        .bind(types)
        .bind(subscriptions)
        .bind(partners)
        .bind(accounts)
        .bind(payloads)
        .bind(now)
        .execute(self.conn())
        .await?;
        commit_notices::announce(self.conn()).await
    }
}

#[async_trait]
impl OutboxStore for PgStore {
    async fn events_after(
        &self,
        scope: Scope,
        after: i64,
        subscription_id: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<StoredEvent>> {
        let mut query: QueryBuilder<Postgres> =
            QueryBuilder::new("SELECT seq, payload, created_at FROM events WHERE seq > ");
        query.push_bind(after);
        match scope {
            Scope::All => {}
            Scope::Partner(id) => {
                query.push(" AND partner_id = ").push_bind(id);
            }
            Scope::Account(_) | Scope::Subscription(_) | Scope::Nothing => return Ok(Vec::new()),
        }
        if let Some(id) = subscription_id {
            query.push(" AND subscription_id = ").push_bind(id);
        }
        query.push(" ORDER BY seq LIMIT ").push_bind(limit);
        let rows = query
            .build_query_as::<EventRow>()
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(StoredEvent::from).collect())
    }

    async fn last_event_seq(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT last FROM event_sequence WHERE id = 1")
                .fetch_one(&self.pool)
                .await?,
        )
    }
}
