//! One run, start to end: seed, start the release server, measure, restart it as each
//! measurement needs, seed more, measure again, and clean up.
//!
//! The order matters. Reads and latency at the first size are measured before any
//! write, so the write phases' new subscriptions (which also become the accounts'
//! alternatives in `CheckProtection`) do not change them; at the larger size they use
//! only subscriptions the writes never touched.

use crate::{
    calls::Calls,
    database::Database,
    driver::{self, Load, Measured},
    h2load::H2load,
    ids::Seed,
    options::Options,
    pgbench, reads,
    report::{MemoryRow, PgbenchRun, Report, Seeding, WriteRow},
    seed::{self, Shape},
    server::{MemorySampler, Server, ServerConfig},
    targets::SeatPool,
};
use anyhow::{Context as _, Result, bail, ensure};
use std::{ops::Range, path::PathBuf, sync::Arc, time::Duration};
use tessera::{domain::catalog::Catalog, store::Backend};
use tessera_client::{
    connect,
    pb::{self, partner_service_client::PartnerServiceClient},
    tonic::transport::Channel,
    with_token,
};

/// Connections in the server's PostgreSQL pool (`MAX_CONNECTIONS` in
/// `src/store/postgres/mod.rs`): pgbench runs with as many clients too.
const SERVER_POOL: usize = 16;

/// Runs the benchmark `options` describe.
pub async fn run(options: &Options, command: String) -> Result<Report> {
    let seed = Seed::random();
    let dir = std::env::temp_dir().join(format!("tessera-bench-{}", seed.tag()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let database = match &options.postgres {
        Some(url) => Database::postgres(url, &format!("tessera_bench_{}", seed.tag())).await?,
        None => Database::sqlite(&dir),
    };
    eprintln!(
        "run directory {}, database {}",
        dir.display(),
        database.url()
    );
    let before = load_average();
    let result = Run {
        options,
        seed,
        dir: dir.clone(),
        url: database.url().to_owned(),
    }
    .measure()
    .await;
    // A failed run keeps what explains it: the server's log, the database.
    if options.keep || result.is_err() {
        eprintln!("kept {} and {}", dir.display(), database.url());
    } else {
        database.remove().await?;
        std::fs::remove_dir_all(&dir)?;
    }
    let mut report = result?;
    report.command = command;
    report.machine = format!(
        "{} cores; load average {before} at the start, {} at the end",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    );
    Ok(report)
}

/// `/proc/loadavg`'s three averages.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".to_owned())
}

struct Run<'a> {
    options: &'a Options,
    seed: Seed,
    dir: PathBuf,
    url: String,
}

impl Run<'_> {
    fn backend(&self) -> Result<Backend> {
        Ok(Backend::of_url(&self.url)?)
    }

    fn h2load(&self) -> H2load {
        H2load {
            binary: self.options.h2load.clone(),
            connections: self.options.connections,
            streams: self.options.streams,
            threads: self.options.h2load_threads,
            duration: self.options.duration(),
            warm_up: self.options.warm_up(),
        }
    }

    fn load(&self, concurrency: usize) -> Load {
        Load {
            concurrency,
            duration: self.options.duration(),
            warm_up: self.options.warm_up(),
        }
    }

    fn server_config(&self) -> ServerConfig {
        ServerConfig {
            binary: self.options.server.clone(),
            database_url: self.url.clone(),
            admin_token: format!("bench-admin-{}", self.seed.tag()),
            log_path: self.dir.join("server.log"),
        }
    }

    async fn seed(&self, shape: &Shape, range: Range<u64>) -> Result<Seeding> {
        eprintln!("seeding subscriptions {range:?}");
        let total = range.end - range.start;
        let started = std::time::Instant::now();
        let counts = seed::load(&self.url, shape, range.clone(), |done, elapsed| {
            eprintln!(
                "  {done} of {total} subscriptions in {:.1} s",
                elapsed.as_secs_f64()
            );
        })
        .await?;
        Ok(Seeding {
            subscriptions: range,
            counts,
            elapsed: started.elapsed(),
        })
    }

    async fn measure(&self) -> Result<Report> {
        let options = self.options;
        let plan = Catalog::embedded()
            .plan(&options.plan)
            .with_context(|| format!("{} is not a plan of the catalog", options.plan))?;
        ensure!(
            (1..=plan.seat_limit as u64).contains(&options.seats),
            "--seats must be 1 to {} for {}",
            plan.seat_limit,
            plan.code
        );
        let shape = Shape {
            seed: self.seed,
            plan,
            seats: options.seats,
        };
        let first = options.subscriptions;
        let mut report = Report {
            backend: self.backend()?,
            command: String::new(),
            machine: String::new(),
            load: options.describe_load(),
            seeding: Vec::new(),
            reads: Vec::new(),
            writes: Vec::new(),
            pgbench: Vec::new(),
            latency: Vec::new(),
            memory: Vec::new(),
        };
        report.seeding.push(self.seed(&shape, 0..first).await?);

        let config = self.server_config();
        let server = Server::start(&config, false).await?;
        let sampler = server.sample_memory();
        let channel = connect(server.endpoint()).await?;
        let partner_key = partner_key(&channel, &config.admin_token, &self.seed).await?;
        let free = u8::try_from(plan.seat_limit as u64 - options.seats)?;
        let calls = Arc::new(Calls::new(
            self.seed,
            options.seats,
            SeatPool::new(first, free),
            config.admin_token.clone(),
            partner_key,
        ));
        eprintln!("reads, {first} subscriptions");
        let rows =
            reads::measure(&server, &channel, &self.h2load(), &self.seed, 0, &self.dir).await?;
        report.reads.push((first, rows));
        eprintln!("latency, {first} subscriptions");
        let latency = self.latency(&server, &calls, 0..first).await?;
        report.latency.push((first, latency));
        eprintln!("durable writes");
        let durable = self.writes(&server, &calls, 0..first).await?;
        if report.backend == Backend::Postgres {
            let activations = durable
                .iter()
                .find(|(label, _)| *label == "ActivateSeat")
                .map_or(0.0, |(_, m)| m.per_second());
            report.pgbench = self.pgbench(&calls, activations).await?;
        }
        report
            .memory
            .push(stop(server, sampler, format!("{first} subscriptions")).await?);

        let mut unsafe_off = Vec::new();
        if report.backend == Backend::Sqlite {
            eprintln!("writes with synchronous=OFF");
            let server = Server::start(&config, true).await?;
            let sampler = server.sample_memory();
            unsafe_off = self.writes(&server, &calls, 0..first).await?;
            let label = format!("{first} subscriptions, synchronous=OFF");
            report.memory.push(stop(server, sampler, label).await?);
        }
        report.writes = durable
            .into_iter()
            .map(|(label, durable)| WriteRow {
                label,
                unsafe_off: unsafe_off
                    .iter()
                    .find(|(l, _)| *l == label)
                    .map(|(_, m)| m.clone()),
                durable,
            })
            .collect();

        if let Some(last) = options.scale_to.filter(|&last| last > first) {
            report.seeding.push(self.seed(&shape, first..last).await?);
            calls.pool.grow(last);
            let server = Server::start(&config, false).await?;
            let sampler = server.sample_memory();
            let channel = connect(server.endpoint()).await?;
            eprintln!("reads, {last} subscriptions");
            let rows = reads::measure(
                &server,
                &channel,
                &self.h2load(),
                &self.seed,
                first,
                &self.dir,
            )
            .await?;
            report.reads.push((last, rows));
            eprintln!("latency, {last} subscriptions");
            let latency = self.latency(&server, &calls, first..last).await?;
            report.latency.push((last, latency));
            report
                .memory
                .push(stop(server, sampler, format!("{last} subscriptions")).await?);
        }
        Ok(report)
    }

    /// `CheckProtection` of devices spread over seeded `subscriptions`, then
    /// `ActivateSeat` of new devices, at the latency concurrency.
    async fn latency(
        &self,
        server: &Server,
        calls: &Arc<Calls>,
        subscriptions: Range<u64>,
    ) -> Result<Vec<(&'static str, Measured)>> {
        let concurrency = self.options.latency_concurrency;
        let channels = channels(server, self.options.channels.min(concurrency)).await?;
        let load = self.load(concurrency);
        let c = Arc::clone(calls);
        let check = driver::drive(&channels, load, move |channel, n| {
            let (c, subscriptions) = (Arc::clone(&c), subscriptions.clone());
            async move { c.check_protection(channel, n, &subscriptions).await }
        })
        .await;
        let activate = activate(&channels, load, calls).await;
        Ok(vec![("CheckProtection", check), ("ActivateSeat", activate)])
    }

    /// The three writes at the write concurrency: `CreateSubscription` first, so that
    /// its subscriptions' seats are there for `ActivateSeat`.
    async fn writes(
        &self,
        server: &Server,
        calls: &Arc<Calls>,
        accounts: Range<u64>,
    ) -> Result<Vec<(&'static str, Measured)>> {
        let channels = channels(server, self.options.channels).await?;
        let load = self.load(self.options.concurrency);
        let c = Arc::clone(calls);
        let create = driver::drive(&channels, load, move |channel, n| {
            let (c, accounts) = (Arc::clone(&c), accounts.clone());
            async move { c.create_subscription(channel, n, &accounts).await }
        })
        .await;
        let activate = activate(&channels, load, calls).await;
        let c = Arc::clone(calls);
        let provision = driver::drive(&channels, load, move |channel, _| {
            let c = Arc::clone(&c);
            async move { c.provision_subscription(channel).await }
        })
        .await;
        Ok(vec![
            ("ActivateSeat", activate),
            ("CreateSubscription", create),
            ("ProvisionSubscription", provision),
        ])
    }

    /// pgbench with `ActivateSeat`'s statements at the write concurrency, and again
    /// with as many clients as the server has connections, given targets for several
    /// times the server's rate.
    async fn pgbench(&self, calls: &Calls, server_rate: f64) -> Result<Vec<PgbenchRun>> {
        eprintln!("pgbench");
        let mut clients = vec![self.options.concurrency, SERVER_POOL];
        clients.dedup();
        let seconds = (self.options.duration() + Duration::from_secs(2)).as_secs_f64();
        let wanted = (server_rate.max(1000.0) * 10.0 * seconds) as u64 * clients.len() as u64;
        let seed = self.seed;
        let targets = pgbench::prepare(
            &self.url,
            &calls.pool,
            wanted,
            |i| seed.subscription_id(i),
            |i| seed.account_id(i),
            |i| seed.session_token(i),
        )
        .await?;
        let script = pgbench::script(&pgbench::sample_payload(&self.url).await?);
        let script_path = self.dir.join("activate_seat.sql");
        std::fs::write(&script_path, script)?;
        let mut runs = Vec::new();
        for clients in clients {
            let (binary, url, script_path) = (
                self.options.pgbench.clone(),
                self.url.clone(),
                script_path.clone(),
            );
            let duration = self.options.duration();
            let outcome = tokio::task::spawn_blocking(move || {
                pgbench::run(&binary, &url, &script_path, clients, duration)
            })
            .await??;
            runs.push(PgbenchRun { outcome, clients });
        }
        let processed: u64 = runs.iter().map(|run| run.outcome.processed).sum();
        ensure!(
            processed < targets,
            "pgbench used all {targets} targets prepared for it; its rate is a floor"
        );
        let taken = pgbench::seats_taken(&self.url).await?;
        ensure!(
            taken == processed,
            "pgbench reported {processed} transactions but {taken} seats were taken"
        );
        Ok(runs)
    }
}

/// `ActivateSeat` of new devices, each on a free seat of the pool.
async fn activate(channels: &[Channel], load: Load, calls: &Arc<Calls>) -> Measured {
    let c = Arc::clone(calls);
    driver::drive(channels, load, move |channel, _| {
        let c = Arc::clone(&c);
        async move { c.activate_seat(channel).await }
    })
    .await
}

/// `count` connections to the server.
async fn channels(server: &Server, count: usize) -> Result<Vec<Channel>> {
    let mut channels = Vec::with_capacity(count);
    for _ in 0..count.max(1) {
        channels.push(connect(server.endpoint()).await?);
    }
    Ok(channels)
}

/// Registers a partner and creates its key through the API, as the admin.
async fn partner_key(channel: &Channel, admin_token: &str, seed: &Seed) -> Result<String> {
    let mut partners = PartnerServiceClient::new(channel.clone());
    let partner = partners
        .create_partner(with_token(
            admin_token,
            pb::CreatePartnerRequest {
                display_name: format!("Bench carrier {}", seed.tag()),
            },
        ))
        .await
        .context("creating the carrier as the admin")?
        .into_inner();
    let key = partners
        .create_partner_key(with_token(
            admin_token,
            pb::CreatePartnerKeyRequest {
                parent: partner.name,
            },
        ))
        .await
        .context("creating the carrier's key")?
        .into_inner();
    if key.api_key.is_empty() {
        bail!("CreatePartnerKey answered no key");
    }
    Ok(key.api_key)
}

/// Stops `server`, with its memory over the run.
async fn stop(server: Server, sampler: MemorySampler, label: String) -> Result<MemoryRow> {
    let peak_rss_kib = sampler.peak();
    let memory = server.memory()?;
    server.stop().await?;
    Ok(MemoryRow {
        server: label,
        peak_rss_kib,
        hwm_kib: memory.hwm_kib,
    })
}
