//! `grpc.health.v1` per service. Every `tessera.v1` service, and the server as a whole
//! (`""`), is SERVING while the database answers the [`probe`] and the server is not
//! shutting down; NOT_SERVING otherwise, so that a load balancer or a readiness probe
//! sends calls elsewhere. Watchers hear each change once.

use super::metrics::Metrics;
use crate::{
    proto::{
        account_service_server, event_service_server, partner_service_server,
        product_key_service_server, seat_service_server, subscription_service_server,
    },
    store::Store,
};
use std::{sync::Arc, time::Duration};
use tonic_health::{
    ServingStatus,
    pb::health_server::HealthServer,
    server::{HealthReporter, HealthService},
};

/// The services whose health is reported: the server as a whole and each service of the
/// contract.
pub const SERVICES: &[&str] = &[
    "",
    account_service_server::SERVICE_NAME,
    subscription_service_server::SERVICE_NAME,
    seat_service_server::SERVICE_NAME,
    partner_service_server::SERVICE_NAME,
    product_key_service_server::SERVICE_NAME,
    event_service_server::SERVICE_NAME,
];

/// How often the probe asks the database.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// How long the probe waits for an answer before it calls the database unreachable.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// What the health depends on, and what was last published.
#[derive(Debug)]
struct State {
    database_up: bool,
    draining: bool,
    published: Option<ServingStatus>,
}

/// The server's health: see the module's documentation.
#[derive(Debug)]
pub struct Health {
    reporter: HealthReporter,
    state: tokio::sync::Mutex<State>,
    metrics: Arc<Metrics>,
}

impl Health {
    /// The health, SERVING, and the `grpc.health.v1.Health` service that reports it.
    pub async fn serving(metrics: Arc<Metrics>) -> (Arc<Self>, HealthServer<HealthService>) {
        // Start-up has just migrated the database: it answered.
        metrics.database_up(true);
        let reporter = HealthReporter::new();
        let server = HealthServer::new(HealthService::from_health_reporter(reporter.clone()));
        let health = Arc::new(Self {
            reporter,
            state: tokio::sync::Mutex::new(State {
                database_up: true,
                draining: false,
                published: None,
            }),
            metrics,
        });
        health.update(|_| {}).await;
        (health, server)
    }

    /// Records whether the database answered.
    pub async fn database_reachable(&self, up: bool) {
        self.metrics.database_up(up);
        self.update(|state| state.database_up = up).await;
    }

    /// The server is shutting down: NOT_SERVING from now on.
    pub async fn drain(&self) {
        self.update(|state| state.draining = true).await;
    }

    async fn update(&self, change: impl FnOnce(&mut State)) {
        let mut state = self.state.lock().await;
        change(&mut state);
        let status = if state.database_up && !state.draining {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        if state.published == Some(status) {
            return;
        }
        for service in SERVICES {
            self.reporter.set_service_status(service, status).await;
        }
        state.published = Some(status);
    }
}

/// Asks the database every [`PROBE_INTERVAL`] whether it answers, and reports the
/// answer to `health`, until the task is dropped.
pub async fn probe(store: Arc<dyn Store>, health: Arc<Health>) {
    let mut ticks = tokio::time::interval(PROBE_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut was_up = true;
    loop {
        ticks.tick().await;
        let up = match tokio::time::timeout(PROBE_TIMEOUT, store.ping()).await {
            Ok(Ok(())) => true,
            Ok(Err(error)) => {
                if was_up {
                    tracing::error!(%error, "the database does not answer: health is NOT_SERVING");
                }
                false
            }
            Err(_) => {
                if was_up {
                    tracing::error!(
                        timeout = ?PROBE_TIMEOUT,
                        "the database did not answer in time: health is NOT_SERVING"
                    );
                }
                false
            }
        };
        if up && !was_up {
            tracing::info!("the database answers again: health is SERVING");
        }
        was_up = up;
        health.database_reachable(up).await;
    }
}
