//! `tessera.v1.SeatService`.

use super::{context::Context, convert, names, subscriptions};
use crate::{
    domain::{
        access::Access,
        account::parse_display_name,
        page::PageRequest,
        protection,
        seat::{NewSeat, parse_device_id},
        secret::{TokenKind, new_token, token_hash},
    },
    error::Error,
    proto::{self as pb, seat_service_server::SeatService},
};
use tonic::{Request, Response, Status};

/// Seats and device check-ins.
#[derive(Debug, Clone)]
pub struct SeatApi {
    ctx: Context,
}

impl SeatApi {
    /// The service over shared state.
    pub fn new(ctx: Context) -> Self {
        Self { ctx }
    }
}

#[tonic::async_trait]
impl SeatService for SeatApi {
    async fn activate_seat(
        &self,
        request: Request<pb::ActivateSeatRequest>,
    ) -> Result<Response<pb::ActivateSeatResponse>, Status> {
        let access = self
            .ctx
            .authenticate_as(request.metadata(), &["account", "admin"])
            .await?;
        let req = request.into_inner();
        let subscription_id = names::subscription("parent", &req.parent)?;
        let new = NewSeat {
            device_id: parse_device_id(&req.device_id)?,
            platform: convert::platform("platform", req.platform)?,
            display_name: parse_display_name("display_name", &req.display_name, true)?,
        };
        let device_token = new_token(TokenKind::Device);
        let (seat, newly_taken) = self
            .ctx
            .store
            .activate_seat(
                access,
                subscription_id,
                &new,
                &token_hash(&device_token),
                self.ctx.now(),
            )
            .await?;
        tracing::info!(%subscription_id, newly_taken, "seat activated");
        Ok(Response::new(pb::ActivateSeatResponse {
            seat: Some(convert::seat(seat)),
            device_token,
        }))
    }

    async fn deactivate_seat(
        &self,
        request: Request<pb::DeactivateSeatRequest>,
    ) -> Result<Response<pb::Seat>, Status> {
        let access = self
            .ctx
            .authenticate_as(request.metadata(), &["account", "admin", "device"])
            .await?;
        let (subscription_id, seat_id) = names::seat("name", &request.get_ref().name)?;
        let seat = self
            .ctx
            .store
            .deactivate_seat(access, subscription_id, seat_id, self.ctx.now())
            .await?;
        Ok(Response::new(convert::seat(seat)))
    }

    async fn list_seats(
        &self,
        request: Request<pb::ListSeatsRequest>,
    ) -> Result<Response<pb::ListSeatsResponse>, Status> {
        let access = self
            .ctx
            .authenticate_as(request.metadata(), &["account", "admin"])
            .await?;
        let req = request.into_inner();
        let subscription_id = names::subscription("parent", &req.parent)?;
        let page = PageRequest::parse(req.page_size, &req.page_token)?;
        let page = self
            .ctx
            .store
            .list_seats(access, subscription_id, req.show_deactivated, &page)
            .await?;
        Ok(Response::new(pb::ListSeatsResponse {
            seats: page.items.into_iter().map(convert::seat).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn check_protection(
        &self,
        request: Request<pb::CheckProtectionRequest>,
    ) -> Result<Response<pb::CheckProtectionResponse>, Status> {
        let access = self
            .ctx
            .authenticate_as(request.metadata(), &["device"])
            .await?;
        let Access::Device {
            seat_id,
            subscription_id,
            ..
        } = access
        else {
            return Err(Error::Internal("device principal expected".to_owned()).into());
        };
        let now = self.ctx.now();
        let (seat, subscription) = self
            .ctx
            .store
            .check_in(seat_id, subscription_id, now)
            .await?;
        // A removed device learns that it is not protected, and nothing of the account.
        let alternatives = match subscription.account_id.filter(|_| seat.is_active()) {
            Some(account) => {
                self.ctx
                    .store
                    .subscriptions_with_free_seat(account, subscription.id)
                    .await?
            }
            None => Vec::new(),
        };
        let verdict = protection::judge(
            &seat,
            &subscription,
            now,
            self.ctx.warning_window,
            self.ctx.grace,
            !alternatives.is_empty(),
        );
        let alternatives: Vec<_> = alternatives
            .into_iter()
            .map(|s| convert::subscription(s, now, false))
            .collect();
        Ok(Response::new(pb::CheckProtectionResponse {
            protected: verdict.protected,
            status: convert::status(subscription.status) as i32,
            end_time: Some(convert::timestamp(subscription.term_end)),
            days_left: subscription.days_left(now) as i32,
            seat: Some(convert::seat(seat)),
            subscription: Some(subscriptions::view_at(access, subscription, now)),
            warnings: verdict
                .warning
                .into_iter()
                .map(|(kind, message, days)| pb::ProtectionWarning {
                    kind: convert::warning(kind) as i32,
                    message,
                    days: days as i32,
                })
                .collect(),
            actions: verdict
                .actions
                .into_iter()
                .map(|action| pb::ProtectionAction {
                    kind: convert::action(action) as i32,
                    subscriptions: if action == protection::Action::ApplySubscription {
                        alternatives.clone()
                    } else {
                        Vec::new()
                    },
                })
                .collect(),
        }))
    }

    async fn apply_subscription(
        &self,
        request: Request<pb::ApplySubscriptionRequest>,
    ) -> Result<Response<pb::ApplySubscriptionResponse>, Status> {
        let access = self
            .ctx
            .authenticate_as(request.metadata(), &["device", "account", "admin"])
            .await?;
        let req = request.get_ref();
        let (from, seat_id) = names::seat("seat", &req.seat)?;
        let to = names::subscription("subscription", &req.subscription)?;
        let seat = self
            .ctx
            .store
            .apply_subscription(access, from, seat_id, to, self.ctx.now())
            .await?;
        Ok(Response::new(pb::ApplySubscriptionResponse {
            seat: Some(convert::seat(seat)),
        }))
    }
}
