//! The Prometheus endpoint: `GET /metrics` over plain HTTP/1.1, on its own address
//! (`--metrics-listen`), apart from the gRPC port, so that it can stay inside the
//! cluster while the API faces carriers.

use super::metrics::Metrics;
use crate::store::Store;
use axum::{Router, extract::State, http::header, response::IntoResponse, routing::get};
use std::{future::Future, sync::Arc};
use tokio::net::TcpListener;

/// The exposition format's content type.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Clone)]
struct Scrape {
    metrics: Arc<Metrics>,
    store: Arc<dyn Store>,
}

async fn metrics(State(scrape): State<Scrape>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, TEXT_FORMAT)],
        scrape.metrics.render(scrape.store.as_ref()),
    )
}

/// Serves `/metrics` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    store: Arc<dyn Store>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(self::metrics))
        .with_state(Scrape { metrics, store });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
