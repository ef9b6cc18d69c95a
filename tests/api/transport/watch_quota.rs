//! Each caller may hold a bounded number of event streams open; the next is refused
//! until one closes, and other callers are not affected.

use crate::support::{
    ADMIN_TOKEN, Db, TestApp, WAIT, assert_error, on_both_backends, spawn_app_configured,
};
use tessera_client::{
    pb::{self, event_service_client::EventServiceClient},
    tonic::{Code, Status, Streaming},
    tonic_types::StatusExt,
    with_token,
};

on_both_backends!(a_caller_past_its_event_stream_limit_is_refused_until_one_closes);

async fn watch(app: &TestApp, token: &str) -> Result<Streaming<pb::WatchEventsResponse>, Status> {
    EventServiceClient::new(app.channel.clone())
        .watch_events(with_token(token, pb::WatchEventsRequest::default()))
        .await
        .map(|response| response.into_inner())
}

async fn a_caller_past_its_event_stream_limit_is_refused_until_one_closes(db: Db) {
    let Some(app) = spawn_app_configured(db, |settings| {
        settings.max_watch_streams_per_caller = 2;
    })
    .await
    else {
        return;
    };
    let carrier = app.partner("Many Streams").await;
    let first = watch(&app, &carrier.api_key).await.unwrap();
    let _second = watch(&app, &carrier.api_key).await.unwrap();

    let refused = watch(&app, &carrier.api_key).await.unwrap_err();
    assert_error(
        &refused,
        Code::ResourceExhausted,
        "WATCH_STREAM_LIMIT_REACHED",
    );
    let details = refused.get_error_details();
    let quota = details.quota_failure().expect("a QuotaFailure detail");
    assert_eq!(quota.violations[0].subject, carrier.name);

    // Others have their own allowance.
    let other = app.partner("Other Carrier").await;
    let _other = watch(&app, &other.api_key).await.unwrap();
    let _admin = watch(&app, ADMIN_TOKEN).await.unwrap();

    // Closing a stream gives its place back (as soon as the server sees it close).
    drop(first);
    let reopened = tokio::time::timeout(WAIT, async {
        loop {
            match watch(&app, &carrier.api_key).await {
                Ok(stream) => return stream,
                Err(status) if status.code() == Code::ResourceExhausted => {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                Err(status) => panic!("unexpected refusal: {status:?}"),
            }
        }
    })
    .await;
    assert!(
        reopened.is_ok(),
        "the place of the closed stream was never given back"
    );
    app.stop().await;
}
