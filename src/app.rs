//! Start-up: the same path runs in production and in tests. [`open_services`] opens the
//! store, runs migrations, loads the secrets and builds the store-proof verifiers (the
//! command line uses it too); [`Application::build`] adds the listener (port 0 picks a
//! free port) and the workers; [`Application::run_until_stopped`] serves until the
//! shutdown signal, finishing in-flight calls.

use crate::{
    api::{
        accounts::AccountApi, client_address::ClientAddressLayer, events::EventApi,
        partners::PartnerApi, principal::AuthenticateLayer, product_keys::ProductKeyApi,
        seats::SeatApi, subscriptions::SubscriptionApi, trace::RpcTraceLayer,
    },
    app_stores::{
        apple::{AppleConfig, AppleVerifier},
        google::{PlayConfig, PlayVerifier},
    },
    domain::{
        clock::{Clock, SystemClock},
        redemption::CodeHasher,
        secret::token_hash,
        throttle::{Limit, ThrottlePolicy},
    },
    error::{Error, Result},
    lifecycle::{
        housekeeping::{self, Retention},
        worker::{self, WorkerPolicy},
    },
    proto::{
        FILE_DESCRIPTOR_SET, account_service_server::AccountServiceServer,
        event_service_server::EventServiceServer, partner_service_server::PartnerServiceServer,
        product_key_service_server::ProductKeyServiceServer,
        seat_service_server::SeatServiceServer,
        subscription_service_server::SubscriptionServiceServer,
    },
    service::{Policy, Services, passwords::PasswordPool},
    settings::Settings,
    store::{self, CommitListener, EventSequencer, Store, cached::CachedStore},
};
use std::{future::Future, net::SocketAddr, sync::Arc};
use tokio::net::TcpListener;
use tonic::transport::{Server, server::TcpIncoming};

/// Largest request message accepted, in bytes.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// A built server, bound and ready to serve.
pub struct Application {
    listener: TcpListener,
    trusted_proxies: Vec<crate::api::client_address::Cidr>,
    services: Services,
    event_poll_interval: std::time::Duration,
    retention: Option<Retention>,
    worker: Option<WorkerPolicy>,
    commit_listener: Option<CommitListener>,
    event_sequencer: Option<EventSequencer>,
    last_seen_flush: std::time::Duration,
    shutdown_grace: std::time::Duration,
}

impl Application {
    /// Builds the server with the system clock.
    pub async fn build(settings: &Settings) -> Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// Builds the server with a given clock (tests move time with a manual one).
    pub async fn build_with_clock(settings: &Settings, clock: Arc<dyn Clock>) -> Result<Self> {
        let services = open_services(settings, clock).await?;
        // The read model hears other replicas' changes through the store itself.
        let commit_listener = services
            .store
            .listen_for_commits(&settings.database_url, Arc::new(|_| {}))
            .await?;
        let event_sequencer = services.store.event_sequencer().await?;
        let listener = TcpListener::bind(settings.listen)
            .await
            .map_err(|e| Error::Internal(format!("binding {}: {e}", settings.listen)))?;
        let retention = (settings.housekeeping_interval_minutes > 0).then(|| Retention {
            interval: std::time::Duration::from_secs(
                60 * u64::from(settings.housekeeping_interval_minutes),
            ),
            request_ids: chrono::Duration::hours(i64::from(settings.idempotency_retention_hours)),
        });
        let worker = (settings.lifecycle_interval_seconds > 0).then(|| WorkerPolicy {
            batch: 100,
            interval: std::time::Duration::from_secs(u64::from(
                settings.lifecycle_interval_seconds,
            )),
        });
        Ok(Self {
            listener,
            trusted_proxies: settings.trusted_proxies.clone(),
            services,
            event_poll_interval: std::time::Duration::from_millis(u64::from(
                settings.event_poll_interval_ms,
            )),
            retention,
            worker,
            commit_listener,
            event_sequencer,
            last_seen_flush: std::time::Duration::from_secs(u64::from(
                settings.last_seen_flush_seconds,
            )),
            shutdown_grace: std::time::Duration::from_secs(u64::from(
                settings.shutdown_grace_seconds,
            )),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    /// The use cases the server serves (tests drive the lifecycle worker through them).
    pub fn services(&self) -> &Services {
        &self.services
    }

    /// The store the server uses.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.services.store
    }

    /// Serves until `shutdown` completes, then stops accepting calls and finishes the
    /// ones in flight.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), tonic::transport::Error> {
        let services = self.services;
        let (health, health_service) = tonic_health::server::health_reporter();
        health
            .set_serving::<AccountServiceServer<AccountApi>>()
            .await;
        health
            .set_serving::<SubscriptionServiceServer<SubscriptionApi>>()
            .await;
        health.set_serving::<SeatServiceServer<SeatApi>>().await;
        health
            .set_serving::<PartnerServiceServer<PartnerApi>>()
            .await;
        health
            .set_serving::<ProductKeyServiceServer<ProductKeyApi>>()
            .await;
        health.set_serving::<EventServiceServer<EventApi>>().await;
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .expect("the embedded descriptor set is valid");

        let incoming = TcpIncoming::from(self.listener).with_nodelay(Some(true));
        tracing::info!(store = ?services.store.backend(), "serving");
        let store = services.store.clone();
        let housekeeping = self
            .retention
            .map(|retention| tokio::spawn(housekeeping::run(services.clone(), retention)));
        let (stopping_sender, stopping) = tokio::sync::watch::channel(false);
        let shutdown = async move {
            shutdown.await;
            let _ = stopping_sender.send(true);
        };
        let commit_listener = self.commit_listener.map(tokio::spawn);
        let event_sequencer = self.event_sequencer.map(tokio::spawn);
        let last_seen = tokio::spawn(flush_last_seen(
            store.clone(),
            self.last_seen_flush,
            stopping.clone(),
        ));
        let worker = self
            .worker
            .map(|policy| tokio::spawn(worker::run(services.clone(), policy)));
        let mut drain_deadline = stopping.clone();
        let grace = self.shutdown_grace;
        let serving = Server::builder()
            .layer(RpcTraceLayer)
            .layer(ClientAddressLayer::new(&self.trusted_proxies))
            .layer(AuthenticateLayer::new(services.clone()))
            .add_service(health_service)
            .add_service(reflection)
            .add_service(
                AccountServiceServer::new(AccountApi::new(services.clone()))
                    .max_decoding_message_size(MAX_REQUEST_BYTES),
            )
            .add_service(
                SubscriptionServiceServer::new(SubscriptionApi::new(services.clone()))
                    .max_decoding_message_size(MAX_REQUEST_BYTES),
            )
            .add_service(
                SeatServiceServer::new(SeatApi::new(services.clone()))
                    .max_decoding_message_size(MAX_REQUEST_BYTES),
            )
            .add_service(
                PartnerServiceServer::new(PartnerApi::new(services.clone()))
                    .max_decoding_message_size(MAX_REQUEST_BYTES),
            )
            .add_service(
                ProductKeyServiceServer::new(ProductKeyApi::new(services.clone()))
                    .max_decoding_message_size(MAX_REQUEST_BYTES),
            )
            .add_service(
                EventServiceServer::new(EventApi::new(
                    services,
                    stopping,
                    self.event_poll_interval,
                ))
                .max_decoding_message_size(MAX_REQUEST_BYTES),
            )
            .serve_with_incoming_shutdown(incoming, shutdown);
        // Calls in flight get `grace` to finish once shutdown starts; a client that has
        // stopped reading cannot hold the server up beyond that.
        let served = tokio::select! {
            served = serving => served,
            _ = async {
                let _ = drain_deadline.wait_for(|stop| *stop).await;
                tokio::time::sleep(grace).await;
            } => {
                tracing::warn!(?grace, "calls still open after the shutdown grace period; closing");
                Ok(())
            }
        };
        // Not aborted: a batch being written would be lost. It stops between batches.
        let _ = last_seen.await;
        for task in [housekeeping, worker, commit_listener, event_sequencer]
            .into_iter()
            .flatten()
        {
            task.abort();
        }
        // Closing the store also writes the last-seen times still in memory.
        store.close().await;
        served
    }
}

/// Writes devices' last-seen times every `interval` (see `store::cached`) until the
/// server stops.
async fn flush_last_seen(
    store: Arc<dyn Store>,
    interval: std::time::Duration,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stopping.wait_for(|stop| *stop) => return,
        }
        if let Err(error) = store.flush_last_seen().await {
            tracing::warn!(%error, "writing last-seen times failed; keeping them for the next try");
        }
    }
}

/// Connects to the database, applies migrations, loads the secrets and builds the
/// store-proof verifiers: every use case's dependencies.
pub async fn open_services(settings: &Settings, clock: Arc<dyn Clock>) -> Result<Services> {
    let sync = if settings.unsafe_sqlite_synchronous_off {
        store::SqliteSync::UnsafeOff
    } else {
        store::SqliteSync::Full
    };
    let store: Arc<dyn Store> = Arc::new(CachedStore::over(
        store::connect_with(&settings.database_url, sync).await?,
    ));
    store.migrate().await?;
    let secret = match &settings.secret_key {
        Some(key) if !key.is_empty() => key.as_bytes().to_vec(),
        _ => store.server_secret("code_hash_key").await?,
    };
    let policy = Policy {
        session_ttl: chrono::Duration::hours(i64::from(settings.session_ttl_hours)),
        partner_code_ttl: chrono::Duration::days(i64::from(settings.partner_code_ttl_days)),
        throttle: throttle_policy(settings),
        grace: chrono::Duration::days(i64::from(settings.grace_days)),
        warning_window: chrono::Duration::days(i64::from(settings.expiry_warning_days)),
        admin_token_hash: settings.admin_token.as_deref().map(token_hash),
    };
    Ok(Services {
        store,
        clock,
        policy: Arc::new(policy),
        code_hasher: CodeHasher::new(&secret),
        passwords: PasswordPool::start(
            settings.password_hash_workers as usize,
            std::time::Duration::from_millis(u64::from(settings.password_hash_queue_ms)),
        ),
        apple: apple_verifier(settings)?.map(Arc::new),
        play: play_verifier(settings)?.map(Arc::new),
    })
}

/// The throttles' limits from the settings.
fn throttle_policy(settings: &Settings) -> ThrottlePolicy {
    let window = chrono::Duration::minutes(i64::from(settings.throttle_window_minutes));
    let limit = |free: u32| Limit::per_window(free, window);
    ThrottlePolicy {
        sign_in_account: limit(settings.sign_in_account_limit),
        sign_in_address: limit(settings.sign_in_address_limit),
        sign_up_address: limit(settings.sign_up_address_limit),
        redeem_account: limit(settings.redeem_account_limit),
        redeem_address: limit(settings.redeem_address_limit),
        max_delay: chrono::Duration::minutes(i64::from(settings.throttle_max_delay_minutes)),
    }
}

/// [`open_services`] with the system clock (the command line).
pub async fn open_services_now(settings: &Settings) -> Result<Services> {
    open_services(settings, Arc::new(SystemClock)).await
}

fn read_config_file(what: &str, path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| Error::Internal(format!("reading {what} {}: {e}", path.display())))
}

/// The App Store verifier, when a bundle id is configured.
fn apple_verifier(settings: &Settings) -> Result<Option<AppleVerifier>> {
    let Some(bundle_id) = settings.apple_bundle_id.clone().filter(|b| !b.is_empty()) else {
        return Ok(None);
    };
    let mut config = AppleConfig::with_apple_root(bundle_id, settings.apple_environment.clone());
    if let Some(path) = &settings.apple_root_certificate {
        let bytes = read_config_file("the App Store root certificate", path)?;
        config.root_certificate_der = pem_or_der(&bytes)?;
    }
    Ok(Some(AppleVerifier::new(config)))
}

/// DER bytes from a DER or PEM certificate file.
fn pem_or_der(bytes: &[u8]) -> Result<Vec<u8>> {
    use crate::app_stores::pem::{PemError, decode};
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Ok(bytes.to_vec());
    };
    match decode(text, "CERTIFICATE") {
        Ok(der) => Ok(der),
        Err(PemError::NoBlock) => Ok(bytes.to_vec()),
        Err(e) => Err(Error::Internal(format!(
            "the App Store root certificate is not valid PEM: {e}"
        ))),
    }
}

/// The Play verifier, when a package name and a service account are configured.
fn play_verifier(settings: &Settings) -> Result<Option<PlayVerifier>> {
    let (Some(package), Some(path)) = (
        &settings.play_package_name,
        &settings.play_service_account_file,
    ) else {
        return Ok(None);
    };
    let key = read_config_file("the Play service account", path)?;
    let mut config = PlayConfig::new(package.clone(), String::from_utf8_lossy(&key).into_owned());
    config.api_base_url = settings.play_api_base_url.clone();
    config.token_uri_override = settings.play_token_uri.clone();
    config.accept_test_purchases = settings.play_accept_test_purchases;
    PlayVerifier::new(config).map(Some)
}
