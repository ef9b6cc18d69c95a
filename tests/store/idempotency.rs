//! Request ids: `IdempotencyTx::stored_request` / `store_request`,
//! `IdempotencyStore::purge_idempotency_keys`.

use crate::fixtures::*;

crate::store_tests!(
    a_stored_request_is_found_with_its_fingerprint_and_response_under_its_scope_only,
    a_request_id_is_recorded_only_when_its_unit_commits,
    a_concurrent_unit_asking_for_the_same_request_id_waits_and_then_sees_the_answer,
    purging_forgets_the_request_ids_recorded_before_the_cutoff,
);

async fn stored(store: &Arc<dyn Store>, key: &IdempotencyKey) -> Option<StoredRequest> {
    let mut tx = store.begin(system(t0())).await.unwrap();
    let found = tx.stored_request(key).await.unwrap();
    drop(tx);
    found
}

async fn remember(
    store: &Arc<dyn Store>,
    key: &IdempotencyKey,
    response: &str,
    now: DateTime<Utc>,
) {
    let mut tx = store.begin(system(now)).await.unwrap();
    assert_eq!(tx.stored_request(key).await.unwrap(), None);
    tx.store_request(key, response, now).await.unwrap();
    tx.commit().await.unwrap();
}

async fn a_stored_request_is_found_with_its_fingerprint_and_response_under_its_scope_only(
    store: Arc<dyn Store>,
) {
    let key = idempotency_key("partner:telekom", "request-1", "fingerprint-a");
    let response = r#"{"version":1,"value":{"partner_code":"ABCDE-FGHJK-MNPQ"},"answered_at":"2026-03-01T12:00:00.123456Z"}"#;
    assert_eq!(stored(&store, &key).await, None);
    remember(&store, &key, response, t0()).await;

    let expected = Some(StoredRequest {
        fingerprint: "fingerprint-a".to_owned(),
        response: response.to_owned(),
    });
    assert_eq!(stored(&store, &key).await, expected);
    // The same id with another request finds what the first one stored: the use case
    // compares the fingerprints.
    let reused = idempotency_key("partner:telekom", "request-1", "fingerprint-b");
    assert_eq!(stored(&store, &reused).await, expected);
    // Another caller's ids never clash, nor do other ids.
    let other_caller = idempotency_key("partner:vodafone", "request-1", "fingerprint-a");
    assert_eq!(stored(&store, &other_caller).await, None);
    let other_id = idempotency_key("partner:telekom", "request-2", "fingerprint-a");
    assert_eq!(stored(&store, &other_id).await, None);
    remember(&store, &other_caller, "another answer", t0()).await;
    assert_eq!(stored(&store, &key).await, expected);
    assert_eq!(
        stored(&store, &other_caller).await,
        Some(StoredRequest {
            fingerprint: "fingerprint-a".to_owned(),
            response: "another answer".to_owned(),
        })
    );
}

async fn a_request_id_is_recorded_only_when_its_unit_commits(store: Arc<dyn Store>) {
    let key = idempotency_key("admin", "request-1", "fingerprint");
    let mut tx = store.begin(system(t0())).await.unwrap();
    tx.store_request(&key, "answer", t0()).await.unwrap();
    assert!(
        tx.stored_request(&key).await.unwrap().is_some(),
        "a unit sees its own request id"
    );
    drop(tx);
    assert_eq!(stored(&store, &key).await, None);
}

async fn a_concurrent_unit_asking_for_the_same_request_id_waits_and_then_sees_the_answer(
    store: Arc<dyn Store>,
) {
    let key = idempotency_key("partner:telekom", "request-1", "fingerprint");
    let mut first = store.begin(system(at(1))).await.unwrap();
    assert_eq!(first.stored_request(&key).await.unwrap(), None);

    let (asking_tx, asking_rx) = oneshot::channel();
    let mut second = {
        let (store, key) = (store.clone(), key.clone());
        tokio::spawn(async move {
            let _ = asking_tx.send(());
            let mut second = store.begin(system(at(2))).await.unwrap();
            let found = second.stored_request(&key).await.unwrap();
            if found.is_none() {
                // What a use case would do next: make the change and record its answer.
                second
                    .store_request(&key, "second answer", at(2))
                    .await
                    .unwrap();
                second.commit().await.unwrap();
            }
            found
        })
    };
    asking_rx.await.unwrap();
    assert_waiting(&mut second, "a unit asking for the same request id").await;

    first
        .store_request(&key, "first answer", at(1))
        .await
        .unwrap();
    first.commit().await.unwrap();
    assert_eq!(
        finish(second, "the second unit").await,
        Some(StoredRequest {
            fingerprint: "fingerprint".to_owned(),
            response: "first answer".to_owned(),
        })
    );
}

async fn purging_forgets_the_request_ids_recorded_before_the_cutoff(store: Arc<dyn Store>) {
    let old = idempotency_key("admin", "old", "f");
    let older = idempotency_key("partner:x", "older", "f");
    let at_cutoff = idempotency_key("admin", "at-cutoff", "f");
    let new = idempotency_key("admin", "new", "f");
    remember(&store, &old, "old answer", at(0)).await;
    remember(&store, &older, "older answer", at(-3600)).await;
    remember(&store, &at_cutoff, "answer at cutoff", at(10)).await;
    remember(&store, &new, "new answer", at(20)).await;

    assert_eq!(store.purge_idempotency_keys(at(10)).await.unwrap(), 2);
    assert_eq!(stored(&store, &old).await, None);
    assert_eq!(stored(&store, &older).await, None);
    assert!(stored(&store, &at_cutoff).await.is_some());
    assert!(stored(&store, &new).await.is_some());
    assert_eq!(store.purge_idempotency_keys(at(10)).await.unwrap(), 0);
}
