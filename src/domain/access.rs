//! Who is asking. Every store read and write is filtered by an [`Access`], so tenant
//! isolation is enforced in one place: what a caller may not see does not exist for it.

use uuid::Uuid;

/// The authenticated caller, as the store sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Internal services and operators: everything.
    Admin,
    /// A customer session: only the account's own data.
    Account(Uuid),
    /// A carrier or reseller: only the subscriptions it provisioned, as counts.
    Partner(Uuid),
    /// A device token: only its own seat and that seat's subscription, and the
    /// subscription only while the seat is held.
    Device {
        /// The seat the token was issued for.
        seat_id: Uuid,
        /// The subscription of that seat.
        subscription_id: Uuid,
        /// Whether the seat is still held. A removed device may still ask whether it is
        /// protected (it is not), and nothing more.
        active: bool,
    },
}

impl Access {
    /// Short name for logs and spans.
    pub fn kind(&self) -> &'static str {
        match self {
            Access::Admin => "admin",
            Access::Account(_) => "account",
            Access::Partner(_) => "partner",
            Access::Device { .. } => "device",
        }
    }

    /// The scope under which idempotency keys of this caller are stored.
    pub fn idempotency_scope(&self) -> String {
        match self {
            Access::Admin => "admin".to_owned(),
            Access::Account(id) => format!("account:{id}"),
            Access::Partner(id) => format!("partner:{id}"),
            Access::Device { seat_id, .. } => format!("device:{seat_id}"),
        }
    }
}
