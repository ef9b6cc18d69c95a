//! Domain values to and from their proto messages.

use crate::{
    domain::{
        account::Account,
        event::ActorKind,
        names::{
            account as account_name, partner as partner_name, plan as plan_name, seat as seat_name,
            subscription as subscription_name,
        },
        partner::{Partner, PartnerKey, PartnerStatus},
        plan::{Plan, StoreProduct, Term},
        principal::Principal,
        protection::{Action, Warning},
        seat::{Platform, Seat},
        subscription::{Channel, Status, Subscription},
    },
    error::{Error, Result},
    proto as pb,
};
use chrono::{DateTime, Utc};

/// A proto timestamp.
pub fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// A plan as sold.
impl From<&Plan> for pb::Plan {
    fn from(plan: &Plan) -> Self {
        let (term_months, term_days) = match plan.term {
            Term::Months(n) => (n as i32, 0),
            Term::Days(n) => (0, n as i32),
        };
        let mut app_store_product_ids = Vec::new();
        let mut play_products = Vec::new();
        for product in &plan.store_products {
            match product {
                StoreProduct::AppStore { product_id } => {
                    app_store_product_ids.push(product_id.clone())
                }
                StoreProduct::Play {
                    product_id,
                    base_plan_id,
                } => play_products.push(pb::PlayProduct {
                    product_id: product_id.clone(),
                    base_plan_id: base_plan_id.clone(),
                }),
            }
        }
        pb::Plan {
            name: plan_name(&plan.code),
            code: plan.code.clone(),
            display_name: plan.display_name.clone(),
            seat_limit: plan.seat_limit as i32,
            term_months,
            term_days,
            trial: plan.trial,
            app_store_product_ids,
            play_products,
        }
    }
}

/// An account.
impl From<Account> for pb::Account {
    fn from(account: Account) -> Self {
        pb::Account {
            name: account_name(account.id),
            email: account.email,
            display_name: account.display_name,
            create_time: Some(timestamp(account.created_at)),
            linked_identities: account
                .linked_identities
                .into_iter()
                .map(|(partner, reference)| pb::LinkedIdentity {
                    partner: partner_name(partner),
                    reference,
                })
                .collect(),
        }
    }
}

/// A channel.
impl From<Channel> for pb::Channel {
    fn from(channel: Channel) -> Self {
        match channel {
            Channel::Direct => pb::Channel::Direct,
            Channel::Retail => pb::Channel::Retail,
            Channel::Carrier => pb::Channel::Carrier,
            Channel::AppStore => pb::Channel::AppStore,
            Channel::PlayStore => pb::Channel::PlayStore,
        }
    }
}

/// A status.
impl From<Status> for pb::SubscriptionStatus {
    fn from(status: Status) -> Self {
        match status {
            Status::Trial => pb::SubscriptionStatus::Trial,
            Status::Active => pb::SubscriptionStatus::Active,
            Status::Grace => pb::SubscriptionStatus::Grace,
            Status::Suspended => pb::SubscriptionStatus::Suspended,
            Status::Expired => pb::SubscriptionStatus::Expired,
            Status::Cancelled => pb::SubscriptionStatus::Cancelled,
        }
    }
}

/// A status filter: UNSPECIFIED means any.
pub fn status_filter(field: &'static str, raw: i32) -> Result<Option<Status>> {
    let status = pb::SubscriptionStatus::try_from(raw)
        .map_err(|_| Error::invalid(field, "is not a known subscription status"))?;
    Ok(match status {
        pb::SubscriptionStatus::Unspecified => None,
        pb::SubscriptionStatus::Trial => Some(Status::Trial),
        pb::SubscriptionStatus::Active => Some(Status::Active),
        pb::SubscriptionStatus::Grace => Some(Status::Grace),
        pb::SubscriptionStatus::Suspended => Some(Status::Suspended),
        pb::SubscriptionStatus::Expired => Some(Status::Expired),
        pb::SubscriptionStatus::Cancelled => Some(Status::Cancelled),
    })
}

/// What the caller sees of a subscription. `show_product_key` only for its owner.
pub fn subscription(
    s: Subscription,
    now: DateTime<Utc>,
    show_product_key: bool,
) -> pb::Subscription {
    pb::Subscription {
        claimed: s.account_id.is_some(),
        name: subscription_name(s.id),
        plan: plan_name(&s.plan_code),
        channel: pb::Channel::from(s.channel) as i32,
        status: pb::SubscriptionStatus::from(s.status) as i32,
        account: s.account_id.map(account_name).unwrap_or_default(),
        seat_limit: s.seat_limit as i32,
        active_seat_count: s.active_seats as i32,
        start_time: Some(timestamp(s.term_start)),
        end_time: Some(timestamp(s.term_end)),
        auto_renew: s.auto_renew,
        cancel_at_period_end: s.cancel_at_period_end,
        partner: s.partner_id.map(partner_name).unwrap_or_default(),
        partner_reference: s.partner_reference.clone().unwrap_or_default(),
        days_left: s.days_left(now) as i32,
        product_key: if show_product_key {
            s.product_key.clone().unwrap_or_default()
        } else {
            String::new()
        },
        create_time: Some(timestamp(s.created_at)),
        update_time: Some(timestamp(s.updated_at)),
        moved_from_other_account: false,
    }
}

/// A platform from a request.
pub fn platform(field: &'static str, raw: i32) -> Result<Platform> {
    match pb::Platform::try_from(raw) {
        Ok(pb::Platform::Windows) => Ok(Platform::Windows),
        Ok(pb::Platform::Macos) => Ok(Platform::MacOs),
        Ok(pb::Platform::Android) => Ok(Platform::Android),
        Ok(pb::Platform::Ios) => Ok(Platform::Ios),
        Ok(pb::Platform::Unspecified) => Err(Error::invalid(field, "is required")),
        Err(_) => Err(Error::invalid(field, "is not a known platform")),
    }
}

/// A seat.
impl From<Seat> for pb::Seat {
    fn from(seat: Seat) -> Self {
        let state = if seat.is_active() {
            pb::SeatState::Active
        } else {
            pb::SeatState::Deactivated
        };
        pb::Seat {
            name: seat_name(seat.subscription_id, seat.id),
            device_id: seat.device_id,
            platform: match seat.platform {
                Platform::Windows => pb::Platform::Windows,
                Platform::MacOs => pb::Platform::Macos,
                Platform::Android => pb::Platform::Android,
                Platform::Ios => pb::Platform::Ios,
            } as i32,
            display_name: seat.display_name,
            state: state as i32,
            activate_time: Some(timestamp(seat.activated_at)),
            last_seen_time: Some(timestamp(seat.last_seen_at)),
            deactivate_time: seat.deactivated_at.map(timestamp),
        }
    }
}

/// A protection warning kind.
impl From<Warning> for pb::WarningKind {
    fn from(warning: Warning) -> Self {
        match warning {
            Warning::ExpiringSoon => pb::WarningKind::ExpiringSoon,
            Warning::InGrace => pb::WarningKind::InGrace,
            Warning::Expired => pb::WarningKind::Expired,
            Warning::Suspended => pb::WarningKind::Suspended,
            Warning::Cancelled => pb::WarningKind::Cancelled,
            Warning::SeatRemoved => pb::WarningKind::SeatRemoved,
        }
    }
}

/// A protection action kind.
impl From<Action> for pb::ActionKind {
    fn from(action: Action) -> Self {
        match action {
            Action::Renew => pb::ActionKind::Renew,
            Action::ApplySubscription => pb::ActionKind::ApplySubscription,
            Action::RecoverPurchase => pb::ActionKind::RecoverPurchase,
        }
    }
}

/// What `principal` sees of a subscription as of `at`: the product key only for its
/// owner; for a partner or a device, whether it is claimed but not by whom.
pub fn subscription_for(
    principal: Principal,
    subscription: Subscription,
    at: DateTime<Utc>,
) -> pb::Subscription {
    let owner = matches!(principal, Principal::Account(id) if subscription.account_id == Some(id));
    let mut view = self::subscription(subscription, at, owner);
    if matches!(principal, Principal::Partner(_) | Principal::Device { .. }) {
        view.account.clear();
    }
    view
}

/// A partner.
impl From<Partner> for pb::Partner {
    fn from(partner: Partner) -> Self {
        pb::Partner {
            name: partner_name(partner.id),
            display_name: partner.display_name,
            status: match partner.status {
                PartnerStatus::Active => pb::PartnerStatus::Active,
                PartnerStatus::Disabled => pb::PartnerStatus::Disabled,
            } as i32,
            create_time: Some(timestamp(partner.created_at)),
        }
    }
}

/// A partner's API key (never the secret).
impl From<PartnerKey> for pb::PartnerKey {
    fn from(key: PartnerKey) -> Self {
        pb::PartnerKey {
            name: crate::domain::names::partner_key(key.partner_id, key.id),
            prefix: key.prefix,
            create_time: Some(timestamp(key.created_at)),
            revoke_time: key.revoked_at.map(timestamp),
        }
    }
}

/// An actor kind.
impl From<ActorKind> for pb::ActorKind {
    fn from(kind: ActorKind) -> Self {
        match kind {
            ActorKind::Account => pb::ActorKind::Account,
            ActorKind::Partner => pb::ActorKind::Partner,
            ActorKind::Admin => pb::ActorKind::Admin,
            ActorKind::System => pb::ActorKind::System,
        }
    }
}

/// The earliest second a `google.protobuf.Timestamp` may hold: 0001-01-01T00:00:00Z.
pub const MIN_TIMESTAMP_SECONDS: i64 = -62_135_596_800;
/// The latest second a `google.protobuf.Timestamp` may hold: 9999-12-31T23:59:59Z.
pub const MAX_TIMESTAMP_SECONDS: i64 = 253_402_300_799;
/// The largest `nanos` of a `google.protobuf.Timestamp`.
pub const MAX_TIMESTAMP_NANOS: i32 = 999_999_999;

/// A timestamp from a request; `None` when unset. Every timestamp a request carries
/// comes through here, whether or not the method reads it: one outside the range the
/// protobuf specification allows (seconds from 0001-01-01T00:00:00Z to
/// 9999-12-31T23:59:59Z, nanos from 0 to 999,999,999) is malformed wherever it is, as
/// a string that is not UTF-8 is.
/// Errors: `InvalidArgument` on `field` for one out of that range.
pub fn time_field(
    field: &'static str,
    raw: Option<prost_types::Timestamp>,
) -> Result<Option<DateTime<Utc>>> {
    raw.map(|t| {
        if !(MIN_TIMESTAMP_SECONDS..=MAX_TIMESTAMP_SECONDS).contains(&t.seconds) {
            return Err(Error::invalid(
                field,
                "must lie between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z",
            ));
        }
        // chrono reads nanos from 1e9 up as a leap second; the protobuf spec does not.
        u32::try_from(t.nanos)
            .ok()
            .filter(|nanos| *nanos <= MAX_TIMESTAMP_NANOS as u32)
            .and_then(|nanos| DateTime::from_timestamp(t.seconds, nanos))
            .ok_or_else(|| Error::invalid(field, "must have nanos from 0 to 999999999"))
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost_types::Timestamp;

    fn at(seconds: i64, nanos: i32) -> Option<Timestamp> {
        Some(Timestamp { seconds, nanos })
    }

    #[test]
    fn timestamps_are_read_within_the_protobuf_range_and_refused_outside_it() {
        let first = time_field("t", at(MIN_TIMESTAMP_SECONDS, 0))
            .unwrap()
            .unwrap();
        assert_eq!(first.to_rfc3339(), "0001-01-01T00:00:00+00:00");
        let last = time_field("t", at(MAX_TIMESTAMP_SECONDS, MAX_TIMESTAMP_NANOS))
            .unwrap()
            .unwrap();
        assert_eq!(
            timestamp(last),
            at(MAX_TIMESTAMP_SECONDS, MAX_TIMESTAMP_NANOS).unwrap()
        );
        assert_eq!(time_field("t", None).unwrap(), None);
        for (seconds, nanos) in [
            (MIN_TIMESTAMP_SECONDS - 1, 0),
            (MAX_TIMESTAMP_SECONDS + 1, 0),
            (0, 1_000_000_000),
            (0, -1),
            (i64::MAX, 0),
            (i64::MIN, 0),
        ] {
            let refused = time_field("start_time", at(seconds, nanos)).unwrap_err();
            assert!(
                matches!(
                    refused,
                    Error::InvalidArgument {
                        field: "start_time",
                        ..
                    }
                ),
                "{seconds}s {nanos}ns accepted: {refused:?}"
            );
        }
    }
}
