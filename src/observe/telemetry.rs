//! Logs and traces. [`init`] installs the process's `tracing` subscriber: log lines (text
//! or one JSON object per line) and, when an OTLP endpoint is configured, an
//! OpenTelemetry layer that exports every span over OTLP/gRPC. Each RPC's span
//! ([`crate::api::trace`]) continues the caller's trace when the call carries a W3C
//! `traceparent` ([`continue_trace`]).

use crate::{
    error::{Error, Result},
    settings::LogFormat,
};
use opentelemetry::{
    propagation::{Extractor, TextMapPropagator},
    trace::TracerProvider as _,
};
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use std::sync::atomic::{AtomicBool, Ordering};
use tonic::codegen::http::HeaderMap;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{
    EnvFilter, Layer, fmt::MakeWriter, layer::SubscriberExt, util::SubscriberInitExt,
};

/// Whether spans are exported: the RPC layer does the OpenTelemetry work only then.
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Whether an OpenTelemetry exporter is installed in this process.
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// What [`init`] configures.
#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    /// The log filter when `RUST_LOG` is unset (`info` for the server).
    pub default_filter: &'static str,
    /// How log lines look.
    pub log_format: LogFormat,
    /// Whether log lines may carry colours (a terminal).
    pub ansi: bool,
    /// The OTLP/gRPC collector spans go to (`http://host:4317`); none: no export.
    pub otlp_endpoint: Option<String>,
}

/// The installed subscriber's exporter: dropping it exports the spans still buffered.
#[derive(Debug, Default)]
pub struct Telemetry {
    tracer: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports the spans buffered so far and waits until the collector has them. Blocks:
    /// call it from a blocking context.
    pub fn flush(&self) -> Result<()> {
        match &self.tracer {
            Some(tracer) => tracer
                .force_flush()
                .map_err(|e| Error::Internal(format!("exporting spans: {e}"))),
            None => Ok(()),
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(tracer) = self.tracer.take()
            && let Err(error) = tracer.shutdown()
        {
            eprintln!("exporting the last spans failed: {error}");
        }
    }
}

/// Installs the global subscriber: lines to `writer` at the level `RUST_LOG` asks
/// (`info` by default), and the exporter when `config` names an endpoint. Must run
/// inside a Tokio runtime when it does (the exporter's gRPC channel lives there).
/// Errors: `Internal` when the exporter cannot be built or a subscriber is installed.
pub fn init<W>(config: &TelemetryConfig, writer: W) -> Result<Telemetry>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(config.default_filter));
    let lines = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(config.ansi);
    let lines = match config.log_format {
        LogFormat::Text => lines.boxed(),
        LogFormat::Json => lines.json().boxed(),
    };
    let tracer = config
        .otlp_endpoint
        .as_deref()
        .filter(|endpoint| !endpoint.is_empty())
        .map(tracer_provider)
        .transpose()?;
    let spans = tracer
        .as_ref()
        .map(|provider| tracing_opentelemetry::layer().with_tracer(provider.tracer("tessera")));
    tracing_subscriber::registry()
        .with(filter)
        .with(lines)
        .with(spans)
        .try_init()
        .map_err(|e| Error::Internal(format!("installing the log subscriber: {e}")))?;
    EXPORTING.store(tracer.is_some(), Ordering::Relaxed);
    Ok(Telemetry { tracer })
}

/// Spans batched to `endpoint` over OTLP/gRPC, as the service `tessera` unless
/// `OTEL_SERVICE_NAME` says otherwise; the exporter also reads the other standard
/// `OTEL_EXPORTER_OTLP_*` variables (headers, timeout, compression) and the sampler
/// `OTEL_TRACES_SAMPLER`.
fn tracer_provider(endpoint: &str) -> Result<SdkTracerProvider> {
    use opentelemetry_otlp::WithExportConfig as _;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .map_err(|e| Error::Internal(format!("the OTLP exporter for {endpoint}: {e}")))?;
    let mut resource = Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name("tessera");
    }
    Ok(SdkTracerProvider::builder()
        .with_resource(resource.build())
        .with_batch_exporter(exporter)
        .build())
}

/// Makes `span` the child of the caller's span when `headers` carry a valid W3C
/// `traceparent` (and `tracestate`). Nothing happens while nothing is exported.
pub fn continue_trace(span: &tracing::Span, headers: &HeaderMap) {
    if !exporting() || !headers.contains_key("traceparent") {
        return;
    }
    let parent = TraceContextPropagator::new().extract(&Headers(headers));
    // Fails only for a span already started, which a fresh one is not.
    let _ = span.set_parent(parent);
}

/// gRPC metadata as the propagator reads it.
struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|name| name.as_str()).collect()
    }
}
