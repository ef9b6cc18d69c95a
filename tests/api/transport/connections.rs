//! Connection hygiene: a connection that never speaks HTTP/2 is closed, an idle one is
//! closed with a GOAWAY that its client survives, a busy one is not, one whose peer
//! stops answering pings is closed, and one connection cannot open more streams than
//! the server advertises.

use super::{RawH2, Server, closed_within, frame};
use crate::support::{Db, WAIT};
use std::time::{Duration, Instant};
use tessera_client::{pb, tonic::transport::Endpoint};
use tokio::net::TcpStream;

const HEALTH_CHECK: &str = "/grpc.health.v1.Health/Check";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_never_sends_the_http2_preface_is_closed() {
    let server = Server::start(Db::Sqlite, |settings| {
        settings.handshake_timeout_seconds = 1;
    })
    .await
    .unwrap();
    let started = Instant::now();
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    closed_within(&mut silent, Duration::from_secs(10)).await;
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "closed before the deadline: {:?}",
        started.elapsed()
    );
    // A client that speaks is served as ever.
    let mut h2 = RawH2::connect(server.addr).await;
    h2.send(frame::PING, 0, 0, &[7; 8]).await;
    let pong = h2
        .until(WAIT, |f| f.kind == frame::PING && f.flags & frame::ACK != 0)
        .await;
    assert!(
        pong.is_some(),
        "the server answers a ping after the preface"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_advertises_its_stream_limit_and_refuses_streams_past_it() {
    let server = Server::start(Db::Sqlite, |_| {}).await.unwrap();
    let limit = server.settings.max_concurrent_streams;
    assert_eq!(limit, 100, "the default");
    let mut h2 = RawH2::connect(server.addr).await;
    let advertised = h2
        .server_settings
        .as_ref()
        .unwrap()
        .setting(frame::MAX_CONCURRENT_STREAMS);
    assert_eq!(advertised, Some(limit));
    // `limit` calls left waiting for their request message, then one more.
    for n in 0..=limit {
        h2.open_call(2 * n + 1, HEALTH_CHECK).await;
    }
    let over = 2 * limit + 1;
    let reset = h2
        .until(WAIT, |f| f.kind == frame::RST_STREAM)
        .await
        .expect("the stream past the limit is reset");
    assert_eq!(
        reset.stream, over,
        "only the stream past the limit is refused"
    );
    assert_eq!(reset.error_code(), frame::REFUSED_STREAM);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_is_closed_with_a_goaway_and_its_client_reconnects() {
    let server = Server::start(Db::Sqlite, |settings| {
        settings.idle_timeout_seconds = 1;
        settings.keepalive_timeout_seconds = 1;
    })
    .await
    .unwrap();
    let mut h2 = RawH2::connect(server.addr).await;
    let goaway = h2
        .until(Duration::from_secs(10), |f| f.kind == frame::GOAWAY)
        .await;
    assert!(goaway.is_some(), "an idle connection gets a GOAWAY");
    // This client does not even answer the ping that completes a graceful close; it is
    // cut all the same.
    closed_within(&mut h2.stream, Duration::from_secs(10)).await;

    // A gRPC client sees nothing of it: its next call opens a new connection.
    let channel = Endpoint::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut plans = pb::subscription_service_client::SubscriptionServiceClient::new(channel);
    plans.list_plans(pb::ListPlansRequest {}).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    plans
        .list_plans(pb::ListPlansRequest {})
        .await
        .expect("a call after the idle timeout reconnects");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_with_a_call_open_is_never_idle() {
    let server = Server::start(Db::Sqlite, |settings| {
        settings.idle_timeout_seconds = 1;
    })
    .await
    .unwrap();
    let mut h2 = RawH2::connect(server.addr).await;
    // A call that stays open, as a WatchEvents stream waiting for events does.
    h2.open_call(1, HEALTH_CHECK).await;
    let quiet = Duration::from_millis(2500);
    let goaway = tokio::time::timeout(quiet, async {
        while let Some(frame) = h2.next().await {
            if frame.kind == frame::GOAWAY {
                return Some(frame);
            }
        }
        None
    })
    .await;
    assert!(
        goaway.is_err(),
        "the connection was closed with a call open: {goaway:?}"
    );
    // Once the call ends, the connection is idle.
    h2.send(frame::RST_STREAM, 0, 1, &8u32.to_be_bytes()).await; // CANCEL
    let goaway = h2
        .until(Duration::from_secs(10), |f| f.kind == frame::GOAWAY)
        .await;
    assert!(goaway.is_some(), "an idle connection gets a GOAWAY");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_whose_peer_stops_answering_pings_is_closed() {
    let server = Server::start(Db::Sqlite, |settings| {
        settings.keepalive_interval_seconds = 1;
        settings.keepalive_timeout_seconds = 1;
    })
    .await
    .unwrap();
    let mut h2 = RawH2::connect(server.addr).await;
    // A call in flight, so that only the missing ping answers can end the connection.
    h2.open_call(1, HEALTH_CHECK).await;
    let ping = h2
        .until(Duration::from_secs(10), |f| f.kind == frame::PING)
        .await;
    assert!(ping.is_some(), "the server pings a quiet connection");
    // Never answered.
    h2.until(Duration::from_secs(10), |_| false).await;
    server.stop().await;
}
