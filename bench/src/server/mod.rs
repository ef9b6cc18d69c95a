//! The server under test: the release `tessera serve` binary, a separate process on a
//! port it picks itself (`--listen 127.0.0.1:0`), logging JSON to a pipe the benchmark
//! reads. Its address comes from its own `tessera listening` line; its per-RPC
//! `rpc done` lines are counted by method and gRPC code (see [`log`]), which is how the
//! benchmark learns that calls h2load sent answered `grpc-status: 0`; every other line
//! goes to a log file.

pub mod log;

use anyhow::{Context as _, Result, bail};
use log::RpcCounts;
use std::{
    fs::File,
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    thread,
    time::Duration,
};

/// How long the server may take to start listening (migrations included).
const START_TIMEOUT: Duration = Duration::from_secs(300);
/// How long it may take to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the memory sampler reads the server's resident set.
const MEMORY_SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// How to start the server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The `tessera` binary.
    pub binary: PathBuf,
    /// Its database.
    pub database_url: String,
    /// The admin token it accepts.
    pub admin_token: String,
    /// Where its log lines other than `rpc done` go.
    pub log_path: PathBuf,
}

/// A running server.
pub struct Server {
    child: Option<Child>,
    pid: u32,
    address: SocketAddr,
    rpcs: Arc<RpcCounts>,
    reader: Option<thread::JoinHandle<()>>,
    log_path: PathBuf,
}

/// The server's memory, from `/proc/<pid>/status`, in KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// Resident set now (`VmRSS`).
    pub rss_kib: u64,
    /// Highest resident set since it started (`VmHWM`).
    pub hwm_kib: u64,
}

impl Server {
    /// Starts the server, with SQLite's commits not waiting for the disk when
    /// `unsafe_sync_off` (the hidden benchmark-only setting), and waits until it listens.
    pub async fn start(config: &ServerConfig, unsafe_sync_off: bool) -> Result<Self> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&config.log_path)
            .with_context(|| format!("opening {}", config.log_path.display()))?;
        let mut command = Command::new(&config.binary);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
            .args(["--database-url", &config.database_url])
            .args(["--admin-token", &config.admin_token]);
        if unsafe_sync_off {
            command.arg("--unsafe-sqlite-synchronous-off");
        }
        // What the benchmark measures is the command line above and the defaults, not
        // whatever TESSERA_* the caller's shell happens to export.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("TESSERA_") {
                command.env_remove(name);
            }
        }
        let mut child = command
            // Its default level, which logs every RPC with its code: verification reads it.
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log.try_clone()?)
            .spawn()
            .with_context(|| {
                format!(
                    "starting {} (build it with `cargo build --release`)",
                    config.binary.display()
                )
            })?;
        let pid = child.id();
        let stdout = child.stdout.take().expect("stdout is piped");
        let rpcs = Arc::new(RpcCounts::default());
        let (address_sender, address) = tokio::sync::oneshot::channel();
        let reader = {
            let rpcs = Arc::clone(&rpcs);
            thread::spawn(move || log::read(stdout, log, &rpcs, address_sender))
        };
        let mut server = Self {
            child: Some(child),
            pid,
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            rpcs,
            reader: Some(reader),
            log_path: config.log_path.clone(),
        };
        match tokio::time::timeout(START_TIMEOUT, address).await {
            Ok(Ok(address)) => server.address = address,
            Ok(Err(_)) => bail!(
                "the server exited before listening; its log ({}) ends:\n{}",
                server.log_path.display(),
                log::tail(&server.log_path, 20)
            ),
            Err(_) => bail!(
                "the server did not listen within {START_TIMEOUT:?}; its log: {}",
                server.log_path.display()
            ),
        }
        Ok(server)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The address it listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Its `rpc done` lines so far, by method and code.
    pub fn rpcs(&self) -> &RpcCounts {
        &self.rpcs
    }

    /// Its memory now.
    pub fn memory(&self) -> Result<Memory> {
        read_memory(self.pid)
    }

    /// Samples its resident set until [`MemorySampler::peak`].
    pub fn sample_memory(&self) -> MemorySampler {
        let pid = self.pid;
        let peak = Arc::new(AtomicU64::new(0));
        let task = {
            let peak = Arc::clone(&peak);
            tokio::spawn(async move {
                let mut every = tokio::time::interval(MEMORY_SAMPLE_EVERY);
                loop {
                    every.tick().await;
                    if let Ok(memory) = read_memory(pid) {
                        peak.fetch_max(memory.rss_kib, Ordering::Relaxed);
                    }
                }
            })
        };
        MemorySampler { peak, task }
    }

    /// Stops it as production does (SIGTERM: calls in flight finish, the store closes),
    /// killing it if it does not stop in time.
    pub async fn stop(mut self) -> Result<()> {
        let mut child = self.child.take().expect("a running server has its process");
        signal(self.pid, libc::SIGTERM);
        let waited = tokio::time::timeout(
            STOP_TIMEOUT,
            tokio::task::spawn_blocking(move || child.wait()),
        )
        .await;
        let status = match waited {
            Ok(joined) => joined??,
            Err(_) => {
                signal(self.pid, libc::SIGKILL);
                bail!("the server did not stop within {STOP_TIMEOUT:?} of SIGTERM; killed it");
            }
        };
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        if !status.success() {
            bail!(
                "the server stopped with {status}; its log ({}) ends:\n{}",
                self.log_path.display(),
                log::tail(&self.log_path, 20)
            );
        }
        Ok(())
    }
}

impl Drop for Server {
    /// A run that fails half-way leaves no server behind.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Sends `signal` to process `pid`.
fn signal(pid: u32, signal: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) touches no memory of ours; `pid` is our child, not yet reaped
        // (its `Child` is still being waited for), so the id cannot have been reused.
        unsafe {
            libc::kill(pid, signal);
        }
    }
}

/// The peak resident set seen by a sampler.
pub struct MemorySampler {
    peak: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl MemorySampler {
    /// Stops sampling; the highest resident set seen, in KiB.
    pub fn peak(self) -> u64 {
        self.task.abort();
        self.peak.load(Ordering::Relaxed)
    }
}

fn read_memory(pid: u32) -> Result<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    parse_memory(&status).with_context(|| format!("no VmRSS/VmHWM in /proc/{pid}/status"))
}

/// `VmRSS` and `VmHWM` of a `/proc/<pid>/status` text.
fn parse_memory(status: &str) -> Option<Memory> {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse::<u64>().ok())
    };
    Some(Memory {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_read_from_proc_status() {
        let status =
            "Name:\ttessera\nVmPeak:\t  900 kB\nVmHWM:\t   61234 kB\nVmRSS:\t   60000 kB\n";
        assert_eq!(
            parse_memory(status),
            Some(Memory {
                rss_kib: 60000,
                hwm_kib: 61234
            })
        );
        assert_eq!(parse_memory("Name:\tx\n"), None);
        let own = read_memory(std::process::id()).unwrap();
        assert!(own.rss_kib > 0 && own.hwm_kib >= own.rss_kib);
    }
}
