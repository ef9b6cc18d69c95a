//! The store with a read model in front: [`CachedStore`] wraps a backend and serves the
//! reads every authenticated call and every device check-in make — sessions, device
//! tokens, partner keys, a subscription, a seat, an account's subscriptions with a free
//! seat — from memory ([`model`]), and keeps check-in times in memory until the next
//! batch ([`last_seen`]). Everything else passes through.
//!
//! Writes collect the [`change::Change`]s they make ([`unit`]); after a commit this
//! replica drops what they made stale, and on PostgreSQL the other replicas learn them
//! from a `NOTIFY` sent right after the commit (a server that dies in between leaves
//! them stale for at most the model's time to live, ten seconds). On SQLite one server owns the file, so
//! its own commits are all there is (the command line writes only partners and keys,
//! whose entries live one second). On PostgreSQL the model serves from memory only while
//! the listening connection is up.

pub mod change;
mod last_seen;
pub mod model;
mod reads;
mod unit;

use self::{
    change::{ChangeSet, NoticeSink},
    last_seen::LastSeen,
    model::ReadModel,
    unit::CachedUnit,
};
use super::{Backend, CommitListener, PoolUse, Store, UnitOfWork, WriteContext};
use crate::{domain::secret::KeyFingerprint, error::Result};
use async_trait::async_trait;
use std::sync::Arc;
use tokio::sync::Notify;

/// See the module's documentation.
#[derive(Debug)]
pub struct CachedStore {
    inner: Arc<dyn Store>,
    model: Arc<ReadModel>,
    last_seen: Arc<LastSeen>,
}

impl CachedStore {
    /// `inner` with a read model in front. On SQLite the model serves at once; on
    /// PostgreSQL once [`Store::listen_for_commits`] is listening.
    pub fn over(inner: Arc<dyn Store>) -> Self {
        Self::with_capacity(inner, model::DEFAULT_CAPACITY)
    }

    /// [`Self::over`], holding at most `capacity` rows of each kind in memory.
    pub fn with_capacity(inner: Arc<dyn Store>, capacity: u64) -> Self {
        let on = inner.backend() == Backend::Sqlite;
        Self {
            inner,
            model: Arc::new(ReadModel::new(on, capacity)),
            last_seen: Arc::new(LastSeen::default()),
        }
    }

    /// After a write outside a unit of work: drops what it made stale here, and tells
    /// the other replicas.
    async fn changed(&self, change: change::Change) -> Result<()> {
        let changes: ChangeSet = [change].into_iter().collect();
        self.model.invalidate(changes.iter());
        self.inner.announce_changes(&changes).await
    }
}

#[async_trait]
impl Store for CachedStore {
    fn backend(&self) -> Backend {
        self.inner.backend()
    }

    async fn migrate(&self) -> Result<()> {
        self.inner.migrate().await
    }

    async fn close(&self) {
        if let Err(error) = self.flush_last_seen().await {
            tracing::warn!(%error, "last-seen times could not be written at shutdown");
        }
        self.inner.close().await;
    }

    async fn begin(&self, context: WriteContext) -> Result<Box<dyn UnitOfWork>> {
        let inner = self.inner.begin(context).await?;
        Ok(Box::new(CachedUnit::new(
            inner,
            self.inner.clone(),
            self.model.clone(),
            self.last_seen.clone(),
        )))
    }

    async fn server_secret(&self, name: &str) -> Result<Vec<u8>> {
        self.inner.server_secret(name).await
    }

    async fn key_fingerprint(&self, name: &str) -> Result<Option<KeyFingerprint>> {
        self.inner.key_fingerprint(name).await
    }

    async fn record_key_fingerprint(
        &self,
        name: &str,
        fingerprint: &KeyFingerprint,
    ) -> Result<KeyFingerprint> {
        self.inner.record_key_fingerprint(name, fingerprint).await
    }

    fn commits(&self) -> Arc<Notify> {
        self.inner.commits()
    }

    async fn listen_for_commits(
        &self,
        database_url: &str,
        sink: NoticeSink,
    ) -> Result<Option<CommitListener>> {
        let model = self.model.clone();
        let both: NoticeSink = Arc::new(move |notice| {
            model.hear(notice.clone());
            sink(notice);
        });
        self.inner.listen_for_commits(database_url, both).await
    }

    async fn announce_changes(&self, changes: &ChangeSet) -> Result<()> {
        self.inner.announce_changes(changes).await
    }

    async fn ping(&self) -> Result<()> {
        self.inner.ping().await
    }

    fn pool_use(&self) -> PoolUse {
        self.inner.pool_use()
    }

    async fn flush_last_seen(&self) -> Result<()> {
        let batch = self.last_seen.take();
        if batch.is_empty() {
            return Ok(());
        }
        match self.inner.record_last_seen(&batch).await {
            Ok(()) => {
                // The kept seats hold the times from before; the database now has later.
                let written: ChangeSet = batch
                    .iter()
                    .map(|(seat_id, _)| change::Change::Seat(*seat_id))
                    .collect();
                self.model.invalidate(written.iter());
                Ok(())
            }
            Err(error) => {
                self.last_seen.restore(batch);
                Err(error)
            }
        }
    }
}
