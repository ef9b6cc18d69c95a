//! Starting a real server for a test, on its own database, and small client helpers.

use chrono::Utc;
use std::sync::Arc;
use tessera::{Application, Settings, domain::clock::ManualClock, lifecycle::worker::run_once};
use tessera_client::{
    pb::{
        self, account_service_client::AccountServiceClient, seat_service_client::SeatServiceClient,
        subscription_service_client::SubscriptionServiceClient,
    },
    tonic::{Code, Status, transport::Channel},
    tonic_types::StatusExt,
    with_token,
};
use tokio::sync::oneshot;

#[path = "../support/test_db.rs"]
pub mod test_db;
use test_db::TestDb;

pub const ADMIN_TOKEN: &str = "test-admin-token";
pub const PASSWORD: &str = "a good long password";
/// How long a test waits for something that should happen at once (an event, a wake-up,
/// a stop) before calling it stuck.
pub const WAIT: std::time::Duration = std::time::Duration::from_secs(20);

/// Which backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// A running server and clients for it.
pub struct TestApp {
    pub channel: Channel,
    /// Where the server listens, for calls made below the client (raw HTTP/2 frames).
    pub address: std::net::SocketAddr,
    /// The server's store, for reading the event counter.
    pub store: std::sync::Arc<dyn tessera::store::Store>,
    /// The server's use cases, for driving the lifecycle worker.
    pub services: tessera::service::Services,
    pub clock: ManualClock,
    pub database_url: String,
    /// The Prometheus endpoint, when the test turned it on.
    pub metrics_addr: Option<std::net::SocketAddr>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    _database: TestDb,
}

/// Starts the server on `127.0.0.1:0` over a fresh database, the same way `main` does.
/// Always `Some`: a PostgreSQL test runs only where `TEST_DATABASE_URL` is set (it is
/// ignored elsewhere, see `on_both_backends!`), and panics without it.
pub async fn spawn_app(db: Db) -> Option<TestApp> {
    spawn_app_configured(db, |_| {}).await
}

/// [`spawn_app`] with settings adjusted first.
pub async fn spawn_app_configured(db: Db, adjust: impl FnOnce(&mut Settings)) -> Option<TestApp> {
    let database = match db {
        Db::Sqlite => TestDb::sqlite(),
        Db::Postgres => TestDb::postgres().await,
    };
    let mut settings = Settings::for_database(database.url());
    settings.listen = "127.0.0.1:0".parse().unwrap();
    settings.admin_token = Some(ADMIN_TOKEN.to_owned());
    // Tests run the lifecycle worker themselves, at the simulated times they choose; a
    // housekeeping pass at a moment they did not choose would purge what they stored.
    settings.lifecycle_interval_seconds = 0;
    settings.housekeeping_interval_minutes = 0;
    settings.shutdown_grace_seconds = 2;
    // Every test client calls from 127.0.0.1 and signs up and in at will; the throttles'
    // own scenarios set tight limits.
    settings.sign_in_account_limit = 1_000;
    settings.sign_in_address_limit = 1_000_000;
    settings.sign_up_address_limit = 1_000_000;
    settings.redeem_address_limit = 1_000_000;
    // Tests sign up dozens of accounts at once on a busy machine: they queue for the
    // hashing threads as long as it takes.
    settings.password_hash_queue_ms = 60_000;
    adjust(&mut settings);
    let clock = ManualClock::new(Utc::now());
    let app = Application::build_with_clock(&settings, Arc::new(clock.clone()))
        .await
        .expect("the server starts");
    let address = app.local_addr();
    let endpoint = format!("http://{address}");
    let metrics_addr = app.metrics_addr();
    let store = app.store().clone();
    let services = app.services().clone();
    let (shutdown, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        app.run_until_stopped(async {
            let _ = stopped.await;
        })
        .await
        .expect("the server runs");
    });
    let channel = tessera_client::connect(endpoint)
        .await
        .expect("the client connects");
    Some(TestApp {
        channel,
        address,
        store,
        services,
        clock,
        database_url: database.url(),
        metrics_addr,
        shutdown: Some(shutdown),
        server: Some(server),
        _database: database,
    })
}

impl TestApp {
    pub fn accounts(&self) -> AccountServiceClient<Channel> {
        AccountServiceClient::new(self.channel.clone())
    }

    pub fn subscriptions(&self) -> SubscriptionServiceClient<Channel> {
        SubscriptionServiceClient::new(self.channel.clone())
    }

    pub fn seats(&self) -> SeatServiceClient<Channel> {
        SeatServiceClient::new(self.channel.clone())
    }

    /// The sequence number of the last event committed so far. The server's sequencer
    /// numbers events moments after their commit; this numbers what it has not yet, so
    /// that the answer covers every call that has returned.
    pub async fn last_event_seq(&self) -> i64 {
        self.store
            .number_pending_events()
            .await
            .expect("committed events are numbered");
        self.store
            .last_event_seq()
            .await
            .expect("the counter reads")
    }

    /// Tells the server to shut down, without waiting for it.
    pub fn begin_stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }

    /// Stops the server and waits until it has finished.
    pub async fn stop(mut self) {
        self.stop_serving().await;
    }

    /// Stops the server as [`Self::stop`] does, keeping its database for the test to read.
    pub async fn stop_serving(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }

    /// Creates an account and signs it in: its name and session token.
    pub async fn sign_up(&self, email: &str) -> (String, String) {
        let account = self
            .accounts()
            .create_account(pb::CreateAccountRequest {
                email: email.to_owned(),
                password: PASSWORD.to_owned(),
                display_name: "Test Customer".to_owned(),
            })
            .await
            .expect("sign-up works")
            .into_inner();
        let session = self
            .accounts()
            .sign_in(pb::SignInRequest {
                email: email.to_owned(),
                password: PASSWORD.to_owned(),
            })
            .await
            .expect("sign-in works")
            .into_inner();
        (account.name, session.session_token)
    }

    /// A DIRECT subscription of `plan` for `account`, bought by the admin.
    pub async fn buy(&self, account: &str, plan: &str) -> pb::Subscription {
        self.subscriptions()
            .create_subscription(admin(pb::CreateSubscriptionRequest {
                parent: account.to_owned(),
                plan: plan.to_owned(),
                auto_renew: true,
                request_id: uuid::Uuid::new_v4().to_string(),
            }))
            .await
            .expect("the admin can sell a plan")
            .into_inner()
    }

    /// Activates a device on a subscription with a session token.
    pub async fn activate(
        &self,
        token: &str,
        subscription: &str,
        device_id: &str,
    ) -> Result<pb::ActivateSeatResponse, Status> {
        self.seats()
            .activate_seat(with_token(token, activation(subscription, device_id)))
            .await
            .map(|r| r.into_inner())
    }

    pub async fn get_subscription(
        &self,
        token: &str,
        name: &str,
    ) -> Result<pb::Subscription, Status> {
        self.subscriptions()
            .get_subscription(with_token(
                token,
                pb::GetSubscriptionRequest {
                    name: name.to_owned(),
                },
            ))
            .await
            .map(|r| r.into_inner())
    }

    /// The subscriptions of the account behind a session token (one page of 100).
    pub async fn list_subscriptions(&self, token: &str) -> Vec<pb::Subscription> {
        self.subscriptions()
            .list_subscriptions(with_token(
                token,
                pb::ListSubscriptionsRequest {
                    parent: "accounts/me".to_owned(),
                    page_size: 100,
                    ..Default::default()
                },
            ))
            .await
            .expect("an account lists its subscriptions")
            .into_inner()
            .subscriptions
    }
}

impl TestApp {
    /// What a device is told when it asks whether it is protected.
    pub async fn check_protection(&self, device_token: &str) -> pb::CheckProtectionResponse {
        self.seats()
            .check_protection(with_token(device_token, pb::CheckProtectionRequest {}))
            .await
            .expect("a device asks whether it is protected")
            .into_inner()
    }

    /// The first page of a subscription's seats, as `token` sees them.
    pub async fn list_seats(&self, token: &str, subscription: &str) -> Vec<pb::Seat> {
        self.seats()
            .list_seats(with_token(
                token,
                pb::ListSeatsRequest {
                    parent: subscription.to_owned(),
                    ..Default::default()
                },
            ))
            .await
            .expect("the seats are listed")
            .into_inner()
            .seats
    }
}

/// Runs the lifecycle worker once, at the server's simulated time: how many changes it
/// applied.
pub async fn tick(app: &TestApp) -> usize {
    run_once(&app.services, 100).await.expect("the worker runs")
}

/// A subscription's status, which must be one this test suite knows.
pub fn status(subscription: &pb::Subscription) -> pb::SubscriptionStatus {
    pb::SubscriptionStatus::try_from(subscription.status).unwrap()
}

/// An ActivateSeat request for a Windows device.
pub fn activation(subscription: &str, device_id: &str) -> pb::ActivateSeatRequest {
    pb::ActivateSeatRequest {
        parent: subscription.to_owned(),
        device_id: device_id.to_owned(),
        platform: pb::Platform::Windows as i32,
        display_name: format!("PC {device_id}"),
    }
}

/// A request carrying the admin token.
pub fn admin<T>(message: T) -> tessera_client::tonic::Request<T> {
    with_token(ADMIN_TOKEN, message)
}

/// A fresh e-mail address.
pub fn email() -> String {
    format!("{}@example.com", uuid::Uuid::new_v4().simple())
}

/// Asserts a status's code and its `ErrorInfo` reason.
#[track_caller]
pub fn assert_error(status: &Status, code: Code, reason: &str) {
    assert_eq!(status.code(), code, "unexpected status: {status:?}");
    let details = status.get_error_details();
    let info = details
        .error_info()
        .unwrap_or_else(|| panic!("no ErrorInfo in {status:?}"));
    assert_eq!(info.reason, reason, "unexpected reason in {status:?}");
    assert_eq!(info.domain, "tessera.dev");
}

/// Asserts INVALID_ARGUMENT with a `BadRequest` violation naming `field`.
#[track_caller]
pub fn assert_invalid_field(status: &Status, field: &str) {
    assert_eq!(
        status.code(),
        Code::InvalidArgument,
        "unexpected status: {status:?}"
    );
    let details = status.get_error_details();
    let fields: Vec<_> = details
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default();
    assert_eq!(
        fields,
        vec![field.to_owned()],
        "unexpected violations in {status:?}"
    );
}

/// Generates a `sqlite` and a `postgres` test for each scenario `fn name(db: Db)`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(crate::support::Db::Sqlite).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is unset")]
                async fn postgres() {
                    super::$name(crate::support::Db::Postgres).await
                }
            }
        )*
    };
}
pub(crate) use on_both_backends;

/// A partner registered by the admin, with a live API key.
pub struct TestPartner {
    pub name: String,
    pub api_key: String,
    pub key_name: String,
}

impl TestApp {
    pub fn partners(&self) -> pb::partner_service_client::PartnerServiceClient<Channel> {
        pb::partner_service_client::PartnerServiceClient::new(self.channel.clone())
    }

    pub fn product_keys(&self) -> pb::product_key_service_client::ProductKeyServiceClient<Channel> {
        pb::product_key_service_client::ProductKeyServiceClient::new(self.channel.clone())
    }

    /// Registers a partner and creates an API key for it.
    pub async fn partner(&self, display_name: &str) -> TestPartner {
        let partner = self
            .partners()
            .create_partner(admin(pb::CreatePartnerRequest {
                display_name: display_name.to_owned(),
            }))
            .await
            .expect("the admin registers a partner")
            .into_inner();
        let key = self
            .partners()
            .create_partner_key(admin(pb::CreatePartnerKeyRequest {
                parent: partner.name.clone(),
            }))
            .await
            .expect("the admin creates a key")
            .into_inner();
        TestPartner {
            name: partner.name,
            api_key: key.api_key,
            key_name: key.key.unwrap().name,
        }
    }

    /// Provisions a subscription of `plan` as `partner` for `reference`.
    pub async fn provision(
        &self,
        partner: &TestPartner,
        reference: &str,
        plan: &str,
    ) -> pb::ProvisionSubscriptionResponse {
        self.subscriptions()
            .provision_subscription(with_token(
                &partner.api_key,
                pb::ProvisionSubscriptionRequest {
                    partner_reference: reference.to_owned(),
                    plan: plan.to_owned(),
                    start_time: None,
                    request_id: uuid::Uuid::new_v4().to_string(),
                },
            ))
            .await
            .expect("the partner provisions")
            .into_inner()
    }

    /// Redeems a partner code with a session token.
    pub async fn redeem_code(&self, token: &str, code: &str) -> Result<pb::Subscription, Status> {
        self.subscriptions()
            .redeem_partner_code(with_token(
                token,
                pb::RedeemPartnerCodeRequest {
                    partner_code: code.to_owned(),
                },
            ))
            .await
            .map(|r| r.into_inner())
    }

    /// Issues product keys as the admin.
    pub async fn issue_keys(
        &self,
        plan: &str,
        count: i32,
        kind: pb::ProductKeyKind,
    ) -> Vec<String> {
        self.product_keys()
            .issue_product_keys(admin(pb::IssueProductKeysRequest {
                plan: plan.to_owned(),
                count,
                kind: kind as i32,
                batch_label: "test batch".to_owned(),
            }))
            .await
            .expect("the admin issues keys")
            .into_inner()
            .product_keys
    }

    /// Redeems a product key with a session token.
    pub async fn redeem_key(
        &self,
        token: &str,
        key: &str,
        subscription: &str,
    ) -> Result<pb::Subscription, Status> {
        self.product_keys()
            .redeem_product_key(with_token(
                token,
                pb::RedeemProductKeyRequest {
                    product_key: key.to_owned(),
                    subscription: subscription.to_owned(),
                },
            ))
            .await
            .map(|r| r.into_inner())
    }
}

/// Starts the server with settings adjusted by `adjust` (for limits under test).
pub async fn spawn_app_with(db: Db, adjust: impl FnOnce(&mut Settings)) -> Option<TestApp> {
    spawn_app_configured(db, adjust).await
}

/// What a caller can tell about an error: code, message and reason. Two errors with the
/// same shape are indistinguishable, which is how a foreign resource must look next to
/// a missing one.
pub fn error_shape(status: &Status) -> (Code, String, Option<String>) {
    (
        status.code(),
        status.message().to_owned(),
        status
            .get_error_details()
            .error_info()
            .map(|i| i.reason.clone()),
    )
}
