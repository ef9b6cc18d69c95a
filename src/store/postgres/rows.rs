//! Rows as PostgreSQL returns them, kept apart from the domain types: one struct per
//! query shape, its fields named and typed as the columns are, converted to the domain
//! with `From` or, where stored text must be parsed, `TryFrom` (text the domain does not
//! know is `Internal`, naming the column).

pub(crate) use crate::store::rows::{StoredRequestRow, convert, stored};
use crate::{
    domain::{
        account::Account,
        event::StoredEvent,
        partner::{Partner, PartnerKey, PartnerStatus},
        principal::Principal,
        purchase::{StoreKind, StorePurchase},
        redemption::{PartnerCode, ProductKey, ProductKeyKind},
        seat::{Platform, Seat},
        subscription::{Channel, Status, Subscription},
        throttle::AttemptCounter,
    },
    error::{Error, Result},
};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The columns of [`SubscriptionRow`], from the table aliased `s`.
macro_rules! subscription_columns {
    () => {
        "s.id, s.plan_code, s.channel, s.status, s.account_id, s.seat_limit, s.active_seats, \
         s.term_start, s.term_end, s.auto_renew, s.cancel_at_period_end, s.partner_id, \
         s.partner_reference, s.product_key, s.created_at, s.updated_at"
    };
}
pub(super) use subscription_columns;

/// The columns of [`SeatRow`], from the table aliased `t`.
macro_rules! seat_columns {
    () => {
        "t.id, t.subscription_id, t.device_id, t.platform, t.display_name, t.activated_at, \
         t.last_seen_at, t.deactivated_at"
    };
}
pub(super) use seat_columns;

/// A row of `subscriptions`.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct SubscriptionRow {
    id: Uuid,
    plan_code: String,
    channel: String,
    status: String,
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

impl TryFrom<SubscriptionRow> for Subscription {
    type Error = Error;

    fn try_from(row: SubscriptionRow) -> Result<Self> {
        Ok(Self {
            id: row.id,
            plan_code: row.plan_code,
            channel: stored("subscriptions.channel", &row.channel, Channel::parse)?,
            status: stored("subscriptions.status", &row.status, Status::parse)?,
            account_id: row.account_id,
            seat_limit: row.seat_limit,
            active_seats: row.active_seats,
            term_start: row.term_start,
            term_end: row.term_end,
            auto_renew: row.auto_renew,
            cancel_at_period_end: row.cancel_at_period_end,
            partner_id: row.partner_id,
            partner_reference: row.partner_reference,
            product_key: row.product_key,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// A row of `seats`.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct SeatRow {
    id: Uuid,
    subscription_id: Uuid,
    device_id: String,
    platform: String,
    display_name: String,
    activated_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    deactivated_at: Option<DateTime<Utc>>,
}

impl TryFrom<SeatRow> for Seat {
    type Error = Error;

    fn try_from(row: SeatRow) -> Result<Self> {
        Ok(Self {
            id: row.id,
            subscription_id: row.subscription_id,
            device_id: row.device_id,
            platform: stored("seats.platform", &row.platform, Platform::parse)?,
            display_name: row.display_name,
            activated_at: row.activated_at,
            last_seen_at: row.last_seen_at,
            deactivated_at: row.deactivated_at,
        })
    }
}

/// The seat behind a device token.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct DeviceRow {
    seat_id: Uuid,
    subscription_id: Uuid,
    deactivated_at: Option<DateTime<Utc>>,
}

impl From<DeviceRow> for Principal {
    fn from(row: DeviceRow) -> Self {
        Principal::Device {
            seat_id: row.seat_id,
            subscription_id: row.subscription_id,
            active: row.deactivated_at.is_none(),
        }
    }
}

/// A row of `accounts` (without its linked identities, which are rows of
/// `account_links`).
#[derive(Debug, sqlx::FromRow)]
pub(super) struct AccountRow {
    id: Uuid,
    email: String,
    display_name: String,
    created_at: DateTime<Utc>,
}

impl AccountRow {
    /// The account, with its linked identities.
    pub(super) fn with_identities(self, linked_identities: Vec<(Uuid, String)>) -> Account {
        Account {
            id: self.id,
            email: self.email,
            display_name: self.display_name,
            created_at: self.created_at,
            linked_identities,
        }
    }
}

/// A row of `partners`.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct PartnerRow {
    id: Uuid,
    display_name: String,
    status: String,
    created_at: DateTime<Utc>,
}

impl TryFrom<PartnerRow> for Partner {
    type Error = Error;

    fn try_from(row: PartnerRow) -> Result<Self> {
        Ok(Self {
            id: row.id,
            display_name: row.display_name,
            status: stored("partners.status", &row.status, PartnerStatus::parse)?,
            created_at: row.created_at,
        })
    }
}

/// A row of `partner_keys` (without the hash of the secret).
#[derive(Debug, sqlx::FromRow)]
pub(super) struct PartnerKeyRow {
    id: Uuid,
    partner_id: Uuid,
    prefix: String,
    created_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

impl From<PartnerKeyRow> for PartnerKey {
    fn from(row: PartnerKeyRow) -> Self {
        Self {
            id: row.id,
            partner_id: row.partner_id,
            prefix: row.prefix,
            created_at: row.created_at,
            revoked_at: row.revoked_at,
        }
    }
}

/// A partner key joined with its partner.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct PartnerWithKeyRow {
    #[sqlx(flatten)]
    partner: PartnerRow,
    key_id: Uuid,
    key_prefix: String,
    key_created_at: DateTime<Utc>,
    key_revoked_at: Option<DateTime<Utc>>,
}

impl TryFrom<PartnerWithKeyRow> for (Partner, PartnerKey) {
    type Error = Error;

    fn try_from(row: PartnerWithKeyRow) -> Result<Self> {
        let key = PartnerKey {
            id: row.key_id,
            partner_id: row.partner.id,
            prefix: row.key_prefix,
            created_at: row.key_created_at,
            revoked_at: row.key_revoked_at,
        };
        Ok((row.partner.try_into()?, key))
    }
}

/// A row of `partner_codes`.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct PartnerCodeRow {
    code_hash: String,
    subscription_id: Uuid,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    redeemed_at: Option<DateTime<Utc>>,
    redeemed_by: Option<Uuid>,
    revoked_at: Option<DateTime<Utc>>,
}

impl From<PartnerCodeRow> for PartnerCode {
    fn from(row: PartnerCodeRow) -> Self {
        Self {
            hash: row.code_hash,
            subscription_id: row.subscription_id,
            created_at: row.created_at,
            expires_at: row.expires_at,
            redeemed_at: row.redeemed_at,
            redeemed_by: row.redeemed_by,
            revoked_at: row.revoked_at,
        }
    }
}

/// A row of `product_keys`.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct ProductKeyRow {
    key_hash: String,
    plan_code: String,
    kind: String,
    batch_label: String,
    issued_at: DateTime<Utc>,
    redeemed_at: Option<DateTime<Utc>>,
    redeemed_by: Option<Uuid>,
    subscription_id: Option<Uuid>,
}

impl TryFrom<ProductKeyRow> for ProductKey {
    type Error = Error;

    fn try_from(row: ProductKeyRow) -> Result<Self> {
        Ok(Self {
            hash: row.key_hash,
            plan_code: row.plan_code,
            kind: stored("product_keys.kind", &row.kind, ProductKeyKind::parse)?,
            batch_label: row.batch_label,
            issued_at: row.issued_at,
            redeemed_at: row.redeemed_at,
            redeemed_by: row.redeemed_by,
            subscription_id: row.subscription_id,
        })
    }
}

/// A row of `attempt_counters`.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct AttemptCounterRow {
    subject: String,
    last_attempt_at: DateTime<Utc>,
    attempts: i64,
}

impl From<AttemptCounterRow> for AttemptCounter {
    fn from(row: AttemptCounterRow) -> Self {
        Self {
            subject: row.subject,
            attempts: row.attempts,
            last_attempt_at: row.last_attempt_at,
        }
    }
}

/// A row of `store_purchases`.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct StorePurchaseRow {
    store: String,
    original_id: String,
    subscription_id: Uuid,
    product_id: String,
    environment: String,
    latest_transaction_id: Option<String>,
    latest_purchased_at: Option<DateTime<Utc>>,
    latest_signed_at: Option<DateTime<Utc>>,
    renewal_signed_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<StorePurchaseRow> for StorePurchase {
    type Error = Error;

    fn try_from(row: StorePurchaseRow) -> Result<Self> {
        Ok(Self {
            store: stored("store_purchases.store", &row.store, StoreKind::parse)?,
            original_id: row.original_id,
            subscription_id: row.subscription_id,
            product_id: row.product_id,
            environment: row.environment,
            latest_transaction_id: row.latest_transaction_id,
            latest_purchased_at: row.latest_purchased_at,
            latest_signed_at: row.latest_signed_at,
            renewal_signed_at: row.renewal_signed_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// A row of `events`, as readers get it.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct EventRow {
    seq: i64,
    payload: String,
    created_at: DateTime<Utc>,
}

impl From<EventRow> for StoredEvent {
    fn from(row: EventRow) -> Self {
        Self {
            seq: row.seq,
            payload: row.payload,
            created_at: row.created_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_stored_text_is_internal_and_names_the_column() {
        let row = SeatRow {
            id: Uuid::now_v7(),
            subscription_id: Uuid::now_v7(),
            device_id: "d".into(),
            platform: "BEOS".into(),
            display_name: "d".into(),
            activated_at: Utc::now(),
            last_seen_at: Utc::now(),
            deactivated_at: None,
        };
        match Seat::try_from(row) {
            Err(Error::Internal(message)) => {
                assert!(message.contains("seats.platform"), "{message}");
                assert!(message.contains("BEOS"), "{message}");
            }
            other => panic!("expected Internal, got {other:?}"),
        }
    }
}
