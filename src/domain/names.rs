//! Resource names as callers see them and as event details record them. Parsing them
//! from requests is the edge's job (`api::names`); this is the one place they are made.

use uuid::Uuid;

/// `accounts/{id}`.
pub fn account(id: Uuid) -> String {
    format!("accounts/{id}")
}

/// `subscriptions/{id}`.
pub fn subscription(id: Uuid) -> String {
    format!("subscriptions/{id}")
}

/// `subscriptions/{subscription_id}/seats/{seat_id}`.
pub fn seat(subscription_id: Uuid, seat_id: Uuid) -> String {
    format!("subscriptions/{subscription_id}/seats/{seat_id}")
}

/// `partners/{id}`.
pub fn partner(id: Uuid) -> String {
    format!("partners/{id}")
}

/// `partners/{partner_id}/keys/{key_id}`.
pub fn partner_key(partner_id: Uuid, key_id: Uuid) -> String {
    format!("partners/{partner_id}/keys/{key_id}")
}

/// `plans/{code}`.
pub fn plan(code: &str) -> String {
    format!("plans/{code}")
}
