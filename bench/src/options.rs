//! The command line.

use clap::Parser;
use std::{path::PathBuf, time::Duration};

/// The release server's path in this workspace.
const RELEASE_SERVER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/tessera");

/// Wire benchmark of the release `tessera serve` binary: seeds a fresh database with a
/// bulk loader, loads reads with h2load and writes with a multi-connection driver, and
/// states each figure as a ratio (to the empty RPC, to the same writes without fsync,
/// to pgbench). Build the server first: `cargo build --release`.
#[derive(Debug, Clone, Parser)]
#[command(name = "tessera-bench", version)]
pub struct Options {
    /// A PostgreSQL server to run on: a fresh database is created through this URL and
    /// dropped at the end. A fresh SQLite file when omitted.
    #[arg(long, value_name = "URL")]
    pub postgres: Option<String>,
    /// Subscriptions to seed (each with its account, session, seats and device tokens).
    #[arg(long, default_value_t = 10_000)]
    pub subscriptions: u64,
    /// Then seed up to this many and measure reads and latency again (e.g. 1000000).
    #[arg(long, value_name = "SUBSCRIPTIONS")]
    pub scale_to: Option<u64>,
    /// Seats taken on each seeded subscription.
    #[arg(long, default_value_t = 3)]
    pub seats: u64,
    /// The plan of the seeded subscriptions.
    #[arg(long, default_value = "premium-10")]
    pub plan: String,
    /// Seconds each measurement lasts.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Seconds of load before each measurement.
    #[arg(long, default_value_t = 1)]
    pub warm_up_seconds: u64,
    /// h2load's connections.
    #[arg(long, default_value_t = 4)]
    pub connections: u32,
    /// h2load's concurrent streams per connection.
    #[arg(long, default_value_t = 16)]
    pub streams: u32,
    /// h2load's threads.
    #[arg(long, default_value_t = 1)]
    pub h2load_threads: u32,
    /// The driver's concurrent callers for writes (and pgbench's clients).
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// The driver's HTTP/2 connections.
    #[arg(long, default_value_t = 8)]
    pub channels: usize,
    /// The driver's concurrent callers for the latency measurements: below saturation,
    /// so that latency is the work of a call rather than its wait in line.
    #[arg(long, default_value_t = 8)]
    pub latency_concurrency: usize,
    /// The server binary.
    #[arg(long, default_value = RELEASE_SERVER)]
    pub server: PathBuf,
    /// The h2load binary.
    #[arg(long, default_value = "h2load")]
    pub h2load: String,
    /// The pgbench binary.
    #[arg(long, default_value = "pgbench")]
    pub pgbench: String,
    /// Keep the run's directory (server log, request bodies, pgbench script) and database.
    #[arg(long)]
    pub keep: bool,
}

impl Options {
    /// How long each measurement lasts.
    pub fn duration(&self) -> Duration {
        Duration::from_secs(self.seconds.max(1))
    }

    /// How long the load runs before each measurement.
    pub fn warm_up(&self) -> Duration {
        Duration::from_secs(self.warm_up_seconds)
    }

    /// The load line of the report.
    pub fn describe_load(&self) -> String {
        format!(
            "h2load {} connections × {} streams ({} thread); driver {} callers on {} \
             connections, {} for latency; {} s per measurement after {} s of warm-up",
            self.connections,
            self.streams,
            self.h2load_threads,
            self.concurrency,
            self.channels,
            self.latency_concurrency,
            self.duration().as_secs(),
            self.warm_up_seconds
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent_and_defaults_to_sqlite() {
        Options::command().debug_assert();
        let options = Options::parse_from(["tessera-bench"]);
        assert_eq!(options.postgres, None);
        assert_eq!(options.subscriptions, 10_000);
        assert_eq!((options.connections, options.streams), (4, 16));
        assert_eq!(options.concurrency, 64);
        assert!(options.server.ends_with("target/release/tessera"));
    }
}
