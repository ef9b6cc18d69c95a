//! The use cases: one method each, one unit of work each. A use case authorizes the
//! caller, loads and locks what it changes through the store, applies the rule (a
//! method of a domain aggregate), saves, emits the events the rule recorded, and — for a
//! request with a request id — records the answer, all in one transaction.
//!
//! Modules group the use cases the way the contract does: accounts and sign-in,
//! subscriptions, the carrier lifecycle, seats and check-ins, redemption of codes and
//! keys, store restores, partners, events, and the lifecycle worker's passes.

pub mod accounts;
pub mod carrier;
pub mod events;
pub mod idempotency;
pub mod lifecycle;
pub mod partners;
pub mod passwords;
pub mod principals;
pub mod purchases;
pub mod redemption;
pub mod seats;
pub mod subscriptions;
pub mod support;
mod throttle;

use crate::{
    app_stores::{apple::AppleVerifier, google::PlayVerifier},
    domain::{
        catalog::Catalog,
        clock::{Clock, from_micros, to_micros},
        event::NewEvent,
        idempotency::IdempotencyKey,
        principal::Principal,
        redemption::CodeHasher,
        throttle::ThrottlePolicy,
    },
    error::Result,
    observe::metrics::Metrics,
    store::{Store, UnitOfWork, WriteContext},
};
use chrono::{DateTime, Duration, Utc};
use passwords::PasswordPool;
use std::sync::Arc;

/// The service's policies, from the settings.
#[derive(Debug, Clone)]
pub struct Policy {
    /// How long a session lasts.
    pub session_ttl: Duration,
    /// How long a partner code works.
    pub partner_code_ttl: Duration,
    /// The throttles on guessing: sign-in, sign-up, redemption.
    pub throttle: ThrottlePolicy,
    /// How long a lapsed subscription keeps protecting devices.
    pub grace: Duration,
    /// How long before the end of a term devices are warned.
    pub warning_window: Duration,
    /// SHA-256 of the admin token; `None` disables admin access.
    pub admin_token_hash: Option<String>,
}

/// Everything a use case needs: the store, the clock, the policies, the keyed hash of
/// codes, the catalog and the store-proof verifiers. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Services {
    /// The database.
    pub store: Arc<dyn Store>,
    /// The time source.
    pub clock: Arc<dyn Clock>,
    /// The policies.
    pub policy: Arc<Policy>,
    /// Keyed hash of partner codes and product keys.
    pub code_hasher: CodeHasher,
    /// The plans sold and the store products that grant them.
    pub catalog: Arc<Catalog>,
    /// The threads that hash passwords.
    pub passwords: Arc<PasswordPool>,
    /// App Store proof verification, when configured.
    pub apple: Option<Arc<AppleVerifier>>,
    /// Google Play purchase verification, when configured.
    pub play: Option<Arc<PlayVerifier>>,
    /// The server's metrics, recorded where each fact is known.
    pub metrics: Arc<Metrics>,
}

/// A unit of work in progress: the store's transaction, the events the rules recorded
/// (emitted in order at commit) and the instant the change happens at.
pub(crate) struct Unit {
    /// The transaction.
    pub tx: Box<dyn UnitOfWork>,
    /// Events recorded by the rules, in order.
    pub events: Vec<NewEvent>,
    /// When the change happens.
    pub now: DateTime<Utc>,
}

impl Unit {
    /// Emits the recorded events and commits.
    pub async fn commit(mut self) -> Result<()> {
        for event in self.events.drain(..) {
            self.tx.emit(event);
        }
        self.tx.commit().await
    }
}

impl Services {
    /// Now, by the configured clock, at the micro-second precision the store keeps, so
    /// a value answered at once equals the same value read back later.
    pub fn now(&self) -> DateTime<Utc> {
        from_micros(to_micros(self.clock.now()))
    }

    /// Begins a unit of work on behalf of `author` (`None`: Tessera itself), stamping
    /// its events with the request id of `key`.
    pub(crate) async fn begin(
        &self,
        author: Option<Principal>,
        key: Option<&IdempotencyKey>,
    ) -> Result<Unit> {
        let now = self.now();
        let tx = self
            .store
            .begin(WriteContext {
                author,
                request_id: key.map(|key| key.request_id.clone()),
                now,
            })
            .await?;
        Ok(Unit {
            tx,
            events: Vec::new(),
            now,
        })
    }
}
