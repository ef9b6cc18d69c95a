//! Responses of the public API as JSON: the form in which the fixtures keep what today's
//! server answered. Every field of the message is written out, enums by their proto
//! names and times in RFC 3339, so one comparison checks the whole meaning and a
//! failure names the field that differs.

use chrono::{DateTime, SecondsFormat};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use tessera_client::pb;

/// An event as a watcher receives it.
pub fn event(event: &pb::Event) -> Value {
    json!({
        "sequence": event.sequence,
        "type": enum_name(event.r#type, |t: pb::EventType| t.as_str_name()),
        "subscription": event.subscription,
        "create_time": time(&event.create_time),
        "actor_kind": enum_name(event.actor_kind, |k: pb::ActorKind| k.as_str_name()),
        "actor": event.actor,
        "request_id": event.request_id,
        "subscription_state": event.subscription_state.as_ref().map(subscription),
        "seat": event.seat.as_ref().map(seat),
        "details": event.details.iter().collect::<BTreeMap<_, _>>(),
    })
}

/// A subscription, with `days_left` as the server computed it.
pub fn subscription(s: &pb::Subscription) -> Value {
    json!({
        "name": s.name,
        "claimed": s.claimed,
        "plan": s.plan,
        "channel": enum_name(s.channel, |c: pb::Channel| c.as_str_name()),
        "status": enum_name(s.status, |c: pb::SubscriptionStatus| c.as_str_name()),
        "account": s.account,
        "seat_limit": s.seat_limit,
        "active_seat_count": s.active_seat_count,
        "start_time": time(&s.start_time),
        "end_time": time(&s.end_time),
        "auto_renew": s.auto_renew,
        "cancel_at_period_end": s.cancel_at_period_end,
        "partner": s.partner,
        "partner_reference": s.partner_reference,
        "days_left": s.days_left,
        "product_key": s.product_key,
        "create_time": time(&s.create_time),
        "update_time": time(&s.update_time),
    })
}

/// A seat.
pub fn seat(seat: &pb::Seat) -> Value {
    json!({
        "name": seat.name,
        "device_id": seat.device_id,
        "platform": enum_name(seat.platform, |p: pb::Platform| p.as_str_name()),
        "display_name": seat.display_name,
        "state": enum_name(seat.state, |s: pb::SeatState| s.as_str_name()),
        "activate_time": time(&seat.activate_time),
        "last_seen_time": time(&seat.last_seen_time),
        "deactivate_time": time(&seat.deactivate_time),
    })
}

/// `ProvisionSubscription`'s answer.
pub fn provisioned(response: &pb::ProvisionSubscriptionResponse) -> Value {
    json!({
        "subscription": response.subscription.as_ref().map(subscription),
        "partner_code": response.partner_code,
        "partner_code_expire_time": time(&response.partner_code_expire_time),
    })
}

/// `ChangePlan`'s answer.
pub fn plan_change(response: &pb::ChangePlanResponse) -> Value {
    json!({
        "subscription": response.subscription.as_ref().map(subscription),
        "deactivated_seat_count": response.deactivated_seat_count,
    })
}

/// `ReissuePartnerCode`'s answer.
pub fn issued_code(response: &pb::ReissuePartnerCodeResponse) -> Value {
    json!({
        "partner_code": response.partner_code,
        "partner_code_expire_time": time(&response.partner_code_expire_time),
    })
}

/// A timestamp in RFC 3339 (UTC, as many fraction digits as it has), or null.
pub fn time(timestamp: &Option<prost_types::Timestamp>) -> Value {
    timestamp.as_ref().map_or(Value::Null, |t| {
        match DateTime::from_timestamp(t.seconds, t.nanos as u32) {
            Some(at) => json!(at.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
            None => json!(format!("invalid timestamp {t:?}")),
        }
    })
}

/// The proto name of an enum value, or the bare number if this client does not know it.
fn enum_name<E: TryFrom<i32>>(raw: i32, name: impl Fn(E) -> &'static str) -> Value {
    E::try_from(raw).map_or_else(|_| json!(raw), |value| json!(name(value)))
}

/// Asserts that `actual` is `expected`, naming the first field (as a path from `what`)
/// where they differ, so a failure over a whole event says which fact was misread.
#[track_caller]
pub fn assert_same(what: &str, actual: &Value, expected: &Value) {
    if let Some((path, actual, expected)) = first_difference(what.to_owned(), actual, expected) {
        panic!("{path} differs:\n  the server returns: {actual}\n  the fixture holds:  {expected}");
    }
}

fn first_difference(
    path: String,
    actual: &Value,
    expected: &Value,
) -> Option<(String, Value, Value)> {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => {
            let keys: std::collections::BTreeSet<_> = a.keys().chain(e.keys()).collect();
            keys.into_iter().find_map(|key| {
                let (a, e) = (
                    a.get(key).unwrap_or(&Value::Null),
                    e.get(key).unwrap_or(&Value::Null),
                );
                first_difference(format!("{path}.{key}"), a, e)
            })
        }
        _ if actual == expected => None,
        _ => Some((path, actual.clone(), expected.clone())),
    }
}
