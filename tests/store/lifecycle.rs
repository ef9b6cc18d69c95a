//! `SubscriptionTx::claim_due`: the store's due set is the domain's, oldest term end
//! first, at most the limit, and concurrent claimers never share a subscription.

use crate::fixtures::*;
use tessera::domain::catalog::Catalog;

crate::store_tests!(
    claim_due_selects_exactly_the_subscriptions_that_owe_a_transition,
    claim_due_takes_the_oldest_term_ends_first_up_to_the_limit,
    concurrent_claims_never_share_a_subscription,
);

const GRACE_DAYS: i64 = 14;

fn grace() -> Duration {
    Duration::days(GRACE_DAYS)
}

async fn claim_due_selects_exactly_the_subscriptions_that_owe_a_transition(store: Arc<dyn Store>) {
    let now = t0();
    let micro = Duration::microseconds(1);
    let term_ends = [
        ("in the future", now + Duration::days(1)),
        ("a micro-second from now", now + micro),
        ("exactly now", now),
        ("within grace", now - Duration::days(1)),
        ("a micro-second before grace is over", now - grace() + micro),
        ("exactly at the end of grace", now - grace()),
        ("past grace", now - grace() - Duration::days(1)),
    ];
    let mut all = Vec::new();
    for &status in Status::ALL {
        for &channel in Channel::ALL {
            for cancel_at_period_end in [false, true] {
                for auto_renew in [false, true] {
                    for (_, term_end) in term_ends {
                        all.push(Subscription {
                            status,
                            channel,
                            cancel_at_period_end,
                            auto_renew,
                            term_start: term_end - Duration::days(30),
                            term_end,
                            created_at: now - Duration::days(60),
                            ..subscription()
                        });
                    }
                }
            }
        }
    }
    insert_subscriptions(&store, &all).await;

    let expected: BTreeSet<Uuid> = all
        .iter()
        .filter(|s| s.due_transition(now, grace()).is_some())
        .map(|s| s.id)
        .collect();
    assert!(!expected.is_empty() && expected.len() < all.len());

    let mut tx = store.begin(system(now)).await.unwrap();
    let claimed = tx
        .claim_due(&DueQuery::at(now, grace()), all.len() as i64 + 10)
        .await
        .unwrap();
    drop(tx);

    let claimed_ids: BTreeSet<Uuid> = claimed.iter().map(|s| s.id).collect();
    assert_eq!(
        claimed_ids.len(),
        claimed.len(),
        "a subscription claimed twice"
    );
    let describe = |id: &Uuid| {
        let s = all.iter().find(|s| s.id == *id).unwrap();
        let end = term_ends
            .iter()
            .find(|(_, end)| *end == s.term_end)
            .unwrap()
            .0;
        format!(
            "{:?} {:?} cancel_at_period_end={} auto_renew={} term ended {end}",
            s.status, s.channel, s.cancel_at_period_end, s.auto_renew
        )
    };
    let missed: Vec<_> = expected.difference(&claimed_ids).map(describe).collect();
    let extra: Vec<_> = claimed_ids.difference(&expected).map(describe).collect();
    assert!(
        missed.is_empty() && extra.is_empty(),
        "claim_due disagrees with Subscription::due_transition:\n  not claimed but due: {missed:#?}\n  claimed but not due: {extra:#?}"
    );
    for claimed in &claimed {
        let inserted = all.iter().find(|s| s.id == claimed.id).unwrap();
        assert_eq!(claimed, inserted, "a claimed subscription reads back whole");
    }
    assert!(
        claimed.windows(2).all(|w| w[0].term_end <= w[1].term_end),
        "claimed out of term-end order"
    );
}

/// An ACTIVE DIRECT subscription without auto-renewal whose term ended at `term_end`:
/// due to enter grace once that has passed.
fn lapsing(term_end: DateTime<Utc>) -> Subscription {
    Subscription {
        auto_renew: false,
        term_start: term_end - Duration::days(30),
        term_end,
        ..subscription()
    }
}

async fn claim_due_takes_the_oldest_term_ends_first_up_to_the_limit(store: Arc<dyn Store>) {
    let now = t0();
    let due: Vec<_> = [5, 1, 4, 2, 3]
        .into_iter()
        .map(|hours| lapsing(now - Duration::hours(hours)))
        .collect();
    let not_due = [
        Subscription {
            status: Status::Expired,
            ..lapsing(now - Duration::days(400))
        },
        Subscription {
            status: Status::Cancelled,
            ..lapsing(now - Duration::days(300))
        },
        lapsing(now + Duration::hours(1)),
    ];
    insert_subscriptions(&store, &[due.clone(), not_due.to_vec()].concat()).await;

    let mut by_end = due.clone();
    by_end.sort_by_key(|s| s.term_end);

    // Each unit commits (changing nothing) to release its claims at once: a dropped
    // unit's rollback reaches the database a moment later, and until then a claimer
    // would rightly skip the rows it held.
    let mut tx = store.begin(system(now)).await.unwrap();
    let claimed = tx.claim_due(&DueQuery::at(now, grace()), 3).await.unwrap();
    assert_eq!(claimed, by_end[..3], "the three oldest term ends, in order");
    tx.commit().await.unwrap();

    let mut tx = store.begin(system(now)).await.unwrap();
    let claimed = tx.claim_due(&DueQuery::at(now, grace()), 1).await.unwrap();
    assert_eq!(claimed, by_end[..1]);
    tx.commit().await.unwrap();

    let mut tx = store.begin(system(now)).await.unwrap();
    let claimed = tx.claim_due(&DueQuery::at(now, grace()), 50).await.unwrap();
    assert_eq!(claimed, by_end);
    tx.commit().await.unwrap();
}

/// Applies the due transition of each of `claimed` and saves it.
async fn transition(tx: &mut Box<dyn UnitOfWork>, claimed: Vec<Subscription>) {
    for mut subscription in claimed {
        let mut events = Vec::new();
        subscription
            .apply_due_transition(Catalog::embedded(), t0(), grace(), &mut events)
            .unwrap()
            .expect("a claimed subscription owes a transition");
        tx.save_subscription(&subscription).await.unwrap();
        for event in events {
            tx.emit(event);
        }
    }
}

async fn concurrent_claims_never_share_a_subscription(store: Arc<dyn Store>) {
    let now = t0();
    let due: Vec<_> = (1..=4)
        .map(|hours| lapsing(now - Duration::hours(hours)))
        .collect();
    insert_subscriptions(&store, &due).await;
    let query = DueQuery::at(now, grace());

    let mut first = store.begin(system(now)).await.unwrap();
    let first_claim = first.claim_due(&query, 2).await.unwrap();
    assert_eq!(first_claim.len(), 2);
    transition(&mut first, first_claim.clone()).await;

    let (claimed_tx, claimed_rx) = oneshot::channel();
    let second = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut second = store.begin(system(now)).await.unwrap();
            let claim = second.claim_due(&query, 10).await.unwrap();
            let _ = claimed_tx.send(claim.clone());
            transition(&mut second, claim).await;
            second.commit().await.unwrap();
        })
    };
    let second_claim = match store.backend() {
        // Rows the first unit holds are skipped, not waited for.
        Backend::Postgres => {
            let claim = tokio::time::timeout(std::time::Duration::from_secs(10), claimed_rx)
                .await
                .expect("the second claimer waited for the first instead of skipping its rows")
                .unwrap();
            first.commit().await.unwrap();
            claim
        }
        // Units of work take turns: the second claims once the first has committed.
        Backend::Sqlite => {
            first.commit().await.unwrap();
            claimed_rx.await.unwrap()
        }
    };
    finish(second, "the second claimer").await;

    let first_ids: BTreeSet<Uuid> = first_claim.iter().map(|s| s.id).collect();
    let second_ids: BTreeSet<Uuid> = second_claim.iter().map(|s| s.id).collect();
    assert!(
        first_ids.is_disjoint(&second_ids),
        "both claimed {:?}",
        first_ids.intersection(&second_ids).collect::<Vec<_>>()
    );
    let all_ids: BTreeSet<Uuid> = due.iter().map(|s| s.id).collect();
    assert_eq!(
        &first_ids | &second_ids,
        all_ids,
        "the two claimers together did not take every due subscription"
    );
    for subscription in &due {
        assert_eq!(
            store
                .subscription(Scope::All, subscription.id)
                .await
                .unwrap()
                .status,
            Status::Grace
        );
    }
}
