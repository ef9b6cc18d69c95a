//! Retry-safe changes. [`METHODS`] says which methods take a request id and when it is
//! required; [`Services::idempotent`] runs a unit of work under one: the first call's
//! answer is stored in the same transaction as its change, and a retry with the same id
//! and request gets that answer back and changes nothing.

use super::{Services, Unit};
use crate::{
    domain::{
        idempotency::{Answer, IdempotencyKey},
        principal::Principal,
    },
    error::{Error, Result},
    store::records::Answerable,
};

/// The methods that take a request id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `SubscriptionService.CreateSubscription`.
    CreateSubscription,
    /// `SubscriptionService.CancelSubscription`.
    CancelSubscription,
    /// `SubscriptionService.ProvisionSubscription`.
    ProvisionSubscription,
    /// `SubscriptionService.ChangePlan`.
    ChangePlan,
    /// `SubscriptionService.SuspendSubscription`.
    SuspendSubscription,
    /// `SubscriptionService.ResumeSubscription`.
    ResumeSubscription,
    /// `SubscriptionService.RenewSubscription`.
    RenewSubscription,
    /// `SubscriptionService.ReissuePartnerCode`.
    ReissuePartnerCode,
}

/// When a method requires a request id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestId {
    /// From every caller.
    Required,
    /// From partners; optional for others.
    RequiredFromPartners,
}

/// Every method that takes a request id: its name (part of the request's fingerprint,
/// so never renamed) and when the id is required.
pub const METHODS: &[(Method, &str, RequestId)] = &[
    (
        Method::CreateSubscription,
        "CreateSubscription",
        RequestId::Required,
    ),
    (
        Method::CancelSubscription,
        "CancelSubscription",
        RequestId::RequiredFromPartners,
    ),
    (
        Method::ProvisionSubscription,
        "ProvisionSubscription",
        RequestId::RequiredFromPartners,
    ),
    (
        Method::ChangePlan,
        "ChangePlan",
        RequestId::RequiredFromPartners,
    ),
    (
        Method::SuspendSubscription,
        "SuspendSubscription",
        RequestId::RequiredFromPartners,
    ),
    (
        Method::ResumeSubscription,
        "ResumeSubscription",
        RequestId::RequiredFromPartners,
    ),
    (
        Method::RenewSubscription,
        "RenewSubscription",
        RequestId::RequiredFromPartners,
    ),
    (
        Method::ReissuePartnerCode,
        "ReissuePartnerCode",
        RequestId::RequiredFromPartners,
    ),
];

impl Method {
    fn entry(self) -> (&'static str, RequestId) {
        METHODS
            .iter()
            .find(|(method, ..)| *method == self)
            .map(|(_, name, rule)| (*name, *rule))
            .expect("every method is in the table")
    }

    /// The idempotency key of a request of this method from `principal`, if it carries
    /// a request id; `request` is the request's protobuf encoding.
    /// Errors: `InvalidArgument` (request_id) when the table requires one and it is
    /// missing, or when it is not 1 to 128 printable ASCII characters.
    pub fn key(
        self,
        principal: Principal,
        request_id: &str,
        request: &[u8],
    ) -> Result<Option<IdempotencyKey>> {
        let (name, rule) = self.entry();
        if request_id.is_empty() {
            return match (rule, principal) {
                (RequestId::Required, _) => Err(Error::invalid("request_id", "is required")),
                (RequestId::RequiredFromPartners, Principal::Partner(_)) => Err(Error::invalid(
                    "request_id",
                    "is required for partner calls",
                )),
                (RequestId::RequiredFromPartners, _) => Ok(None),
            };
        }
        IdempotencyKey::new(principal.idempotency_scope(), request_id, name, request).map(Some)
    }
}

impl Services {
    /// Runs `work` in a unit of work on behalf of `author`, under `key` when there is
    /// one: a stored answer for the key is returned as it was first given; otherwise the
    /// work's answer is stored with its change, and both commit together.
    /// Errors: `RequestIdReused` when the key's id came with a different request; the
    /// work's own errors (then nothing is stored or changed).
    pub(crate) async fn idempotent<T: Answerable>(
        &self,
        author: Principal,
        key: Option<&IdempotencyKey>,
        work: impl AsyncFnOnce(&mut Unit) -> Result<T>,
    ) -> Result<Answer<T>> {
        if let Some(key) = key {
            // The call's log lines name the caller's request id (see `api::trace`).
            tracing::Span::current().record("request_id", key.request_id.as_str());
        }
        let mut unit = self.begin(Some(author), key).await?;
        if let Some(key) = key
            && let Some(stored) = unit.tx.stored_request(key).await?
        {
            if stored.fingerprint != key.fingerprint {
                return Err(Error::RequestIdReused);
            }
            return T::decode_answer(&stored.response);
        }
        let value = work(&mut unit).await?;
        let answer = Answer {
            value,
            answered_at: unit.now,
        };
        if let Some(key) = key {
            let response = T::encode_answer(&answer)?;
            unit.tx.store_request(key, &response, unit.now).await?;
        }
        unit.commit().await?;
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partners_must_send_a_request_id_and_everyone_must_for_create() {
        let partner = Principal::Partner(uuid::Uuid::now_v7());
        assert!(Method::ChangePlan.key(partner, "", b"").is_err());
        assert!(
            Method::ChangePlan
                .key(Principal::Admin, "", b"")
                .unwrap()
                .is_none()
        );
        assert!(
            Method::CreateSubscription
                .key(Principal::Admin, "", b"")
                .is_err()
        );
        let key = Method::ChangePlan
            .key(partner, "r-1", b"x")
            .unwrap()
            .unwrap();
        assert_eq!(key.scope, partner.idempotency_scope());
    }

    #[test]
    fn every_method_is_listed_once() {
        for (i, (method, ..)) in METHODS.iter().enumerate() {
            assert!(METHODS[i + 1..].iter().all(|(m, ..)| m != method));
        }
    }
}
