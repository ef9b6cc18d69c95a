//! Subscriptions: channels, statuses and the record itself.

use super::clock::days_left;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! stored_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every value.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored text form.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses the stored text form.
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }
    };
}
pub(crate) use stored_enum;

stored_enum! {
    /// How a subscription was sold.
    Channel {
        /// Vendor web shop.
        Direct = "DIRECT",
        /// Product key.
        Retail = "RETAIL",
        /// Telecom carrier.
        Carrier = "CARRIER",
        /// Apple App Store.
        AppStore = "APP_STORE",
        /// Google Play.
        PlayStore = "PLAY_STORE",
    }
}

stored_enum! {
    /// Where a subscription is in its life.
    Status {
        /// Free trial.
        Trial = "TRIAL",
        /// Paid and running.
        Active = "ACTIVE",
        /// Term ended without renewal; still protected for a while.
        Grace = "GRACE",
        /// Paused by the seller.
        Suspended = "SUSPENDED",
        /// Over.
        Expired = "EXPIRED",
        /// Cancelled.
        Cancelled = "CANCELLED",
    }
}

impl Status {
    /// Whether new seats may be taken.
    pub fn takes_seats(self) -> bool {
        matches!(self, Status::Active | Status::Trial)
    }

    /// Whether devices holding seats are protected.
    pub fn protects(self) -> bool {
        matches!(self, Status::Active | Status::Trial | Status::Grace)
    }

    /// Whether the subscription has ended for good.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Expired | Status::Cancelled)
    }
}

/// One instance of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// Subscription id.
    pub id: Uuid,
    /// Plan code.
    pub plan_code: String,
    /// Sales channel.
    pub channel: Channel,
    /// Status.
    pub status: Status,
    /// Owning account; `None` while a carrier subscription is unclaimed.
    pub account_id: Option<Uuid>,
    /// Most active seats allowed.
    pub seat_limit: i64,
    /// Seats taken now.
    pub active_seats: i64,
    /// Start of the current term.
    pub term_start: DateTime<Utc>,
    /// End of the current term.
    pub term_end: DateTime<Utc>,
    /// Renews by itself at term end.
    pub auto_renew: bool,
    /// Ends at term end.
    pub cancel_at_period_end: bool,
    /// Selling partner.
    pub partner_id: Option<Uuid>,
    /// The partner's reference.
    pub partner_reference: Option<String>,
    /// The product key that created it (shown to the owner only).
    pub product_key: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl Subscription {
    /// Whole days left in the current term.
    pub fn days_left(&self, now: DateTime<Utc>) -> i64 {
        days_left(now, self.term_end)
    }
}

/// Filter for listing subscriptions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SubscriptionFilter {
    /// Only this status.
    pub status: Option<Status>,
}
