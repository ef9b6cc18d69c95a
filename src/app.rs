//! Start-up: the same path runs in production and in tests. [`Application::build`] opens
//! the store, runs migrations and binds the listener (port 0 picks a free port);
//! [`Application::run_until_stopped`] serves until the shutdown signal, finishing
//! in-flight calls.

use crate::{
    api::{
        accounts::AccountApi, context::Context, events::EventApi, partners::PartnerApi,
        product_keys::ProductKeyApi, seats::SeatApi, subscriptions::SubscriptionApi,
        trace::RpcTraceLayer,
    },
    domain::clock::{Clock, SystemClock},
    error::Result,
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
    settings::Settings,
    store::{CommitListener, Store},
};
use std::{future::Future, net::SocketAddr, sync::Arc};
use tokio::net::TcpListener;
use tonic::transport::{Server, server::TcpIncoming};

/// Largest request message accepted, in bytes.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// A built server, bound and ready to serve.
pub struct Application {
    listener: TcpListener,
    ctx: Context,
    retention: Retention,
    worker: Option<WorkerPolicy>,
    commit_listener: Option<CommitListener>,
    shutdown_grace: std::time::Duration,
}

impl Application {
    /// Builds the server with the system clock.
    pub async fn build(settings: &Settings) -> Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// Builds the server with a given clock (tests move time with a manual one).
    pub async fn build_with_clock(settings: &Settings, clock: Arc<dyn Clock>) -> Result<Self> {
        let ctx = Context::open(settings, clock).await?;
        let commit_listener = ctx.store.listen_for_commits(&settings.database_url).await?;
        let listener = TcpListener::bind(settings.listen).await.map_err(|e| {
            crate::error::Error::Internal(format!("binding {}: {e}", settings.listen))
        })?;
        let retention = Retention {
            request_ids: chrono::Duration::hours(i64::from(settings.idempotency_retention_hours)),
            redemption_window: ctx.throttle.window,
        };
        let worker = (settings.lifecycle_interval_seconds > 0).then(|| WorkerPolicy {
            grace: ctx.grace,
            batch: 100,
            interval: std::time::Duration::from_secs(u64::from(
                settings.lifecycle_interval_seconds,
            )),
        });
        Ok(Self {
            listener,
            ctx,
            retention,
            worker,
            commit_listener,
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

    /// The store the server uses.
    pub fn store(&self) -> &Store {
        &self.ctx.store
    }

    /// Serves until `shutdown` completes, then stops accepting calls and finishes the
    /// ones in flight.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), tonic::transport::Error> {
        let ctx = self.ctx;
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
        tracing::info!(store = ?ctx.store.backend(), "serving");
        let store = ctx.store.clone();
        let housekeeping = tokio::spawn(housekeeping::run(
            store.clone(),
            ctx.clock.clone(),
            self.retention,
        ));
        let (stopping_sender, stopping) = tokio::sync::watch::channel(false);
        let shutdown = async move {
            shutdown.await;
            let _ = stopping_sender.send(true);
        };
        let commit_listener = self
            .commit_listener
            .map(|listener| tokio::spawn(listener.run()));
        let worker = self
            .worker
            .map(|policy| tokio::spawn(worker::run(store.clone(), ctx.clock.clone(), policy)));
        let mut drain_deadline = stopping.clone();
        let grace = self.shutdown_grace;
        let serving = Server::builder()
            .layer(RpcTraceLayer)
            .add_service(health_service)
            .add_service(reflection)
            .add_service(
                AccountServiceServer::new(AccountApi::new(ctx.clone()))
                    .max_decoding_message_size(MAX_REQUEST_BYTES),
            )
            .add_service(
                SubscriptionServiceServer::new(SubscriptionApi::new(ctx.clone()))
                    .max_decoding_message_size(MAX_REQUEST_BYTES),
            )
            .add_service(
                SeatServiceServer::new(SeatApi::new(ctx.clone()))
                    .max_decoding_message_size(MAX_REQUEST_BYTES),
            )
            .add_service(
                PartnerServiceServer::new(PartnerApi::new(ctx.clone()))
                    .max_decoding_message_size(MAX_REQUEST_BYTES),
            )
            .add_service(
                ProductKeyServiceServer::new(ProductKeyApi::new(ctx.clone()))
                    .max_decoding_message_size(MAX_REQUEST_BYTES),
            )
            .add_service(
                EventServiceServer::new(EventApi::new(ctx, stopping))
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
        housekeeping.abort();
        for task in [worker, commit_listener].into_iter().flatten() {
            task.abort();
        }
        store.close().await;
        served
    }
}
