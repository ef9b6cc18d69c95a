//! One case's world on a real store: what was last seen of it and a trace of what
//! happened; and how a refusal is told apart from a failure of the test.

use crate::scenario::{CARRIER, NAMES, Setup};
use chrono::{DateTime, Duration, Utc};
use proptest::sample::Index;
use std::fmt::Write as _;
use tessera::{
    Error,
    domain::{
        access::Access,
        account::Email,
        page::PageRequest,
        plan,
        redemption::NewPartnerCode,
        seat::Seat,
        subscription::{Channel, Subscription},
    },
    store::{NewSubscription, Store},
};
use uuid::Uuid;

/// One case's world: an account with a DIRECT and a (claimed) CARRIER subscription.
pub struct World<'a> {
    pub store: &'a Store,
    pub tag: String,
    pub account: Uuid,
    pub partner: Uuid,
    pub ids: [Uuid; 2],
    /// The subscriptions as last observed.
    pub seen: [Subscription; 2],
    pub now: DateTime<Utc>,
    pub tokens: u64,
    /// What happened so far, for the failure report.
    pub trace: String,
}

pub type Outcome<T = ()> = std::result::Result<T, String>;

/// Passes refusals through; anything else is a failure of the test.
pub fn refusal_or<T>(what: &str, result: tessera::Result<T>) -> Outcome<tessera::Result<T>> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(
            error @ (Error::InvalidArgument { .. }
            | Error::FailedPrecondition { .. }
            | Error::SeatLimitReached { .. }),
        ) => Ok(Err(error)),
        Err(error) => Err(format!("{what}: unexpected error {error:?}")),
    }
}

pub fn must<T>(what: &str, result: tessera::Result<T>) -> Outcome<T> {
    result.map_err(|error| format!("{what}: {error:?}"))
}

pub fn short(result: &tessera::Result<impl Sized>) -> String {
    match result {
        Ok(_) => "ok".to_owned(),
        Err(Error::FailedPrecondition { reason, .. }) => format!("refused {reason}"),
        Err(Error::InvalidArgument { field, .. }) => format!("invalid {field}"),
        Err(Error::SeatLimitReached { limit, .. }) => format!("refused: all {limit} seats taken"),
        Err(error) => format!("{error:?}"),
    }
}

impl<'a> World<'a> {
    pub async fn create(store: &'a Store, setup: &Setup) -> Outcome<World<'a>> {
        let now = setup.start;
        let tag = Uuid::new_v4().simple().to_string();
        let email = Email::parse(&format!("prop-{tag}@example.com")).map_err(|e| e.to_string())?;
        let account = must(
            "create_account",
            store
                .create_account(&email, "not-a-real-hash", "Prop", now)
                .await,
        )?;
        let direct_plan = plan::find(setup.direct_plan).expect("a catalog plan");
        let direct = must(
            "create_subscription",
            store
                .create_subscription(
                    Access::Admin,
                    NewSubscription {
                        plan: direct_plan,
                        channel: Channel::Direct,
                        account_id: Some(account.id),
                        auto_renew: setup.direct_auto_renew,
                        term_start: now,
                        term_end: None,
                        partner_id: None,
                        partner_reference: None,
                        product_key: None,
                    },
                    None,
                    now,
                )
                .await,
        )?
        .value;
        let partner = must(
            "create_partner",
            store.create_partner(&format!("Carrier {tag}"), now).await,
        )?;
        let code_hash = format!("code-hash-{tag}");
        let carrier_plan = plan::find(setup.carrier_plan).expect("a catalog plan");
        must(
            "provision_subscription",
            store
                .provision_subscription(
                    Access::Partner(partner.id),
                    NewSubscription {
                        plan: carrier_plan,
                        channel: Channel::Carrier,
                        account_id: None,
                        auto_renew: true,
                        term_start: now + Duration::days(setup.carrier_start_days),
                        term_end: None,
                        partner_id: Some(partner.id),
                        partner_reference: Some(format!("contract-{tag}")),
                        product_key: None,
                    },
                    NewPartnerCode {
                        code: format!("CODE-{tag}"),
                        hash: code_hash.clone(),
                        expires_at: now + Duration::days(30),
                    },
                    None,
                    now,
                )
                .await,
        )?;
        let carrier = must(
            "redeem_partner_code",
            store.redeem_partner_code(account.id, &code_hash, now).await,
        )?;
        Ok(World {
            store,
            tag,
            account: account.id,
            partner: partner.id,
            ids: [direct.id, carrier.id],
            seen: [direct, carrier],
            now,
            tokens: 0,
            trace: String::new(),
        })
    }

    /// Who runs the subscription's lifecycle: the admin for DIRECT, the carrier for its own.
    pub fn seller(&self, sub: usize) -> Access {
        if sub == CARRIER {
            Access::Partner(self.partner)
        } else {
            Access::Admin
        }
    }

    pub fn customer(&self) -> Access {
        Access::Account(self.account)
    }

    pub fn log(&mut self, line: impl AsRef<str>) {
        let _ = writeln!(self.trace, "  {}", line.as_ref());
    }

    /// Every seat of a subscription, freed ones included, oldest first.
    async fn all_seats(&self, sub: usize) -> Outcome<Vec<Seat>> {
        let page = PageRequest {
            size: 100,
            after: None,
        };
        Ok(must(
            "list_seats",
            self.store
                .list_seats(Access::Admin, self.ids[sub], true, &page)
                .await,
        )?
        .items)
    }

    pub async fn active_seats(&self, sub: usize) -> Outcome<Vec<Seat>> {
        let page = PageRequest {
            size: 100,
            after: None,
        };
        let listed = must(
            "list_seats",
            self.store
                .list_seats(Access::Admin, self.ids[sub], false, &page)
                .await,
        )?;
        if !listed.next_page_token.is_empty() {
            return Err(format!("{}: more than 100 active seats", NAMES[sub]));
        }
        Ok(listed.items)
    }

    pub async fn pick_seat(&self, sub: usize, index: &Index) -> Outcome<Option<Seat>> {
        let seats = self.all_seats(sub).await?;
        Ok((!seats.is_empty()).then(|| seats[index.index(seats.len())].clone()))
    }
}
