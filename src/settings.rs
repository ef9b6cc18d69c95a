//! Configuration: flags with environment-variable fallbacks and defaults that run out of
//! the box. Documented in the README's configuration table.

use crate::api::client_address::Cidr;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;

/// The `tessera` command line.
#[derive(Debug, Parser)]
#[command(
    name = "tessera",
    version,
    about = "gRPC activation backend for subscription software"
)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Server settings.
    #[command(flatten)]
    pub settings: Settings,
}

/// Sub-commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gRPC server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage partners (carriers and resellers) and their API keys.
    #[command(subcommand)]
    Partner(PartnerCommand),
    /// Manage retail product keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

/// `tessera partner …`
#[derive(Debug, Subcommand)]
pub enum PartnerCommand {
    /// Register a partner; prints its resource name.
    Create {
        /// Unique display name, for example `Telekom`.
        name: String,
    },
    /// Manage a partner's API keys.
    #[command(subcommand)]
    Key(PartnerKeyCommand),
}

/// `tessera partner key …`
#[derive(Debug, Subcommand)]
pub enum PartnerKeyCommand {
    /// Create an API key; prints it once.
    Create {
        /// The partner: its display name or `partners/{id}`.
        partner: String,
    },
    /// Revoke an API key.
    Revoke {
        /// The key: `partners/{partner_id}/keys/{key_id}`.
        key: String,
    },
}

/// `tessera keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Issue a batch of product keys and write them as CSV for the card printer.
    Issue {
        /// The plan the keys sell, for example `deluxe-3`.
        #[arg(long)]
        plan: String,
        /// How many keys.
        #[arg(long)]
        count: u32,
        /// What the keys do.
        #[arg(long, value_enum, default_value = "new")]
        kind: KeyKindArg,
        /// Label of the print run.
        #[arg(long)]
        batch: String,
        /// CSV file to write (`-` for standard output).
        #[arg(long, default_value = "-")]
        out: String,
    },
}

/// Product key kinds on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyKindArg {
    /// Creates a subscription.
    New,
    /// Extends a subscription.
    Renewal,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Server settings.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address to listen on.
    #[arg(
        long,
        env = "TESSERA_LISTEN",
        default_value = "127.0.0.1:50051",
        global = true
    )]
    pub listen: SocketAddr,
    /// `sqlite:<path>` (created if missing) or `postgres://…`.
    #[arg(
        long,
        env = "TESSERA_DATABASE_URL",
        default_value = "sqlite:tessera.db",
        global = true
    )]
    pub database_url: String,
    /// Token that grants admin access; admin calls are refused when unset.
    #[arg(
        long,
        env = "TESSERA_ADMIN_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub admin_token: Option<String>,
    /// Log format.
    #[arg(
        long,
        env = "TESSERA_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,
    /// How long a sign-in session lasts, in hours.
    #[arg(
        long,
        env = "TESSERA_SESSION_TTL_HOURS",
        default_value_t = 720,
        global = true
    )]
    pub session_ttl_hours: u32,
    /// Key for the keyed hashes of partner codes and product keys. When unset, a random
    /// key is created and kept in the database (set it in production, so that a copy of
    /// the database alone cannot test guesses).
    #[arg(
        long,
        env = "TESSERA_SECRET_KEY",
        hide_env_values = true,
        global = true
    )]
    pub secret_key: Option<String>,
    /// How long a partner code works, in days.
    #[arg(
        long,
        env = "TESSERA_PARTNER_CODE_TTL_DAYS",
        default_value_t = 90,
        global = true
    )]
    pub partner_code_ttl_days: u32,
    /// Failed sign-ins to one account (by e-mail) let through before each further one
    /// waits (a delay doubling from one second); forgotten at this many per window.
    #[arg(
        long,
        env = "TESSERA_SIGN_IN_ACCOUNT_LIMIT",
        default_value_t = 3,
        global = true
    )]
    pub sign_in_account_limit: u32,
    /// Failed sign-ins from one network address let through before each further one
    /// waits; forgotten at this many per window.
    #[arg(
        long,
        env = "TESSERA_SIGN_IN_ADDRESS_LIMIT",
        default_value_t = 100,
        global = true
    )]
    pub sign_in_address_limit: u32,
    /// Sign-ups from one network address let through before each further one waits;
    /// forgotten at this many per window.
    #[arg(
        long,
        env = "TESSERA_SIGN_UP_ADDRESS_LIMIT",
        default_value_t = 20,
        global = true
    )]
    pub sign_up_address_limit: u32,
    /// Failed redemptions by one account let through before each further one waits;
    /// forgotten at this many per window.
    #[arg(
        long,
        env = "TESSERA_REDEEM_ACCOUNT_LIMIT",
        default_value_t = 10,
        global = true
    )]
    pub redeem_account_limit: u32,
    /// Failed redemptions from one network address let through before further ones from
    /// accounts that have failed themselves wait; forgotten at this many per window.
    #[arg(
        long,
        env = "TESSERA_REDEEM_ADDRESS_LIMIT",
        default_value_t = 100,
        global = true
    )]
    pub redeem_address_limit: u32,
    /// The window of the throttles' limits, in minutes: each limit is forgotten at its
    /// number of attempts per window.
    #[arg(
        long,
        env = "TESSERA_THROTTLE_WINDOW_MINUTES",
        default_value_t = 60,
        value_parser = clap::value_parser!(u32).range(1..),
        global = true
    )]
    pub throttle_window_minutes: u32,
    /// The longest a throttle makes anyone wait, in minutes: what a guesser can make the
    /// real user wait, at most.
    #[arg(
        long,
        env = "TESSERA_THROTTLE_MAX_DELAY_MINUTES",
        default_value_t = 20,
        value_parser = clap::value_parser!(u32).range(1..),
        global = true
    )]
    pub throttle_max_delay_minutes: u32,
    /// Proxies and load balancers in front of the server, as addresses or CIDR blocks
    /// (`10.0.0.0/8,2001:db8::/32`): a call from one of them is counted against the
    /// client address its `forwarded` or `x-forwarded-for` header names. Without it the
    /// throttles count the connection's peer address, and those headers are ignored.
    #[arg(
        long,
        env = "TESSERA_TRUSTED_PROXIES",
        value_delimiter = ',',
        global = true
    )]
    pub trusted_proxies: Vec<Cidr>,
    /// Threads that hash passwords (sign-up, sign-in); 0 for one per core.
    #[arg(
        long,
        env = "TESSERA_PASSWORD_HASH_WORKERS",
        default_value_t = 0,
        global = true
    )]
    pub password_hash_workers: u32,
    /// Milliseconds a sign-in or sign-up may wait for a hashing thread before it is
    /// refused (UNAVAILABLE, with a retry delay).
    #[arg(
        long,
        env = "TESSERA_PASSWORD_HASH_QUEUE_MS",
        default_value_t = 2000,
        global = true
    )]
    pub password_hash_queue_ms: u32,
    /// How long request ids and their responses are kept, in hours (at least 72).
    #[arg(
        long,
        env = "TESSERA_IDEMPOTENCY_RETENTION_HOURS",
        default_value_t = 72,
        value_parser = clap::value_parser!(u32).range(72..),
        global = true
    )]
    pub idempotency_retention_hours: u32,
    /// Days a lapsed subscription keeps protecting devices before it expires.
    #[arg(long, env = "TESSERA_GRACE_DAYS", default_value_t = 14, global = true)]
    pub grace_days: u32,
    /// Days before the end of the term from which devices are warned.
    #[arg(
        long,
        env = "TESSERA_EXPIRY_WARNING_DAYS",
        default_value_t = 30,
        global = true
    )]
    pub expiry_warning_days: u32,
    /// Seconds between lifecycle worker passes; 0 turns the worker off in this process.
    #[arg(
        long,
        env = "TESSERA_LIFECYCLE_INTERVAL_SECONDS",
        default_value_t = 60,
        global = true
    )]
    pub lifecycle_interval_seconds: u32,
    /// Minutes between housekeeping passes (forgetting request ids past their retention
    /// and spent failure counters); 0 turns housekeeping off in this process.
    #[arg(
        long,
        env = "TESSERA_HOUSEKEEPING_INTERVAL_MINUTES",
        default_value_t = 15,
        global = true
    )]
    pub housekeeping_interval_minutes: u32,
    /// Seconds between writes of devices' last-seen times, which check-ins keep in
    /// memory and write in one batch. A crash loses at most this window of last-seen
    /// times (telemetry, not acknowledged writes); shutdown writes them. At least 1.
    #[arg(
        long,
        env = "TESSERA_LAST_SEEN_FLUSH_SECONDS",
        default_value_t = 60,
        value_parser = clap::value_parser!(u32).range(1..),
        global = true
    )]
    pub last_seen_flush_seconds: u32,
    /// Milliseconds between a caught-up event watcher's looks for commits it was not told
    /// of. On PostgreSQL replicas tell each other of commits at once (LISTEN/NOTIFY), so
    /// this only bounds the delay when such a notice is lost.
    #[arg(
        long,
        env = "TESSERA_EVENT_POLL_INTERVAL_MS",
        default_value_t = 1000,
        value_parser = clap::value_parser!(u32).range(10..),
        global = true
    )]
    pub event_poll_interval_ms: u32,
    /// Seconds calls in flight get to finish after SIGINT/SIGTERM before the server
    /// closes them.
    #[arg(
        long,
        env = "TESSERA_SHUTDOWN_GRACE_SECONDS",
        default_value_t = 10,
        global = true
    )]
    pub shutdown_grace_seconds: u32,
    /// The iOS app's bundle id; App Store restores are refused while it is unset.
    #[arg(long, env = "TESSERA_APPLE_BUNDLE_ID", global = true)]
    pub apple_bundle_id: Option<String>,
    /// The App Store environment accepted: `Production` or `Sandbox`.
    #[arg(
        long,
        env = "TESSERA_APPLE_ENVIRONMENT",
        default_value = "Production",
        global = true
    )]
    pub apple_environment: String,
    /// A DER or PEM file with the root App Store proofs must chain to (Apple Root CA - G3
    /// when unset; tests use their own).
    #[arg(long, env = "TESSERA_APPLE_ROOT_CERTIFICATE", global = true)]
    pub apple_root_certificate: Option<std::path::PathBuf>,
    /// The Android app's package name; Play restores are refused while it or the service
    /// account is unset.
    #[arg(long, env = "TESSERA_PLAY_PACKAGE_NAME", global = true)]
    pub play_package_name: Option<String>,
    /// The Google Cloud service account's JSON key file, with access to the app.
    #[arg(long, env = "TESSERA_PLAY_SERVICE_ACCOUNT_FILE", global = true)]
    pub play_service_account_file: Option<std::path::PathBuf>,
    /// Base URL of the Google Play Developer API.
    #[arg(
        long,
        env = "TESSERA_PLAY_API_BASE_URL",
        default_value = "https://androidpublisher.googleapis.com",
        global = true
    )]
    pub play_api_base_url: String,
    /// Token endpoint for the service account, instead of the one in its key file.
    #[arg(long, env = "TESSERA_PLAY_TOKEN_URI", global = true)]
    pub play_token_uri: Option<String>,
    /// Accept Google Play license testers' purchases, which are never charged: for a
    /// server that testers use, never for production.
    #[arg(long, env = "TESSERA_PLAY_ACCEPT_TEST_PURCHASES", global = true)]
    pub play_accept_test_purchases: bool,
    /// UNSAFE, for benchmarks only: SQLite commits without waiting for the disk
    /// (`synchronous=OFF`), so a power failure or an operating-system crash can lose
    /// acknowledged writes or corrupt the database. `tessera-bench` sets it to measure
    /// what durable writes cost; the server warns at start-up while it is on. Hidden
    /// from `--help`, refused on PostgreSQL.
    #[arg(
        long,
        env = "TESSERA_UNSAFE_SQLITE_SYNCHRONOUS_OFF",
        hide = true,
        global = true
    )]
    pub unsafe_sqlite_synchronous_off: bool,
}

impl Settings {
    /// Settings for `database_url` with every other value at its default.
    pub fn for_database(database_url: impl Into<String>) -> Self {
        let mut settings = Cli::parse_from(["tessera"]).settings;
        settings.database_url = database_url.into();
        settings
    }
}
