//! Commits made by other replicas. PostgreSQL delivers a `NOTIFY` only if and when the
//! transaction that sent it commits; each server `LISTEN`s on one connection.
//!
//! - On [`EVENTS`], a transaction that numbered events (see `outbox.rs`) says so (no
//!   payload: the events table has it all), and watchers on every replica wake at once.
//!   Watchers still poll now and then, in case notices are lost (a dropped connection,
//!   a pooler that does not pass them on).
//! - On [`CHANGES`], a transaction names the rows it changed that replicas keep in
//!   their read model ([`crate::store::cached`]), which drops them. The read model
//!   must not miss one, so it hears when the connection is lost (it stops serving from
//!   memory) and when it is listening again.
//!
//! The event sequencer listens the same way on a channel of its own ([`listen_with`]).

use crate::{
    error::Result,
    store::{
        CommitListener,
        cached::change::{ChangeSet, Notice, NoticeSink},
    },
};
use sqlx::{PgConnection, PgPool, postgres::PgListener};
use std::{sync::Arc, time::Duration};
use tokio::sync::Notify;

/// The channel of commits that wrote events.
const EVENTS: &str = "tessera_events";
/// The notice on [`EVENTS`].
const EVENTS_NOTICE: &str = "NOTIFY tessera_events";
/// The channel of changed rows.
const CHANGES: &str = "tessera_changes";
/// Waits between attempts to reach the database after the listening connection failed.
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// Within a transaction that numbered events: tells the other replicas, once it commits.
pub(super) async fn announce(conn: &mut PgConnection) -> Result<()> {
    sqlx::query(EVENTS_NOTICE).execute(conn).await?;
    Ok(())
}

/// Tells the other replicas about `changes`: within a transaction, once it commits;
/// on a connection outside one, now.
pub(super) async fn announce_changes(conn: &mut PgConnection, changes: &ChangeSet) -> Result<()> {
    for payload in changes.notices() {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANGES)
            .bind(payload)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Opens the listening connection (failing now if the database cannot be reached) and
/// returns the task relaying its notices: commits to `wake`, changes to `sink`.
pub(super) async fn listen(
    database_url: &str,
    wake: Arc<Notify>,
    sink: NoticeSink,
) -> Result<CommitListener> {
    let listener = connect(database_url).await?;
    sink(Notice::Listening);
    Ok(Box::pin(relay(
        listener,
        database_url.to_owned(),
        wake,
        sink,
    )))
}

async fn connect(database_url: &str) -> Result<PgListener> {
    let mut listener = PgListener::connect(database_url).await?;
    listener.listen_all([EVENTS, CHANGES]).await?;
    Ok(listener)
}

/// Relays notices until the task is dropped. A lost connection is re-opened with a
/// growing pause while that fails; watchers are woken and the read model told, since
/// notices sent meanwhile are gone.
async fn relay(
    mut listener: PgListener,
    database_url: String,
    wake: Arc<Notify>,
    sink: NoticeSink,
) {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => {
                if notification.channel() == CHANGES {
                    sink(Notice::parse(notification.payload()));
                } else {
                    wake.notify_waiters();
                }
                continue;
            }
            Ok(None) => tracing::warn!("the commit-notice connection closed; re-opening it"),
            Err(error) => tracing::warn!(%error, "listening for commit notices failed"),
        }
        sink(Notice::Lost);
        wake.notify_waiters();
        listener = reconnect(&database_url).await;
        sink(Notice::Listening);
        wake.notify_waiters();
    }
}

/// A fresh listening connection, retried until the database answers.
async fn reconnect(database_url: &str) -> PgListener {
    let mut retry = RETRY_MIN;
    loop {
        match connect(database_url).await {
            Ok(listener) => return listener,
            Err(error) => {
                tracing::warn!(%error, ?retry, "re-opening the commit-notice connection failed");
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(RETRY_MAX);
            }
        }
    }
}

/// Listens on `channel` on a connection of `pool` (failing now if the database cannot be
/// reached) and returns the task calling `on_notice` for each notice, and when the
/// connection was lost and is back (the listener re-opens it, with a pause while that
/// fails), as notices sent meanwhile are gone.
pub(super) async fn listen_with(
    pool: &PgPool,
    channel: &'static str,
    on_notice: impl Fn() + Send + 'static,
) -> Result<CommitListener> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(channel).await?;
    Ok(Box::pin(async move {
        let mut retry = RETRY_MIN;
        loop {
            match listener.try_recv().await {
                Ok(Some(_)) => retry = RETRY_MIN,
                Ok(None) => tracing::warn!(channel, "the notice connection closed; re-opening it"),
                Err(error) => {
                    tracing::warn!(%error, ?retry, channel, "listening for notices failed");
                    tokio::time::sleep(retry).await;
                    retry = (retry * 2).min(RETRY_MAX);
                }
            }
            on_notice();
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notice_goes_to_the_channel_listened_on() {
        assert_eq!(EVENTS_NOTICE, format!("NOTIFY {EVENTS}"));
    }
}
