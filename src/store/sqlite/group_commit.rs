//! Group commit. An SQLite file has one writer, and with `synchronous=FULL` every commit
//! waits for the disk, so committing units of work one by one caps writes at the disk's
//! flush rate. Instead, units that queue for the write turn join one transaction, a
//! *batch*: each runs in its own savepoint (a failing one rolls back alone), and the
//! batch commits once, when nobody else is waiting for the turn, when it has
//! [`MAX_MEMBERS`] units, or when it has been open [`MAX_OPEN`]. Each unit's
//! [`commit`](crate::store::UnitOfWork::commit) returns only after the batch's commit is
//! on disk; until then no other connection sees its changes, so nothing is read before
//! it is durable.
//!
//! A unit dropped without committing leaves its savepoint marked abandoned; whoever takes
//! the write turn next rolls it back before doing anything else (a task does, if nobody
//! else comes, and commits what the batch holds). Units waiting for their
//! batch's commit take the turn themselves after [`STRAGGLER_WAIT`], so a batch is
//! committed even when its last unit was abandoned or its next caller went away.

use crate::error::{Error, Result};
use sqlx::{Sqlite, SqliteConnection, SqlitePool, Transaction};
use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};
use tokio::sync::{Mutex, Notify, OwnedMutexGuard, oneshot};

/// Most units in one batch.
const MAX_MEMBERS: usize = 64;
/// Longest a batch stays open while units keep queueing.
const MAX_OPEN: Duration = Duration::from_millis(10);
/// How long a committed unit waits for its batch before committing it itself.
const STRAGGLER_WAIT: Duration = Duration::from_millis(20);

/// The write turn and what it guards.
#[derive(Debug, Default)]
pub(super) struct Writer {
    batch: Option<Batch>,
}

/// The open transaction units join.
#[derive(Debug)]
struct Batch {
    tx: Transaction<'static, Sqlite>,
    /// The units released into it, told of its commit.
    members: Vec<oneshot::Sender<std::result::Result<(), Arc<str>>>>,
    opened: Instant,
    /// A unit's savepoint is still open because the unit was dropped.
    abandoned: bool,
}

/// The savepoint every unit runs in; units take turns, so one name does.
const SAVEPOINT: &str = "SAVEPOINT unit";
const RELEASE: &str = "RELEASE unit";
const ROLL_BACK: &str = "ROLLBACK TO unit";

/// See the module's documentation.
#[derive(Debug)]
pub(super) struct GroupCommit {
    pool: SqlitePool,
    gate: Arc<Mutex<Writer>>,
    /// Callers waiting for the write turn.
    waiting: AtomicUsize,
    /// Woken after every batch's commit, which may have written events.
    commits: Arc<Notify>,
    /// Batches committed so far.
    batches: AtomicU64,
}

/// The write turn of a unit of work, inside its savepoint.
pub(super) type Turn = OwnedMutexGuard<Writer>;

impl GroupCommit {
    pub(super) fn new(pool: SqlitePool, commits: Arc<Notify>) -> Self {
        Self {
            pool,
            gate: Arc::new(Mutex::new(Writer::default())),
            waiting: AtomicUsize::new(0),
            commits,
            batches: AtomicU64::new(0),
        }
    }

    /// Callers waiting for the write turn now.
    #[cfg(test)]
    pub(super) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Batches committed so far.
    #[cfg(test)]
    pub(super) fn batches(&self) -> u64 {
        self.batches.load(Ordering::SeqCst)
    }

    /// The write turn, counted among the waiting while it is awaited.
    async fn turn(&self) -> Turn {
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&self.waiting);
        self.gate.clone().lock_owned().await
    }

    /// The write turn for a unit of work: in the open batch (or a new one), inside the
    /// unit's own savepoint.
    pub(super) async fn join(&self) -> Result<Turn> {
        let mut turn = self.turn().await;
        settle_abandoned(&mut turn).await;
        if turn.batch.is_none() {
            turn.batch = Some(Batch {
                tx: self.pool.begin_with("BEGIN IMMEDIATE").await?,
                members: Vec::new(),
                opened: Instant::now(),
                abandoned: false,
            });
        }
        if let Err(error) = sqlx::query(SAVEPOINT).execute(conn(&mut turn)).await {
            abort(&mut turn, &error).await;
            return Err(error.into());
        }
        Ok(turn)
    }

    /// The write turn for a write outside any unit of work: any open batch is committed
    /// first, as its transaction holds the database's write lock.
    pub(super) async fn solo(&self) -> Turn {
        let mut turn = self.turn().await;
        self.commit_batch(&mut turn).await;
        turn
    }

    /// Ends a unit whose work is done: releases its savepoint into the batch, commits
    /// the batch if it is time, gives up the turn and waits until the batch's commit is
    /// on disk. Errors: the release's or the commit's.
    pub(super) async fn commit(self: &Arc<Self>, mut turn: Turn) -> Result<()> {
        if let Err(error) = sqlx::query(RELEASE).execute(conn(&mut turn)).await {
            self.abandon(&mut turn);
            return Err(error.into());
        }
        let (told, outcome) = oneshot::channel();
        let batch = turn.batch.as_mut().expect("a unit's turn has a batch");
        batch.members.push(told);
        let due = self.waiting.load(Ordering::SeqCst) == 0
            || batch.members.len() >= MAX_MEMBERS
            || batch.opened.elapsed() >= MAX_OPEN;
        if due {
            self.commit_batch(&mut turn).await;
        }
        drop(turn);
        self.await_commit(outcome).await
    }

    /// Waits for the batch's commit, committing it itself if nobody else does soon.
    async fn await_commit(
        &self,
        mut outcome: oneshot::Receiver<std::result::Result<(), Arc<str>>>,
    ) -> Result<()> {
        loop {
            tokio::select! {
                told = &mut outcome => {
                    return match told {
                        Ok(Ok(())) => Ok(()),
                        Ok(Err(message)) => Err(Error::Internal(format!(
                            "committing the group of writes: {message}"
                        ))),
                        Err(_) => Err(Error::Internal(
                            "the group of writes was abandoned before its commit".to_owned(),
                        )),
                    };
                }
                _ = tokio::time::sleep(STRAGGLER_WAIT) => {
                    let mut turn = self.turn().await;
                    self.commit_batch(&mut turn).await;
                }
            }
        }
    }

    /// Called as a unit is dropped holding `turn`: marks its savepoint abandoned and,
    /// once the turn is free, rolls it back and commits what the batch holds, so that no
    /// transaction stays open holding the database's write lock (another process, or
    /// closing the pool, would wait for it).
    pub(super) fn abandon(self: &Arc<Self>, turn: &mut Turn) {
        if let Some(batch) = turn.batch.as_mut() {
            batch.abandoned = true;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let writer = self.clone();
            runtime.spawn(async move {
                let mut turn = writer.turn().await;
                writer.commit_batch(&mut turn).await;
            });
        }
    }

    /// Commits the open batch, if any, and tells its units.
    pub(super) async fn commit_batch(&self, turn: &mut Turn) {
        settle_abandoned(turn).await;
        let Some(batch) = turn.batch.take() else {
            return;
        };
        let outcome = batch
            .tx
            .commit()
            .await
            .map_err(|error| Arc::<str>::from(error.to_string()));
        self.batches.fetch_add(1, Ordering::SeqCst);
        for member in batch.members {
            let _ = member.send(outcome.clone());
        }
        self.commits.notify_waiters();
    }
}

/// The batch's connection.
pub(super) fn conn(turn: &mut Turn) -> &mut SqliteConnection {
    &mut turn.batch.as_mut().expect("a unit's turn has a batch").tx
}

/// Rolls back an abandoned unit's savepoint; if that fails, the whole batch.
async fn settle_abandoned(turn: &mut Turn) {
    let Some(batch) = turn.batch.as_mut().filter(|batch| batch.abandoned) else {
        return;
    };
    batch.abandoned = false;
    let rolled_back = async {
        sqlx::query(ROLL_BACK).execute(&mut *batch.tx).await?;
        sqlx::query(RELEASE).execute(&mut *batch.tx).await
    }
    .await;
    if let Err(error) = rolled_back {
        abort(turn, &error).await;
    }
}

/// Rolls back the whole batch after `error` left it unusable; its units are told.
async fn abort(turn: &mut Turn, error: &sqlx::Error) {
    let Some(batch) = turn.batch.take() else {
        return;
    };
    tracing::error!(%error, units = batch.members.len(), "a group of writes was rolled back");
    let _ = batch.tx.rollback().await;
    let message = Arc::<str>::from(error.to_string());
    for member in batch.members {
        let _ = member.send(Err(message.clone()));
    }
}
