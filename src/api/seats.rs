//! `tessera.v1.SeatService`.

use super::{
    convert::{self, subscription_for},
    names,
    principal::{Account, Admin, Device, caller},
};
use crate::{
    domain::{
        account::parse_display_name,
        page::PageRequest,
        principal::Principal,
        protection::{Action, Warning},
        seat::{NewSeat, parse_device_id},
    },
    proto::{self as pb, seat_service_server::SeatService},
    service::{Services, seats::CheckIn},
};
use tonic::{Request, Response, Status};

/// Seats and device check-ins.
#[derive(Debug, Clone)]
pub struct SeatApi {
    services: Services,
}

impl SeatApi {
    /// The service over the use cases.
    pub fn new(services: Services) -> Self {
        Self { services }
    }
}

#[tonic::async_trait]
impl SeatService for SeatApi {
    async fn activate_seat(
        &self,
        request: Request<pb::ActivateSeatRequest>,
    ) -> Result<Response<pb::ActivateSeatResponse>, Status> {
        let principal = caller::<(Account, Admin), _>(&request)?;
        let req = request.into_inner();
        let subscription_id = names::subscription("parent", &req.parent)?;
        let device = NewSeat {
            device_id: parse_device_id(&req.device_id)?,
            platform: convert::platform("platform", req.platform)?,
            display_name: parse_display_name("display_name", &req.display_name, true)?,
        };
        let activation = self
            .services
            .activate_seat(principal, subscription_id, device)
            .await?;
        tracing::info!(%subscription_id, newly_taken = activation.newly_taken, "seat activated");
        Ok(Response::new(pb::ActivateSeatResponse {
            seat: Some(pb::Seat::from(activation.seat)),
            device_token: activation.device_token,
        }))
    }

    async fn deactivate_seat(
        &self,
        request: Request<pb::DeactivateSeatRequest>,
    ) -> Result<Response<pb::Seat>, Status> {
        let principal = caller::<(Account, Admin, Device), _>(&request)?;
        let (subscription_id, seat_id) = names::seat("name", &request.get_ref().name)?;
        let seat = self
            .services
            .deactivate_seat(principal, subscription_id, seat_id)
            .await?;
        Ok(Response::new(pb::Seat::from(seat)))
    }

    async fn list_seats(
        &self,
        request: Request<pb::ListSeatsRequest>,
    ) -> Result<Response<pb::ListSeatsResponse>, Status> {
        let principal = caller::<(Account, Admin), _>(&request)?;
        let req = request.into_inner();
        let subscription_id = names::subscription("parent", &req.parent)?;
        let page = PageRequest::parse(req.page_size, &req.page_token)?;
        let page = self
            .services
            .list_seats(principal, subscription_id, req.show_deactivated, &page)
            .await?;
        Ok(Response::new(pb::ListSeatsResponse {
            seats: page.items.into_iter().map(pb::Seat::from).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn check_protection(
        &self,
        request: Request<pb::CheckProtectionRequest>,
    ) -> Result<Response<pb::CheckProtectionResponse>, Status> {
        let principal = caller::<(Device,), _>(&request)?;
        let Principal::Device {
            seat_id,
            subscription_id,
            ..
        } = principal
        else {
            unreachable!("the role check admits only devices");
        };
        let now = self.services.now();
        let report = match self
            .services
            .check_protection(seat_id, subscription_id)
            .await?
        {
            CheckIn::Seated(report) => *report,
            // The device learns that it is not protected, and why; nothing more.
            CheckIn::Removed(verdict) => {
                return Ok(Response::new(pb::CheckProtectionResponse {
                    protected: verdict.protected,
                    warnings: warnings(verdict.warning),
                    ..Default::default()
                }));
            }
        };
        let subscription = report.subscription;
        let alternatives: Vec<_> = report
            .alternatives
            .into_iter()
            .map(|s| convert::subscription(s, now, false))
            .collect();
        Ok(Response::new(pb::CheckProtectionResponse {
            protected: report.verdict.protected,
            status: pb::SubscriptionStatus::from(subscription.status) as i32,
            end_time: Some(convert::timestamp(subscription.term_end)),
            days_left: subscription.days_left(now) as i32,
            seat: Some(pb::Seat::from(report.seat)),
            subscription: Some(subscription_for(principal, subscription, now)),
            warnings: warnings(report.verdict.warning),
            actions: actions(report.verdict.actions, &alternatives),
        }))
    }

    async fn check_account_protection(
        &self,
        request: Request<pb::CheckAccountProtectionRequest>,
    ) -> Result<Response<pb::CheckAccountProtectionResponse>, Status> {
        let principal = caller::<(Account, Admin), _>(&request)?;
        let account_id = names::account("parent", &request.get_ref().parent, principal)?;
        let now = self.services.now();
        let report = self
            .services
            .account_protection(principal, account_id)
            .await?;
        Ok(Response::new(pb::CheckAccountProtectionResponse {
            subscriptions: report
                .into_iter()
                .map(|(subscription, verdict, alternatives)| {
                    let alternatives: Vec<_> = alternatives
                        .into_iter()
                        .map(|s| subscription_for(principal, s, now))
                        .collect();
                    pb::SubscriptionProtection {
                        subscription: Some(subscription_for(principal, subscription, now)),
                        protected: verdict.protected,
                        warnings: warnings(verdict.warning),
                        actions: actions(verdict.actions, &alternatives),
                    }
                })
                .collect(),
        }))
    }

    async fn apply_subscription(
        &self,
        request: Request<pb::ApplySubscriptionRequest>,
    ) -> Result<Response<pb::ApplySubscriptionResponse>, Status> {
        let principal = caller::<(Device, Account, Admin), _>(&request)?;
        let req = request.get_ref();
        let (from, seat_id) = names::seat("seat", &req.seat)?;
        let to = names::subscription("subscription", &req.subscription)?;
        let seat = self
            .services
            .apply_subscription(principal, from, seat_id, to)
            .await?;
        Ok(Response::new(pb::ApplySubscriptionResponse {
            seat: Some(pb::Seat::from(seat)),
        }))
    }
}

/// A verdict's warning as the device is told it.
fn warnings(warning: Option<(Warning, String, i64)>) -> Vec<pb::ProtectionWarning> {
    warning
        .into_iter()
        .map(|(kind, message, days)| pb::ProtectionWarning {
            kind: pb::WarningKind::from(kind) as i32,
            message,
            days: days as i32,
        })
        .collect()
}

/// A verdict's actions as sent; applying another subscription lists `alternatives`.
fn actions(actions: Vec<Action>, alternatives: &[pb::Subscription]) -> Vec<pb::ProtectionAction> {
    actions
        .into_iter()
        .map(|action| pb::ProtectionAction {
            kind: pb::ActionKind::from(action) as i32,
            subscriptions: if action == Action::ApplySubscription {
                alternatives.to_vec()
            } else {
                Vec::new()
            },
        })
        .collect()
}
