//! The read model: bounded in-memory copies of the rows that authentication and device
//! check-ins read on every call, kept coherent with commits.
//!
//! Coherence. Every entry is dropped when a commit changes its row: at once for this
//! replica's commits, on the commit notice for another replica's (PostgreSQL). A read
//! that raced with such a commit must not put back what it read before the commit, so
//! each fill notes the model's epoch before reading the database and takes its entry
//! back out if any invalidation happened meanwhile (checked after inserting, so an
//! invalidation between the check and the insert cannot be missed). While notices cannot
//! arrive (the listening connection is down) the model is off: nothing is served from
//! memory or filled until it is back, and everything held before is dropped.

use super::change::{Change, Notice};
use crate::{
    domain::{
        partner::{Partner, PartnerKey},
        seat::Seat,
        subscription::Subscription,
    },
    error::Result,
};
use chrono::{DateTime, Utc};
use moka::sync::Cache;
use std::{
    hash::Hash,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering::SeqCst},
    },
    time::Duration,
};
use uuid::Uuid;

/// How many rows of each kind the model holds at most unless configured; the least
/// used go first.
pub const DEFAULT_CAPACITY: u64 = 100_000;
/// A safety net under the notices: no entry lives longer than this. It bounds how
/// stale another replica can be when a server dies between a commit and its notice.
const TIME_TO_LIVE: Duration = Duration::from_secs(10);
/// Partner keys can also be revoked by `tessera partner key revoke`, a separate process
/// that no notice reaches on SQLite: they are re-read at least this often.
const PARTNER_KEY_TIME_TO_LIVE: Duration = Duration::from_secs(1);

/// A device token's seat and that seat's subscription; neither changes for a token
/// except by [`Change::TokensMoved`].
#[derive(Debug, Clone, Copy)]
pub struct DeviceToken {
    /// The seat.
    pub seat_id: Uuid,
    /// Its subscription.
    pub subscription_id: Uuid,
}

/// A session: whose, and until when.
#[derive(Debug, Clone, Copy)]
pub struct CachedSession {
    /// The account.
    pub account_id: Uuid,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// See the module's documentation.
#[derive(Debug)]
pub struct ReadModel {
    on: AtomicBool,
    epoch: AtomicU64,
    pub(super) subscriptions: Cache<Uuid, Arc<Subscription>>,
    pub(super) seats: Cache<Uuid, Arc<Seat>>,
    /// An account's subscriptions that could take another device, by account.
    pub(super) free_seats: Cache<Uuid, Arc<Vec<Subscription>>>,
    pub(super) device_tokens: Cache<String, DeviceToken>,
    pub(super) sessions: Cache<String, CachedSession>,
    pub(super) partner_keys: Cache<String, Arc<(Partner, PartnerKey)>>,
}

fn cache<K, V>(capacity: u64, time_to_live: Duration) -> Cache<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    Cache::builder()
        .max_capacity(capacity)
        .time_to_live(time_to_live)
        .build()
}

impl ReadModel {
    /// An empty model holding at most `capacity` rows of each kind, serving from memory
    /// at once (`on`) or only after [`Notice::Listening`].
    pub fn new(on: bool, capacity: u64) -> Self {
        Self {
            on: AtomicBool::new(on),
            epoch: AtomicU64::new(0),
            subscriptions: cache(capacity, TIME_TO_LIVE),
            seats: cache(capacity, TIME_TO_LIVE),
            free_seats: cache(capacity, TIME_TO_LIVE),
            device_tokens: cache(capacity, TIME_TO_LIVE),
            sessions: cache(capacity, TIME_TO_LIVE),
            partner_keys: cache(capacity, PARTNER_KEY_TIME_TO_LIVE),
        }
    }

    /// Whether entries are served and filled.
    pub fn is_on(&self) -> bool {
        self.on.load(SeqCst)
    }

    /// The cached value of `key`, or the one `load` reads, which is kept unless a
    /// commit invalidated anything while it was read. `None` from `load` (no such row)
    /// is not kept.
    pub async fn read_through<K, V>(
        &self,
        cache: &Cache<K, V>,
        key: K,
        load: impl Future<Output = Result<Option<V>>>,
    ) -> Result<Option<V>>
    where
        K: Hash + Eq + Send + Sync + Clone + 'static,
        V: Clone + Send + Sync + 'static,
    {
        if !self.is_on() {
            return load.await;
        }
        if let Some(hit) = cache.get(&key) {
            return Ok(Some(hit));
        }
        let before = self.epoch.load(SeqCst);
        let loaded = load.await?;
        if let Some(value) = &loaded {
            cache.insert(key.clone(), value.clone());
            if self.epoch.load(SeqCst) != before || !self.is_on() {
                cache.invalidate(&key);
            }
        }
        Ok(loaded)
    }

    /// Drops what `changes` make stale.
    pub fn invalidate<'a>(&self, changes: impl IntoIterator<Item = &'a Change>) {
        // Bump first: a fill that read before the commit sees the bump after inserting.
        self.epoch.fetch_add(1, SeqCst);
        for change in changes {
            match change {
                Change::Subscription(id) => self.subscriptions.invalidate(id),
                Change::Account(id) => self.free_seats.invalidate(id),
                Change::Seat(id) => self.seats.invalidate(id),
                // Rare (a device moved to another subscription): not worth an index.
                Change::TokensMoved(_) => self.device_tokens.invalidate_all(),
                Change::Session(hash) => self.sessions.invalidate(hash),
                Change::Partner(_) => self.partner_keys.invalidate_all(),
            }
        }
    }

    /// Acts on what the listening connection reports.
    pub fn hear(&self, notice: Notice) {
        match notice {
            Notice::Changed(changes) => self.invalidate(&changes),
            Notice::Unreadable => self.clear(),
            Notice::Lost => {
                self.on.store(false, SeqCst);
                self.clear();
            }
            Notice::Listening => {
                // Notices sent before the connection was up are lost: start empty.
                self.clear();
                self.on.store(true, SeqCst);
            }
        }
    }

    /// Drops everything.
    fn clear(&self) {
        self.epoch.fetch_add(1, SeqCst);
        self.subscriptions.invalidate_all();
        self.seats.invalidate_all();
        self.free_seats.invalidate_all();
        self.device_tokens.invalidate_all();
        self.sessions.invalidate_all();
        self.partner_keys.invalidate_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> ReadModel {
        ReadModel::new(true, DEFAULT_CAPACITY)
    }

    #[tokio::test]
    async fn a_read_is_kept_and_served_until_its_row_changes() {
        let model = model();
        let id = Uuid::now_v7();
        let first = model
            .read_through(&model.sessions, "h".to_owned(), async {
                Ok(Some(CachedSession {
                    account_id: id,
                    expires_at: Utc::now(),
                }))
            })
            .await
            .unwrap();
        assert!(first.is_some());
        let served = model
            .read_through(&model.sessions, "h".to_owned(), async {
                panic!("a kept read must not reach the database")
            })
            .await
            .unwrap();
        assert_eq!(served.unwrap().account_id, id);
        model.invalidate(&[Change::Session("h".to_owned())]);
        let reread = model
            .read_through(&model.sessions, "h".to_owned(), async { Ok(None) })
            .await
            .unwrap();
        assert!(reread.is_none());
    }

    #[tokio::test]
    async fn a_read_that_raced_with_a_commit_is_not_kept() {
        let model = model();
        let id = Uuid::now_v7();
        let stale = model
            .read_through(&model.subscriptions, id, async {
                // The commit lands while the old row is being read.
                model.invalidate(&[Change::Subscription(id)]);
                Err(crate::error::Error::NotFound(
                    crate::error::Resource::Subscription,
                ))
            })
            .await;
        assert!(stale.is_err());
        let seat = Uuid::now_v7();
        let value = Arc::new(Seat {
            id: seat,
            subscription_id: Uuid::now_v7(),
            device_id: "d".to_owned(),
            platform: crate::domain::seat::Platform::Android,
            display_name: "Phone".to_owned(),
            activated_at: Utc::now(),
            last_seen_at: Utc::now(),
            deactivated_at: None,
        });
        model
            .read_through(&model.seats, seat, async {
                model.invalidate(&[Change::Seat(seat)]);
                Ok(Some(value.clone()))
            })
            .await
            .unwrap();
        assert!(model.seats.get(&seat).is_none());
    }

    #[tokio::test]
    async fn nothing_is_served_while_notices_cannot_arrive() {
        let model = model();
        model
            .read_through(&model.sessions, "h".to_owned(), async {
                Ok(Some(CachedSession {
                    account_id: Uuid::now_v7(),
                    expires_at: Utc::now(),
                }))
            })
            .await
            .unwrap();
        model.hear(Notice::Lost);
        let read = model
            .read_through(&model.sessions, "h".to_owned(), async { Ok(None) })
            .await
            .unwrap();
        assert!(read.is_none(), "served from memory while deaf");
        model.hear(Notice::Listening);
        assert!(model.is_on());
        assert!(model.sessions.get("h").is_none());
    }
}
