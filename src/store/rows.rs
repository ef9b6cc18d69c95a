//! Column lists and row-to-domain conversions shared by the store's queries.

use super::parse_uuid;
use crate::{
    domain::{
        clock::from_micros,
        seat::{Platform, Seat},
        subscription::{Channel, Status, Subscription},
    },
    error::{Error, Result},
};
use sqlx::{Row, any::AnyRow};

/// The columns [`subscription`] reads, qualified with the table alias `s`.
macro_rules! subscription_columns {
    () => {
        "s.id, s.plan_code, s.channel, s.status, s.account_id, s.seat_limit, s.active_seats, \
         s.term_start, s.term_end, s.auto_renew, s.cancel_at_period_end, s.partner_id, \
         s.partner_reference, s.product_key, s.created_at, s.updated_at"
    };
}
pub(super) use subscription_columns;

/// The columns [`seat`] reads, qualified with the table alias `t`.
macro_rules! seat_columns {
    () => {
        "t.id, t.subscription_id, t.device_id, t.platform, t.display_name, t.activated_at, \
         t.last_seen_at, t.deactivated_at"
    };
}
pub(super) use seat_columns;

/// The condition under which the caller bound as `$1` (access kind) and `$2` (access id)
/// may see subscription `s`.
macro_rules! visible_subscription {
    () => {
        "($1 = 'admin' OR ($1 = 'account' AND s.account_id = $2) \
         OR ($1 = 'partner' AND s.partner_id = $2) OR ($1 = 'device' AND s.id = $2))"
    };
}
pub(super) use visible_subscription;

fn enum_column<T>(row: &AnyRow, column: &str, parse: fn(&str) -> Option<T>) -> Result<T> {
    let text: String = row.try_get(column)?;
    parse(&text).ok_or_else(|| Error::Internal(format!("bad {column} {text:?}")))
}

fn optional_uuid(row: &AnyRow, column: &str) -> Result<Option<uuid::Uuid>> {
    let text: Option<String> = row.try_get(column)?;
    text.as_deref().map(parse_uuid).transpose()
}

pub(super) fn subscription(row: &AnyRow) -> Result<Subscription> {
    Ok(Subscription {
        id: parse_uuid(&row.try_get::<String, _>("id")?)?,
        plan_code: row.try_get("plan_code")?,
        channel: enum_column(row, "channel", Channel::parse)?,
        status: enum_column(row, "status", Status::parse)?,
        account_id: optional_uuid(row, "account_id")?,
        seat_limit: row.try_get("seat_limit")?,
        active_seats: row.try_get("active_seats")?,
        term_start: from_micros(row.try_get("term_start")?),
        term_end: from_micros(row.try_get("term_end")?),
        auto_renew: row.try_get::<i64, _>("auto_renew")? != 0,
        cancel_at_period_end: row.try_get::<i64, _>("cancel_at_period_end")? != 0,
        partner_id: optional_uuid(row, "partner_id")?,
        partner_reference: row.try_get("partner_reference")?,
        product_key: row.try_get("product_key")?,
        created_at: from_micros(row.try_get("created_at")?),
        updated_at: from_micros(row.try_get("updated_at")?),
    })
}

pub(super) fn seat(row: &AnyRow) -> Result<Seat> {
    Ok(Seat {
        id: parse_uuid(&row.try_get::<String, _>("id")?)?,
        subscription_id: parse_uuid(&row.try_get::<String, _>("subscription_id")?)?,
        device_id: row.try_get("device_id")?,
        platform: enum_column(row, "platform", Platform::parse)?,
        display_name: row.try_get("display_name")?,
        activated_at: from_micros(row.try_get("activated_at")?),
        last_seen_at: from_micros(row.try_get("last_seen_at")?),
        deactivated_at: row
            .try_get::<Option<i64>, _>("deactivated_at")?
            .map(from_micros),
    })
}
