//! The event outbox. Mutations emit events on their [`WriteTx`]; at commit the
//! transaction takes the sequence counter's row lock, numbers its events and writes
//! them, so sequence order is commit order and a reader never skips a late commit.

use super::{Store, WriteTx};
use crate::{
    domain::{
        access::Access,
        clock::{from_micros, to_micros},
        event::{Actor, Event, EventFilter, EventType},
        seat::Seat,
        subscription::Subscription,
    },
    error::{Error, Result},
};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::{collections::BTreeMap, sync::Arc};
use tokio::sync::Notify;

/// An event waiting for its transaction to commit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct PendingEvent {
    event_type: EventType,
    actor: Actor,
    request_id: Option<String>,
    subscription: Subscription,
    seat: Option<Seat>,
    details: BTreeMap<String, String>,
}

impl WriteTx {
    /// Records that `event_type` happened to `subscription` (in its state after the
    /// change), written if and when this transaction commits.
    pub(super) fn emit(
        &mut self,
        event_type: EventType,
        subscription: &Subscription,
        seat: Option<&Seat>,
        details: &[(&str, String)],
    ) {
        let actor = match self.author {
            Some(access) => Actor::of(access, subscription.account_id),
            None => Actor::system(),
        };
        self.pending.push(PendingEvent {
            event_type,
            actor,
            request_id: self.request_id.clone(),
            subscription: subscription.clone(),
            seat: seat.cloned(),
            details: details
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        });
    }

    /// Writes the pending events and commits.
    pub(super) async fn commit(mut self) -> Result<()> {
        let pending = std::mem::take(&mut self.pending);
        if !pending.is_empty() {
            let last: i64 = sqlx::query_scalar(
                "UPDATE event_sequence SET last = last + $1 WHERE id = 1 RETURNING last",
            )
            .bind(pending.len() as i64)
            .fetch_one(self.conn())
            .await?;
            let first = last - pending.len() as i64 + 1;
            let now = to_micros(self.now);
            for (offset, event) in pending.iter().enumerate() {
                let payload = serde_json::to_string(event)
                    .map_err(|e| Error::Internal(format!("encoding event: {e}")))?;
                sqlx::query(
                    "INSERT INTO events (seq, event_type, subscription_id, partner_id, account_id, \
                     payload, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(first + offset as i64)
                .bind(event.event_type.as_str())
                .bind(event.subscription.id.to_string())
                .bind(event.subscription.partner_id.map(|id| id.to_string()))
                .bind(event.subscription.account_id.map(|id| id.to_string()))
                .bind(payload)
                .bind(now)
                .execute(self.conn())
                .await?;
            }
            self.announce_commit().await?;
        }
        let notify = self.events_committed.clone();
        self.tx.commit().await?;
        if !pending.is_empty() {
            notify.notify_waiters();
        }
        Ok(())
    }
}

impl Store {
    /// Woken after every commit that wrote events.
    pub fn event_notifier(&self) -> Arc<Notify> {
        self.events_committed.clone()
    }

    /// The committed events after `filter.after_seq` that `access` may see, in sequence
    /// order, from a scan of at most `limit` rows: the admin sees all, a partner the
    /// events of its subscriptions. Also returns the last sequence number scanned, from
    /// which the next call continues.
    pub async fn events_after(
        &self,
        access: Access,
        filter: &EventFilter,
        limit: i64,
    ) -> Result<(Vec<Event>, i64)> {
        let partner = match access {
            Access::Admin => String::new(),
            Access::Partner(id) => id.to_string(),
            _ => return Err(Error::NotFound("event")),
        };
        let rows = sqlx::query(
            "SELECT seq, payload, created_at FROM events WHERE seq > $1 \
             AND ($2 = '' OR partner_id = $2) AND ($3 = '' OR subscription_id = $3) \
             ORDER BY seq LIMIT $4",
        )
        .bind(filter.after_seq)
        .bind(partner)
        .bind(
            filter
                .subscription_id
                .map(|id| id.to_string())
                .unwrap_or_default(),
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut events = Vec::with_capacity(rows.len());
        let mut scanned_to = filter.after_seq;
        for row in rows {
            scanned_to = row.try_get("seq")?;
            let payload: String = row.try_get("payload")?;
            let pending: PendingEvent = serde_json::from_str(&payload)
                .map_err(|e| Error::Internal(format!("decoding event: {e}")))?;
            if !filter.types.is_empty() && !filter.types.contains(&pending.event_type) {
                continue;
            }
            events.push(Event {
                seq: scanned_to,
                event_type: pending.event_type,
                actor: pending.actor,
                request_id: pending.request_id,
                subscription: pending.subscription,
                seat: pending.seat,
                details: pending.details,
                created_at: from_micros(row.try_get("created_at")?),
            });
        }
        Ok((events, scanned_to))
    }

    /// The highest committed sequence number.
    pub async fn last_event_seq(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT last FROM event_sequence WHERE id = 1")
                .fetch_one(&self.pool)
                .await?,
        )
    }
}
