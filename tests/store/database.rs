//! The database as a whole: migrations, server secrets, and commit notices between
//! replicas (two store handles on one database).

use crate::fixtures::*;

crate::store_tests!(
    migrating_again_changes_nothing;
    url:
    the_first_key_fingerprint_recorded_stays_and_every_handle_agrees_on_it,
    a_server_secret_is_created_once_and_every_handle_on_the_database_agrees_on_it,
    another_handles_commit_wakes_this_ones_watchers_on_postgres,
);

async fn migrating_again_changes_nothing(store: Arc<dyn Store>) {
    let ann = create_account(&store, "ann").await;
    store
        .migrate()
        .await
        .expect("migrating a migrated database");
    assert_eq!(store.account(Scope::All, ann.id).await.unwrap(), ann);
}

async fn the_first_key_fingerprint_recorded_stays_and_every_handle_agrees_on_it(
    store: Arc<dyn Store>,
    url: String,
) {
    assert_eq!(store.key_fingerprint("code_hash_key").await.unwrap(), None);
    let first = KeyFingerprint::of(b"first key", KeyOrigin::Configured, at(1));
    let second = KeyFingerprint::of(b"second key", KeyOrigin::Generated, at(2));
    let replica = tessera::store::connect(&url).await.unwrap();
    // Two handles recording at once agree on one.
    let (a, b) = tokio::join!(
        store.record_key_fingerprint("code_hash_key", &first),
        replica.record_key_fingerprint("code_hash_key", &second),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a, b, "two handles recorded different fingerprints");
    assert!(a == first || a == second, "{a:?}");
    // Recording again changes nothing.
    assert_eq!(
        store
            .record_key_fingerprint("code_hash_key", &second)
            .await
            .unwrap(),
        a
    );
    assert_eq!(
        store.key_fingerprint("code_hash_key").await.unwrap(),
        Some(a)
    );
    assert_eq!(store.key_fingerprint("another key").await.unwrap(), None);
    replica.close().await;
}

async fn a_server_secret_is_created_once_and_every_handle_on_the_database_agrees_on_it(
    store: Arc<dyn Store>,
    url: String,
) {
    let first = store.server_secret("code-hash-key").await.unwrap();
    assert!(first.len() >= 16, "a secret of {} bytes", first.len());
    assert_eq!(store.server_secret("code-hash-key").await.unwrap(), first);
    let other = store.server_secret("another-key").await.unwrap();
    assert_ne!(other, first, "two names share a secret");

    let replica = tessera::store::connect(&url).await.unwrap();
    assert_eq!(replica.server_secret("code-hash-key").await.unwrap(), first);
    // Two handles asking for a new secret at once agree on one.
    let (a, b) = tokio::join!(
        store.server_secret("fresh-key"),
        replica.server_secret("fresh-key")
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a, b, "two handles created different secrets");
    assert_ne!(a, first);
    assert_eq!(store.server_secret("fresh-key").await.unwrap(), a);
    replica.close().await;
}

async fn another_handles_commit_wakes_this_ones_watchers_on_postgres(
    store: Arc<dyn Store>,
    url: String,
) {
    let listener = store
        .listen_for_commits(&url, Arc::new(|_| {}))
        .await
        .unwrap();
    let listener = match (store.backend(), listener) {
        (Backend::Sqlite, None) => return,
        (Backend::Sqlite, Some(_)) => panic!("a commit listener on SQLite"),
        (Backend::Postgres, None) => panic!("no commit listener on PostgreSQL"),
        (Backend::Postgres, Some(listener)) => tokio::spawn(listener),
    };
    let subscription = subscription();
    insert_subscriptions(&store, std::slice::from_ref(&subscription)).await;
    let replica = tessera::store::connect(&url).await.unwrap();

    // The listener may still be starting: each attempt commits an event on the other
    // handle and waits for this handle to be woken.
    let commits = store.commits();
    let mut woken = false;
    for attempt in 0..25 {
        let notified = commits.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let mut tx = replica.begin(system(at(attempt))).await.unwrap();
        tx.emit(NewEvent::of(EventType::SubscriptionUpdated, &subscription));
        tx.commit().await.unwrap();
        if tokio::time::timeout(std::time::Duration::from_millis(200), notified)
            .await
            .is_ok()
        {
            woken = true;
            break;
        }
    }
    assert!(woken, "another handle's commits never woke this handle");
    listener.abort();
    replica.close().await;
}
