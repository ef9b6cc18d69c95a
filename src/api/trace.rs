//! One tracing span per RPC and its metrics. The span carries the method, the peer, the
//! `x-request-id` (set by the request-id layers outside this one), the principal and its
//! id (recorded by authentication), the caller's `request_id` where the request has one
//! (recorded by the idempotency combinator) and the resulting gRPC status code; it
//! continues the caller's W3C trace when spans are exported. When the response is ready
//! the call is counted and timed by method and code.

use crate::observe::{metrics::Metrics, telemetry};
use opentelemetry::trace::Status as SpanStatus;
use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Instant,
};
use tonic::{
    Code,
    codegen::http::{self, Uri},
    transport::server::TcpConnectInfo,
};
use tower::{Layer, Service};
use tracing::{Instrument, field};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The longest `x-request-id` written to the logs; a longer one is cut.
const MAX_LOGGED_REQUEST_ID: usize = 128;

/// Wraps every RPC in a span and records its metrics.
#[derive(Debug, Clone)]
pub struct RpcTraceLayer {
    metrics: Arc<Metrics>,
}

impl RpcTraceLayer {
    /// The layer recording into `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self { metrics }
    }
}

impl<S> Layer<S> for RpcTraceLayer {
    type Service = RpcTrace<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcTrace {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// The service [`RpcTraceLayer`] makes.
#[derive(Debug, Clone)]
pub struct RpcTrace<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S, B, R> Service<http::Request<B>> for RpcTrace<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().clone();
        let peer = request
            .extensions()
            .get::<TcpConnectInfo>()
            .and_then(TcpConnectInfo::remote_addr);
        let request_id = request
            .headers()
            .get("x-request-id")
            .and_then(|value| value.to_str().ok())
            .map(|id| cut(id, MAX_LOGGED_REQUEST_ID));
        let span = tracing::info_span!(
            "rpc",
            method = %path.path(),
            peer = peer.map(field::display),
            x_request_id = request_id,
            principal = field::Empty,
            principal_id = field::Empty,
            request_id = field::Empty,
            code = field::Empty,
            otel.name = field::Empty,
            otel.kind = field::Empty,
        );
        if telemetry::exporting() {
            start_exported(&span, &path, request.headers());
        }
        let started = Instant::now();
        let response = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        let metrics = self.metrics.clone();
        Box::pin(
            async move {
                let result = response.await;
                if let Ok(response) = &result {
                    // Errors travel in the headers (trailers-only responses); a missing
                    // status header means the call is answering normally.
                    let code = response
                        .headers()
                        .get("grpc-status")
                        .and_then(|value| value.to_str().ok())
                        .and_then(|value| value.parse::<i32>().ok())
                        .map_or(Code::Ok, Code::from);
                    let elapsed = started.elapsed();
                    metrics.rpc_handled(path.path(), code, elapsed);
                    let span = tracing::Span::current();
                    span.record("code", field::debug(code));
                    if telemetry::exporting() {
                        end_exported(&span, code);
                    }
                    tracing::info!(elapsed_us = elapsed.as_micros() as u64, "rpc done");
                }
                result
            }
            .instrument(span),
        )
    }
}

/// At most `max` bytes of `text`, cut at a character boundary.
fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The span as OpenTelemetry's RPC conventions name it, continuing the caller's trace.
fn start_exported(span: &tracing::Span, path: &Uri, headers: &http::HeaderMap) {
    let path = path.path();
    let name = path.strip_prefix('/').unwrap_or(path);
    span.record("otel.name", name);
    span.record("otel.kind", "server");
    telemetry::continue_trace(span, headers);
    span.set_attribute("rpc.system", "grpc");
    if let Some((service, method)) = name.split_once('/') {
        span.set_attribute("rpc.service", service.to_owned());
        span.set_attribute("rpc.method", method.to_owned());
    }
}

/// The status code on the span; codes that mean the server failed mark it an error.
fn end_exported(span: &tracing::Span, code: Code) {
    span.set_attribute("rpc.grpc.status_code", code as i64);
    if matches!(
        code,
        Code::Unknown
            | Code::DeadlineExceeded
            | Code::Unimplemented
            | Code::Internal
            | Code::Unavailable
            | Code::DataLoss
    ) {
        span.set_status(SpanStatus::error(format!("{code:?}")));
    }
}
