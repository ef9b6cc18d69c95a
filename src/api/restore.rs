//! Store restores and double-coverage checks of `SubscriptionService`.

use super::{context::Context, convert, names, subscriptions::view};
use crate::{
    domain::{access::Access, overlap, plan},
    error::{Error, Result},
    proto as pb,
};
use tonic::{Request, Response, Status};

fn not_configured(store: &str) -> Error {
    Error::precondition(
        "STORE_NOT_CONFIGURED",
        format!("{store} restores are not configured on this server"),
    )
}

/// `RestoreStorePurchase`: account sessions only.
pub async fn restore_store_purchase(
    ctx: &Context,
    request: Request<pb::RestoreStorePurchaseRequest>,
) -> Result<Response<pb::Subscription>, Status> {
    let (access, account_id) = ctx.authenticate_account(request.metadata()).await?;
    let req = request.into_inner();
    if req.signed_proof.trim().is_empty() {
        return Err(Error::invalid("signed_proof", "is required").into());
    }
    let now = ctx.now();
    let (purchase, linked) = match pb::Channel::try_from(req.store) {
        Ok(pb::Channel::AppStore) => {
            let apple = ctx
                .apple
                .as_ref()
                .ok_or_else(|| not_configured("App Store"))?;
            (apple.verify(&req.signed_proof, now)?, None)
        }
        Ok(pb::Channel::PlayStore) => {
            let play = ctx
                .play
                .as_ref()
                .ok_or_else(|| not_configured("Google Play"))?;
            let verified = play.verify(&req.signed_proof).await?;
            (verified.purchase, verified.linked_purchase_token)
        }
        _ => {
            return Err(
                Error::invalid("store", "must be CHANNEL_APP_STORE or CHANNEL_PLAY_STORE").into(),
            );
        }
    };
    let code = purchase
        .product_id
        .rsplit('.')
        .next()
        .unwrap_or(&purchase.product_id);
    let plan = plan::find(code).ok_or_else(|| {
        Error::precondition(
            "STORE_PRODUCT_UNKNOWN",
            format!(
                "the store product {:?} is not a plan of the catalog",
                purchase.product_id
            ),
        )
    })?;
    let subscription = ctx
        .store
        .restore_store_purchase(account_id, &purchase, linked.as_deref(), plan, now)
        .await?;
    Ok(Response::new(view(ctx, access, subscription)))
}

/// `CheckOverlap`: account sessions and the admin.
pub async fn check_overlap(
    ctx: &Context,
    request: Request<pb::CheckOverlapRequest>,
) -> Result<Response<pb::CheckOverlapResponse>, Status> {
    let access = ctx
        .authenticate_as(request.metadata(), &["account", "admin"])
        .await?;
    let account_id = names::account("parent", &request.get_ref().parent, access)?;
    ctx.store.get_account(access, account_id).await?;
    let subscriptions = ctx.store.account_subscriptions(account_id).await?;
    let found = overlap::find(&subscriptions);
    let now = ctx.now();
    let response = match found {
        None => pb::CheckOverlapResponse::default(),
        Some(found) => pb::CheckOverlapResponse {
            overlapping: true,
            subscriptions: subscriptions
                .into_iter()
                .filter(|s| found.covering.contains(&s.id))
                .map(|s| convert::subscription(s, now, matches!(access, Access::Account(_))))
                .collect(),
            recommended: names::subscription_name(found.keep),
            message: "You are protected by more than one subscription. Keep the recommended \
                      one and let the others end, so you manage your protection in one place."
                .to_owned(),
        },
    };
    Ok(Response::new(response))
}
