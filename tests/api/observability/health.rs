use crate::support::{Db, TestApp, WAIT, email, spawn_app, spawn_app_with};
use tessera_client::tonic::{Streaming, transport::Channel};
use tokio::time::timeout;
use tonic_health::pb::{
    HealthCheckRequest, HealthCheckResponse, health_check_response::ServingStatus,
    health_client::HealthClient,
};

const SERVICES: &[&str] = &[
    "",
    "tessera.v1.AccountService",
    "tessera.v1.SubscriptionService",
    "tessera.v1.SeatService",
    "tessera.v1.PartnerService",
    "tessera.v1.ProductKeyService",
    "tessera.v1.EventService",
];

fn health(app: &TestApp) -> HealthClient<Channel> {
    HealthClient::new(app.channel.clone())
}

/// A Watch stream for each service.
async fn watch_all(app: &TestApp) -> Vec<Streaming<HealthCheckResponse>> {
    let mut streams = Vec::new();
    for service in SERVICES {
        let stream = health(app)
            .watch(HealthCheckRequest {
                service: service.to_string(),
            })
            .await
            .expect("every service is registered")
            .into_inner();
        streams.push(stream);
    }
    streams
}

/// The next status each stream reports, which must come within [`WAIT`].
async fn next_statuses(streams: &mut [Streaming<HealthCheckResponse>]) -> Vec<ServingStatus> {
    let mut statuses = Vec::new();
    for stream in streams {
        let response = timeout(WAIT, stream.message())
            .await
            .expect("a status in time")
            .expect("the stream does not fail")
            .expect("the stream stays open");
        statuses.push(ServingStatus::try_from(response.status).unwrap());
    }
    statuses
}

fn all(status: ServingStatus) -> Vec<ServingStatus> {
    vec![status; SERVICES.len()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_turns_not_serving_as_soon_as_shutdown_begins() {
    let mut app = spawn_app(Db::Sqlite).await.unwrap();
    let mut streams = watch_all(&app).await;
    assert_eq!(
        next_statuses(&mut streams).await,
        all(ServingStatus::Serving)
    );
    app.begin_stop();
    assert_eq!(
        next_statuses(&mut streams).await,
        all(ServingStatus::NotServing)
    );
    drop(streams);
    app.stop().await;
}

/// Runs `statement` on the PostgreSQL server of `TEST_DATABASE_URL`, outside the test's
/// database.
async fn on_server(statement: String) {
    let url = std::env::var("TEST_DATABASE_URL").unwrap();
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    sqlx::Executor::execute(&mut conn, sqlx::AssertSqlSafe(statement))
        .await
        .unwrap();
}

/// The test database goes away for the server: no new connections, the open ones cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_is_not_serving_while_the_database_is_unreachable_and_serves_again_after() {
    let Some(app) = spawn_app_with(Db::Postgres, |settings| {
        settings.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await
    else {
        return;
    };
    let database = app
        .database_url
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let mut streams = watch_all(&app).await;
    assert_eq!(
        next_statuses(&mut streams).await,
        all(ServingStatus::Serving)
    );

    on_server(format!(
        "ALTER DATABASE {database} WITH ALLOW_CONNECTIONS false"
    ))
    .await;
    on_server(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'"
    ))
    .await;
    assert_eq!(
        next_statuses(&mut streams).await,
        all(ServingStatus::NotServing)
    );
    let down = scrape_database_up(&app).await;

    on_server(format!(
        "ALTER DATABASE {database} WITH ALLOW_CONNECTIONS true"
    ))
    .await;
    assert_eq!(
        next_statuses(&mut streams).await,
        all(ServingStatus::Serving)
    );
    assert_eq!(down, "tessera_database_up 0");
    // And the server works again.
    app.sign_up(&email()).await;
    drop(streams);
    app.stop().await;
}

/// The `tessera_database_up` line of a scrape.
async fn scrape_database_up(app: &TestApp) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(app.metrics_addr.unwrap())
        .await
        .unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: tessera\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
        .lines()
        .find(|line| line.starts_with("tessera_database_up "))
        .unwrap_or_default()
        .to_owned()
}
