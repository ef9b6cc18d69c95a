use crate::support::{
    Db, activation, admin, assert_error, email, on_both_backends, spawn_app_with, tick,
};
use std::{collections::BTreeMap, net::SocketAddr};
use tessera::domain::codes::CodeKind;
use tessera_client::{
    pb::{self, event_service_client::EventServiceClient},
    tonic::Code,
    with_token,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::timeout,
};

on_both_backends!(a_scrape_counts_calls_seats_redemptions_watchers_and_worker_passes);

/// One sample of the exposition text: the series' name, its labels, its value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// `GET /metrics` over HTTP/1.1: the status line, the content type and the samples.
async fn scrape(address: SocketAddr) -> (String, String, Vec<Sample>) {
    let mut stream = TcpStream::connect(address)
        .await
        .expect("the endpoint accepts");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: tessera\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    timeout(crate::support::WAIT, stream.read_to_string(&mut response))
        .await
        .expect("the endpoint answers in time")
        .unwrap();
    let (head, body) = response
        .split_once("\r\n\r\n")
        .expect("a header and a body");
    let status = head.lines().next().unwrap().to_owned();
    let content_type = head
        .lines()
        .find_map(|line| line.strip_prefix("content-type: "))
        .unwrap_or_default()
        .to_owned();
    let samples = body
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(parse_sample)
        .collect();
    (status, content_type, samples)
}

fn parse_sample(line: &str) -> Sample {
    let (series, value) = line.rsplit_once(' ').expect("a series and a value");
    let (name, labels) = match series.split_once('{') {
        Some((name, rest)) => {
            let labels = rest
                .trim_end_matches('}')
                .split("\",")
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (key, value) = pair.split_once("=\"").expect("key=\"value\"");
                    (key.to_owned(), value.trim_end_matches('"').to_owned())
                })
                .collect();
            (name, labels)
        }
        None => (series, BTreeMap::new()),
    };
    Sample {
        name: name.to_owned(),
        labels,
        value: value.parse().expect("a number"),
    }
}

/// The value of the one sample of `name` with exactly `labels`.
#[track_caller]
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let wanted: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    samples
        .iter()
        .find(|s| s.name == name && s.labels == wanted)
        .unwrap_or_else(|| panic!("no sample {name}{labels:?}"))
        .value
}

fn seat_rpc(code: &str) -> [(&str, &str); 3] {
    [
        ("grpc_service", "tessera.v1.SeatService"),
        ("grpc_method", "ActivateSeat"),
        ("grpc_code", code),
    ]
}

async fn a_scrape_counts_calls_seats_redemptions_watchers_and_worker_passes(db: Db) {
    let Some(app) = spawn_app_with(db, |settings| {
        settings.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
        settings.redeem_account_limit = 1;
    })
    .await
    else {
        return;
    };
    let address = app.metrics_addr.expect("the endpoint is on");
    let (account, token) = app.sign_up(&email()).await;
    let subscription = app.buy(&account, "deluxe-3").await;
    for device in ["pc", "mac", "phone"] {
        app.activate(&token, &subscription.name, device)
            .await
            .unwrap();
    }
    app.activate(&token, &subscription.name, "pc")
        .await
        .unwrap();
    let refused = app
        .activate(&token, &subscription.name, "tablet")
        .await
        .unwrap_err();
    assert_error(&refused, Code::ResourceExhausted, "SEAT_LIMIT_REACHED");
    // A guess, then the throttle (one failure allowed per account).
    let guess = CodeKind::ProductKey.generate();
    let missing = app.redeem_key(&token, &guess, "").await.unwrap_err();
    assert_error(&missing, Code::NotFound, "PRODUCT_KEY_NOT_FOUND");
    let throttled = app.redeem_key(&token, &guess, "").await.unwrap_err();
    assert_error(&throttled, Code::ResourceExhausted, "REDEMPTION_THROTTLED");
    // A watcher that has read an event.
    let mut stream = EventServiceClient::new(app.channel.clone())
        .watch_events(admin(pb::WatchEventsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    timeout(crate::support::WAIT, stream.message())
        .await
        .expect("an event in time")
        .unwrap()
        .expect("an event");
    // A lifecycle pass with nothing due.
    assert_eq!(tick(&app).await, 0);
    // A device's check-in is a call of another method.
    let device = app
        .seats()
        .activate_seat(with_token(&token, activation(&subscription.name, "pc")))
        .await
        .unwrap()
        .into_inner()
        .device_token;
    app.check_protection(&device).await;

    let (status, content_type, samples) = scrape(address).await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    assert_eq!(
        value(&samples, "grpc_server_handled_total", &seat_rpc("OK")),
        5.0
    );
    assert_eq!(
        value(
            &samples,
            "grpc_server_handled_total",
            &seat_rpc("RESOURCE_EXHAUSTED")
        ),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            "grpc_server_handling_seconds_count",
            &seat_rpc("OK")
        ),
        5.0
    );
    let mut slowest = seat_rpc("OK").to_vec();
    slowest.push(("le", "+Inf"));
    assert_eq!(
        value(&samples, "grpc_server_handling_seconds_bucket", &slowest),
        5.0
    );
    assert_eq!(
        value(
            &samples,
            "grpc_server_handled_total",
            &[
                ("grpc_service", "tessera.v1.SeatService"),
                ("grpc_method", "CheckProtection"),
                ("grpc_code", "OK"),
            ]
        ),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            "tessera_seat_activations_total",
            &[("outcome", "taken")]
        ),
        3.0
    );
    assert_eq!(
        value(
            &samples,
            "tessera_seat_activations_total",
            &[("outcome", "held")]
        ),
        2.0
    );
    assert_eq!(
        value(
            &samples,
            "tessera_seat_refusals_total",
            &[("reason", "SEAT_LIMIT_REACHED")]
        ),
        1.0
    );
    for (outcome, count) in [("guess", 1.0), ("throttled", 1.0)] {
        assert_eq!(
            value(
                &samples,
                "tessera_redemptions_total",
                &[("kind", "product_key"), ("outcome", outcome)]
            ),
            count,
            "{outcome}"
        );
    }
    assert_eq!(
        value(
            &samples,
            "tessera_event_watchers",
            &[("principal", "admin")]
        ),
        1.0
    );
    assert!(value(&samples, "tessera_event_delivery_lag_seconds_count", &[]) >= 1.0);
    assert_eq!(
        value(
            &samples,
            "tessera_lifecycle_passes_total",
            &[("outcome", "ok")]
        ),
        1.0
    );
    assert!(
        value(
            &samples,
            "tessera_lifecycle_last_pass_timestamp_seconds",
            &[]
        ) > 0.0
    );
    assert_eq!(value(&samples, "tessera_database_up", &[]), 1.0);
    let max = value(&samples, "tessera_db_pool_max_connections", &[]);
    let idle = value(
        &samples,
        "tessera_db_pool_connections",
        &[("state", "idle")],
    );
    let in_use = value(
        &samples,
        "tessera_db_pool_connections",
        &[("state", "in_use")],
    );
    assert!(max > 0.0 && idle + in_use >= 1.0 && idle + in_use <= max);

    // The watcher's stream closes: it no longer counts.
    drop(stream);
    let mut open = 1.0;
    for _ in 0..200 {
        let (_, _, samples) = scrape(address).await;
        open = value(
            &samples,
            "tessera_event_watchers",
            &[("principal", "admin")],
        );
        if open == 0.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(open, 0.0, "the closed stream still counts as a watcher");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_endpoint_answers_only_metrics_and_is_off_by_default() {
    let app = crate::support::spawn_app(Db::Sqlite).await.unwrap();
    assert_eq!(app.metrics_addr, None);
    app.stop().await;
    let app = spawn_app_with(Db::Sqlite, |settings| {
        settings.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await
    .unwrap();
    let mut stream = TcpStream::connect(app.metrics_addr.unwrap()).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: tessera\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
    app.stop().await;
}
