//! Running out of file descriptors: the server, started as its own process with a low
//! `ulimit -n`, is sent more connections than it has descriptors. It must not spin on
//! the failing `accept`, must say once what to do, and must serve again once the
//! connections close.

use crate::support::WAIT;
use crate::support::test_db::SqliteFile;
use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::net::TcpStream;

/// The `tessera` binary of this build, run as a separate process, and the lines it logs.
pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
    pub log: Arc<Mutex<Vec<String>>>,
    _database: SqliteFile,
}

impl ServerProcess {
    /// Starts `tessera serve` on a fresh SQLite file under `ulimit -n descriptors`, with
    /// extra arguments.
    pub fn start(descriptors: u32, args: &[&str]) -> Self {
        let database = SqliteFile::new("process");
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!("ulimit -n {descriptors} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_tessera"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--log-format",
                "json",
                "--admin-token",
                crate::support::ADMIN_TOKEN,
                "--lifecycle-interval-seconds",
                "0",
                "--housekeeping-interval-minutes",
                "0",
            ])
            .args(["--database-url", &database.url()])
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the server binary starts");
        let stdout = child.stdout.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (address_sender, address) = std::sync::mpsc::channel();
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if line.contains("tessera listening") {
                        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
                        let addr = value["fields"]["address"].as_str().unwrap().to_owned();
                        let _ = address_sender.send(addr);
                    }
                    log.lock().unwrap().push(line);
                }
            });
        }
        let addr = address
            .recv_timeout(WAIT)
            .expect("the server says where it listens")
            .parse()
            .unwrap();
        Self {
            child,
            addr,
            log,
            _database: database,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time (user + system) the process has used so far.
    pub fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap();
        // After the command name in parentheses: state is field 3, utime 14, stime 15.
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        let per_second = 100; // USER_HZ on Linux
        Duration::from_millis(ticks * 1000 / per_second)
    }

    /// Resident memory, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    /// Descriptors the process has open.
    pub fn open_descriptors(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .unwrap()
            .count()
    }

    /// Log lines containing `text` so far.
    pub fn logged(&self, text: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|line| line.contains(text))
            .count()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a plain health check succeeds on a fresh connection.
async fn served(addr: SocketAddr) -> bool {
    let attempt = async {
        let channel = tessera_client::connect(format!("http://{addr}"))
            .await
            .ok()?;
        tonic_health::pb::health_client::HealthClient::new(channel)
            .check(tonic_health::pb::HealthCheckRequest::default())
            .await
            .ok()
    };
    tokio::time::timeout(Duration::from_secs(2), attempt)
        .await
        .ok()
        .flatten()
        .is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_out_of_descriptors_pauses_accepting_warns_once_and_recovers() {
    const LIMIT: u32 = 64;
    // Connections that never speak stay open for the whole test.
    let server = ServerProcess::start(LIMIT, &["--handshake-timeout-seconds", "600"]);
    assert!(
        served(server.addr).await,
        "the server serves before the flood"
    );
    let spare = LIMIT as usize - server.open_descriptors();

    // More connections than the server has descriptors left; the kernel's backlog holds
    // the ones it cannot take.
    let mut flood = Vec::new();
    for _ in 0..spare + 40 {
        flood.push(TcpStream::connect(server.addr).await.unwrap());
    }
    tokio::time::timeout(WAIT, async {
        while server.logged("file descriptors exhausted") == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the server warns that descriptors ran out");

    // While exhausted, the process waits instead of retrying `accept` in a loop (which
    // took a whole core: 9.8 CPU-seconds in 10 s).
    let before = server.cpu_time();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let used = server.cpu_time() - before;
    assert!(
        used < Duration::from_millis(600),
        "{used:?} of CPU in 3 s with descriptors exhausted"
    );
    assert_eq!(
        server.logged("file descriptors exhausted"),
        1,
        "one warning per episode"
    );

    // Once the connections close, new clients are served again.
    drop(flood);
    let recovered = tokio::time::timeout(WAIT, async {
        while !served(server.addr).await {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(
        recovered.is_ok(),
        "no client was served after the flood ended"
    );
    assert!(server.logged("accepting connections again") >= 1);
}
