//! A graceful stop ends open watch streams, and a watcher that stopped reading does not
//! hold it up.

use super::{Replica, WAIT, after, events, next_event, watch};
use crate::support::{ADMIN_TOKEN, Db, admin, email, on_both_backends, spawn_app};
use std::time::{Duration, Instant};
use tokio::time::timeout;

on_both_backends!(
    a_graceful_stop_ends_open_watch_streams,
    a_graceful_stop_is_not_held_up_by_a_watcher_that_stopped_reading,
);

async fn a_graceful_stop_ends_open_watch_streams(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let (account, _) = app.sign_up(&email()).await;
    app.buy(&account, "deluxe-3").await;
    let carrier = app.partner("Watching Carrier").await;
    let mut admin_stream = watch(&app, ADMIN_TOKEN, after(0)).await.unwrap();
    assert_eq!(next_event(&mut admin_stream).await.sequence, 1);
    // A caught-up partner stream that has seen nothing at all.
    let mut partner_stream = watch(&app, &carrier.api_key, after(0)).await.unwrap();

    timeout(WAIT, app.stop())
        .await
        .expect("open watch streams do not hold up the stop");
    for stream in [&mut admin_stream, &mut partner_stream] {
        let end = timeout(WAIT, stream.message())
            .await
            .expect("the stream ends with the server");
        assert!(matches!(end, Ok(None)), "the stream ends cleanly: {end:?}");
    }
}

async fn a_graceful_stop_is_not_held_up_by_a_watcher_that_stopped_reading(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let (account, _) = app.sign_up(&email()).await;
    // More than the watcher's flow-control window and the server's buffer hold.
    for _ in 0..15 {
        futures::future::join_all((0..100).map(|_| app.buy(&account, "deluxe-3"))).await;
    }
    // A stream whose data the client never takes cannot end cleanly; the grace period
    // bounds how long the stop waits for it.
    let grace = Duration::from_secs(1);
    let replica = Replica::start_with(&app.database_url, |settings| {
        settings.shutdown_grace_seconds = grace.as_secs() as u32;
    })
    .await;
    let channel =
        tessera_client::tonic::transport::Endpoint::from_shared(format!("http://{}", replica.addr))
            .unwrap()
            .initial_stream_window_size(65_535)
            .initial_connection_window_size(65_535)
            .connect()
            .await
            .unwrap();
    let mut stalled = events(&channel)
        .watch_events(admin(after(0)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next_event(&mut stalled).await.sequence, 1);
    // The watcher reads no further, as a hung consumer would.
    let _ = replica.shutdown.send(());
    let started = Instant::now();
    let stopped = timeout(grace + Duration::from_secs(6), replica.server).await;
    assert!(
        stopped.is_ok(),
        "the stop was still waiting for the stalled watcher after {:?}",
        started.elapsed()
    );
    drop(stalled);
    app.stop().await;
}
