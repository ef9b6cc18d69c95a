//! Password hashing is bounded: bursts of 100 concurrent sign-ins run on the fixed pool
//! of hashing threads, so the server's threads and resident memory stay near where they
//! were, during the burst and after it. Measured from `/proc/self/status` of this
//! process — server and client — which is why this is a test binary of its own: no other
//! test runs beside it. Linux only; elsewhere it does nothing.

use chrono::Utc;
use futures::future::join_all;
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};
use tessera::{Application, Settings, domain::clock::ManualClock};
use tessera_client::pb::{self, account_service_client::AccountServiceClient};

const PASSWORD: &str = "a good long password";
const BURST: usize = 100;
const MIB: u64 = 1024 * 1024;

/// `VmRSS` (bytes) and `Threads` of this process, or `None` off Linux.
fn usage() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    Some((field("VmRSS:")? * 1024, field("Threads:")?))
}

/// Samples [`usage`] every 5 ms until told to stop: the highest values seen.
fn sample_peaks(stop: Arc<AtomicBool>) -> std::thread::JoinHandle<(u64, u64)> {
    std::thread::spawn(move || {
        let mut peak = (0, 0);
        while !stop.load(Ordering::Relaxed) {
            if let Some((rss, threads)) = usage() {
                peak = (peak.0.max(rss), peak.1.max(threads));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        peak
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_100_concurrent_sign_ins_leaves_threads_and_memory_where_they_were() {
    let Some(start) = usage() else {
        eprintln!("no /proc/self/status here: nothing measured");
        return;
    };
    let file = std::env::temp_dir().join(format!("tessera-memory-{}.db", uuid::Uuid::new_v4()));
    let mut settings = Settings::for_database(format!("sqlite:{}", file.display()));
    settings.listen = "127.0.0.1:0".parse().unwrap();
    settings.lifecycle_interval_seconds = 0;
    settings.housekeeping_interval_minutes = 0;
    // Every call waits its turn; no throttle trips: only the hashing is measured.
    settings.password_hash_queue_ms = 600_000;
    settings.sign_in_account_limit = 1_000_000;
    settings.sign_in_address_limit = 1_000_000;
    let app = Application::build_with_clock(&settings, Arc::new(ManualClock::new(Utc::now())))
        .await
        .expect("the server starts");
    let workers = app.services().passwords.workers();
    let endpoint = format!("http://{}", app.local_addr());
    let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    let channel = tessera_client::connect(endpoint).await.unwrap();
    let accounts = AccountServiceClient::new(channel);
    let email = "burst@example.com";
    accounts
        .clone()
        .create_account(pb::CreateAccountRequest {
            email: email.to_owned(),
            password: PASSWORD.to_owned(),
            display_name: String::new(),
        })
        .await
        .unwrap();
    let burst = |password: &'static str| {
        let calls = (0..BURST).map(|_| {
            let mut accounts = accounts.clone();
            async move {
                accounts
                    .sign_in(pb::SignInRequest {
                        email: email.to_owned(),
                        password: password.to_owned(),
                    })
                    .await
            }
        });
        join_all(calls)
    };
    // Warm up: every hashing thread has hashed once and holds its memory.
    let warm_up = (0..workers * 2).map(|_| {
        let mut accounts = accounts.clone();
        async move {
            accounts
                .sign_in(pb::SignInRequest {
                    email: email.to_owned(),
                    password: PASSWORD.to_owned(),
                })
                .await
                .unwrap()
        }
    });
    join_all(warm_up).await;
    let before = usage().unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample_peaks(stop.clone());
    let right = burst(PASSWORD).await;
    let after_first = usage().unwrap();
    let wrong = burst("not the password").await;
    let third = burst(PASSWORD).await;
    stop.store(true, Ordering::Relaxed);
    let peak = sampler.join().unwrap();
    let after = usage().unwrap();

    assert!(right.iter().chain(&third).all(Result::is_ok));
    assert!(wrong.iter().all(|outcome| {
        outcome
            .as_ref()
            .is_err_and(|status| status.code() == tessera_client::tonic::Code::Unauthenticated)
    }));
    let mib = |bytes: u64| bytes as f64 / MIB as f64;
    eprintln!(
        "hashing workers {workers}; RSS MiB: start {:.1}, before {:.1}, peak {:.1}, after the \
         first burst {:.1}, after three bursts {:.1}; threads: start {}, before {}, peak {}, \
         after {}",
        mib(start.0),
        mib(before.0),
        mib(peak.0),
        mib(after_first.0),
        mib(after.0),
        start.1,
        before.1,
        peak.1,
        after.1,
    );
    // Before this pool: one blocking thread and ~19 MiB per concurrent hash, kept. Some
    // threads may come and go here (the SQLite pool opens a connection, each with its
    // thread, under load), but not one per call.
    assert!(
        peak.1 <= before.1 + 16,
        "threads went from {} to {} during the bursts",
        before.1,
        peak.1
    );
    assert!(
        peak.0 < before.0 + 100 * MIB,
        "resident memory went from {:.1} to {:.1} MiB during the bursts",
        mib(before.0),
        mib(peak.0)
    );
    assert!(
        after.0 < before.0 + 40 * MIB,
        "resident memory stayed at {:.1} MiB after the bursts, from {:.1}",
        mib(after.0),
        mib(before.0)
    );
    let _ = shutdown.send(());
    server.await.unwrap().unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
}
