//! Who is asking, and what they may see. Tenant isolation is decided here, once: the
//! [`Scope`] of a principal is the predicate every read of subscriptions is filtered by,
//! so what a caller may not see does not exist for it.

use super::subscription::Subscription;
use uuid::Uuid;

/// The authenticated caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
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

/// The kinds of principal, for roles, logs and spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrincipalKind {
    /// The admin token.
    Admin,
    /// An account session.
    Account,
    /// A partner API key.
    Partner,
    /// A device token.
    Device,
}

impl PrincipalKind {
    /// Short name for logs, spans and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::Admin => "admin",
            PrincipalKind::Account => "account",
            PrincipalKind::Partner => "partner",
            PrincipalKind::Device => "device",
        }
    }
}

/// Which subscriptions a reader may see. The store applies it as a predicate on every
/// read of subscriptions (and of what hangs off them); [`Scope::All`] is for the admin
/// and for Tessera's own steps, and says so where it is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every subscription.
    All,
    /// The subscriptions an account owns.
    Account(Uuid),
    /// The subscriptions a partner sold.
    Partner(Uuid),
    /// One subscription (a device's own).
    Subscription(Uuid),
    /// None at all (a removed device).
    Nothing,
}

impl Scope {
    /// Whether a reader with this scope sees `subscription`: the predicate the backends
    /// apply in SQL, for reads served from memory.
    pub fn sees(&self, subscription: &Subscription) -> bool {
        match *self {
            Scope::All => true,
            Scope::Account(id) => subscription.account_id == Some(id),
            Scope::Partner(id) => subscription.partner_id == Some(id),
            Scope::Subscription(id) => subscription.id == id,
            Scope::Nothing => false,
        }
    }
}

impl Principal {
    /// The kind of caller.
    pub fn kind(&self) -> PrincipalKind {
        match self {
            Principal::Admin => PrincipalKind::Admin,
            Principal::Account(_) => PrincipalKind::Account,
            Principal::Partner(_) => PrincipalKind::Partner,
            Principal::Device { .. } => PrincipalKind::Device,
        }
    }

    /// The subscriptions this caller may see. A device whose seat was removed sees none.
    pub fn scope(&self) -> Scope {
        match *self {
            Principal::Admin => Scope::All,
            Principal::Account(id) => Scope::Account(id),
            Principal::Partner(id) => Scope::Partner(id),
            Principal::Device {
                subscription_id,
                active: true,
                ..
            } => Scope::Subscription(subscription_id),
            Principal::Device { active: false, .. } => Scope::Nothing,
        }
    }

    /// Whether the caller may see devices (seats). Partners see counts, never devices.
    pub fn sees_devices(&self) -> bool {
        !matches!(self, Principal::Partner(_))
    }

    /// Whether the caller may see the account `id`: the admin any, an account itself.
    pub fn sees_account(&self, id: Uuid) -> bool {
        match self {
            Principal::Admin => true,
            Principal::Account(own) => *own == id,
            Principal::Partner(_) | Principal::Device { .. } => false,
        }
    }

    /// Whether the caller may see the partner `id`: the admin any, a partner itself.
    pub fn sees_partner(&self, id: Uuid) -> bool {
        match self {
            Principal::Admin => true,
            Principal::Partner(own) => *own == id,
            Principal::Account(_) | Principal::Device { .. } => false,
        }
    }

    /// The scope under which this caller's request ids are stored: ids of different
    /// callers never clash.
    pub fn idempotency_scope(&self) -> String {
        match self {
            Principal::Admin => "admin".to_owned(),
            Principal::Account(id) => format!("account:{id}"),
            Principal::Partner(id) => format!("partner:{id}"),
            Principal::Device { seat_id, .. } => format!("device:{seat_id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_removed_device_sees_nothing_and_partners_see_no_devices() {
        let id = Uuid::now_v7();
        let removed = Principal::Device {
            seat_id: id,
            subscription_id: id,
            active: false,
        };
        assert_eq!(removed.scope(), Scope::Nothing);
        assert!(!Principal::Partner(id).sees_devices());
        assert!(Principal::Admin.sees_account(id));
        assert!(!Principal::Partner(id).sees_account(id));
    }
}
