//! Rows as SQLite returns them, apart from the domain types: ids are hyphenated UUID
//! text, instants micro-seconds since the Unix epoch, flags 0 or 1, enums their stored
//! names. Each converts to its domain type with `TryFrom`; a value the domain cannot
//! hold is `Error::Internal` naming its column.

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
        "s.id AS id, s.plan_code AS plan_code, s.channel AS channel, s.status AS status, \
         s.account_id AS account_id, s.seat_limit AS seat_limit, \
         s.active_seats AS active_seats, s.term_start AS term_start, \
         s.term_end AS term_end, s.auto_renew AS auto_renew, \
         s.cancel_at_period_end AS cancel_at_period_end, s.partner_id AS partner_id, \
         s.partner_reference AS partner_reference, s.product_key AS product_key, \
         s.created_at AS created_at, s.updated_at AS updated_at"
    };
}
pub(super) use subscription_columns;

/// The columns of [`SeatRow`], from the table aliased `t`.
macro_rules! seat_columns {
    () => {
        "t.id AS id, t.subscription_id AS subscription_id, t.device_id AS device_id, \
         t.platform AS platform, t.display_name AS display_name, \
         t.activated_at AS activated_at, t.last_seen_at AS last_seen_at, \
         t.deactivated_at AS deactivated_at"
    };
}
pub(super) use seat_columns;

/// An id column.
pub(super) fn uuid(column: &str, text: &str) -> Result<Uuid> {
    Uuid::try_parse(text)
        .map_err(|e| Error::Internal(format!("bad {column} {text:?} in the database: {e}")))
}

fn optional_uuid(column: &str, text: Option<&str>) -> Result<Option<Uuid>> {
    text.map(|text| uuid(column, text)).transpose()
}

/// An instant column.
pub(super) fn instant(column: &str, micros: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(micros).ok_or_else(|| {
        Error::Internal(format!(
            "bad {column} {micros} in the database: out of range"
        ))
    })
}

fn optional_instant(column: &str, micros: Option<i64>) -> Result<Option<DateTime<Utc>>> {
    micros.map(|micros| instant(column, micros)).transpose()
}

fn flag(column: &str, value: i64) -> Result<bool> {
    match value {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(Error::Internal(format!(
            "bad {column} {other} in the database: a flag is 0 or 1"
        ))),
    }
}

/// `subscriptions`, as [`subscription_columns`] reads it.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct SubscriptionRow {
    id: String,
    plan_code: String,
    channel: String,
    status: String,
    account_id: Option<String>,
    seat_limit: i64,
    active_seats: i64,
    term_start: i64,
    term_end: i64,
    auto_renew: i64,
    cancel_at_period_end: i64,
    partner_id: Option<String>,
    partner_reference: Option<String>,
    product_key: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<SubscriptionRow> for Subscription {
    type Error = Error;

    fn try_from(row: SubscriptionRow) -> Result<Self> {
        Ok(Self {
            id: uuid("subscriptions.id", &row.id)?,
            plan_code: row.plan_code,
            channel: stored("subscriptions.channel", &row.channel, Channel::parse)?,
            status: stored("subscriptions.status", &row.status, Status::parse)?,
            account_id: optional_uuid("subscriptions.account_id", row.account_id.as_deref())?,
            seat_limit: row.seat_limit,
            active_seats: row.active_seats,
            term_start: instant("subscriptions.term_start", row.term_start)?,
            term_end: instant("subscriptions.term_end", row.term_end)?,
            auto_renew: flag("subscriptions.auto_renew", row.auto_renew)?,
            cancel_at_period_end: flag(
                "subscriptions.cancel_at_period_end",
                row.cancel_at_period_end,
            )?,
            partner_id: optional_uuid("subscriptions.partner_id", row.partner_id.as_deref())?,
            partner_reference: row.partner_reference,
            product_key: row.product_key,
            created_at: instant("subscriptions.created_at", row.created_at)?,
            updated_at: instant("subscriptions.updated_at", row.updated_at)?,
        })
    }
}

/// `seats`, as [`seat_columns`] reads it.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct SeatRow {
    id: String,
    subscription_id: String,
    device_id: String,
    platform: String,
    display_name: String,
    activated_at: i64,
    last_seen_at: i64,
    deactivated_at: Option<i64>,
}

impl TryFrom<SeatRow> for Seat {
    type Error = Error;

    fn try_from(row: SeatRow) -> Result<Self> {
        Ok(Self {
            id: uuid("seats.id", &row.id)?,
            subscription_id: uuid("seats.subscription_id", &row.subscription_id)?,
            device_id: row.device_id,
            platform: stored("seats.platform", &row.platform, Platform::parse)?,
            display_name: row.display_name,
            activated_at: instant("seats.activated_at", row.activated_at)?,
            last_seen_at: instant("seats.last_seen_at", row.last_seen_at)?,
            deactivated_at: optional_instant("seats.deactivated_at", row.deactivated_at)?,
        })
    }
}

/// A device token with its seat: who the token's bearer is.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct DeviceRow {
    seat_id: String,
    subscription_id: String,
    deactivated_at: Option<i64>,
}

impl TryFrom<DeviceRow> for Principal {
    type Error = Error;

    fn try_from(row: DeviceRow) -> Result<Self> {
        Ok(Principal::Device {
            seat_id: uuid("seats.id", &row.seat_id)?,
            subscription_id: uuid("seats.subscription_id", &row.subscription_id)?,
            active: row.deactivated_at.is_none(),
        })
    }
}

/// `accounts`, without the password hash.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct AccountRow {
    id: String,
    email: String,
    display_name: String,
    created_at: i64,
}

impl AccountRow {
    /// The account with its linked identities.
    pub(super) fn into_account(self, links: Vec<LinkRow>) -> Result<Account> {
        Ok(Account {
            id: uuid("accounts.id", &self.id)?,
            email: self.email,
            display_name: self.display_name,
            created_at: instant("accounts.created_at", self.created_at)?,
            linked_identities: links
                .into_iter()
                .map(<(Uuid, String)>::try_from)
                .collect::<Result<_>>()?,
        })
    }
}

/// `account_links`: a partner's customer reference linked to an account.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct LinkRow {
    partner_id: String,
    reference: String,
}

impl TryFrom<LinkRow> for (Uuid, String) {
    type Error = Error;

    fn try_from(row: LinkRow) -> Result<Self> {
        Ok((
            uuid("account_links.partner_id", &row.partner_id)?,
            row.reference,
        ))
    }
}

/// What signing in needs of an account.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct CredentialsRow {
    id: String,
    password_hash: String,
}

impl TryFrom<CredentialsRow> for (Uuid, String) {
    type Error = Error;

    fn try_from(row: CredentialsRow) -> Result<Self> {
        Ok((uuid("accounts.id", &row.id)?, row.password_hash))
    }
}

/// `partners`.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct PartnerRow {
    id: String,
    display_name: String,
    status: String,
    created_at: i64,
}

impl TryFrom<PartnerRow> for Partner {
    type Error = Error;

    fn try_from(row: PartnerRow) -> Result<Self> {
        Ok(Self {
            id: uuid("partners.id", &row.id)?,
            display_name: row.display_name,
            status: stored("partners.status", &row.status, PartnerStatus::parse)?,
            created_at: instant("partners.created_at", row.created_at)?,
        })
    }
}

/// `partner_keys`, without the hash.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct PartnerKeyRow {
    id: String,
    partner_id: String,
    prefix: String,
    created_at: i64,
    revoked_at: Option<i64>,
}

impl TryFrom<PartnerKeyRow> for PartnerKey {
    type Error = Error;

    fn try_from(row: PartnerKeyRow) -> Result<Self> {
        Ok(Self {
            id: uuid("partner_keys.id", &row.id)?,
            partner_id: uuid("partner_keys.partner_id", &row.partner_id)?,
            prefix: row.prefix,
            created_at: instant("partner_keys.created_at", row.created_at)?,
            revoked_at: optional_instant("partner_keys.revoked_at", row.revoked_at)?,
        })
    }
}

/// A key with its partner.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct KeyWithPartnerRow {
    #[sqlx(flatten)]
    key: PartnerKeyRow,
    partner_display_name: String,
    partner_status: String,
    partner_created_at: i64,
}

impl TryFrom<KeyWithPartnerRow> for (Partner, PartnerKey) {
    type Error = Error;

    fn try_from(row: KeyWithPartnerRow) -> Result<Self> {
        let key = PartnerKey::try_from(row.key)?;
        let partner = Partner {
            id: key.partner_id,
            display_name: row.partner_display_name,
            status: stored("partners.status", &row.partner_status, PartnerStatus::parse)?,
            created_at: instant("partners.created_at", row.partner_created_at)?,
        };
        Ok((partner, key))
    }
}

/// `partner_codes`.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct PartnerCodeRow {
    code_hash: String,
    subscription_id: String,
    created_at: i64,
    expires_at: i64,
    redeemed_at: Option<i64>,
    redeemed_by: Option<String>,
    revoked_at: Option<i64>,
}

impl TryFrom<PartnerCodeRow> for PartnerCode {
    type Error = Error;

    fn try_from(row: PartnerCodeRow) -> Result<Self> {
        Ok(Self {
            hash: row.code_hash,
            subscription_id: uuid("partner_codes.subscription_id", &row.subscription_id)?,
            created_at: instant("partner_codes.created_at", row.created_at)?,
            expires_at: instant("partner_codes.expires_at", row.expires_at)?,
            redeemed_at: optional_instant("partner_codes.redeemed_at", row.redeemed_at)?,
            redeemed_by: optional_uuid("partner_codes.redeemed_by", row.redeemed_by.as_deref())?,
            revoked_at: optional_instant("partner_codes.revoked_at", row.revoked_at)?,
        })
    }
}

/// `product_keys`.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct ProductKeyRow {
    key_hash: String,
    plan_code: String,
    kind: String,
    batch_label: String,
    issued_at: i64,
    redeemed_at: Option<i64>,
    redeemed_by: Option<String>,
    subscription_id: Option<String>,
}

impl TryFrom<ProductKeyRow> for ProductKey {
    type Error = Error;

    fn try_from(row: ProductKeyRow) -> Result<Self> {
        Ok(Self {
            hash: row.key_hash,
            plan_code: row.plan_code,
            kind: stored("product_keys.kind", &row.kind, ProductKeyKind::parse)?,
            batch_label: row.batch_label,
            issued_at: instant("product_keys.issued_at", row.issued_at)?,
            redeemed_at: optional_instant("product_keys.redeemed_at", row.redeemed_at)?,
            redeemed_by: optional_uuid("product_keys.redeemed_by", row.redeemed_by.as_deref())?,
            subscription_id: optional_uuid(
                "product_keys.subscription_id",
                row.subscription_id.as_deref(),
            )?,
        })
    }
}

/// `attempt_counters`.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct AttemptCounterRow {
    subject: String,
    last_attempt_at: i64,
    attempts: i64,
}

impl TryFrom<AttemptCounterRow> for AttemptCounter {
    type Error = Error;

    fn try_from(row: AttemptCounterRow) -> Result<Self> {
        Ok(Self {
            subject: row.subject,
            attempts: row.attempts,
            last_attempt_at: instant("attempt_counters.last_attempt_at", row.last_attempt_at)?,
        })
    }
}

/// `store_purchases`.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct StorePurchaseRow {
    store: String,
    original_id: String,
    subscription_id: String,
    product_id: String,
    environment: String,
    latest_transaction_id: Option<String>,
    latest_purchased_at: Option<i64>,
    latest_signed_at: Option<i64>,
    renewal_signed_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<StorePurchaseRow> for StorePurchase {
    type Error = Error;

    fn try_from(row: StorePurchaseRow) -> Result<Self> {
        Ok(Self {
            store: stored("store_purchases.store", &row.store, StoreKind::parse)?,
            original_id: row.original_id,
            subscription_id: uuid("store_purchases.subscription_id", &row.subscription_id)?,
            product_id: row.product_id,
            environment: row.environment,
            latest_transaction_id: row.latest_transaction_id,
            latest_purchased_at: optional_instant(
                "store_purchases.latest_purchased_at",
                row.latest_purchased_at,
            )?,
            latest_signed_at: optional_instant(
                "store_purchases.latest_signed_at",
                row.latest_signed_at,
            )?,
            renewal_signed_at: optional_instant(
                "store_purchases.renewal_signed_at",
                row.renewal_signed_at,
            )?,
            created_at: instant("store_purchases.created_at", row.created_at)?,
            updated_at: instant("store_purchases.updated_at", row.updated_at)?,
        })
    }
}

/// `events`, as readers get them.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct EventRow {
    seq: i64,
    payload: String,
    created_at: i64,
}

impl TryFrom<EventRow> for StoredEvent {
    type Error = Error;

    fn try_from(row: EventRow) -> Result<Self> {
        Ok(Self {
            seq: row.seq,
            payload: row.payload,
            created_at: instant("events.created_at", row.created_at)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_stored_values_name_their_column() {
        let row = SeatRow {
            id: "not-a-uuid".into(),
            subscription_id: Uuid::now_v7().to_string(),
            device_id: "d".into(),
            platform: "WINDOWS".into(),
            display_name: "d".into(),
            activated_at: 0,
            last_seen_at: 0,
            deactivated_at: None,
        };
        match Seat::try_from(row) {
            Err(Error::Internal(message)) => assert!(message.contains("seats.id"), "{message}"),
            other => panic!("expected an internal error, got {other:?}"),
        }
        match flag("subscriptions.auto_renew", 2) {
            Err(Error::Internal(message)) => {
                assert!(message.contains("subscriptions.auto_renew"), "{message}")
            }
            other => panic!("expected an internal error, got {other:?}"),
        }
        assert!(matches!(
            instant("events.created_at", i64::MAX),
            Err(Error::Internal(_))
        ));
    }
}
