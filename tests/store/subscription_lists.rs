//! `SubscriptionStore::list_subscriptions`, `account_subscriptions` and
//! `subscriptions_with_free_seat`: scopes, filters, order and page tokens.

use crate::{fixtures::*, subscriptions::World};

crate::store_tests!(
    listings_hold_exactly_what_each_scope_sees_newest_first,
    list_filters_narrow_by_account_partner_reference_and_status_within_the_scope,
    pages_follow_newest_first_order_through_equal_creation_times,
    the_subscriptions_with_a_free_seat_are_exactly_those_the_seat_rule_admits,
);

/// `subscriptions` newest first: creation time, then id, both descending.
fn newest_first(mut subscriptions: Vec<Subscription>) -> Vec<Subscription> {
    subscriptions.sort_by_key(|s| std::cmp::Reverse((s.created_at, s.id)));
    subscriptions
}

async fn list(
    store: &Arc<dyn Store>,
    scope: Scope,
    query: &SubscriptionQuery,
) -> Vec<Subscription> {
    let page = store
        .list_subscriptions(scope, query, &first_page(100))
        .await
        .unwrap();
    assert_eq!(page.next_page_token, "", "one page holds them all");
    page.items
}

async fn listings_hold_exactly_what_each_scope_sees_newest_first(store: Arc<dyn Store>) {
    let world = World::create(&store).await;
    for (scope, visible) in world.scopes() {
        let expected = newest_first(
            world
                .all
                .iter()
                .filter(|s| visible.contains(&s.id))
                .cloned()
                .collect(),
        );
        assert_eq!(
            list(&store, scope, &SubscriptionQuery::default()).await,
            expected,
            "list_subscriptions under {scope:?}"
        );
        for owner in [world.ann, world.bob, Uuid::new_v4()] {
            let owned: Vec<_> = expected
                .iter()
                .filter(|s| s.account_id == Some(owner))
                .cloned()
                .collect();
            assert_eq!(
                store.account_subscriptions(scope, owner).await.unwrap(),
                owned,
                "account_subscriptions of {owner} under {scope:?}"
            );
        }
    }
}

async fn list_filters_narrow_by_account_partner_reference_and_status_within_the_scope(
    store: Arc<dyn Store>,
) {
    let ann = create_account(&store, "ann").await.id;
    let bob = create_account(&store, "bob").await.id;
    let p1 = create_partner(&store, "Partner one").await.id;
    let p2 = create_partner(&store, "Partner two").await.id;
    let reference = |text: &str| Some(text.to_owned());
    let all = vec![
        Subscription {
            partner_reference: reference("R-1"),
            ..sold_by(p1, Some(ann))
        },
        Subscription {
            partner_reference: reference("R-1"),
            status: Status::Suspended,
            ..sold_by(p1, None)
        },
        Subscription {
            partner_reference: reference("R-2"),
            ..sold_by(p1, Some(bob))
        },
        Subscription {
            partner_reference: reference("R-1"),
            ..sold_by(p2, Some(ann))
        },
        Subscription {
            status: Status::Suspended,
            ..owned_by(ann)
        },
        owned_by(bob),
    ];
    let all: Vec<_> = all
        .into_iter()
        .enumerate()
        .map(|(n, s)| Subscription {
            created_at: at(n as i64),
            ..s
        })
        .collect();
    insert_subscriptions(&store, &all).await;

    let expect = |f: &dyn Fn(&Subscription) -> bool| {
        newest_first(all.iter().filter(|s| f(s)).cloned().collect())
    };
    let query =
        |account_id, partner_id, partner_reference: Option<&str>, status| SubscriptionQuery {
            account_id,
            partner_id,
            partner_reference: partner_reference.map(str::to_owned),
            status,
        };
    let cases: Vec<(Scope, SubscriptionQuery, Vec<Subscription>)> = vec![
        (
            Scope::All,
            query(Some(ann), None, None, None),
            expect(&|s| s.account_id == Some(ann)),
        ),
        (
            Scope::All,
            query(None, Some(p1), None, None),
            expect(&|s| s.partner_id == Some(p1)),
        ),
        (
            Scope::All,
            query(None, Some(p1), Some("R-1"), None),
            expect(&|s| s.partner_id == Some(p1) && s.partner_reference.as_deref() == Some("R-1")),
        ),
        (
            Scope::All,
            query(None, None, Some("R-1"), None),
            expect(&|s| s.partner_reference.as_deref() == Some("R-1")),
        ),
        (
            Scope::All,
            query(None, None, None, Some(Status::Suspended)),
            expect(&|s| s.status == Status::Suspended),
        ),
        (
            Scope::All,
            query(Some(ann), Some(p1), Some("R-1"), Some(Status::Active)),
            expect(&|s| {
                s.account_id == Some(ann)
                    && s.partner_id == Some(p1)
                    && s.partner_reference.as_deref() == Some("R-1")
                    && s.status == Status::Active
            }),
        ),
        (
            Scope::All,
            query(None, None, Some("R-404"), None),
            Vec::new(),
        ),
        // Filters never widen the scope.
        (
            Scope::Partner(p2),
            query(None, Some(p1), None, None),
            Vec::new(),
        ),
        (
            Scope::Partner(p1),
            query(Some(ann), None, None, None),
            expect(&|s| s.partner_id == Some(p1) && s.account_id == Some(ann)),
        ),
        (
            Scope::Account(bob),
            query(Some(ann), None, None, None),
            Vec::new(),
        ),
        (
            Scope::Account(ann),
            query(None, None, None, Some(Status::Suspended)),
            expect(&|s| s.account_id == Some(ann) && s.status == Status::Suspended),
        ),
        (
            Scope::Partner(p1),
            query(None, None, Some("R-1"), None),
            expect(&|s| s.partner_id == Some(p1) && s.partner_reference.as_deref() == Some("R-1")),
        ),
    ];
    for (scope, query, expected) in cases {
        assert!(
            expected.len() != all.len(),
            "a case that filters nothing proves nothing"
        );
        assert_eq!(
            list(&store, scope, &query).await,
            expected,
            "{query:?} under {scope:?}"
        );
    }
}

async fn pages_follow_newest_first_order_through_equal_creation_times(store: Arc<dyn Store>) {
    let ann = create_account(&store, "ann").await.id;
    let mut all = Vec::new();
    for _ in 0..7 {
        // Seven created in the same micro-second, between an older and a newer one.
        all.push(Subscription {
            created_at: at(10),
            ..owned_by(ann)
        });
    }
    all.push(Subscription {
        created_at: at(10) + Duration::microseconds(1),
        ..owned_by(ann)
    });
    all.push(Subscription {
        created_at: at(10) - Duration::microseconds(1),
        ..owned_by(ann)
    });
    // Somebody else's, created at the same time as the ties.
    all.push(Subscription {
        created_at: at(10),
        ..subscription()
    });
    insert_subscriptions(&store, &all).await;
    let owned = newest_first(
        all.iter()
            .filter(|s| s.account_id == Some(ann))
            .cloned()
            .collect(),
    );

    for scope in [Scope::All, Scope::Account(ann)] {
        let query = SubscriptionQuery {
            account_id: Some(ann),
            ..SubscriptionQuery::default()
        };
        let pages = all_pages(2, |page| {
            let (store, query) = (store.clone(), query.clone());
            async move { store.list_subscriptions(scope, &query, &page).await }
        })
        .await;
        assert_eq!(sizes(&pages), [2, 2, 2, 2, 1], "under {scope:?}");
        assert_eq!(pages.concat(), owned, "under {scope:?}");
    }
    assert_eq!(
        store.account_subscriptions(Scope::All, ann).await.unwrap(),
        owned
    );
}

async fn the_subscriptions_with_a_free_seat_are_exactly_those_the_seat_rule_admits(
    store: Arc<dyn Store>,
) {
    let ann = create_account(&store, "ann").await.id;
    let bob = create_account(&store, "bob").await.id;
    let mut mine = Vec::new();
    for (i, status) in Status::ALL.iter().enumerate() {
        for active_seats in [0, 2, 3] {
            mine.push(Subscription {
                status: *status,
                active_seats,
                term_end: t0() + Duration::days(100 + (i as i64) * 3 + active_seats),
                ..owned_by(ann)
            });
        }
    }
    let theirs = Subscription { ..owned_by(bob) };
    let mut all = mine.clone();
    all.push(theirs);
    insert_subscriptions(&store, &all).await;

    let mut admitted: Vec<Subscription> = mine
        .iter()
        .filter(|s| s.admits_seat(&[]).is_ok())
        .cloned()
        .collect();
    admitted.sort_by(|a, b| b.term_end.cmp(&a.term_end).then(a.id.cmp(&b.id)));
    assert!(!admitted.is_empty() && admitted.len() < mine.len());
    for scope in [Scope::All, Scope::Account(ann)] {
        assert_eq!(
            store
                .subscriptions_with_free_seat(scope, ann)
                .await
                .unwrap(),
            admitted,
            "under {scope:?}"
        );
    }
    for scope in [Scope::Account(bob), Scope::Partner(ann), Scope::Nothing] {
        assert!(
            store
                .subscriptions_with_free_seat(scope, ann)
                .await
                .unwrap()
                .is_empty(),
            "under {scope:?}"
        );
    }
}
