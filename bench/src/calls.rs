//! The calls the driver makes, as a customer's app, the web shop and a carrier make
//! them: new devices activating with their account's session, the admin selling
//! subscriptions, a carrier provisioning contracts, devices checking in with their own
//! tokens. Every write carries a name or request id used nowhere else in the run.

use crate::{
    ids::{Seed, mix},
    targets::{SeatPool, Target},
};
use std::{
    ops::Range,
    sync::atomic::{AtomicU64, Ordering},
};
use tessera::domain::catalog::Catalog;
use tessera_client::{
    pb::{
        self, seat_service_client::SeatServiceClient,
        subscription_service_client::SubscriptionServiceClient,
    },
    tonic::{Status, transport::Channel},
    with_token,
};
use uuid::Uuid;

/// The plan `CreateSubscription` sells; its free seats join the [`SeatPool`].
pub const SOLD_PLAN: &str = "premium-10";
/// The plan carriers provision.
const PROVISIONED_PLAN: &str = "plans/deluxe-3";

/// What the calls share across the run.
#[derive(Debug)]
pub struct Calls {
    /// Where ids and tokens come from.
    pub seed: Seed,
    /// Seats left for new devices.
    pub pool: SeatPool,
    /// Seats per seeded subscription.
    pub seats: u64,
    admin_token: String,
    partner_key: String,
    unique: AtomicU64,
}

/// The id in `subscriptions/{id}`.
fn subscription_id(name: &str) -> Result<Uuid, Status> {
    name.strip_prefix("subscriptions/")
        .and_then(|id| Uuid::parse_str(id).ok())
        .ok_or_else(|| Status::internal(format!("unexpected subscription name {name:?}")))
}

impl Calls {
    /// The calls of a run: `pool` for activations, the admin token and a partner key.
    pub fn new(
        seed: Seed,
        seats: u64,
        pool: SeatPool,
        admin_token: String,
        partner_key: String,
    ) -> Self {
        Self {
            seed,
            pool,
            seats,
            admin_token,
            partner_key,
            unique: AtomicU64::new(0),
        }
    }

    /// A number no other call of the run uses.
    fn unique(&self) -> u64 {
        self.unique.fetch_add(1, Ordering::Relaxed)
    }

    /// A new device takes a free seat, with its account's session.
    pub async fn activate_seat(&self, channel: Channel) -> Result<(), Status> {
        let seed = self.seed;
        let Target {
            subscription,
            account,
        } = self.pool.take(|i| seed.subscription_id(i)).ok_or_else(|| {
            Status::resource_exhausted(
                "tessera-bench ran out of free seats: seed more subscriptions or measure \
                 for less time",
            )
        })?;
        let request = pb::ActivateSeatRequest {
            parent: format!("subscriptions/{subscription}"),
            device_id: format!("bench-{}-new-{}", seed.tag(), self.unique()),
            platform: pb::Platform::Windows as i32,
            display_name: "Bench device".to_owned(),
        };
        let token = seed.session_token(account);
        SeatServiceClient::new(channel)
            .activate_seat(with_token(&token, request))
            .await?;
        Ok(())
    }

    /// The admin sells a subscription to one of `accounts` (by the seed's numbering); its
    /// seats join the pool.
    pub async fn create_subscription(
        &self,
        channel: Channel,
        n: u64,
        accounts: &Range<u64>,
    ) -> Result<(), Status> {
        let account = accounts.start + n % (accounts.end - accounts.start);
        let request = pb::CreateSubscriptionRequest {
            parent: format!("accounts/{}", self.seed.account_id(account)),
            plan: SOLD_PLAN.to_owned(),
            auto_renew: true,
            request_id: format!("bench-{}-create-{}", self.seed.tag(), self.unique()),
        };
        let created = SubscriptionServiceClient::new(channel)
            .create_subscription(with_token(&self.admin_token, request))
            .await?
            .into_inner();
        let free = Catalog::embedded()
            .plan(SOLD_PLAN)
            .map_or(0, |plan| plan.seat_limit);
        self.pool.add(
            Target {
                subscription: subscription_id(&created.name)?,
                account,
            },
            u8::try_from(free).unwrap_or(u8::MAX),
        );
        Ok(())
    }

    /// A carrier provisions a contract.
    pub async fn provision_subscription(&self, channel: Channel) -> Result<(), Status> {
        let n = self.unique();
        let request = pb::ProvisionSubscriptionRequest {
            partner_reference: format!("bench-{}-{n}", self.seed.tag()),
            plan: PROVISIONED_PLAN.to_owned(),
            start_time: None,
            request_id: format!("bench-{}-provision-{n}", self.seed.tag()),
        };
        SubscriptionServiceClient::new(channel)
            .provision_subscription(with_token(&self.partner_key, request))
            .await?;
        Ok(())
    }

    /// A seeded device of one of `subscriptions`, picked pseudo-randomly by `n`, checks
    /// in with its own token and must be told it is protected.
    pub async fn check_protection(
        &self,
        channel: Channel,
        n: u64,
        subscriptions: &Range<u64>,
    ) -> Result<(), Status> {
        let r = mix(n);
        let i = subscriptions.start + r % (subscriptions.end - subscriptions.start);
        let j = (r >> 40) % self.seats;
        let token = self.seed.device_token(i, j);
        let answer = SeatServiceClient::new(channel)
            .check_protection(with_token(&token, pb::CheckProtectionRequest {}))
            .await?
            .into_inner();
        if answer.protected {
            Ok(())
        } else {
            Err(Status::internal(format!(
                "seeded device ({i}, {j}) is not protected"
            )))
        }
    }
}
