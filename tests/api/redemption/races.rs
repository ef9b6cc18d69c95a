//! Thirty-two accounts racing for one partner code or one product key: exactly one wins,
//! and the others are refused and leave nothing behind.

use super::{as_partner, linked_identities, many_accounts};
use crate::support::{Db, TestApp, on_both_backends, spawn_app_with};
use futures::future::join_all;
use tessera_client::{
    pb,
    tonic::{Code, Status},
    tonic_types::StatusExt,
    with_token,
};

on_both_backends!(
    thirty_two_accounts_racing_for_one_partner_code_leave_exactly_one_owner,
    thirty_two_accounts_racing_for_one_product_key_create_exactly_one_subscription,
);

/// A server whose redemption throttle never trips here: the losers' failures are not
/// what these tests are about.
async fn spawn_unthrottled(db: Db) -> Option<TestApp> {
    spawn_app_with(db, |settings| {
        settings.redeem_account_limit = 1_000;
        settings.redeem_address_limit = 100_000;
    })
    .await
}

/// The indices of the calls that won, and how many were refused with
/// `FAILED_PRECONDITION` and `reason`.
fn winners_and_refused<T>(outcomes: &[Result<T, Status>], reason: &str) -> (Vec<usize>, usize) {
    let winners = (0..outcomes.len())
        .filter(|&i| outcomes[i].is_ok())
        .collect();
    let refused = outcomes
        .iter()
        .filter(|o| {
            matches!(o, Err(s) if s.code() == Code::FailedPrecondition
                && s.get_error_details().error_info().map(|i| i.reason.as_str())
                    == Some(reason))
        })
        .count();
    (winners, refused)
}

async fn thirty_two_accounts_racing_for_one_partner_code_leave_exactly_one_owner(db: Db) {
    let Some(app) = spawn_unthrottled(db).await else {
        return;
    };
    let carrier = app.partner("Telco One").await;
    let accounts = many_accounts(&app, 32).await;
    for round in 0..5 {
        let reference = format!("contract-{round}");
        let provisioned = app.provision(&carrier, &reference, "deluxe-3").await;
        let calls = accounts.iter().map(|(_, token)| {
            let mut subscriptions = app.subscriptions();
            let request = with_token(
                token,
                pb::RedeemPartnerCodeRequest {
                    partner_code: provisioned.partner_code.clone(),
                },
            );
            async move { subscriptions.redeem_partner_code(request).await }
        });
        let outcomes = join_all(calls).await;
        let (winners, refused) = winners_and_refused(&outcomes, "PARTNER_CODE_ALREADY_REDEEMED");
        assert_eq!(
            (winners.len(), refused),
            (1, 31),
            "round {round}: {outcomes:?}"
        );
        let (winner, winner_token) = &accounts[winners[0]];
        let won = outcomes[winners[0]].as_ref().unwrap().get_ref();
        assert_eq!(&won.account, winner, "round {round}");
        let name = &provisioned.subscription.as_ref().unwrap().name;
        let read = app.get_subscription(winner_token, name).await.unwrap();
        assert_eq!(&read.account, winner, "round {round}");
        assert!(as_partner(&app, &carrier, name).await.claimed);
    }
    // Each account owns exactly the subscriptions it won and is linked to exactly their
    // references: the losers' attempts left nothing behind.
    let mut total = 0;
    for (i, (_, token)) in accounts.iter().enumerate() {
        let mut owned: Vec<_> = app
            .list_subscriptions(token)
            .await
            .into_iter()
            .map(|s| s.partner_reference)
            .collect();
        let mut linked: Vec<_> = linked_identities(&app, token)
            .await
            .into_iter()
            .map(|l| l.reference)
            .collect();
        owned.sort();
        linked.sort();
        assert_eq!(owned, linked, "account {i}");
        total += owned.len();
    }
    assert_eq!(total, 5);
    app.stop().await;
}

async fn thirty_two_accounts_racing_for_one_product_key_create_exactly_one_subscription(db: Db) {
    let Some(app) = spawn_unthrottled(db).await else {
        return;
    };
    let accounts = many_accounts(&app, 32).await;
    let rounds = 5;
    let keys = app
        .issue_keys("deluxe-5", rounds, pb::ProductKeyKind::New)
        .await;
    for (round, key) in keys.iter().enumerate() {
        let calls = accounts.iter().map(|(_, token)| {
            let mut product_keys = app.product_keys();
            let request = with_token(
                token,
                pb::RedeemProductKeyRequest {
                    product_key: key.clone(),
                    subscription: String::new(),
                },
            );
            async move { product_keys.redeem_product_key(request).await }
        });
        let outcomes = join_all(calls).await;
        let (winners, refused) = winners_and_refused(&outcomes, "PRODUCT_KEY_ALREADY_REDEEMED");
        assert_eq!(
            (winners.len(), refused),
            (1, 31),
            "round {round}: {outcomes:?}"
        );
        let won = outcomes[winners[0]].as_ref().unwrap().get_ref();
        assert_eq!(won.account, accounts[winners[0]].0, "round {round}");
        assert_eq!(&won.product_key, key, "round {round}");

        let mut holders = Vec::new();
        for (i, (_, token)) in accounts.iter().enumerate() {
            let with_key = app
                .list_subscriptions(token)
                .await
                .iter()
                .filter(|s| &s.product_key == key)
                .count();
            holders.extend(std::iter::repeat_n(i, with_key));
        }
        assert_eq!(holders, winners, "round {round}");
    }
    let mut total = 0;
    for (_, token) in &accounts {
        total += app.list_subscriptions(token).await.len();
    }
    assert_eq!(
        total,
        keys.len(),
        "one subscription per key, across all accounts"
    );
    app.stop().await;
}
