//! What the database keeps of events and of idempotent answers: explicit, versioned
//! records, never the serde shape of a domain type, so that renaming a field of the
//! domain cannot break the replay of a stored answer or the reading of an old event.
//!
//! Version 1 is the shape commit 0fdacf9 wrote (without a `version` field); records are
//! now written with `"version": 1`, and a record without one is read as version 1. A
//! change of shape adds a version 2 beside it and a conversion of version 1 to the
//! domain, never an edit of version 1. `tests/api/stored_records.rs` reads fixtures
//! written by 0fdacf9.

use crate::{
    domain::{
        event::{Actor, ActorKind, Event, EventType, NewEvent, StoredEvent},
        idempotency::Answer,
        redemption::{IssuedCode, PlanChange, Provisioned},
        seat::{Platform, Seat},
        subscription::{Channel, Status, Subscription},
    },
    error::{Error, Result},
    store::WriteContext,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The version records are written in.
const CURRENT: u64 = 1;

/// Encodes `record` as JSON with its version.
fn encode<T: Serialize>(record: &T) -> Result<String> {
    let mut value = serde_json::to_value(record)
        .map_err(|e| Error::Internal(format!("encoding a record: {e}")))?;
    if let serde_json::Value::Object(fields) = &mut value {
        fields.insert("version".to_owned(), CURRENT.into());
    }
    Ok(value.to_string())
}

/// Decodes a record of version 1 (the only one so far); a record without a version is
/// version 1.
fn decode<T: DeserializeOwned>(text: &str, what: &str) -> Result<T> {
    let mut value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| Error::Internal(format!("{what} record is not JSON: {e}")))?;
    let version = match &mut value {
        serde_json::Value::Object(fields) => {
            fields.remove("version").map_or(Some(1), |v| v.as_u64())
        }
        _ => None,
    };
    match version {
        Some(1) => serde_json::from_value(value)
            .map_err(|e| Error::Internal(format!("{what} record unreadable: {e}"))),
        other => Err(Error::Internal(format!(
            "{what} record of unknown version {other:?}: written by a newer Tessera?"
        ))),
    }
}

// ---------------------------------------------------------------------------------------
// Version 1. The enum names are the Rust names 0fdacf9 serialised.

/// A subscription, version 1.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubscriptionRecordV1 {
    id: Uuid,
    plan_code: String,
    channel: ChannelV1,
    status: StatusV1,
    account_id: Option<Uuid>,
    seat_limit: i64,
    active_seats: i64,
    term_start: DateTime<Utc>,
    term_end: DateTime<Utc>,
    auto_renew: bool,
    cancel_at_period_end: bool,
    partner_id: Option<Uuid>,
    partner_reference: Option<String>,
    product_key: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A seat, version 1.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeatRecordV1 {
    id: Uuid,
    subscription_id: Uuid,
    device_id: String,
    platform: PlatformV1,
    display_name: String,
    activated_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    deactivated_at: Option<DateTime<Utc>>,
}

/// Who caused an event, version 1.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ActorRecordV1 {
    kind: ActorKindV1,
    id: Option<String>,
}

/// An event, version 1: what `events.payload` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventRecordV1 {
    event_type: EventTypeV1,
    actor: ActorRecordV1,
    request_id: Option<String>,
    subscription: SubscriptionRecordV1,
    seat: Option<SeatRecordV1>,
    details: BTreeMap<String, String>,
}

/// A stored answer, version 1: what `idempotency_keys.response` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredAnswerV1<T> {
    value: T,
    answered_at: DateTime<Utc>,
}

/// The answer of `ProvisionSubscription`, version 1.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProvisionedRecordV1 {
    subscription: SubscriptionRecordV1,
    partner_code: String,
    code_expires_at: DateTime<Utc>,
}

/// The answer of `ChangePlan`, version 1.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanChangeRecordV1 {
    subscription: SubscriptionRecordV1,
    deactivated_seats: i64,
}

/// The answer of `ReissuePartnerCode`, version 1.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssuedCodeRecordV1 {
    partner_code: String,
    expires_at: DateTime<Utc>,
}

/// Maps a domain enum to its record enum and back, variant by variant.
macro_rules! record_enum {
    ($record:ident, $domain:ty { $($variant:ident),+ $(,)? }) => {
        #[derive(Debug, Clone, Copy, Serialize, Deserialize)]
        #[allow(missing_docs)]
        pub enum $record { $($variant),+ }

        impl From<$domain> for $record {
            fn from(value: $domain) -> Self {
                match value { $(<$domain>::$variant => $record::$variant),+ }
            }
        }

        impl From<$record> for $domain {
            fn from(value: $record) -> Self {
                match value { $($record::$variant => <$domain>::$variant),+ }
            }
        }
    };
}

record_enum!(
    ChannelV1,
    Channel {
        Direct,
        Retail,
        Carrier,
        AppStore,
        PlayStore
    }
);
record_enum!(
    StatusV1,
    Status {
        Trial,
        Active,
        Grace,
        Suspended,
        Expired,
        Cancelled
    }
);
record_enum!(
    PlatformV1,
    Platform {
        Windows,
        MacOs,
        Android,
        Ios
    }
);
record_enum!(
    ActorKindV1,
    ActorKind {
        Account,
        Partner,
        Admin,
        System
    }
);
record_enum!(
    EventTypeV1,
    EventType {
        SubscriptionCreated,
        SubscriptionRenewed,
        SubscriptionPlanChanged,
        SubscriptionUpdated,
        SubscriptionSuspended,
        SubscriptionResumed,
        SubscriptionEnteredGrace,
        SubscriptionExpired,
        SubscriptionCancellationScheduled,
        SubscriptionCancelled,
        SubscriptionTransferred,
        SeatActivated,
        SeatDeactivated,
        SeatMoved,
        PartnerCodeRedeemed,
        PartnerCodeReissued,
        ProductKeyRedeemed,
    }
);

impl From<&Subscription> for SubscriptionRecordV1 {
    fn from(s: &Subscription) -> Self {
        Self {
            id: s.id,
            plan_code: s.plan_code.clone(),
            channel: s.channel.into(),
            status: s.status.into(),
            account_id: s.account_id,
            seat_limit: s.seat_limit,
            active_seats: s.active_seats,
            term_start: s.term_start,
            term_end: s.term_end,
            auto_renew: s.auto_renew,
            cancel_at_period_end: s.cancel_at_period_end,
            partner_id: s.partner_id,
            partner_reference: s.partner_reference.clone(),
            product_key: s.product_key.clone(),
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

impl From<SubscriptionRecordV1> for Subscription {
    fn from(r: SubscriptionRecordV1) -> Self {
        Self {
            id: r.id,
            plan_code: r.plan_code,
            channel: r.channel.into(),
            status: r.status.into(),
            account_id: r.account_id,
            seat_limit: r.seat_limit,
            active_seats: r.active_seats,
            term_start: r.term_start,
            term_end: r.term_end,
            auto_renew: r.auto_renew,
            cancel_at_period_end: r.cancel_at_period_end,
            partner_id: r.partner_id,
            partner_reference: r.partner_reference,
            product_key: r.product_key,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

impl From<&Seat> for SeatRecordV1 {
    fn from(s: &Seat) -> Self {
        Self {
            id: s.id,
            subscription_id: s.subscription_id,
            device_id: s.device_id.clone(),
            platform: s.platform.into(),
            display_name: s.display_name.clone(),
            activated_at: s.activated_at,
            last_seen_at: s.last_seen_at,
            deactivated_at: s.deactivated_at,
        }
    }
}

impl From<SeatRecordV1> for Seat {
    fn from(r: SeatRecordV1) -> Self {
        Self {
            id: r.id,
            subscription_id: r.subscription_id,
            device_id: r.device_id,
            platform: r.platform.into(),
            display_name: r.display_name,
            activated_at: r.activated_at,
            last_seen_at: r.last_seen_at,
            deactivated_at: r.deactivated_at,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Events.

/// The columns of an event row besides its sequence number and commit time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    /// The event type's stored name (`SUBSCRIPTION_CREATED`, …).
    pub event_type: &'static str,
    /// The subscription it is about.
    pub subscription_id: Uuid,
    /// The subscription's partner, for partners' filters.
    pub partner_id: Option<Uuid>,
    /// The subscription's account.
    pub account_id: Option<Uuid>,
    /// The encoded record.
    pub payload: String,
}

/// The row of an event emitted in a unit of work of `context`: the actor is the
/// context's author (a device acts for the account owning the subscription), or Tessera
/// itself.
pub fn event_row(context: &WriteContext, event: &NewEvent) -> Result<EventRow> {
    let actor = match context.author {
        Some(principal) => Actor::of(principal, event.subscription.account_id),
        None => Actor::system(),
    };
    let record = EventRecordV1 {
        event_type: event.event_type.into(),
        actor: ActorRecordV1 {
            kind: actor.kind.into(),
            id: actor.id,
        },
        request_id: context.request_id.clone(),
        subscription: (&event.subscription).into(),
        seat: event.seat.as_ref().map(Into::into),
        details: event.details.clone(),
    };
    Ok(EventRow {
        event_type: event.event_type.as_str(),
        subscription_id: event.subscription.id,
        partner_id: event.subscription.partner_id,
        account_id: event.subscription.account_id,
        payload: encode(&record)?,
    })
}

/// Reads a stored event.
pub fn read_event(stored: &StoredEvent) -> Result<Event> {
    let record: EventRecordV1 = decode(&stored.payload, "event")?;
    Ok(Event {
        seq: stored.seq,
        event_type: record.event_type.into(),
        actor: Actor {
            kind: record.actor.kind.into(),
            id: record.actor.id,
        },
        request_id: record.request_id,
        subscription: record.subscription.into(),
        seat: record.seat.map(Into::into),
        details: record.details,
        created_at: stored.created_at,
    })
}

// ---------------------------------------------------------------------------------------
// Stored answers.

/// An outcome that can be stored as the answer to a request id.
pub trait Answerable: Sized {
    /// Encodes an answer.
    fn encode_answer(answer: &Answer<Self>) -> Result<String>;
    /// Decodes a stored answer.
    fn decode_answer(text: &str) -> Result<Answer<Self>>;
}

fn encode_answer<R: Serialize>(value: R, answered_at: DateTime<Utc>) -> Result<String> {
    encode(&StoredAnswerV1 { value, answered_at })
}

fn decode_answer<R: DeserializeOwned, T: From<R>>(text: &str) -> Result<Answer<T>> {
    let stored: StoredAnswerV1<R> = decode(text, "stored answer")?;
    Ok(Answer {
        value: stored.value.into(),
        answered_at: stored.answered_at,
    })
}

impl Answerable for Subscription {
    fn encode_answer(answer: &Answer<Self>) -> Result<String> {
        encode_answer(
            SubscriptionRecordV1::from(&answer.value),
            answer.answered_at,
        )
    }

    fn decode_answer(text: &str) -> Result<Answer<Self>> {
        decode_answer::<SubscriptionRecordV1, _>(text)
    }
}

impl From<ProvisionedRecordV1> for Provisioned {
    fn from(r: ProvisionedRecordV1) -> Self {
        Self {
            subscription: r.subscription.into(),
            partner_code: r.partner_code,
            code_expires_at: r.code_expires_at,
        }
    }
}

impl Answerable for Provisioned {
    fn encode_answer(answer: &Answer<Self>) -> Result<String> {
        let v = &answer.value;
        let record = ProvisionedRecordV1 {
            subscription: (&v.subscription).into(),
            partner_code: v.partner_code.clone(),
            code_expires_at: v.code_expires_at,
        };
        encode_answer(record, answer.answered_at)
    }

    fn decode_answer(text: &str) -> Result<Answer<Self>> {
        decode_answer::<ProvisionedRecordV1, _>(text)
    }
}

impl From<PlanChangeRecordV1> for PlanChange {
    fn from(r: PlanChangeRecordV1) -> Self {
        Self {
            subscription: r.subscription.into(),
            deactivated_seats: r.deactivated_seats,
        }
    }
}

impl Answerable for PlanChange {
    fn encode_answer(answer: &Answer<Self>) -> Result<String> {
        let v = &answer.value;
        let record = PlanChangeRecordV1 {
            subscription: (&v.subscription).into(),
            deactivated_seats: v.deactivated_seats,
        };
        encode_answer(record, answer.answered_at)
    }

    fn decode_answer(text: &str) -> Result<Answer<Self>> {
        decode_answer::<PlanChangeRecordV1, _>(text)
    }
}

impl From<IssuedCodeRecordV1> for IssuedCode {
    fn from(r: IssuedCodeRecordV1) -> Self {
        Self {
            partner_code: r.partner_code,
            expires_at: r.expires_at,
        }
    }
}

impl Answerable for IssuedCode {
    fn encode_answer(answer: &Answer<Self>) -> Result<String> {
        let record = IssuedCodeRecordV1 {
            partner_code: answer.value.partner_code.clone(),
            expires_at: answer.value.expires_at,
        };
        encode_answer(record, answer.answered_at)
    }

    fn decode_answer(text: &str) -> Result<Answer<Self>> {
        decode_answer::<IssuedCodeRecordV1, _>(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_without_a_version_is_version_1_and_an_unknown_version_is_refused() {
        let legacy = r#"{"partner_code":"ABCDE","expires_at":"2026-12-01T10:00:00.123456Z"}"#;
        let record: IssuedCodeRecordV1 = decode(legacy, "test").unwrap();
        assert_eq!(record.partner_code, "ABCDE");
        let future = r#"{"version":2,"partner_code":"ABCDE","expires_at":"2026-12-01T10:00:00Z"}"#;
        assert!(decode::<IssuedCodeRecordV1>(future, "test").is_err());
        let written = encode(&record).unwrap();
        assert!(written.contains(r#""version":1"#));
    }
}
