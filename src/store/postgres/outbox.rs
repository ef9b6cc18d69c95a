//! The event outbox. Events emitted on a unit of work wait in memory; at commit the unit
//! writes them unnumbered, as one row of `event_batches`, taking no lock any other unit
//! waits for. Committed batches are then numbered in batch order by [`number_batches`]:
//! the cluster's sequencer calls it (see [`super::sequencer`]), or the committing unit
//! itself when no sequencer runs in its process. Readers see only numbered events.

use super::{PgStore, PgUnit, commit_notices, rows::EventRow, sequencer};
use crate::{
    domain::{
        event::{NewEvent, StoredEvent},
        principal::Scope,
    },
    error::Result,
    store::{EventSequencer, OutboxStore, OutboxTx, records},
};
use async_trait::async_trait;
use sqlx::{Acquire, PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

impl OutboxTx for PgUnit {
    fn emit(&mut self, event: NewEvent) {
        self.pending.push(event);
    }
}

impl PgUnit {
    /// Writes the events emitted so far as one unnumbered batch, if there are any; the
    /// caller commits right after. The batch's id, taken now, after every lock the unit
    /// holds, orders it after the batches of every unit that committed before.
    pub(super) async fn write_pending_events(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.pending)
            .iter()
            .map(|event| records::event_row(&self.context, event))
            .collect::<Result<Vec<_>>>()?;
        let types: Vec<&str> = rows.iter().map(|r| r.event_type).collect();
        let subscriptions: Vec<Uuid> = rows.iter().map(|r| r.subscription_id).collect();
        let partners: Vec<Option<Uuid>> = rows.iter().map(|r| r.partner_id).collect();
        let accounts: Vec<Option<Uuid>> = rows.iter().map(|r| r.account_id).collect();
        let payloads: Vec<&str> = rows.iter().map(|r| r.payload.as_str()).collect();
        let now = self.context.now;
        sqlx::query(
            "INSERT INTO event_batches (created_at, event_types, subscription_ids, \
             partner_ids, account_ids, payloads) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(now)
        .bind(types)
        .bind(subscriptions)
        .bind(partners)
        .bind(accounts)
        .bind(payloads)
        .execute(self.conn())
        .await?;
        self.wrote_events = true;
        Ok(())
    }
}

/// What one numbering pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Numbered {
    /// Batches taken (at most the pass's limit).
    pub batches: i64,
    /// Events numbered.
    pub events: i64,
}

/// Numbers up to `limit` committed batches, oldest first, in one transaction on `conn`:
/// their events get the sequence numbers after `event_sequence.last`, batch after batch,
/// each batch's in the order emitted, and move into `events`. The counter's row lock
/// makes passes (and replicas of earlier versions, which number their own events under
/// it) take turns, so numbers never repeat and each pass's events become visible after
/// the previous pass's, whoever runs it: the election decides only who does the work.
/// Sends the commit notice when it numbered anything.
pub(super) async fn number_batches(conn: &mut PgConnection, limit: i64) -> Result<Numbered> {
    // An idle sequencer's wake-ups (and a commit whose batch a pass already took) cost
    // one read, not a write of the counter row.
    let waiting: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM event_batches)")
        .fetch_one(&mut *conn)
        .await?;
    if !waiting {
        return Ok(Numbered {
            batches: 0,
            events: 0,
        });
    }
    let mut tx = conn.begin().await?;
    let last: i64 = sqlx::query_scalar("SELECT last FROM event_sequence WHERE id = 1 FOR UPDATE")
        .fetch_one(&mut *tx)
        .await?;
    // Read committed: this statement's snapshot is taken after the lock was granted, so
    // it sees every batch that a pass before it left behind.
    let (batches, events): (i64, i64) = sqlx::query_as(
        "WITH taken AS ( \
             DELETE FROM event_batches WHERE id IN \
                 (SELECT id FROM event_batches ORDER BY id LIMIT $2) \
             RETURNING * \
         ), numbered AS ( \
             INSERT INTO events (seq, event_type, subscription_id, partner_id, account_id, \
                 payload, created_at) \
             SELECT $1 + row_number() OVER (ORDER BY t.id, e.n), e.event_type, \
                 e.subscription_id, e.partner_id, e.account_id, e.payload, t.created_at \
             FROM taken t, UNNEST(t.event_types, t.subscription_ids, t.partner_ids, \
                 t.account_ids, t.payloads) WITH ORDINALITY \
                 AS e (event_type, subscription_id, partner_id, account_id, payload, n) \
             RETURNING 1 \
         ) \
         SELECT (SELECT count(*) FROM taken), (SELECT count(*) FROM numbered)",
    )
    .bind(last)
    .bind(limit)
    .fetch_one(&mut *tx)
    .await?;
    if events > 0 {
        sqlx::query("UPDATE event_sequence SET last = $1 WHERE id = 1")
            .bind(last + events)
            .execute(&mut *tx)
            .await?;
        commit_notices::announce(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(Numbered { batches, events })
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

    async fn event_sequencer(&self) -> Result<Option<EventSequencer>> {
        Ok(Some(sequencer::start(self.clone())))
    }

    async fn number_pending_events(&self) -> Result<()> {
        sequencer::number_all(self).await
    }
}
