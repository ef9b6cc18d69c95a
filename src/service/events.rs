//! Reading the event stream: what a watcher may see after its cursor.

use super::Services;
use crate::{
    domain::{
        event::{Event, EventFilter},
        principal::Principal,
    },
    error::Result,
    store::records,
};
use std::sync::Arc;
use tokio::sync::Notify;

impl Services {
    /// The committed events after `filter.after_seq` that `principal` may see (the admin
    /// all, a partner those of its subscriptions), from a scan of at most `limit`, and
    /// the last sequence number scanned, from which the next call continues.
    pub async fn events_after(
        &self,
        principal: Principal,
        filter: &EventFilter,
        limit: i64,
    ) -> Result<(Vec<Event>, i64)> {
        let stored = self
            .store
            .events_after(
                principal.scope(),
                filter.after_seq,
                filter.subscription_id,
                limit,
            )
            .await?;
        let scanned_to = stored.last().map_or(filter.after_seq, |event| event.seq);
        let mut events = Vec::with_capacity(stored.len());
        for event in &stored {
            let event = records::read_event(event)?;
            if filter.types.is_empty() || filter.types.contains(&event.event_type) {
                events.push(event);
            }
        }
        Ok((events, scanned_to))
    }

    /// Woken after every commit that wrote events (this replica's, and others' on
    /// PostgreSQL).
    pub fn commits(&self) -> Arc<Notify> {
        self.store.commits()
    }
}
