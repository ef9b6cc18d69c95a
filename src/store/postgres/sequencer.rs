//! The event sequencer: the one task in the cluster that numbers the events units of
//! work commit unnumbered (see [`super::outbox`]).
//!
//! Every server runs [`run`]. It opens a connection of its own and asks for a session
//! advisory lock on it (`pg_try_advisory_lock`); whoever holds the lock leads. The leader
//! listens for `tessera_pending` notices and numbers committed batches whenever this
//! process commits, another replica tells it of a commit, or [`POLL_INTERVAL`] passes
//! (a notice may be lost). The others stand by: they ask for the lock again every
//! [`ELECTION_INTERVAL`], and meanwhile pass this process's commits on to the leader
//! with a notice. When the leader dies its connection closes, PostgreSQL releases the
//! lock, and a standby takes over within that interval.
//!
//! Correctness does not rest on the election: numbering passes take turns on the
//! counter row (see [`outbox::number_batches`]), so two leaders for a moment (one cut
//! off that has not noticed yet) only do the work twice over, and a pass cut off half
//! way rolls back whole.
//!
//! Writers send no notice inside their own transaction: a transaction that has sent
//! `NOTIFY` takes one lock of the whole PostgreSQL instance from just before its commit
//! until after it (`PreCommit_Notify`: notices are queued in commit order), so writers
//! would take turns through their commit's flush to disk again. A standby's notice is a
//! transaction of its own that writes nothing else, so it waits for no flush and holds
//! that lock only for a moment, and there is one at a time per process however many
//! commits it stands for. Losing one only delays numbering until the leader's next poll.

use super::{PgStore, commit_notices, lock_key, outbox};
use crate::{
    error::Result,
    store::{CommitListener, EventSequencer},
};
use sqlx::{Connection, PgConnection, postgres::PgPoolOptions};
use std::{
    convert::Infallible,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};
use tokio::{
    sync::{Notify, watch},
    time::Instant,
};

/// The advisory lock whose holder leads.
const LOCK: &str = "tessera:event-sequencer";
/// The channel on which standbys tell the leader of their commits.
const PENDING: &str = "tessera_pending";
/// How often a standby asks for the lock: the longest the cluster goes without a leader
/// after one dies (plus the time PostgreSQL takes to notice a dead connection).
pub(super) const ELECTION_INTERVAL: Duration = Duration::from_secs(1);
/// How often the leader looks for batches nobody told it of.
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Batches numbered per transaction.
const BATCH: i64 = 1000;
/// Waits between attempts after the sequencer's connection failed.
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// What this process knows of the sequencer, shared by a store's clones and its units.
#[derive(Debug)]
pub(super) struct Local {
    /// Sequencer tasks of this store that are running.
    running: AtomicUsize,
    /// Poked after each commit that wrote events while a sequencer runs here, and, while
    /// it leads, on each notice of another replica's commit.
    wake: Arc<Notify>,
    /// Whether this process's sequencer leads.
    leading: watch::Sender<bool>,
}

impl Default for Local {
    fn default() -> Self {
        Self {
            running: AtomicUsize::new(0),
            wake: Arc::new(Notify::new()),
            leading: watch::Sender::new(false),
        }
    }
}

impl Local {
    /// Whether this process's sequencer leads, as it changes.
    #[cfg(test)]
    pub(super) fn leading(&self) -> watch::Receiver<bool> {
        self.leading.subscribe()
    }
}

/// Counts a running sequencer task for as long as it lives.
struct Running(Arc<Local>);

impl Running {
    fn start(local: &Arc<Local>) -> Self {
        local.running.fetch_add(1, Ordering::SeqCst);
        Self(local.clone())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Marks this process as leading for as long as it lives.
struct Leading<'a>(&'a Local);

impl<'a> Leading<'a> {
    fn start(local: &'a Local) -> Self {
        local.leading.send_replace(true);
        tracing::info!("this server now numbers the cluster's events");
        Self(local)
    }
}

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        self.0.leading.send_replace(false);
    }
}

/// After a unit that wrote events committed: pokes this process's sequencer, or, when
/// none runs here, numbers at once, so that whoever committed reads its events next.
/// The unit is committed either way: a failure is logged, and the batch waits.
pub(super) async fn committed(store: &PgStore) {
    if store.sequencer.running.load(Ordering::SeqCst) > 0 {
        store.sequencer.wake.notify_one();
    } else if let Err(error) = number_all(store).await {
        tracing::warn!(%error, "numbering committed events failed; the next numbering takes them");
    }
}

/// Numbers every batch committed so far, on a connection of the pool.
pub(super) async fn number_all(store: &PgStore) -> Result<()> {
    let mut conn = store.pool.acquire().await?;
    drain(&mut conn, store).await
}

/// Numbering passes until one finds fewer batches than it may take; wakes this
/// process's watchers after each pass that numbered events.
async fn drain(conn: &mut PgConnection, store: &PgStore) -> Result<()> {
    loop {
        let numbered = outbox::number_batches(conn, BATCH).await?;
        if numbered.events > 0 {
            store.commits.notify_waiters();
        }
        if numbered.batches < BATCH {
            return Ok(());
        }
    }
}

/// The sequencer task of `store`: takes part in the election until dropped, numbering
/// while elected. Commits in this process leave the numbering to it from the moment it
/// is created, not from its first poll, so that whoever spawns it knows which way the
/// next commit's events go.
pub(super) fn start(store: PgStore) -> EventSequencer {
    start_polling(store, POLL_INTERVAL)
}

/// [`start`], with the leader looking for batches nobody told it of every `poll`.
pub(super) fn start_polling(store: PgStore, poll: Duration) -> EventSequencer {
    let running = Running::start(&store.sequencer);
    Box::pin(async move {
        let _running = running;
        run(store, poll).await
    })
}

/// Takes part in the election forever. A lost connection is re-opened, with a growing
/// pause while that fails.
async fn run(store: PgStore, poll: Duration) {
    let mut retry = RETRY_MIN;
    loop {
        let started = Instant::now();
        let Err(error) = stand(&store, poll).await;
        if started.elapsed() > RETRY_MAX {
            retry = RETRY_MIN;
        }
        tracing::warn!(%error, ?retry, "the event sequencer's connection failed; retrying");
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(RETRY_MAX);
    }
}

/// One connection's worth of candidacy: asks for the lock, leads if granted, stands by
/// otherwise and asks again; returns only when the connection fails.
async fn stand(store: &PgStore, poll: Duration) -> Result<Infallible> {
    let mut conn = PgConnection::connect_with(&store.pool.connect_options()).await?;
    loop {
        let won: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(lock_key(LOCK))
            .fetch_one(&mut conn)
            .await?;
        if won {
            return lead(store, &mut conn, poll).await;
        }
        stand_by(store, &mut conn).await?;
    }
}

/// Until the next election: passes each of this process's commits on to the leader.
/// Pokes that come while a notice is on its way are answered by one more notice.
async fn stand_by(store: &PgStore, conn: &mut PgConnection) -> Result<()> {
    let election = Instant::now() + ELECTION_INTERVAL;
    loop {
        tokio::select! {
            _ = store.sequencer.wake.notified() => {
                sqlx::query("SELECT pg_notify($1, '')")
                    .bind(PENDING)
                    .execute(&mut *conn)
                    .await?;
            }
            _ = tokio::time::sleep_until(election) => return Ok(()),
        }
    }
}

/// Numbers batches on `conn`, which holds the lock, until it fails.
async fn lead(store: &PgStore, conn: &mut PgConnection, poll: Duration) -> Result<Infallible> {
    // Listening starts before the first pass, so no commit falls between the two.
    let _relay = AbortOnDrop(tokio::spawn(listen_for_pending(store).await?));
    let _leading = Leading::start(&store.sequencer);
    loop {
        drain(conn, store).await?;
        tokio::select! {
            _ = store.sequencer.wake.notified() => {}
            _ = tokio::time::sleep(poll) => {}
        }
    }
}

/// The task relaying standbys' notices to this process's sequencer, listening already.
async fn listen_for_pending(store: &PgStore) -> Result<CommitListener> {
    // A pool of one connection of its own, which the listener re-opens if it drops.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
        .connect_with((*store.pool.connect_options()).clone())
        .await?;
    let wake = store.sequencer.wake.clone();
    commit_notices::listen_with(&pool, PENDING, move || wake.notify_one()).await
}

/// A spawned task that ends with its owner.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
