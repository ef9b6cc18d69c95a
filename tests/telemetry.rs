//! Log lines and exported traces. They need the process's one `tracing` subscriber, so
//! they have a test binary of their own: the subscriber is installed as `main` installs
//! it — JSON lines, and the OTLP exporter aimed at a stand-in collector — with the lines
//! kept in memory.

#[allow(unused)]
#[path = "api/support.rs"]
mod support;

use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    common::v1::any_value::Value,
    trace::v1::{Span, span::SpanKind},
};
use std::{
    io::Write,
    sync::{Arc, Mutex, OnceLock},
};
use support::{Db, admin, spawn_app};
use tessera::{
    observe::telemetry::{self, Telemetry, TelemetryConfig},
    settings::LogFormat,
};
use tessera_client::{
    pb,
    tonic::{self, Request, metadata::MetadataValue},
    with_token,
};
use tokio::net::TcpListener;
use tonic::transport::{Server, server::TcpIncoming};

/// What the subscriber wrote and exported, for every test of this binary.
struct Observed {
    lines: Arc<Mutex<Vec<u8>>>,
    spans: Arc<Mutex<Vec<Span>>>,
    telemetry: Telemetry,
}

/// Log lines in memory.
#[derive(Clone)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'w> tracing_subscriber::fmt::MakeWriter<'w> for Lines {
    type Writer = Lines;

    fn make_writer(&'w self) -> Self::Writer {
        self.clone()
    }
}

/// A stand-in OTLP collector: keeps every span it is sent.
struct Collector(Arc<Mutex<Vec<Span>>>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.0.lock().unwrap();
        for resource in request.into_inner().resource_spans {
            for scope in resource.scope_spans {
                spans.extend(scope.spans);
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// The subscriber, installed once. The collector and the exporter's channel live on a
/// runtime of their own that outlives every test's.
fn observed() -> &'static Observed {
    static OBSERVED: OnceLock<Observed> = OnceLock::new();
    OBSERVED.get_or_init(|| {
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let address = listener.local_addr().unwrap();
                let spans = Arc::new(Mutex::new(Vec::new()));
                tokio::spawn(
                    Server::builder()
                        .add_service(TraceServiceServer::new(Collector(spans.clone())))
                        .serve_with_incoming(TcpIncoming::from(listener)),
                );
                let lines = Arc::new(Mutex::new(Vec::new()));
                let config = TelemetryConfig {
                    default_filter: "info",
                    log_format: LogFormat::Json,
                    ansi: false,
                    otlp_endpoint: Some(format!("http://{address}")),
                };
                let telemetry = telemetry::init(&config, Lines(lines.clone()))
                    .expect("the subscriber installs");
                sender
                    .send(Observed {
                        lines,
                        spans,
                        telemetry,
                    })
                    .unwrap();
                std::future::pending::<()>().await;
            });
        });
        receiver.recv().unwrap()
    })
}

/// Every span exported so far, after the exporter has sent what it buffered.
async fn exported_spans() -> Vec<Span> {
    let observed = observed();
    tokio::task::spawn_blocking(|| observed.telemetry.flush())
        .await
        .unwrap()
        .expect("the collector takes the spans");
    observed.spans.lock().unwrap().clone()
}

/// The `rpc done` line of the call whose `x-request-id` is `id`, as JSON.
fn rpc_line(id: &str) -> serde_json::Value {
    let lines = observed().lines.lock().unwrap().clone();
    String::from_utf8(lines)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("a JSON line"))
        .find(|line| line["fields"]["message"] == "rpc done" && line["span"]["x_request_id"] == id)
        .unwrap_or_else(|| panic!("no `rpc done` line for request {id}"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn with_metadata<T>(mut request: Request<T>, pairs: &[(&'static str, &str)]) -> Request<T> {
    for (key, value) in pairs {
        request
            .metadata_mut()
            .insert(*key, MetadataValue::try_from(*value).unwrap());
    }
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_with_a_traceparent_is_exported_as_the_child_of_the_callers_span() {
    observed();
    let app = spawn_app(Db::Sqlite).await.unwrap();
    let trace_id: [u8; 16] = *uuid::Uuid::new_v4().as_bytes();
    let parent_id: [u8; 8] = uuid::Uuid::new_v4().as_bytes()[..8].try_into().unwrap();
    let traceparent = format!("00-{}-{}-01", hex(&trace_id), hex(&parent_id));
    app.subscriptions()
        .list_plans(with_metadata(
            Request::new(pb::ListPlansRequest::default()),
            &[("traceparent", &traceparent)],
        ))
        .await
        .unwrap();

    let spans = exported_spans().await;
    let span = spans
        .iter()
        .find(|span| span.trace_id == trace_id)
        .expect("the call's span is exported in the caller's trace");
    assert_eq!(
        span.parent_span_id, parent_id,
        "the caller's span is the parent"
    );
    assert_eq!(span.name, "tessera.v1.SubscriptionService/ListPlans");
    assert_eq!(span.kind, SpanKind::Server as i32);
    let attribute = |key: &str| {
        span.attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.clone()?.value)
    };
    assert_eq!(
        attribute("rpc.system"),
        Some(Value::StringValue("grpc".into()))
    );
    assert_eq!(
        attribute("rpc.method"),
        Some(Value::StringValue("ListPlans".into()))
    );
    assert_eq!(attribute("rpc.grpc.status_code"), Some(Value::IntValue(0)));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_without_a_traceparent_starts_a_trace_of_its_own() {
    observed();
    let app = spawn_app(Db::Sqlite).await.unwrap();
    let id = uuid::Uuid::new_v4().to_string();
    app.subscriptions()
        .list_plans(with_metadata(
            Request::new(pb::ListPlansRequest::default()),
            &[("x-request-id", &id)],
        ))
        .await
        .unwrap();
    let spans = exported_spans().await;
    let line = rpc_line(&id);
    // The log line and the span are the same call: the span has no remote parent.
    assert_eq!(
        line["span"]["otel.name"],
        "tessera.v1.SubscriptionService/ListPlans"
    );
    assert!(spans.iter().any(
        |span| span.name == "tessera.v1.SubscriptionService/ListPlans"
            && span.parent_span_id.is_empty()
    ));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_log_lines_name_the_request_id_the_principal_the_carriers_request_id_and_the_peer() {
    observed();
    let app = spawn_app(Db::Sqlite).await.unwrap();
    let partner = app.partner("Telekom").await;
    let partner_id = partner.name.trim_start_matches("partners/").to_owned();
    let x_request_id = format!("ticket-{}", uuid::Uuid::new_v4());
    let carrier_request_id = uuid::Uuid::new_v4().to_string();
    app.subscriptions()
        .provision_subscription(with_metadata(
            with_token(
                &partner.api_key,
                pb::ProvisionSubscriptionRequest {
                    partner_reference: "contract-1".to_owned(),
                    plan: "plans/deluxe-3".to_owned(),
                    start_time: None,
                    request_id: carrier_request_id.clone(),
                },
            ),
            &[("x-request-id", &x_request_id)],
        ))
        .await
        .expect("the partner provisions");

    let line = rpc_line(&x_request_id);
    let span = &line["span"];
    assert_eq!(
        span["method"],
        "/tessera.v1.SubscriptionService/ProvisionSubscription"
    );
    assert_eq!(span["principal"], "partner");
    assert_eq!(span["principal_id"], partner_id.as_str());
    assert_eq!(span["request_id"], carrier_request_id.as_str());
    assert_eq!(span["code"], "Ok");
    let peer = span["peer"].as_str().expect("the peer is logged");
    assert!(peer.starts_with("127.0.0.1:"), "{peer}");

    // A call without an id of its own is logged under the one it was answered with.
    let answer = app
        .partners()
        .list_partners(admin(pb::ListPartnersRequest::default()))
        .await
        .unwrap();
    let generated = answer
        .metadata()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap();
    let line = rpc_line(generated);
    assert_eq!(line["span"]["principal"], "admin");
    assert!(line["span"].get("principal_id").is_none());
    app.stop().await;
}
