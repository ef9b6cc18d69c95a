//! Redeeming partner codes and product keys, with failed attempts counted per account
//! and per network address so that guessing is futile.

use super::{context::Context, names, subscriptions::view};
use crate::{
    domain::codes::CodeKind,
    error::{Error, Result},
    proto as pb,
};
use std::future::Future;
use tonic::{Request, Response, Status};

/// The throttling subjects of a caller, with each one's failure limit.
fn subjects<T>(ctx: &Context, account_id: uuid::Uuid, request: &Request<T>) -> Vec<(String, i64)> {
    let mut subjects = vec![(format!("account:{account_id}"), ctx.throttle.per_account)];
    if let Some(peer) = request.remote_addr() {
        subjects.push((format!("peer:{}", peer.ip()), ctx.throttle.per_peer));
    }
    subjects
}

/// Whether a failure looks like a guess: an unknown code, or somebody else's.
fn is_guess(error: &Error) -> bool {
    matches!(error, Error::NotFound(_))
        || matches!(
            error,
            Error::FailedPrecondition { reason, .. }
                if reason.ends_with("_ALREADY_REDEEMED")
        )
}

/// Runs a redemption behind the throttle: the attempt is counted before the look-up
/// and given back afterwards unless it was a guess.
async fn guarded<T>(
    ctx: &Context,
    subjects: &[(String, i64)],
    redeem: impl Future<Output = Result<T>>,
) -> Result<T> {
    ctx.store
        .reserve_redemption_attempt(subjects, ctx.throttle, ctx.now())
        .await?;
    let outcome = redeem.await;
    let guessed = matches!(&outcome, Err(error) if is_guess(error));
    if !guessed && let Err(error) = ctx.store.release_redemption_attempt(subjects).await {
        tracing::warn!(%error, "could not give back a redemption attempt");
    }
    outcome
}

/// `RedeemPartnerCode`: account sessions only.
pub async fn redeem_partner_code(
    ctx: &Context,
    request: Request<pb::RedeemPartnerCodeRequest>,
) -> Result<Response<pb::Subscription>, Status> {
    let (access, account_id) = ctx.authenticate_account(request.metadata()).await?;
    let code = CodeKind::PartnerCode.parse(&request.get_ref().partner_code)?;
    let subjects = subjects(ctx, account_id, &request);
    let hash = ctx.code_hasher.hash(&code);
    let subscription = guarded(
        ctx,
        &subjects,
        ctx.store.redeem_partner_code(account_id, &hash, ctx.now()),
    )
    .await?;
    Ok(Response::new(view(ctx, access, subscription)))
}

/// `RedeemProductKey`: account sessions only.
pub async fn redeem_product_key(
    ctx: &Context,
    request: Request<pb::RedeemProductKeyRequest>,
) -> Result<Response<pb::Subscription>, Status> {
    let (access, account_id) = ctx.authenticate_account(request.metadata()).await?;
    let req = request.get_ref();
    let key = CodeKind::ProductKey.parse(&req.product_key)?;
    let target = match req.subscription.as_str() {
        "" => None,
        name => Some(names::subscription("subscription", name)?),
    };
    let subjects = subjects(ctx, account_id, &request);
    let hash = ctx.code_hasher.hash(&key);
    let subscription = guarded(
        ctx,
        &subjects,
        ctx.store
            .redeem_product_key(account_id, &key, &hash, target, ctx.now()),
    )
    .await?;
    Ok(Response::new(view(ctx, access, subscription)))
}
