//! Lifecycle events: every committed change to a subscription or seat, in one global
//! order. Written in the same transaction as the change (a transactional outbox).

use super::{
    principal::Principal, seat::Seat, stored_enum::stored_enum, subscription::Subscription,
};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

stored_enum! {
    /// What happened.
    EventType {
        /// A subscription was created (sold, provisioned, redeemed or restored).
        SubscriptionCreated = "SUBSCRIPTION_CREATED",
        /// A new term began.
        SubscriptionRenewed = "SUBSCRIPTION_RENEWED",
        /// The plan (and seat limit) changed.
        SubscriptionPlanChanged = "SUBSCRIPTION_PLAN_CHANGED",
        /// Settings such as auto-renew changed.
        SubscriptionUpdated = "SUBSCRIPTION_UPDATED",
        /// Suspended by the seller.
        SubscriptionSuspended = "SUBSCRIPTION_SUSPENDED",
        /// A suspension was lifted.
        SubscriptionResumed = "SUBSCRIPTION_RESUMED",
        /// The term ended without renewal.
        SubscriptionEnteredGrace = "SUBSCRIPTION_ENTERED_GRACE",
        /// The subscription expired.
        SubscriptionExpired = "SUBSCRIPTION_EXPIRED",
        /// Cancellation at the end of the term was requested.
        SubscriptionCancellationScheduled = "SUBSCRIPTION_CANCELLATION_SCHEDULED",
        /// The subscription was cancelled.
        SubscriptionCancelled = "SUBSCRIPTION_CANCELLED",
        /// The subscription moved to another account.
        SubscriptionTransferred = "SUBSCRIPTION_TRANSFERRED",
        /// A device took a seat.
        SeatActivated = "SEAT_ACTIVATED",
        /// A seat was freed.
        SeatDeactivated = "SEAT_DEACTIVATED",
        /// A device moved from another subscription to this one.
        SeatMoved = "SEAT_MOVED",
        /// A customer redeemed a partner code.
        PartnerCodeRedeemed = "PARTNER_CODE_REDEEMED",
        /// A partner code was replaced.
        PartnerCodeReissued = "PARTNER_CODE_REISSUED",
        /// A customer redeemed a product key.
        ProductKeyRedeemed = "PRODUCT_KEY_REDEEMED",
    }
}

stored_enum! {
    /// Who caused a change.
    ActorKind {
        /// A customer's session or device.
        Account = "ACCOUNT",
        /// A carrier or reseller.
        Partner = "PARTNER",
        /// The admin token (internal services, support).
        Admin = "ADMIN",
        /// Tessera itself (the lifecycle worker).
        System = "SYSTEM",
    }
}

/// Who caused a change, with their id where they have one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The kind.
    pub kind: ActorKind,
    /// Account or partner id (for a device: its account).
    pub id: Option<String>,
}

impl Actor {
    /// The lifecycle worker.
    pub fn system() -> Self {
        Self {
            kind: ActorKind::System,
            id: None,
        }
    }

    /// The actor behind a principal; `account` is the device's owning account, if known
    /// (a device acts for the account that owns its subscription).
    pub fn of(principal: Principal, account: Option<uuid::Uuid>) -> Self {
        match principal {
            Principal::Admin => Self {
                kind: ActorKind::Admin,
                id: None,
            },
            Principal::Account(id) => Self {
                kind: ActorKind::Account,
                id: Some(id.to_string()),
            },
            Principal::Partner(id) => Self {
                kind: ActorKind::Partner,
                id: Some(id.to_string()),
            },
            Principal::Device { .. } => Self {
                kind: ActorKind::Account,
                id: account.map(|id| id.to_string()),
            },
        }
    }
}

/// A committed event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Global sequence number, in commit order (a change committed before another
    /// began comes first), without gaps.
    pub seq: i64,
    /// What happened.
    pub event_type: EventType,
    /// Who did it.
    pub actor: Actor,
    /// The caller's request id, if it sent one.
    pub request_id: Option<String>,
    /// The subscription after the change.
    pub subscription: Subscription,
    /// The seat, for seat events.
    pub seat: Option<Seat>,
    /// Extra facts, such as the previous plan or account.
    pub details: BTreeMap<String, String>,
    /// When it was committed.
    pub created_at: DateTime<Utc>,
}

/// What a watcher wants to see.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Only events after this sequence number.
    pub after_seq: i64,
    /// Only events of this subscription.
    pub subscription_id: Option<uuid::Uuid>,
    /// Only these types (all when empty).
    pub types: Vec<EventType>,
}

/// A change to record: what happened to which subscription (in its state after the
/// change), the seat for seat events, and extra facts. Who did it and the request id
/// come from the unit of work it is emitted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// What happened.
    pub event_type: EventType,
    /// The subscription after the change.
    pub subscription: Subscription,
    /// The seat, for seat events.
    pub seat: Option<Seat>,
    /// Extra facts, such as the previous plan or account.
    pub details: BTreeMap<String, String>,
}

impl NewEvent {
    /// An event about a subscription.
    pub fn of(event_type: EventType, subscription: &Subscription) -> Self {
        Self {
            event_type,
            subscription: subscription.clone(),
            seat: None,
            details: BTreeMap::new(),
        }
    }

    /// With the seat it is about.
    pub fn with_seat(mut self, seat: &Seat) -> Self {
        self.seat = Some(seat.clone());
        self
    }

    /// With an extra fact.
    pub fn with_detail(mut self, key: &str, value: impl Into<String>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }
}

/// An event as the outbox holds it: its sequence number, its encoded record and its
/// commit time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Sequence number.
    pub seq: i64,
    /// The encoded record (see `store::records`).
    pub payload: String,
    /// When it was committed.
    pub created_at: DateTime<Utc>,
}
