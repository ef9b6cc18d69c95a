//! Redeeming partner codes and product keys: the codes and keys as stored, the rules of
//! redeeming them, the keyed hash under which they are kept, and what counts as a guess
//! for the throttle (`super::throttle`).

use super::{
    event::{EventType, NewEvent},
    idempotency::hex,
    stored_enum::stored_enum,
    subscription::Subscription,
};
use crate::error::{Error, Reason, Resource, Result};
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

stored_enum! {
    /// What a product key does when redeemed.
    ProductKeyKind {
        /// Creates a RETAIL subscription.
        New = "NEW",
        /// Extends an existing subscription by the plan's term.
        Renewal = "RENEWAL",
    }
}

/// HMAC-SHA256 under the server's secret key: a stolen database alone does not let
/// anyone test guesses of codes and keys offline.
#[derive(Clone)]
pub struct CodeHasher {
    key: Vec<u8>,
}

impl std::fmt::Debug for CodeHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeHasher(..)")
    }
}

impl CodeHasher {
    /// A hasher with `key`.
    pub fn new(key: &[u8]) -> Self {
        Self { key: key.to_vec() }
    }

    /// The stored form of a canonical (grouped, upper-case) code.
    pub fn hash(&self, canonical_code: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(canonical_code.as_bytes());
        hex(&mac.finalize().into_bytes())
    }
}

/// What redeeming something the caller may already have redeemed comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redemption {
    /// A first redemption: go ahead.
    First,
    /// This account redeemed it before: answer with the subscription it got then.
    Again(Uuid),
}

/// A partner code as stored (by keyed hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerCode {
    /// Keyed hash of the canonical code.
    pub hash: String,
    /// The carrier subscription it claims.
    pub subscription_id: Uuid,
    /// Issue time.
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// Redemption time.
    pub redeemed_at: Option<DateTime<Utc>>,
    /// The account that redeemed it.
    pub redeemed_by: Option<Uuid>,
    /// When a reissue replaced it.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl PartnerCode {
    /// A new code for a subscription, working for `ttl`.
    pub fn issue(hash: String, subscription_id: Uuid, now: DateTime<Utc>, ttl: Duration) -> Self {
        Self {
            hash,
            subscription_id,
            created_at: now,
            expires_at: now + ttl,
            redeemed_at: None,
            redeemed_by: None,
            revoked_at: None,
        }
    }

    /// Redeems the code for `account_id`. A replaced code does not exist any more;
    /// another account's code looks like a guess.
    /// Errors: `NotFound` (PartnerCode) for a revoked code; `FailedPrecondition`
    /// (PARTNER_CODE_ALREADY_REDEEMED, PARTNER_CODE_EXPIRED).
    pub fn redeem(&mut self, account_id: Uuid, now: DateTime<Utc>) -> Result<Redemption> {
        if self.revoked_at.is_some() {
            return Err(Error::NotFound(Resource::PartnerCode));
        }
        match self.redeemed_by {
            Some(by) if by == account_id => return Ok(Redemption::Again(self.subscription_id)),
            Some(_) => return Err(already_redeemed(Resource::PartnerCode)),
            None => {}
        }
        if self.expires_at <= now {
            return Err(Error::precondition(
                Reason::PartnerCodeExpired,
                "this partner code has expired: ask your provider for a new one",
            ));
        }
        self.redeemed_at = Some(now);
        self.redeemed_by = Some(account_id);
        Ok(Redemption::First)
    }

    /// Stops the code from working (a new one was issued).
    pub fn revoke(&mut self, now: DateTime<Utc>) {
        self.revoked_at.get_or_insert(now);
    }
}

/// A retail product key as stored (by keyed hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductKey {
    /// Keyed hash of the canonical key.
    pub hash: String,
    /// The plan it sells.
    pub plan_code: String,
    /// What it does.
    pub kind: ProductKeyKind,
    /// The print run.
    pub batch_label: String,
    /// Issue time.
    pub issued_at: DateTime<Utc>,
    /// Redemption time.
    pub redeemed_at: Option<DateTime<Utc>>,
    /// The account that redeemed it.
    pub redeemed_by: Option<Uuid>,
    /// The subscription it created or extended.
    pub subscription_id: Option<Uuid>,
}

/// The longest batch label (a print run's name), in characters.
pub const MAX_BATCH_LABEL_CHARS: usize = 100;

impl ProductKey {
    /// A batch label from `batch_label`: one line of 1 to [`MAX_BATCH_LABEL_CHARS`]
    /// characters (see [`super::text`]).
    /// Errors: `InvalidArgument` (batch_label).
    pub fn parse_batch_label(raw: &str) -> Result<String> {
        super::text::single_line("batch_label", raw, MAX_BATCH_LABEL_CHARS, false)
    }

    /// Whether `account_id` may redeem the key now.
    /// Errors: `FailedPrecondition` (PRODUCT_KEY_ALREADY_REDEEMED) for another account's.
    pub fn redemption(&self, account_id: Uuid) -> Result<Redemption> {
        match (self.redeemed_by, self.subscription_id) {
            (Some(by), Some(subscription)) if by == account_id => {
                Ok(Redemption::Again(subscription))
            }
            (Some(_), _) => Err(already_redeemed(Resource::ProductKey)),
            (None, _) => Ok(Redemption::First),
        }
    }

    /// Marks the key redeemed by `account_id` for `subscription` (as it is after the
    /// redemption). Records PRODUCT_KEY_REDEEMED with the key's kind.
    pub fn redeem(
        &mut self,
        account_id: Uuid,
        subscription: &Subscription,
        now: DateTime<Utc>,
        events: &mut Vec<NewEvent>,
    ) {
        self.redeemed_at = Some(now);
        self.redeemed_by = Some(account_id);
        self.subscription_id = Some(subscription.id);
        events.push(
            NewEvent::of(EventType::ProductKeyRedeemed, subscription)
                .with_detail("kind", self.kind.as_str()),
        );
    }
}

fn already_redeemed(what: Resource) -> Error {
    let reason = match what {
        Resource::PartnerCode => Reason::PartnerCodeAlreadyRedeemed,
        _ => Reason::ProductKeyAlreadyRedeemed,
    };
    Error::precondition(
        reason,
        format!("this {} has already been redeemed", what.noun()),
    )
}

/// Whether a failed redemption looks like a guess — an unknown code, or somebody
/// else's — and so counts against the caller.
pub fn is_guess(error: &Error) -> bool {
    matches!(
        error.reason(),
        Reason::PartnerCodeNotFound
            | Reason::ProductKeyNotFound
            | Reason::PartnerCodeAlreadyRedeemed
            | Reason::ProductKeyAlreadyRedeemed
    )
}

/// A freshly generated partner code (shown once) and what is stored of it.
#[derive(Debug, Clone)]
pub struct NewPartnerCode {
    /// The code for the customer.
    pub code: String,
    /// What is stored.
    pub stored: PartnerCode,
}

/// A carrier subscription with the code that lets a customer claim it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provisioned {
    /// The subscription.
    pub subscription: Subscription,
    /// The partner code.
    pub partner_code: String,
    /// When the code stops working.
    pub code_expires_at: DateTime<Utc>,
}

/// A reissued partner code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCode {
    /// The partner code.
    pub partner_code: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// A plan change and its side effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanChange {
    /// The subscription on its new plan.
    pub subscription: Subscription,
    /// Seats freed to fit the new limit.
    pub deactivated_seats: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_works_once_for_one_account() {
        let now = Utc::now();
        let (me, other) = (Uuid::now_v7(), Uuid::now_v7());
        let mut code = PartnerCode::issue("h".into(), Uuid::now_v7(), now, Duration::days(1));
        assert_eq!(code.redeem(me, now).unwrap(), Redemption::First);
        assert!(matches!(code.redeem(me, now), Ok(Redemption::Again(_))));
        assert!(is_guess(&code.redeem(other, now).unwrap_err()));
        let mut late = PartnerCode::issue("h".into(), Uuid::now_v7(), now, Duration::days(1));
        let expired = late.redeem(me, now + Duration::days(2)).unwrap_err();
        assert_eq!(expired.reason(), Reason::PartnerCodeExpired);
    }
}
