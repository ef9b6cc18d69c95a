//! Commits made by other replicas. On PostgreSQL every transaction that writes events
//! also sends `NOTIFY`, which the database delivers only if and when it commits; each
//! server `LISTEN`s on one connection and wakes its watchers, so a watcher on one
//! replica sees another replica's commit at once. Watchers still poll now and then, in
//! case notices are lost (a dropped connection, a pooler that does not pass them on).

use super::{Backend, Store, WriteTx};
use crate::error::Result;
use sqlx::{Executor, postgres::PgListener};
use std::{sync::Arc, time::Duration};
use tokio::sync::Notify;

/// The notification channel; the notice carries no payload, the events table has it all.
const CHANNEL: &str = "tessera_events";
/// The notice, on [`CHANNEL`].
const NOTICE: &str = "NOTIFY tessera_events";
/// Waits between attempts to reach the database after the listening connection failed.
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

impl WriteTx {
    /// Tells the other replicas, once this transaction commits, that it wrote events.
    pub(super) async fn announce_commit(&mut self) -> Result<()> {
        if self.backend == Backend::Postgres {
            self.conn().execute(NOTICE).await?;
        }
        Ok(())
    }
}

/// Listens for commit notices and wakes this server's watchers for each.
pub struct CommitListener {
    listener: PgListener,
    wake: Arc<Notify>,
}

impl Store {
    /// On PostgreSQL, a listener for other replicas' commits; `None` on SQLite, where
    /// one server owns the file. `database_url` is the one the store was opened with.
    pub async fn listen_for_commits(&self, database_url: &str) -> Result<Option<CommitListener>> {
        if self.backend != Backend::Postgres {
            return Ok(None);
        }
        let mut listener = PgListener::connect(database_url).await?;
        listener.listen(CHANNEL).await?;
        Ok(Some(CommitListener {
            listener,
            wake: self.events_committed.clone(),
        }))
    }
}

impl CommitListener {
    /// Relays notices until the task is dropped. A lost connection is re-opened (the
    /// listener re-subscribes), and watchers are woken then too, as notices sent
    /// meanwhile are gone.
    pub async fn run(mut self) {
        let mut retry = RETRY_MIN;
        loop {
            match self.listener.try_recv().await {
                Ok(Some(_)) => {
                    retry = RETRY_MIN;
                    self.wake.notify_waiters();
                }
                Ok(None) => {
                    tracing::warn!("the commit-notice connection closed; re-opening it");
                    self.wake.notify_waiters();
                }
                Err(error) => {
                    tracing::warn!(%error, ?retry, "listening for commit notices failed; retrying");
                    tokio::time::sleep(retry).await;
                    retry = (retry * 2).min(RETRY_MAX);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notice_goes_to_the_channel_listened_on() {
        assert_eq!(NOTICE, format!("NOTIFY {CHANNEL}"));
    }
}
