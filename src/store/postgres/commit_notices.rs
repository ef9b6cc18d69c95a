//! Events numbered by other replicas. Every transaction that numbers events (see
//! `outbox.rs`) also sends `NOTIFY`, which PostgreSQL delivers only if and when it
//! commits; each server `LISTEN`s on one connection and wakes its watchers, so a watcher
//! on one replica sees events another replica numbered at once. Watchers still poll now
//! and then, in case notices are lost (a dropped connection, a pooler that does not pass
//! them on). The sequencer listens the same way for its own channel (`sequencer.rs`).

use crate::{error::Result, store::CommitListener};
use sqlx::{PgConnection, PgPool, postgres::PgListener};
use std::{sync::Arc, time::Duration};
use tokio::sync::Notify;

/// The notification channel; the notice carries no payload, the events table has it all.
const CHANNEL: &str = "tessera_events";
/// The notice, on [`CHANNEL`].
const NOTICE: &str = "NOTIFY tessera_events";
/// Waits between attempts to reach the database after the listening connection failed.
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// Within a transaction that numbered events: tells the other replicas, once it commits.
pub(super) async fn announce(conn: &mut PgConnection) -> Result<()> {
    sqlx::query(NOTICE).execute(conn).await?;
    Ok(())
}

/// Opens the listening connection (failing now if the database cannot be reached) and
/// returns the task relaying its notices to `wake`.
pub(super) async fn listen(database_url: &str, wake: Arc<Notify>) -> Result<CommitListener> {
    let mut listener = PgListener::connect(database_url).await?;
    listener.listen(CHANNEL).await?;
    Ok(Box::pin(relay(listener, CHANNEL, move || {
        wake.notify_waiters()
    })))
}

/// Listens on `channel` on a connection of `pool` (failing now if the database cannot be
/// reached) and returns the task calling `on_notice` for each notice.
pub(super) async fn listen_with(
    pool: &PgPool,
    channel: &'static str,
    on_notice: impl Fn() + Send + 'static,
) -> Result<CommitListener> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(channel).await?;
    Ok(Box::pin(relay(listener, channel, on_notice)))
}

/// Relays notices until the task is dropped. A lost connection is re-opened (the
/// listener re-subscribes), with a growing pause while that fails, and `on_notice` is
/// called then too, as notices sent meanwhile are gone.
async fn relay(mut listener: PgListener, channel: &'static str, on_notice: impl Fn()) {
    let mut retry = RETRY_MIN;
    loop {
        match listener.try_recv().await {
            Ok(Some(_)) => {
                retry = RETRY_MIN;
                on_notice();
            }
            Ok(None) => {
                tracing::warn!(channel, "the notice connection closed; re-opening it");
                on_notice();
            }
            Err(error) => {
                tracing::warn!(%error, ?retry, channel, "listening for notices failed; retrying");
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(RETRY_MAX);
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
