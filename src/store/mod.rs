//! Persistence: per-aggregate traits, one module per backend ([`sqlite`], [`postgres`]),
//! and one conformance suite (`tests/store/`) that every backend passes.
//!
//! The store loads, locks and saves; it decides nothing. The rules live in
//! [`crate::domain`] and the use cases in [`crate::service`]. Reads of customer data take
//! the reader's [`Scope`], which each backend turns into a predicate, so a caller never
//! reads what it may not see. Writes happen in a [`UnitOfWork`]: one transaction that
//! also writes its events (the outbox) and its idempotent answer, so a change, its
//! events and its request id are recorded together or not at all.
//!
//! Error contracts are stated on each method; any method may also fail with
//! [`Error::Storage`](crate::error::Error::Storage) when the database does.

pub mod cached;
pub mod postgres;
pub mod records;
mod rows;
pub mod sqlite;

use crate::{
    domain::{
        account::Account,
        event::{NewEvent, StoredEvent},
        idempotency::{IdempotencyKey, StoredRequest},
        page::{Page, PageRequest},
        partner::{Partner, PartnerKey},
        principal::{Principal, Scope},
        purchase::{StoreKind, StorePurchase},
        redemption::{PartnerCode, ProductKey},
        seat::Seat,
        secret::KeyFingerprint,
        subscription::{DueQuery, Subscription, SubscriptionQuery},
        throttle::AttemptCounter,
    },
    error::{Error, Result},
};
use async_trait::async_trait;
use cached::change::{ChangeSet, NoticeSink};
use chrono::{DateTime, Utc};
use std::{future::Future, pin::Pin, sync::Arc};
use tokio::sync::Notify;
use uuid::Uuid;

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file (the default).
    Sqlite,
    /// A PostgreSQL server (production, several replicas).
    Postgres,
}

impl Backend {
    /// Chooses the backend from a database URL's scheme.
    pub fn of_url(url: &str) -> Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            Err(Error::Internal(format!(
                "unsupported database URL scheme in {url:?}: use sqlite: or postgres://"
            )))
        }
    }
}

/// Connects to the database `url` names (`sqlite:…` or `postgres://…`); an SQLite file
/// is created if missing.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>> {
    connect_with(url, SqliteSync::Full).await
}

/// Whether an SQLite commit waits for the disk. Only benchmarks turn that off (the
/// hidden `--unsafe-sqlite-synchronous-off` setting), to measure what durability costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SqliteSync {
    /// `synchronous=FULL`: an acknowledged write survives a crash or a power failure.
    #[default]
    Full,
    /// `synchronous=OFF`: commits are handed to the operating system without waiting
    /// for the disk. UNSAFE: a power failure or an operating-system crash can lose
    /// acknowledged writes or corrupt the database. For benchmarks only.
    UnsafeOff,
}

/// [`connect`], with SQLite's commits waiting for the disk or not. Errors: `Internal`
/// for [`SqliteSync::UnsafeOff`] on PostgreSQL, which it does not apply to.
pub async fn connect_with(url: &str, sync: SqliteSync) -> Result<Arc<dyn Store>> {
    let opened: Result<Arc<dyn Store>> = match Backend::of_url(url)? {
        Backend::Sqlite => sqlite::SqliteStore::connect_with(url, sync)
            .await
            .map(|store| Arc::new(store) as _),
        Backend::Postgres if sync == SqliteSync::UnsafeOff => {
            return Err(Error::Internal(
                "--unsafe-sqlite-synchronous-off applies to SQLite only, not to PostgreSQL"
                    .to_owned(),
            ));
        }
        Backend::Postgres => postgres::PgStore::connect(url)
            .await
            .map(|store| Arc::new(store) as _),
    };
    opened.map_err(|error| match error {
        Error::Storage(cause) => Error::Internal(format!(
            "cannot open the database {}: {cause}; check --database-url or \
             TESSERA_DATABASE_URL (and that the database server is up, or that the \
             SQLite file's directory exists and is writable)",
            redacted(url)
        )),
        other => other,
    })
}

/// `url` without its password, for messages.
pub fn redacted(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let authority_end = url[scheme_end..]
        .find(['/', '?'])
        .map_or(url.len(), |i| scheme_end + i);
    match url[scheme_end..authority_end].rfind('@') {
        Some(at) => {
            let user_info = &url[scheme_end..scheme_end + at];
            match user_info.find(':') {
                Some(colon) => format!(
                    "{}:***{}",
                    &url[..scheme_end + colon],
                    &url[scheme_end + at..]
                ),
                None => url.to_owned(),
            }
        }
        None => url.to_owned(),
    }
}

/// What to tell the operator when migrations fail, above all when the database was
/// migrated by a newer Tessera: migrations only go forward, so an older binary cannot
/// run on it.
pub(crate) fn migration_error(database: &str, error: sqlx::migrate::MigrateError) -> Error {
    use sqlx::migrate::MigrateError;
    Error::Internal(match error {
        MigrateError::VersionMissing(version) => format!(
            "this {database} database was migrated by a newer Tessera (migration {version}, \
             which this version does not have); run that version or a newer one, or restore \
             a backup taken before the upgrade: migrations only go forward"
        ),
        MigrateError::VersionMismatch(version) => format!(
            "migration {version} of this {database} database differs from this version's: it \
             was migrated by another build of Tessera; run that build, or restore a backup"
        ),
        MigrateError::Dirty(version) => format!(
            "migration {version} of this {database} database was left half-applied; restore \
             a backup taken before it"
        ),
        other => format!("migrating the {database} database: {other}"),
    })
}

/// A task that relays other replicas' commit notices until it is dropped.
pub type CommitListener = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A task that takes part in electing the event sequencer until it is dropped, and
/// numbers committed events while elected (see [`OutboxStore::event_sequencer`]).
pub type EventSequencer = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Who writes, on whose behalf and when: stamped on the events a unit of work emits.
#[derive(Debug, Clone)]
pub struct WriteContext {
    /// The caller; `None` for Tessera itself (the lifecycle worker).
    pub author: Option<Principal>,
    /// The caller's request id, if it sent one.
    pub request_id: Option<String>,
    /// When the change happens, by the server's clock.
    pub now: DateTime<Utc>,
}

/// A database. Reads run on their own; writes run in a [`UnitOfWork`].
#[async_trait]
pub trait Store:
    AccountStore
    + SubscriptionStore
    + SeatStore
    + PartnerStore
    + ThrottleStore
    + OutboxStore
    + IdempotencyStore
    + Send
    + Sync
    + std::fmt::Debug
{
    /// The backend.
    fn backend(&self) -> Backend;

    /// Applies pending migrations. Errors: `Internal` naming the migration that failed,
    /// or a database migrated by a newer version.
    async fn migrate(&self) -> Result<()>;

    /// Closes every connection.
    async fn close(&self);

    /// Begins a unit of work: one write transaction. On SQLite it holds the database's
    /// write lock from the start (writers queue in-process rather than spin); on
    /// PostgreSQL rows are locked as they are read for update. Dropping it without
    /// [`UnitOfWork::commit`] rolls everything back. A task holding a unit of work must
    /// not call a writing method of the store itself (sessions, `record_last_seen`, partners,
    /// purges): on SQLite both wait for the one writer.
    async fn begin(&self, context: WriteContext) -> Result<Box<dyn UnitOfWork>>;

    /// The server secret `name`, created at random on first use. Replicas sharing a
    /// database agree on it: the first writer wins.
    async fn server_secret(&self, name: &str) -> Result<Vec<u8>>;

    /// The fingerprint recorded for the key `name`, if any.
    async fn key_fingerprint(&self, name: &str) -> Result<Option<KeyFingerprint>>;

    /// Records `fingerprint` for the key `name` unless one is recorded already, and
    /// returns the one on record: replicas starting at once agree, the first writer wins.
    async fn record_key_fingerprint(
        &self,
        name: &str,
        fingerprint: &KeyFingerprint,
    ) -> Result<KeyFingerprint>;

    /// Woken after every commit of this process that wrote events, and on notice of
    /// another replica's such commit.
    fn commits(&self) -> Arc<Notify>;

    /// On PostgreSQL, a task relaying other replicas' commit notices to
    /// [`Self::commits`] and their changes to `sink` (which also hears when the
    /// connection is lost and back); `None` on SQLite, where one server owns the file.
    /// `database_url` is the one the store was opened with.
    async fn listen_for_commits(
        &self,
        database_url: &str,
        sink: NoticeSink,
    ) -> Result<Option<CommitListener>>;

    /// Tells the other replicas about `changes`, made by a write outside a unit of work
    /// that has committed. Nothing to do on SQLite.
    async fn announce_changes(&self, changes: &ChangeSet) -> Result<()>;

    /// Writes what is held in memory rather than written at once (devices' last-seen
    /// times; see [`cached`]). Nothing to do for a backend itself.
    async fn flush_last_seen(&self) -> Result<()> {
        Ok(())
    }

    /// Asks the database itself (never a copy in memory) a trivial question: whether it
    /// answers now. The health probe calls it. Errors: `Unavailable` (or `Storage`) when
    /// it does not.
    async fn ping(&self) -> Result<()>;

    /// How the connection pool is used at this moment, for the metrics.
    fn pool_use(&self) -> PoolUse;
}

/// A connection pool's use at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolUse {
    /// Connections open, idle or in use.
    pub open: u32,
    /// Open connections waiting for work.
    pub idle: u32,
    /// The most the pool opens.
    pub max: u32,
}

impl PoolUse {
    /// The use of an sqlx pool.
    pub fn of<DB: sqlx::Database>(pool: &sqlx::Pool<DB>) -> Self {
        Self {
            open: pool.size(),
            idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
            max: pool.options().get_max_connections(),
        }
    }
}

/// One write transaction over every aggregate. Events emitted on it are written with it
/// and numbered once it has committed (see [`OutboxTx::emit`]).
#[async_trait]
pub trait UnitOfWork:
    AccountTx
    + SubscriptionTx
    + SeatTx
    + CodeTx
    + ThrottleTx
    + PurchaseTx
    + OutboxTx
    + IdempotencyTx
    + Send
{
    /// Writes the pending events and commits. When it returns, its events are numbered
    /// and this process's watchers woken, unless an event sequencer runs in this process
    /// ([`OutboxStore::event_sequencer`], PostgreSQL): then the sequencer numbers them
    /// moments later and wakes the watchers itself. A failure to number after the commit
    /// is logged, not returned: the unit is committed, and its events wait for the next
    /// numbering.
    async fn commit(self: Box<Self>) -> Result<()>;
}

/// Accounts and their sessions.
#[async_trait]
pub trait AccountStore {
    /// Creates an account. Errors: `AlreadyExists` (ACCOUNT_EXISTS) when the e-mail is
    /// taken.
    async fn create_account(&self, account: &Account, password_hash: &str) -> Result<()>;

    /// The id and password hash of the account with `email` (lower-cased), if any.
    async fn account_credentials(&self, email: &str) -> Result<Option<(Uuid, String)>>;

    /// The account `id` with its linked identities (oldest first), if `scope` lets the
    /// reader see it: [`Scope::All`], or [`Scope::Account`] of that very account.
    /// Errors: `NotFound` (Account) otherwise, or when it does not exist.
    async fn account(&self, scope: Scope, id: Uuid) -> Result<Account>;

    /// Starts a session for `account_id`, valid until `expires_at`.
    async fn create_session(
        &self,
        token_hash: &str,
        account_id: Uuid,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<()>;

    /// The account of a session and when the session expires (it may have already;
    /// the caller compares with its clock).
    async fn session(&self, token_hash: &str) -> Result<Option<(Uuid, DateTime<Utc>)>>;

    /// Ends a session; ending an unknown one does nothing.
    async fn delete_session(&self, token_hash: &str) -> Result<()>;
}

/// Accounts, within a unit of work.
#[async_trait]
pub trait AccountTx {
    /// Links a partner's customer reference to an account; linking twice does nothing.
    async fn link_identity(
        &mut self,
        account_id: Uuid,
        partner_id: Uuid,
        reference: &str,
        now: DateTime<Utc>,
    ) -> Result<()>;
}

/// Subscriptions, read.
#[async_trait]
pub trait SubscriptionStore {
    /// The subscription `id`, if `scope` lets the reader see it.
    /// Errors: `NotFound` (Subscription) otherwise, or when it does not exist.
    async fn subscription(&self, scope: Scope, id: Uuid) -> Result<Subscription>;

    /// The subscriptions matching `query` that `scope` lets the reader see, newest first
    /// (creation time, then id, both descending), one page.
    async fn list_subscriptions(
        &self,
        scope: Scope,
        query: &SubscriptionQuery,
        page: &PageRequest,
    ) -> Result<Page<Subscription>>;

    /// Every subscription of `account_id` that `scope` lets the reader see, newest first.
    async fn account_subscriptions(
        &self,
        scope: Scope,
        account_id: Uuid,
    ) -> Result<Vec<Subscription>>;

    /// The subscriptions of `account_id` that `scope` lets the reader see and that may
    /// take another device — TRIAL or ACTIVE with a free seat, the ones
    /// [`Subscription::admits_seat`] admits — longest-running first (term end
    /// descending, then id). Written out so that a device's check-in reads only these,
    /// however many subscriptions the account has; the conformance suite checks the set
    /// against the rule.
    async fn subscriptions_with_free_seat(
        &self,
        scope: Scope,
        account_id: Uuid,
    ) -> Result<Vec<Subscription>>;
}

/// Subscriptions, within a unit of work.
#[async_trait]
pub trait SubscriptionTx {
    /// The subscription `id` if `scope` lets the writer see it, locked until commit.
    /// Errors: `NotFound` (Subscription) otherwise, or when it does not exist.
    async fn lock_subscription(&mut self, scope: Scope, id: Uuid) -> Result<Subscription>;

    /// Inserts a new subscription.
    async fn insert_subscription(&mut self, subscription: &Subscription) -> Result<()>;

    /// Writes back every mutable field of a locked subscription (plan, seat limit,
    /// active seats, status, owner, term, flags, partner reference, update time). The
    /// database refuses more active seats than the limit (`seats_within_limit`).
    async fn save_subscription(&mut self, subscription: &Subscription) -> Result<()>;

    /// Claims at most `limit` subscriptions that [`DueQuery`] selects, oldest term end
    /// first, locked until commit; on PostgreSQL rows another transaction has claimed
    /// are skipped, so replicas share the work.
    async fn claim_due(&mut self, due: &DueQuery, limit: i64) -> Result<Vec<Subscription>>;
}

/// Seats and device tokens, read.
#[async_trait]
pub trait SeatStore {
    /// The seats of subscription `subscription_id`, oldest activation first (then id),
    /// one page; deactivated ones only with `include_deactivated`.
    /// Errors: `NotFound` (Subscription) when `scope` does not let the reader see the
    /// subscription, or it does not exist.
    async fn list_seats(
        &self,
        scope: Scope,
        subscription_id: Uuid,
        include_deactivated: bool,
        page: &PageRequest,
    ) -> Result<Page<Seat>>;

    /// The seat `seat_id` of subscription `subscription_id`, active or not.
    /// Errors: `NotFound` (Seat) when `scope` does not let the reader see the
    /// subscription, or the seat does not exist there.
    async fn seat(&self, scope: Scope, subscription_id: Uuid, seat_id: Uuid) -> Result<Seat>;

    /// The principal behind a device token, if the token is known: its seat, the seat's
    /// subscription, and whether the seat is still held.
    async fn device_principal(&self, token_hash: &str) -> Result<Option<Principal>>;

    /// Records when the devices of active seats last checked in, in one transaction,
    /// outside any unit of work: a seat's time only moves forward, and a freed seat's
    /// is left alone. The read model calls it in batches (see [`cached`]).
    async fn record_last_seen(&self, seen: &[(Uuid, DateTime<Utc>)]) -> Result<()>;
}

/// Seats and device tokens, within a unit of work.
#[async_trait]
pub trait SeatTx {
    /// The active seats of a (locked) subscription, oldest activation first.
    async fn active_seats(&mut self, subscription_id: Uuid) -> Result<Vec<Seat>>;

    /// The seat `seat_id` of subscription `subscription_id`, active or not.
    /// Errors: `NotFound` (Seat).
    async fn seat_in(&mut self, subscription_id: Uuid, seat_id: Uuid) -> Result<Seat>;

    /// Inserts a new seat. The database refuses a second active seat of one device on one
    /// subscription (`seats_one_active_per_device`).
    async fn insert_seat(&mut self, seat: &Seat) -> Result<()>;

    /// Writes back a seat's deactivation and last-seen times.
    async fn save_seat(&mut self, seat: &Seat) -> Result<()>;

    /// Stores the hash of a new device token for a seat.
    async fn insert_device_token(
        &mut self,
        token_hash: &str,
        seat_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<()>;

    /// Points every device token of seat `from` at seat `to` (the device moved).
    async fn move_device_tokens(&mut self, from: Uuid, to: Uuid) -> Result<()>;
}

/// Partners and their API keys. Partners are not customer data: who may see one is
/// [`Principal::sees_partner`], checked by the use case.
#[async_trait]
pub trait PartnerStore {
    /// Registers a partner. Errors: `AlreadyExists` (PARTNER_EXISTS) for a taken name.
    async fn create_partner(&self, partner: &Partner) -> Result<()>;

    /// The partner `id`, if it exists.
    async fn partner(&self, id: Uuid) -> Result<Option<Partner>>;

    /// The partner named `display_name`, if any.
    async fn partner_by_name(&self, display_name: &str) -> Result<Option<Partner>>;

    /// Partners by display name, one page.
    async fn list_partners(&self, page: &PageRequest) -> Result<Page<Partner>>;

    /// Writes back a partner's display name and status. Errors: `NotFound` (Partner);
    /// `AlreadyExists` (PARTNER_EXISTS) when another partner has the name.
    async fn save_partner(&self, partner: &Partner) -> Result<()>;

    /// Stores a new API key's record and the hash of its secret.
    async fn create_partner_key(&self, key: &PartnerKey, key_hash: &str) -> Result<()>;

    /// The key `key_id` of partner `partner_id`, if it exists.
    async fn partner_key(&self, partner_id: Uuid, key_id: Uuid) -> Result<Option<PartnerKey>>;

    /// Every key of partner `partner_id`, revoked ones too, oldest first (then by id);
    /// none for an unknown partner.
    async fn partner_keys(&self, partner_id: Uuid) -> Result<Vec<PartnerKey>>;

    /// Sets a key's revocation time unless it is revoked already.
    async fn revoke_partner_key(
        &self,
        partner_id: Uuid,
        key_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<()>;

    /// The key whose secret hashes to `key_hash`, with its partner, if any (revoked or
    /// not, whatever the partner's status: [`Partner::key_works`] decides).
    async fn partner_key_by_hash(&self, key_hash: &str) -> Result<Option<(Partner, PartnerKey)>>;
}

/// The counters of the throttles on guessing ([`crate::domain::throttle`]), outside a
/// unit of work.
#[async_trait]
pub trait ThrottleStore {
    /// Takes one attempt back from each counter of `give_back` (never below zero) and
    /// drops the counters of `forget`: each counter on its own, never holding one while
    /// waiting for another. Unknown subjects are skipped.
    async fn release_attempts(&self, give_back: &[String], forget: &[String]) -> Result<()>;

    /// Drops the counters whose last attempt was before `cutoff`; returns how many.
    async fn purge_attempt_counters(&self, cutoff: DateTime<Utc>) -> Result<u64>;
}

/// Partner codes and product keys, within a unit of work. Codes and keys are stored
/// only as keyed hashes.
#[async_trait]
pub trait CodeTx {
    /// Inserts a new partner code.
    async fn insert_partner_code(&mut self, code: &PartnerCode) -> Result<()>;

    /// The partner code with `hash`, locked until commit, if any.
    async fn lock_partner_code(&mut self, hash: &str) -> Result<Option<PartnerCode>>;

    /// The partner codes of a subscription that are neither redeemed nor revoked.
    async fn live_partner_codes(&mut self, subscription_id: Uuid) -> Result<Vec<PartnerCode>>;

    /// Writes back a partner code's redemption and revocation.
    async fn save_partner_code(&mut self, code: &PartnerCode) -> Result<()>;

    /// Inserts a batch of new product keys.
    async fn insert_product_keys(&mut self, keys: &[ProductKey]) -> Result<()>;

    /// The product key with `hash`, locked until commit, if any.
    async fn lock_product_key(&mut self, hash: &str) -> Result<Option<ProductKey>>;

    /// Writes back a product key's redemption.
    async fn save_product_key(&mut self, key: &ProductKey) -> Result<()>;
}

/// The counters of the throttles on guessing, within a unit of work.
#[async_trait]
pub trait ThrottleTx {
    /// The counter of `subject`, locked until commit; a new one (no attempts, last
    /// attempt at `now`) when there is none yet. Concurrent callers for one subject take
    /// turns; a unit locking several locks them in subject order.
    async fn lock_attempt_counter(
        &mut self,
        subject: &str,
        now: DateTime<Utc>,
    ) -> Result<AttemptCounter>;

    /// Writes back a counter.
    async fn save_attempt_counter(&mut self, counter: &AttemptCounter) -> Result<()>;
}

/// App Store and Google Play purchases, within a unit of work.
#[async_trait]
pub trait PurchaseTx {
    /// The purchase on file for `(store, original_id)`, if any. Concurrent units asking
    /// for the same purchase take turns until commit, even while it does not exist yet,
    /// so one store purchase never gets two subscriptions.
    async fn lock_store_purchase(
        &mut self,
        store: StoreKind,
        original_id: &str,
    ) -> Result<Option<StorePurchase>>;

    /// Files a new purchase.
    async fn insert_store_purchase(&mut self, purchase: &StorePurchase) -> Result<()>;

    /// Writes back a purchase on file (locked with [`Self::lock_store_purchase`]): its
    /// product and the newest store statements applied.
    /// Errors: `Internal` when it is not on file.
    async fn save_store_purchase(&mut self, purchase: &StorePurchase) -> Result<()>;

    /// Re-files the purchase known as `(purchase.store, previous_original_id)` under
    /// `purchase.original_id`, with every field of `purchase` (a Google Play upgrade
    /// issues a new token linked to the old one), and remembers that the old id was
    /// replaced by the new one (see [`Self::store_purchase_replaced_by`]).
    /// Errors: `Internal` when the old one is not on file.
    async fn rekey_store_purchase(
        &mut self,
        previous_original_id: &str,
        purchase: &StorePurchase,
    ) -> Result<()>;

    /// The id a replaced purchase lives on under now (following replacements of
    /// replacements), or `None` when `original_id` was never replaced.
    async fn store_purchase_replaced_by(
        &mut self,
        store: StoreKind,
        original_id: &str,
    ) -> Result<Option<String>>;
}

/// The event outbox outside a unit of work: reading it, and numbering what was committed.
#[async_trait]
pub trait OutboxStore {
    /// The committed events after sequence `after` that `scope` lets the reader see
    /// ([`Scope::All`], or [`Scope::Partner`]: the events of its subscriptions; any other
    /// scope sees none), optionally of one subscription, in sequence order, at most
    /// `limit` of them.
    async fn events_after(
        &self,
        scope: Scope,
        after: i64,
        subscription_id: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<StoredEvent>>;

    /// The highest committed sequence number (0 before the first event).
    async fn last_event_seq(&self) -> Result<i64>;

    /// On PostgreSQL, the task that numbers committed events for the whole cluster: each
    /// replica runs one, they elect one of them (a session advisory lock), and the others
    /// stand by, pass their own commits on to it, and take over when it is gone. From
    /// the moment it is returned until it is dropped, commits in this process leave the
    /// numbering to it (so spawn it). `None` on SQLite, where each commit numbers its own
    /// events under the write lock.
    async fn event_sequencer(&self) -> Result<Option<EventSequencer>>;

    /// Numbers at once every committed event still waiting for its number, as the
    /// sequencer would; afterwards [`Self::last_event_seq`] covers every unit committed
    /// before the call. For tools and tests that must read everything committed so far
    /// without waiting for the sequencer; nothing to do on SQLite.
    async fn number_pending_events(&self) -> Result<()>;
}

/// The event outbox, within a unit of work.
pub trait OutboxTx {
    /// Queues an event, written with the unit of work if and when it commits and then
    /// numbered: sequence numbers have no gaps, a unit's events are consecutive in the
    /// order emitted, and a unit that committed before another began committing is
    /// numbered first — so units about one subscription, which take turns on its row
    /// lock, are numbered in commit order; only units committing at the same moment may
    /// be numbered either way. A reader that has seen sequence `n` has seen every event
    /// numbered up to `n`: later ones get later numbers.
    fn emit(&mut self, event: NewEvent);
}

/// Stored answers of requests with a request id, outside a unit of work.
#[async_trait]
pub trait IdempotencyStore {
    /// Forgets request ids recorded before `cutoff`; returns how many.
    async fn purge_idempotency_keys(&self, cutoff: DateTime<Utc>) -> Result<u64>;
}

/// Stored answers of requests with a request id, within a unit of work.
#[async_trait]
pub trait IdempotencyTx {
    /// What was stored for `(key.scope, key.request_id)`, if anything. A concurrent unit
    /// of work asking for the same id waits until this one ends, then sees its answer.
    async fn stored_request(&mut self, key: &IdempotencyKey) -> Result<Option<StoredRequest>>;

    /// Records `response` (an encoded answer record) under `key` with its fingerprint.
    async fn store_request(
        &mut self,
        key: &IdempotencyKey,
        response: &str,
        now: DateTime<Utc>,
    ) -> Result<()>;
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn a_database_url_is_shown_without_its_password() {
        assert_eq!(
            redacted("postgres://tessera:s3cret@db.internal:5432/tessera?sslmode=require"),
            "postgres://tessera:***@db.internal:5432/tessera?sslmode=require"
        );
        assert_eq!(
            redacted("postgres://tessera@db/tessera"),
            "postgres://tessera@db/tessera"
        );
        assert_eq!(redacted("sqlite:tessera.db"), "sqlite:tessera.db");
    }
}
