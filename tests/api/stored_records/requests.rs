//! The requests whose answers are stored, rebuilt from the fixtures. A stored answer is
//! only replayed for the very request it answered: the stored fingerprint is SHA-256
//! over the method name, a 0 byte and the request's protobuf encoding, so each request
//! is kept field by field and rebuilt into the identical message.

use super::{describe, fixtures::sha256_hex};
use crate::support::TestApp;
use chrono::DateTime;
use prost::Message;
use serde_json::Value;
use tessera_client::{pb, tonic::Status, with_token};

/// One request of a method that stores its answer.
#[derive(Debug, Clone)]
pub enum Request {
    Create(pb::CreateSubscriptionRequest),
    Cancel(pb::CancelSubscriptionRequest),
    Suspend(pb::SuspendSubscriptionRequest),
    Resume(pb::ResumeSubscriptionRequest),
    Renew(pb::RenewSubscriptionRequest),
    Provision(pb::ProvisionSubscriptionRequest),
    ChangePlan(pb::ChangePlanRequest),
    Reissue(pb::ReissuePartnerCodeRequest),
}

/// Every method whose answer is stored, by the name the fingerprint uses.
pub const METHODS: &[&str] = &[
    "CreateSubscription",
    "CancelSubscription",
    "SuspendSubscription",
    "ResumeSubscription",
    "RenewSubscription",
    "ProvisionSubscription",
    "ChangePlan",
    "ReissuePartnerCode",
];

impl Request {
    /// The request of `method` with the fields in `fields` (proto field names; enums by
    /// their proto names, times in RFC 3339, absent times as null).
    pub fn from_fields(method: &str, fields: &Value) -> Self {
        let text = |name: &str| -> String {
            fields[name]
                .as_str()
                .unwrap_or_else(|| panic!("{method}.{name} is not text in {fields}"))
                .to_owned()
        };
        let flag = |name: &str| {
            fields[name]
                .as_bool()
                .unwrap_or_else(|| panic!("{method}.{name}"))
        };
        let time = |name: &str| timestamp(&fields[name]);
        let request_id = text("request_id");
        match method {
            "CreateSubscription" => Self::Create(pb::CreateSubscriptionRequest {
                parent: text("parent"),
                plan: text("plan"),
                auto_renew: flag("auto_renew"),
                request_id,
            }),
            "CancelSubscription" => Self::Cancel(pb::CancelSubscriptionRequest {
                name: text("name"),
                immediately: flag("immediately"),
                request_id,
            }),
            "SuspendSubscription" => Self::Suspend(pb::SuspendSubscriptionRequest {
                name: text("name"),
                request_id,
            }),
            "ResumeSubscription" => Self::Resume(pb::ResumeSubscriptionRequest {
                name: text("name"),
                request_id,
            }),
            "RenewSubscription" => Self::Renew(pb::RenewSubscriptionRequest {
                name: text("name"),
                end_time: time("end_time"),
                request_id,
            }),
            "ProvisionSubscription" => Self::Provision(pb::ProvisionSubscriptionRequest {
                partner_reference: text("partner_reference"),
                plan: text("plan"),
                start_time: time("start_time"),
                request_id,
            }),
            "ChangePlan" => Self::ChangePlan(pb::ChangePlanRequest {
                name: text("name"),
                plan: text("plan"),
                downgrade_policy: pb::DowngradePolicy::from_str_name(&text("downgrade_policy"))
                    .unwrap_or_else(|| panic!("an unknown downgrade policy in {fields}"))
                    as i32,
                request_id,
            }),
            "ReissuePartnerCode" => Self::Reissue(pb::ReissuePartnerCodeRequest {
                name: text("name"),
                request_id,
            }),
            other => panic!("no stored answers are known for {other}"),
        }
    }

    /// SHA-256 (lower-case hex) over the method name, a 0 byte and the encoding.
    pub fn fingerprint(&self) -> String {
        let (method, encoding) = match self {
            Self::Create(r) => ("CreateSubscription", r.encode_to_vec()),
            Self::Cancel(r) => ("CancelSubscription", r.encode_to_vec()),
            Self::Suspend(r) => ("SuspendSubscription", r.encode_to_vec()),
            Self::Resume(r) => ("ResumeSubscription", r.encode_to_vec()),
            Self::Renew(r) => ("RenewSubscription", r.encode_to_vec()),
            Self::Provision(r) => ("ProvisionSubscription", r.encode_to_vec()),
            Self::ChangePlan(r) => ("ChangePlan", r.encode_to_vec()),
            Self::Reissue(r) => ("ReissuePartnerCode", r.encode_to_vec()),
        };
        sha256_hex(&[method.as_bytes(), &[0], &encoding].concat())
    }

    /// Sends the request with `token` and describes the answer (see [`describe`]).
    pub async fn send(self, app: &TestApp, token: &str) -> Result<Value, Status> {
        let mut client = app.subscriptions();
        Ok(match self {
            Self::Create(r) => {
                let answer = client.create_subscription(with_token(token, r)).await?;
                describe::subscription(answer.get_ref())
            }
            Self::Cancel(r) => {
                let answer = client.cancel_subscription(with_token(token, r)).await?;
                describe::subscription(answer.get_ref())
            }
            Self::Suspend(r) => {
                let answer = client.suspend_subscription(with_token(token, r)).await?;
                describe::subscription(answer.get_ref())
            }
            Self::Resume(r) => {
                let answer = client.resume_subscription(with_token(token, r)).await?;
                describe::subscription(answer.get_ref())
            }
            Self::Renew(r) => {
                let answer = client.renew_subscription(with_token(token, r)).await?;
                describe::subscription(answer.get_ref())
            }
            Self::Provision(r) => {
                let answer = client.provision_subscription(with_token(token, r)).await?;
                describe::provisioned(answer.get_ref())
            }
            Self::ChangePlan(r) => {
                let answer = client.change_plan(with_token(token, r)).await?;
                describe::plan_change(answer.get_ref())
            }
            Self::Reissue(r) => {
                let answer = client.reissue_partner_code(with_token(token, r)).await?;
                describe::issued_code(answer.get_ref())
            }
        })
    }
}

/// A request time from RFC 3339 text, to the nanosecond; null is an absent time.
fn timestamp(value: &Value) -> Option<prost_types::Timestamp> {
    let text = value.as_str()?;
    let at = DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text:?} is not an RFC 3339 time: {e}"));
    Some(prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    })
}
