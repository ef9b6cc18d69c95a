//! End-to-end load benchmark: starts the real server in-process (the same
//! `Application::build` path as production, on a free port) and drives it through
//! `tessera-client` with many concurrent callers.
//!
//! ```text
//! cargo bench --bench activation
//! BENCH_REQUESTS=2000 BENCH_CONCURRENCY=64 cargo bench --bench activation
//! BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench cargo bench --bench activation
//! ```
//!
//! - `BENCH_REQUESTS` (default 5000): calls per operation.
//! - `BENCH_CONCURRENCY` (default 32): concurrent callers, all sharing one HTTP/2 channel.
//! - `BENCH_DATABASE_URL`: database to use (its schema is migrated, and rows are added);
//!   a fresh SQLite file in a temporary directory when unset.
//! - `RUST_LOG`: server logs to stderr (for example `RUST_LOG=error` shows why calls
//!   failed); silent when unset.
//!
//! Client and server share one tokio runtime, so both compete for the same cores; the
//! figures are a floor for what a dedicated server does.

use std::{
    error::Error,
    future::Future,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};
use tessera::{Application, Settings};
use tessera_client::{
    connect, pb,
    tonic::{Status, transport::Channel},
    with_token,
};
use tokio::sync::oneshot;
use uuid::Uuid;

use pb::{
    account_service_client::AccountServiceClient, seat_service_client::SeatServiceClient,
    subscription_service_client::SubscriptionServiceClient,
};

const ADMIN_TOKEN: &str = "bench-admin-token";
/// The plan every benchmark subscription is on, and its seat limit.
const PLAN: &str = "plans/premium-10";
const SEATS_PER_SUBSCRIPTION: usize = 10;

fn env_usize(name: &str, default: usize) -> Result<usize, Box<dyn Error>> {
    match std::env::var(name) {
        Ok(raw) => match raw.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("{name} must be a positive integer, not {raw:?}").into()),
        },
        Err(_) => Ok(default),
    }
}

/// The outcome of one measured operation.
struct Stats {
    operation: &'static str,
    requests: usize,
    concurrency: usize,
    wall: Duration,
    /// Latencies of every call, failed ones included, sorted.
    latencies: Vec<Duration>,
    errors: usize,
    first_error: Option<Status>,
}

impl Stats {
    /// Nearest-rank percentile, `q` in (0, 1].
    fn percentile(&self, q: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = (q * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
    }

    fn throughput(&self) -> f64 {
        self.requests as f64 / self.wall.as_secs_f64()
    }
}

/// Runs `call(0..requests)` with `concurrency` callers, timing every call. Returns the
/// statistics and the outputs of the calls that succeeded.
async fn measure<T, F, Fut>(
    operation: &'static str,
    requests: usize,
    concurrency: usize,
    call: F,
) -> (Stats, Vec<T>)
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, Status>> + Send,
{
    let call = Arc::new(call);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let call = Arc::clone(&call);
            let next = Arc::clone(&next);
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut outputs = Vec::new();
                let mut errors = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= requests {
                        break;
                    }
                    let sent = Instant::now();
                    let result = call(i).await;
                    latencies.push(sent.elapsed());
                    match result {
                        Ok(output) => outputs.push(output),
                        Err(status) => errors.push(status),
                    }
                }
                (latencies, outputs, errors)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(requests);
    let mut outputs = Vec::with_capacity(requests);
    let mut errors = Vec::new();
    for worker in workers {
        let (l, o, e) = worker.await.expect("a benchmark worker panicked");
        latencies.extend(l);
        outputs.extend(o);
        errors.extend(e);
    }
    let wall = started.elapsed();
    latencies.sort_unstable();
    let stats = Stats {
        operation,
        requests,
        concurrency,
        wall,
        latencies,
        errors: errors.len(),
        first_error: errors.into_iter().next(),
    };
    (stats, outputs)
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn print_table(rows: &[Stats]) {
    let header = [
        "operation",
        "requests",
        "concurrency",
        "wall (s)",
        "req/s",
        "p50 (ms)",
        "p90 (ms)",
        "p99 (ms)",
        "max (ms)",
        "errors",
    ];
    let body: Vec<[String; 10]> = rows
        .iter()
        .map(|s| {
            [
                s.operation.to_owned(),
                s.requests.to_string(),
                s.concurrency.to_string(),
                format!("{:.2}", s.wall.as_secs_f64()),
                format!("{:.0}", s.throughput()),
                ms(s.percentile(0.50)),
                ms(s.percentile(0.90)),
                ms(s.percentile(0.99)),
                ms(s.latencies.last().copied().unwrap_or_default()),
                s.errors.to_string(),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            body.iter()
                .map(|row| row[c].len())
                .chain([header[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[&str]| {
        let text: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, width))| {
                if c == 0 {
                    format!("{cell:<width$}")
                } else {
                    format!("{cell:>width$}")
                }
            })
            .collect();
        println!("{}", text.join("  ").trim_end());
    };
    line(&header);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    line(&rule.iter().map(String::as_str).collect::<Vec<_>>());
    for row in &body {
        line(&row.iter().map(String::as_str).collect::<Vec<_>>());
    }
    for s in rows {
        if let Some(status) = &s.first_error {
            println!(
                "first error of {}: {:?}: {} (RUST_LOG=error shows the server's log)",
                s.operation,
                status.code(),
                status.message()
            );
        }
    }
}

/// Where the benchmark's database lives.
struct Database {
    url: String,
    /// A temporary directory to remove afterwards (SQLite only).
    temp_dir: Option<PathBuf>,
}

impl Database {
    fn choose() -> std::io::Result<Self> {
        if let Ok(url) = std::env::var("BENCH_DATABASE_URL") {
            return Ok(Self {
                url,
                temp_dir: None,
            });
        }
        let dir = std::env::temp_dir().join(format!("tessera-bench-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir)?;
        Ok(Self {
            url: format!("sqlite:{}", dir.join("bench.db").display()),
            temp_dir: Some(dir),
        })
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Some(dir) = &self.temp_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// What the measured calls need: a channel, a session and the subscriptions to use.
struct Fixture {
    channel: Channel,
    session: String,
    account: String,
}

async fn sign_up(channel: &Channel) -> Result<Fixture, Box<dyn Error>> {
    let mut accounts = AccountServiceClient::new(channel.clone());
    let email = format!("bench-{}@example.com", Uuid::new_v4().simple());
    let password = "benchmark password".to_owned();
    let account = accounts
        .create_account(pb::CreateAccountRequest {
            email: email.clone(),
            password: password.clone(),
            display_name: "Benchmark".to_owned(),
        })
        .await?
        .into_inner();
    let session = accounts
        .sign_in(pb::SignInRequest { email, password })
        .await?
        .into_inner()
        .session_token;
    Ok(Fixture {
        channel: channel.clone(),
        session,
        account: account.name,
    })
}

fn create_request(account: &str, request_id: String) -> pb::CreateSubscriptionRequest {
    pb::CreateSubscriptionRequest {
        parent: account.to_owned(),
        plan: PLAN.to_owned(),
        auto_renew: true,
        request_id,
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let requests = env_usize("BENCH_REQUESTS", 5000)?;
    let concurrency = env_usize("BENCH_CONCURRENCY", 32)?;
    let database = Database::choose()?;

    let mut settings = Settings::for_database(database.url.clone());
    settings.listen = "127.0.0.1:0".parse()?;
    settings.admin_token = Some(ADMIN_TOKEN.to_owned());
    let app = Application::build(&settings).await?;
    let backend = app.store().backend();
    let port = app.port();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));

    let channel = connect(format!("http://127.0.0.1:{port}")).await?;
    let fixture = Arc::new(sign_up(&channel).await?);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "tessera activation benchmark: {backend:?} store, {requests} requests per operation, \
         {concurrency} concurrent callers, {cores} cores, server in-process on port {port}"
    );

    // Setup (not reported): enough premium-10 subscriptions for one seat per request.
    let subscription_count = requests.div_ceil(SEATS_PER_SUBSCRIPTION);
    let f = Arc::clone(&fixture);
    let (setup, subscriptions) = measure("setup", subscription_count, concurrency, move |_| {
        let mut client = SubscriptionServiceClient::new(f.channel.clone());
        let request = create_request(&f.account, Uuid::new_v4().to_string());
        async move {
            let created = client
                .create_subscription(with_token(ADMIN_TOKEN, request))
                .await?;
            Ok(created.into_inner().name)
        }
    })
    .await;
    if subscriptions.len() < subscription_count {
        print_table(&[setup]);
        return Err("could not create the subscriptions the benchmark needs".into());
    }
    let subscriptions = Arc::new(subscriptions);
    let mut rows = Vec::new();

    // (a) Distinct devices, ten per subscription.
    let (f, subs) = (Arc::clone(&fixture), Arc::clone(&subscriptions));
    let (stats, device_tokens) = measure("ActivateSeat", requests, concurrency, move |i| {
        let mut client = SeatServiceClient::new(f.channel.clone());
        let request = pb::ActivateSeatRequest {
            parent: subs[i / SEATS_PER_SUBSCRIPTION].clone(),
            device_id: format!("bench-device-{i:06}"),
            platform: pb::Platform::Windows as i32,
            display_name: format!("Bench device {i}"),
        };
        let session = f.session.clone();
        async move {
            let response = client.activate_seat(with_token(&session, request)).await?;
            Ok(response.into_inner().device_token)
        }
    })
    .await;
    rows.push(stats);

    // (b) Devices checking in with their own tokens.
    if device_tokens.is_empty() {
        println!("CheckProtection skipped: no device could take a seat");
    } else {
        let (f, tokens) = (Arc::clone(&fixture), Arc::new(device_tokens));
        let (stats, _) = measure("CheckProtection", requests, concurrency, move |i| {
            let mut client = SeatServiceClient::new(f.channel.clone());
            let token = tokens[i % tokens.len()].clone();
            async move {
                let answer = client
                    .check_protection(with_token(&token, pb::CheckProtectionRequest {}))
                    .await?
                    .into_inner();
                if answer.protected {
                    Ok(())
                } else {
                    Err(Status::internal("the device is not protected"))
                }
            }
        })
        .await;
        rows.push(stats);
    }

    // (c) The account page reading its subscriptions.
    let (f, subs) = (Arc::clone(&fixture), Arc::clone(&subscriptions));
    let (stats, _) = measure("GetSubscription", requests, concurrency, move |i| {
        let mut client = SubscriptionServiceClient::new(f.channel.clone());
        let request = pb::GetSubscriptionRequest {
            name: subs[i % subs.len()].clone(),
        };
        let session = f.session.clone();
        async move {
            client
                .get_subscription(with_token(&session, request))
                .await?;
            Ok(())
        }
    })
    .await;
    rows.push(stats);

    // (d) The web shop selling: a new request id per purchase, then every purchase
    //     retried with its request id (an idempotent replay).
    let run = Uuid::new_v4();
    let request_id = move |i: usize| format!("bench-{run}-{i}");
    for label in ["CreateSubscription (new)", "CreateSubscription (replay)"] {
        let f = Arc::clone(&fixture);
        let (stats, _) = measure(label, requests, concurrency, move |i| {
            let mut client = SubscriptionServiceClient::new(f.channel.clone());
            let request = create_request(&f.account, request_id(i));
            async move {
                client
                    .create_subscription(with_token(ADMIN_TOKEN, request))
                    .await?;
                Ok(())
            }
        })
        .await;
        rows.push(stats);
    }

    println!();
    print_table(&rows);

    let _ = stop.send(());
    server.await??;
    let errors: usize = rows.iter().map(|s| s.errors).sum();
    if errors > 0 {
        return Err(format!("{errors} calls failed").into());
    }
    Ok(())
}
