//! One case's world, driven through the service layer: what was last seen of it and a
//! trace of what happened; and how a refusal is told apart from a failure of the test.

use crate::scenario::{CARRIER, NAMES, Setup};
use chrono::{DateTime, Duration, Utc};
use proptest::sample::Index;
use std::fmt::Write as _;
use tessera::{
    Error,
    domain::{
        account::{Email, Password},
        catalog::Catalog,
        clock::ManualClock,
        codes::CodeKind,
        page::PageRequest,
        principal::Principal,
        seat::Seat,
        subscription::Subscription,
    },
    service::Services,
};
use uuid::Uuid;

/// One case's world: an account with a DIRECT and a (claimed) CARRIER subscription.
pub struct World {
    pub services: Services,
    /// The clock `services` reads; operations move it.
    pub clock: ManualClock,
    pub account: Uuid,
    pub partner: Uuid,
    pub ids: [Uuid; 2],
    /// The subscriptions as last observed.
    pub seen: [Subscription; 2],
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

impl World {
    /// Sets up the case at the clock's time: the customer buys the DIRECT subscription,
    /// a carrier provisions the CARRIER one and the customer redeems its partner code.
    pub async fn create(services: Services, clock: ManualClock, setup: &Setup) -> Outcome<World> {
        let tag = Uuid::new_v4().simple().to_string();
        let email = must("email", Email::parse(&format!("prop-{tag}@example.com")))?;
        let password = must("password", Password::parse("not a real password"))?;
        let account = must(
            "create_account",
            services
                .create_account(email, password, "Prop".to_owned(), None)
                .await,
        )?;
        let direct_plan = Catalog::embedded()
            .plan(setup.direct_plan)
            .expect("a catalog plan")
            .clone();
        let direct = must(
            "create_subscription",
            services
                .create_subscription(
                    Principal::Admin,
                    account.id,
                    direct_plan,
                    setup.direct_auto_renew,
                    None,
                )
                .await,
        )?
        .value;
        let partner = must(
            "create_partner",
            services.create_partner(&format!("Carrier {tag}")).await,
        )?;
        let carrier_plan = Catalog::embedded()
            .plan(setup.carrier_plan)
            .expect("a catalog plan")
            .clone();
        let carrier_start = services.now() + Duration::days(setup.carrier_start_days);
        let provisioned = must(
            "provision_subscription",
            services
                .provision_subscription(
                    partner.id,
                    format!("contract-{tag}"),
                    carrier_plan,
                    Some(carrier_start),
                    None,
                )
                .await,
        )?
        .value;
        // The customer types the code the carrier was given.
        let code = must(
            "the partner code",
            CodeKind::PartnerCode.parse(&provisioned.partner_code),
        )?;
        let carrier = must(
            "redeem_partner_code",
            services.redeem_partner_code(account.id, &code, None).await,
        )?;
        Ok(World {
            services,
            clock,
            account: account.id,
            partner: partner.id,
            ids: [direct.id, carrier.id],
            seen: [direct, carrier],
            trace: String::new(),
        })
    }

    /// Now, as the services see it.
    pub fn now(&self) -> DateTime<Utc> {
        self.services.now()
    }

    /// Who runs the subscription's lifecycle: the admin for DIRECT, the carrier for its own.
    pub fn seller(&self, sub: usize) -> Principal {
        if sub == CARRIER {
            Principal::Partner(self.partner)
        } else {
            Principal::Admin
        }
    }

    pub fn customer(&self) -> Principal {
        Principal::Account(self.account)
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
            self.services
                .list_seats(Principal::Admin, self.ids[sub], true, &page)
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
            self.services
                .list_seats(Principal::Admin, self.ids[sub], false, &page)
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
