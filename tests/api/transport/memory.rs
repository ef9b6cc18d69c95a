//! What unread event streams cost the server: 10 connections × 100 `WatchEvents`
//! streams whose client never reads, over 1,500 events, with the server as its own
//! process so that its resident memory can be read before, at the peak and after the
//! streams close. Before the bounds (400 KiB of HTTP/2 send buffer and 500 queued
//! messages per stream) this took the server from 104 to 741 MiB. The figures are
//! printed (`--nocapture`); the assertions are generous bounds. The allocator keeps
//! what the streams freed for reuse rather than returning it to the system, so a second
//! round must not grow the server much further.

use super::accept::ServerProcess;
use crate::support::admin;
use futures::future::join_all;
use std::time::Duration;
use tessera_client::{
    pb::{
        self, account_service_client::AccountServiceClient,
        event_service_client::EventServiceClient,
        subscription_service_client::SubscriptionServiceClient,
    },
    tonic::transport::Endpoint,
};

const CONNECTIONS: usize = 10;
const STREAMS: usize = 100;
const EVENTS: usize = 1500;

/// Resident memory once it has stopped growing for a second (or after `at_most`).
async fn settled_rss(server: &ServerProcess, at_most: Duration) -> u64 {
    let started = std::time::Instant::now();
    let mut last = server.rss_kib();
    let mut stable_since = std::time::Instant::now();
    while started.elapsed() < at_most {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = server.rss_kib();
        if now.abs_diff(last) > 256 {
            stable_since = std::time::Instant::now();
        }
        last = now;
        if stable_since.elapsed() >= Duration::from_secs(1) {
            break;
        }
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_event_streams_hold_bounded_memory_that_is_reused_once_they_close() {
    let server = ServerProcess::start(
        4096,
        &[
            "--max-watch-streams-per-caller",
            "1000",
            "--max-concurrent-streams",
            "100",
        ],
    );
    let endpoint = format!("http://{}", server.addr);
    let channel = tessera_client::connect(endpoint.clone()).await.unwrap();
    let account = AccountServiceClient::new(channel.clone())
        .create_account(pb::CreateAccountRequest {
            email: "memory@example.com".to_owned(),
            password: crate::support::PASSWORD.to_owned(),
            display_name: "Memory".to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    for _ in 0..EVENTS / 100 {
        join_all((0..100).map(|_| {
            let mut subscriptions = SubscriptionServiceClient::new(channel.clone());
            let parent = account.name.clone();
            async move {
                subscriptions
                    .create_subscription(admin(pb::CreateSubscriptionRequest {
                        parent,
                        plan: "plans/deluxe-3".to_owned(),
                        auto_renew: true,
                        request_id: uuid::Uuid::new_v4().to_string(),
                    }))
                    .await
                    .unwrap();
            }
        }))
        .await;
    }
    let before = settled_rss(&server, Duration::from_secs(5)).await;

    let (peak, after) = open_unread_streams(&server, &endpoint).await;
    // A second round reuses what the first freed: the memory is the allocator's to
    // hand out again, not leaked.
    let (second_peak, second_after) = open_unread_streams(&server, &endpoint).await;
    let mib = |kib: u64| kib as f64 / 1024.0;
    eprintln!(
        "RSS with {CONNECTIONS}×{STREAMS} unread WatchEvents streams over {EVENTS} events: \
         before {:.1} MiB, peak {:.1} MiB (+{:.2} MiB per stream), after closing {:.1} MiB",
        mib(before),
        mib(peak),
        mib(peak.saturating_sub(before)) / (CONNECTIONS * STREAMS) as f64,
        mib(after),
    );
    eprintln!(
        "a second round: peak {:.1} MiB, after closing {:.1} MiB",
        mib(second_peak),
        mib(second_after)
    );
    let per_stream = peak.saturating_sub(before) / (CONNECTIONS * STREAMS) as u64;
    assert!(
        per_stream < 300,
        "{per_stream} KiB per unread stream (it was about 635 before the bounds)"
    );
    assert!(
        second_peak < peak + peak.saturating_sub(before) / 4,
        "the second round grew the server from {peak} to {second_peak} KiB"
    );
}

/// Opens the streams, leaves them unread until the server's memory settles, closes
/// them: resident memory at the peak and after closing, in KiB.
async fn open_unread_streams(server: &ServerProcess, endpoint: &str) -> (u64, u64) {
    let mut streams = Vec::new();
    let mut channels = Vec::new();
    for _ in 0..CONNECTIONS {
        // The smallest windows HTTP/2 allows: the server keeps what the client won't take.
        let channel = Endpoint::from_shared(endpoint.to_owned())
            .unwrap()
            .initial_stream_window_size(65_535)
            .initial_connection_window_size(65_535)
            .connect()
            .await
            .unwrap();
        let opened = join_all((0..STREAMS).map(|_| {
            let mut events = EventServiceClient::new(channel.clone());
            async move {
                events
                    .watch_events(admin(pb::WatchEventsRequest::default()))
                    .await
                    .unwrap()
                    .into_inner()
            }
        }))
        .await;
        streams.extend(opened);
        channels.push(channel);
    }
    let peak = settled_rss(server, Duration::from_secs(30)).await;
    drop(streams);
    drop(channels);
    let after = settled_rss(server, Duration::from_secs(10)).await;
    (peak, after)
}
