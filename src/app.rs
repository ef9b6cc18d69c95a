//! Start-up: the same path runs in production and in tests. [`open_services`] opens the
//! store, runs migrations, loads the secrets and builds the store-proof verifiers (the
//! command line uses it too); [`Application::build`] adds the listener (port 0 picks a
//! free port) and the workers; [`Application::run_until_stopped`] serves until the
//! shutdown signal, finishing in-flight calls.

use crate::{
    api::{
        accounts::AccountApi, client_address::ClientAddressLayer, events::EventApi,
        partners::PartnerApi, principal::AuthenticateLayer, product_keys::ProductKeyApi,
        seats::SeatApi, stream_quota::StreamQuota, subscriptions::SubscriptionApi,
        trace::RpcTraceLayer, wire::WireLayer,
    },
    app_stores::{
        apple::{AppleConfig, AppleVerifier},
        google::{PlayConfig, PlayVerifier},
    },
    domain::{
        catalog::Catalog,
        clock::{Clock, SystemClock},
        redemption::CodeHasher,
        secret::{KeyFingerprint, KeyOrigin, token_hash},
        throttle::{Limit, ThrottlePolicy},
    },
    error::{Error, Result},
    lifecycle::{
        housekeeping::{self, Retention},
        worker::{self, WorkerPolicy},
    },
    observe::{endpoint, health, metrics::Metrics, request_id},
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
    transport::{self, TransportSettings, tls::ReloadingTls},
    web::WebLayer,
};
use std::{future::Future, net::SocketAddr, sync::Arc};
use tokio::net::TcpListener;
use tonic::service::Routes;

/// Largest request message accepted, in bytes; a larger one is refused by
/// [`WireLayer`] (INVALID_ARGUMENT, REQUEST_TOO_LARGE) before it is read.
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
    transport: TransportSettings,
    tls: Option<Arc<ReloadingTls>>,
    watch_streams_per_caller: usize,
    metrics_listener: Option<TcpListener>,
    web: WebLayer,
}

impl Application {
    /// Builds the server with the system clock.
    pub async fn build(settings: &Settings) -> Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// Builds the server with a given clock (tests move time with a manual one).
    pub async fn build_with_clock(settings: &Settings, clock: Arc<dyn Clock>) -> Result<Self> {
        // Before anything else: a certificate that does not load stops start-up at once.
        let tls = settings
            .tls_files()
            .map(ReloadingTls::load)
            .transpose()?
            .map(Arc::new);
        let services = open_services(settings, clock).await?;
        // The read model hears other replicas' changes through the store itself.
        let commit_listener = services
            .store
            .listen_for_commits(&settings.database_url, Arc::new(|_| {}))
            .await?;
        let event_sequencer = services.store.event_sequencer().await?;
        let listener = TcpListener::bind(settings.listen)
            .await
            .map_err(|e| listen_error(settings.listen, e))?;
        let metrics_listener = match settings.metrics_listen {
            Some(address) => Some(TcpListener::bind(address).await.map_err(|e| {
                Error::Internal(format!("binding the metrics endpoint {address}: {e}"))
            })?),
            None => None,
        };
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
            transport: settings.transport(),
            tls,
            watch_streams_per_caller: settings.max_watch_streams_per_caller as usize,
            metrics_listener,
            web: WebLayer::new(&settings.cors_origins),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The bound address of the metrics endpoint, when it is on.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener.as_ref().map(|listener| {
            listener
                .local_addr()
                .expect("a bound listener has an address")
        })
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
        let metrics = services.metrics.clone();
        let (health, health_service) = health::Health::serving(metrics.clone()).await;
        // v1 and v1alpha (grpcurl before 1.8.8 and other older tools speak only v1alpha),
        // each listing both, with the `google.rpc` error details, so that tools decode them.
        let reflection = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(
                    tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
                )
        };
        let reflection_v1 = reflection()
            .build_v1()
            .expect("the embedded descriptor sets are valid");
        let reflection_v1alpha = reflection()
            .build_v1alpha()
            .expect("the embedded descriptor sets are valid");

        tracing::info!(store = ?services.store.backend(), tls = self.tls.is_some(), "serving");
        let store = services.store.clone();
        let housekeeping = self
            .retention
            .map(|retention| tokio::spawn(housekeeping::run(services.clone(), retention)));
        let (stopping_sender, stopping) = tokio::sync::watch::channel(false);
        let draining = health.clone();
        let shutdown = async move {
            shutdown.await;
            draining.drain().await;
            let _ = stopping_sender.send(true);
        };
        let probe = tokio::spawn(health::probe(store.clone(), health));
        let metrics_endpoint = self.metrics_listener.map(|listener| {
            tokio::spawn(endpoint::serve(
                listener,
                metrics.clone(),
                store.clone(),
                std::future::pending(),
            ))
        });
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
        let mut routes = Routes::builder();
        routes
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
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
                EventServiceServer::new(
                    EventApi::new(services.clone(), stopping, self.event_poll_interval)
                        .with_stream_quota(StreamQuota::new(self.watch_streams_per_caller)),
                )
                .max_decoding_message_size(MAX_REQUEST_BYTES),
            );
        let (set_request_id, propagate_request_id) = request_id::layers();
        let service = tower::ServiceBuilder::new()
            .layer(set_request_id)
            .layer(propagate_request_id)
            .layer(RpcTraceLayer::new(metrics))
            .layer(ClientAddressLayer::new(&self.trusted_proxies))
            .layer(AuthenticateLayer::new(services))
            // Browsers (the account page) speak gRPC-Web; see `web`. Inside it the calls
            // are gRPC, whose framing `WireLayer` follows.
            .layer(self.web)
            .layer(WireLayer::new(MAX_REQUEST_BYTES))
            .service(routes.routes().prepare());
        let serving = async {
            transport::serve(self.listener, self.transport, self.tls, service, shutdown).await;
            Ok(())
        };
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
        probe.abort();
        if let Some(task) = metrics_endpoint {
            task.abort();
        }
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
    // Before the database: a mistake in the catalog stops start-up with its line.
    let catalog = load_catalog(settings)?;
    let sync = if settings.unsafe_sqlite_synchronous_off {
        store::SqliteSync::UnsafeOff
    } else {
        store::SqliteSync::Full
    };
    let store: Arc<dyn Store> = Arc::new(CachedStore::with_capacity(
        store::connect_with(&settings.database_url, sync).await?,
        settings.read_model_capacity,
    ));
    store.migrate().await?;
    let secret = code_hash_key(&store, settings, clock.now()).await?;
    let policy = Policy {
        session_ttl: chrono::Duration::hours(i64::from(settings.session_ttl_hours)),
        partner_code_ttl: chrono::Duration::days(i64::from(settings.partner_code_ttl_days)),
        throttle: throttle_policy(settings),
        grace: chrono::Duration::days(i64::from(settings.grace_days)),
        warning_window: chrono::Duration::days(i64::from(settings.expiry_warning_days)),
        admin_token_hash: settings.load_admin_token()?.as_deref().map(token_hash),
    };
    Ok(Services {
        store,
        clock,
        policy: Arc::new(policy),
        code_hasher: CodeHasher::new(&secret),
        catalog: Arc::new(catalog),
        passwords: PasswordPool::start(
            settings.password_hash_workers as usize,
            std::time::Duration::from_millis(u64::from(settings.password_hash_queue_ms)),
        ),
        apple: apple_verifier(settings)?.map(Arc::new),
        play: play_verifier(settings)?.map(Arc::new),
        metrics: Arc::new(Metrics::new()),
    })
}

/// The name of the key partner codes and product keys are hashed under, in
/// `server_secrets` (when generated) and `key_fingerprints`.
const CODE_HASH_KEY: &str = "code_hash_key";

/// The key partner codes and product keys are hashed under: the one given at start-up,
/// or else the one the database keeps (generated on first use). Refuses a key other than
/// the one the database's codes are hashed under (see [`KeyFingerprint::admits`]); the
/// first process records its key's fingerprint.
async fn code_hash_key(
    store: &Arc<dyn Store>,
    settings: &Settings,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<u8>> {
    let recorded = store.key_fingerprint(CODE_HASH_KEY).await?;
    let configured = settings.load_secret_key()?;
    if let (Some(recorded), None) = (&recorded, &configured) {
        recorded.admits(None)?;
    }
    let (key, origin) = match configured {
        Some(key) => (key, KeyOrigin::Configured),
        None => (
            store.server_secret(CODE_HASH_KEY).await?,
            KeyOrigin::Generated,
        ),
    };
    let given = KeyFingerprint::of(&key, origin, now);
    let recorded = match recorded {
        Some(recorded) => recorded,
        None => store.record_key_fingerprint(CODE_HASH_KEY, &given).await?,
    };
    recorded.admits(Some(&given))?;
    tracing::info!(
        fingerprint = given.short(),
        origin = origin.as_str(),
        "partner codes and product keys are hashed under this secret key"
    );
    Ok(key)
}

/// What to tell the operator when the listening address cannot be bound.
fn listen_error(address: SocketAddr, error: std::io::Error) -> Error {
    use std::io::ErrorKind;
    let advice = match error.kind() {
        ErrorKind::AddrInUse => {
            "another process listens there (another Tessera?): stop it, or choose another \
             address with --listen or TESSERA_LISTEN"
        }
        ErrorKind::PermissionDenied => {
            "ports below 1024 need privileges: choose a higher port with --listen or \
             TESSERA_LISTEN, or grant the process CAP_NET_BIND_SERVICE"
        }
        ErrorKind::AddrNotAvailable => {
            "this machine has no such address: use one of its own, 0.0.0.0 for all of them, \
             or 127.0.0.1 (--listen or TESSERA_LISTEN)"
        }
        _ => "check --listen or TESSERA_LISTEN",
    };
    Error::Internal(format!("cannot listen on {address}: {error}; {advice}"))
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

/// The catalog file of the settings, or the one built in.
/// Errors: `Internal`, naming the file, the line and the field of every mistake.
pub fn load_catalog(settings: &Settings) -> Result<Catalog> {
    let Some(path) = &settings.catalog else {
        return Ok(Catalog::embedded().clone());
    };
    let bytes = read_config_file("the catalog", path)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::Internal(format!("the catalog {} is not UTF-8", path.display())))?;
    Catalog::parse(&path.display().to_string(), &text).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        Error::Internal(format!("the catalog is invalid:\n{}", lines.join("\n")))
    })
}

fn read_config_file(what: &str, path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        Error::Internal(format!(
            "cannot read {what} {}: {e}; check the path and that this user may read it",
            path.display()
        ))
    })
}

/// The App Store verifier, when a bundle id is configured.
fn apple_verifier(settings: &Settings) -> Result<Option<AppleVerifier>> {
    let Some(bundle_id) = settings.apple_bundle_id.clone().filter(|b| !b.is_empty()) else {
        return Ok(None);
    };
    let mut config = AppleConfig::with_apple_root(bundle_id, settings.apple_environment.clone());
    if let Some(path) = &settings.apple_root_certificate {
        let bytes = read_config_file("the App Store root certificate", path)?;
        config.root_certificate_der = certificate_der(&bytes).map_err(|problem| {
            Error::Internal(format!(
                "the App Store root certificate {} {problem}; give a PEM or DER X.509 \
                 certificate (--apple-root-certificate), or leave it unset for Apple Root CA - G3",
                path.display()
            ))
        })?;
    }
    Ok(Some(AppleVerifier::new(config)))
}

/// DER bytes from a DER or PEM certificate file, checked to be a certificate; what is
/// wrong with it otherwise.
fn certificate_der(bytes: &[u8]) -> std::result::Result<Vec<u8>, String> {
    use crate::app_stores::pem::{PemError, decode};
    let der = match std::str::from_utf8(bytes).map(|text| decode(text, "CERTIFICATE")) {
        Ok(Ok(der)) => der,
        Ok(Err(PemError::NoBlock)) | Err(_) => bytes.to_vec(),
        Ok(Err(e)) => return Err(format!("is not valid PEM: {e}")),
    };
    match x509_parser::parse_x509_certificate(&der) {
        Ok(_) => Ok(der),
        Err(e) => Err(format!("is not a certificate: {e}")),
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
