//! The server's Prometheus metrics, in one registry per server (tests and benchmarks run
//! several servers in one process). Each fact is recorded where it is known — a call's
//! code by the RPC layer, a seat refusal by the seat use case — through a typed method
//! here, so every label value comes from a closed set: a client cannot make up series.
//!
//! The gRPC series follow the names of go-grpc-middleware's Prometheus provider, which
//! existing dashboards read; the others are `tessera_*`. The README lists them all.

use crate::{
    domain::{codes::CodeKind, lifecycle::Event, principal::PrincipalKind},
    error::Reason,
    store::Store,
};
use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};
use std::time::Duration;
use tonic::Code;

/// Seconds: a cheap read takes well under a millisecond, a sign-in's password hash tens.
const RPC_BUCKETS: &[f64] = &[
    0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
    10.0,
];
/// Seconds from a change to its delivery on an event stream: milliseconds when caught up,
/// up to hours for a watcher replaying from far behind.
const DELIVERY_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 300.0, 3600.0,
];
/// Seconds a lifecycle transition was applied after it fell due: the worker's interval
/// (a minute by default) when it keeps up.
const LAG_BUCKETS: &[f64] = &[
    1.0, 5.0, 15.0, 60.0, 120.0, 300.0, 900.0, 3600.0, 21_600.0, 86_400.0,
];
/// Seconds a lifecycle pass takes.
const PASS_BUCKETS: &[f64] = &[0.001, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0];

/// What became of a redemption of a product key or partner code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedemptionOutcome {
    /// Redeemed (or redeemed again by the same account).
    Redeemed,
    /// A code or key that does not exist: counted against the throttle.
    Guess,
    /// Refused for another reason (already redeemed, expired, …).
    Refused,
    /// Not attempted: the caller is over the throttle's limit.
    Throttled,
}

impl RedemptionOutcome {
    fn label(self) -> &'static str {
        match self {
            Self::Redeemed => "redeemed",
            Self::Guess => "guess",
            Self::Refused => "refused",
            Self::Throttled => "throttled",
        }
    }
}

/// The metrics of one server.
pub struct Metrics {
    registry: Registry,
    rpc_handled: IntCounterVec,
    rpc_seconds: HistogramVec,
    seat_activations: IntCounterVec,
    seat_refusals: IntCounterVec,
    redemptions: IntCounterVec,
    lifecycle_passes: IntCounterVec,
    lifecycle_pass_seconds: Histogram,
    lifecycle_last_pass: Gauge,
    lifecycle_transitions: IntCounterVec,
    lifecycle_lag: Histogram,
    event_watchers: IntGaugeVec,
    event_delivery: Histogram,
    pool_connections: IntGaugeVec,
    pool_max: IntGauge,
    database_up: IntGauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Registers `metric` in `registry` and returns it. The names and labels here are
/// constants, so a failure is a bug in this file.
fn registered<M: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    metric: M,
) -> M {
    registry
        .register(Box::new(metric.clone()))
        .expect("metric names and labels are valid and unique");
    metric
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    registered(
        registry,
        IntCounterVec::new(Opts::new(name, help), labels).expect("a valid counter"),
    )
}

fn histogram(registry: &Registry, name: &str, help: &str, buckets: &[f64]) -> Histogram {
    registered(
        registry,
        Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec()))
            .expect("a valid histogram"),
    )
}

impl Metrics {
    /// Every series registered, none observed yet.
    pub fn new() -> Self {
        let registry = Registry::new();
        let r = &registry;
        let rpc_labels = &["grpc_service", "grpc_method", "grpc_code"];
        Self {
            rpc_handled: counter(
                r,
                "grpc_server_handled_total",
                "RPCs completed on the server, by service, method and gRPC status code.",
                rpc_labels,
            ),
            rpc_seconds: registered(
                r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "grpc_server_handling_seconds",
                        "Time from an RPC's arrival to its response (to the opening of the \
                         stream for WatchEvents), by service, method and gRPC status code.",
                    )
                    .buckets(RPC_BUCKETS.to_vec()),
                    rpc_labels,
                )
                .expect("a valid histogram"),
            ),
            seat_activations: counter(
                r,
                "tessera_seat_activations_total",
                "Seat activations granted: `taken` a new seat, `held` a device that already \
                 held one.",
                &["outcome"],
            ),
            seat_refusals: counter(
                r,
                "tessera_seat_refusals_total",
                "Seat activations refused, by ErrorInfo reason (SEAT_LIMIT_REACHED, \
                 SUBSCRIPTION_NOT_ACTIVE, …).",
                &["reason"],
            ),
            redemptions: counter(
                r,
                "tessera_redemptions_total",
                "Redemptions of product keys and partner codes by outcome: redeemed, guess \
                 (no such code: counted against the throttle), refused, throttled.",
                &["kind", "outcome"],
            ),
            lifecycle_passes: counter(
                r,
                "tessera_lifecycle_passes_total",
                "Lifecycle worker passes, by outcome (ok, failed).",
                &["outcome"],
            ),
            lifecycle_pass_seconds: histogram(
                r,
                "tessera_lifecycle_pass_seconds",
                "How long a lifecycle worker pass took.",
                PASS_BUCKETS,
            ),
            lifecycle_last_pass: registered(
                r,
                Gauge::new(
                    "tessera_lifecycle_last_pass_timestamp_seconds",
                    "When the last successful lifecycle pass of this server ended (Unix time).",
                )
                .expect("a valid gauge"),
            ),
            lifecycle_transitions: counter(
                r,
                "tessera_lifecycle_transitions_total",
                "Transitions applied by the lifecycle worker, by kind.",
                &["transition"],
            ),
            lifecycle_lag: histogram(
                r,
                "tessera_lifecycle_transition_lag_seconds",
                "How long after it fell due the worker applied a transition.",
                LAG_BUCKETS,
            ),
            event_watchers: registered(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "tessera_event_watchers",
                        "Open WatchEvents streams, by the watcher's kind (admin, partner).",
                    ),
                    &["principal"],
                )
                .expect("a valid gauge"),
            ),
            event_delivery: histogram(
                r,
                "tessera_event_delivery_lag_seconds",
                "Time from a change to the delivery of its event on a WatchEvents stream.",
                DELIVERY_BUCKETS,
            ),
            pool_connections: registered(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "tessera_db_pool_connections",
                        "Database connections of this server's pool, by state (idle, in_use).",
                    ),
                    &["state"],
                )
                .expect("a valid gauge"),
            ),
            pool_max: registered(
                r,
                IntGauge::new(
                    "tessera_db_pool_max_connections",
                    "The most connections this server's pool opens.",
                )
                .expect("a valid gauge"),
            ),
            database_up: registered(
                r,
                IntGauge::new(
                    "tessera_database_up",
                    "1 while the health probe reaches the database, 0 while it does not.",
                )
                .expect("a valid gauge"),
            ),
            registry,
        }
    }

    /// An RPC answered: `path` is the request's `/package.Service/Method`, recorded under
    /// `unknown` when the server has no such method (so unknown paths make no series).
    pub fn rpc_handled(&self, path: &str, code: Code, elapsed: Duration) {
        let (service, method) = match path.strip_prefix('/').and_then(|p| p.split_once('/')) {
            Some(parts) if code != Code::Unimplemented => parts,
            _ => ("unknown", "unknown"),
        };
        let labels = [service, method, code_name(code)];
        self.rpc_handled.with_label_values(&labels).inc();
        self.rpc_seconds
            .with_label_values(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// A device was seated: `newly_taken` when it took a new seat.
    pub fn seat_activated(&self, newly_taken: bool) {
        let outcome = if newly_taken { "taken" } else { "held" };
        self.seat_activations.with_label_values(&[outcome]).inc();
    }

    /// A seat activation was refused.
    pub fn seat_refused(&self, reason: Reason) {
        self.seat_refusals
            .with_label_values(&[reason.as_str()])
            .inc();
    }

    /// A redemption of a `kind` of code ended with `outcome`.
    pub fn redemption(&self, kind: CodeKind, outcome: RedemptionOutcome) {
        let kind = match kind {
            CodeKind::ProductKey => "product_key",
            CodeKind::PartnerCode => "partner_code",
        };
        self.redemptions
            .with_label_values(&[kind, outcome.label()])
            .inc();
    }

    /// A lifecycle pass ended, after `elapsed`.
    pub fn lifecycle_pass(&self, succeeded: bool, elapsed: Duration) {
        let outcome = if succeeded { "ok" } else { "failed" };
        self.lifecycle_passes.with_label_values(&[outcome]).inc();
        self.lifecycle_pass_seconds.observe(elapsed.as_secs_f64());
        if succeeded {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            self.lifecycle_last_pass.set(now.as_secs_f64());
        }
    }

    /// The lifecycle worker applied `transition`, `lag` after it fell due.
    pub fn lifecycle_transition(&self, transition: Event, lag: chrono::Duration) {
        let name = match transition {
            Event::Suspend => "suspend",
            Event::Resume => "resume",
            Event::CancelNow => "cancel_now",
            Event::PeriodEndCancel => "period_end_cancel",
            Event::Renew => "renew",
            Event::EnterGrace => "enter_grace",
            Event::Expire => "expire",
            Event::Resubscribe => "resubscribe",
        };
        self.lifecycle_transitions.with_label_values(&[name]).inc();
        let seconds = lag.num_milliseconds().max(0) as f64 / 1000.0;
        self.lifecycle_lag.observe(seconds);
    }

    /// An event stream opened for a `watcher`; it counts as open until the guard drops.
    pub fn event_watcher(&self, watcher: PrincipalKind) -> WatcherGuard {
        let gauge = self.event_watchers.with_label_values(&[watcher.as_str()]);
        gauge.inc();
        WatcherGuard(gauge)
    }

    /// An event was delivered `lag` after its change.
    pub fn event_delivered(&self, lag: chrono::Duration) {
        let seconds = lag.num_microseconds().unwrap_or(i64::MAX).max(0) as f64 / 1e6;
        self.event_delivery.observe(seconds);
    }

    /// What the health probe found.
    pub fn database_up(&self, up: bool) {
        self.database_up.set(i64::from(up));
    }

    /// The exposition text of every series, with the pool of `store` sampled now.
    pub fn render(&self, store: &dyn Store) -> String {
        let pool = store.pool_use();
        let idle = i64::from(pool.idle);
        self.pool_connections.with_label_values(&["idle"]).set(idle);
        self.pool_connections
            .with_label_values(&["in_use"])
            .set(i64::from(pool.open) - idle);
        self.pool_max.set(i64::from(pool.max));
        let mut text = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut text)
            .expect("the text encoder writes to memory");
        String::from_utf8(text).expect("the text format is UTF-8")
    }
}

/// Counts an event stream as open while it lives.
#[derive(Debug)]
pub struct WatcherGuard(IntGauge);

impl Drop for WatcherGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The status code as the gRPC specification spells it.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_method_makes_no_series_of_its_own() {
        let metrics = Metrics::new();
        metrics.rpc_handled("/x.Made/Up", Code::Unimplemented, Duration::from_millis(1));
        metrics.rpc_handled("garbage", Code::Unimplemented, Duration::from_millis(1));
        let families = metrics.registry.gather();
        let handled = families
            .iter()
            .find(|family| family.name() == "grpc_server_handled_total")
            .expect("the family");
        assert_eq!(handled.get_metric().len(), 1);
        let labels: Vec<_> = handled.get_metric()[0]
            .get_label()
            .iter()
            .map(|label| label.value().to_owned())
            .collect();
        assert_eq!(labels, ["UNIMPLEMENTED", "unknown", "unknown"]);
    }
}
