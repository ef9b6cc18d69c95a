//! Configuration: flags with environment-variable fallbacks and defaults that run out of
//! the box. Documented in the README's configuration table.

use crate::{
    api::client_address::Cidr,
    error::{Error, Result},
    web::CorsOrigin,
};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::{net::SocketAddr, path::PathBuf};

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
    /// Look up accounts, subscriptions and partners for customer support (read-only).
    Support(SupportArgs),
    /// Copy the SQLite database into a new file, while the server runs (`VACUUM INTO`).
    /// For PostgreSQL use pg_dump (see the README).
    Backup {
        /// The file to write; it must not exist yet.
        #[arg(long)]
        to: PathBuf,
    },
    /// Ask a running server whether it serves (grpc.health.v1): exits 0 when it does,
    /// 1 otherwise. For container and orchestrator health checks.
    Health {
        /// The server to ask; by default this machine's `--listen` port.
        #[arg(long)]
        endpoint: Option<String>,
        /// The service to ask about; by default the server as a whole.
        #[arg(long, default_value = "")]
        service: String,
        /// How long to wait for the answer.
        #[arg(long, default_value_t = 5)]
        timeout_seconds: u64,
    },
}

/// `tessera support …`
#[derive(Debug, Args)]
pub struct SupportArgs {
    /// Print JSON (one document) instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to look up.
    #[command(subcommand)]
    pub command: SupportCommand,
}

/// What `tessera support` looks up.
#[derive(Debug, Subcommand)]
pub enum SupportCommand {
    /// The account signed up with an e-mail address.
    FindAccount {
        /// The e-mail address.
        email: String,
    },
    /// An account with its subscriptions and their devices.
    Account {
        /// `accounts/{id}` or the account's e-mail address.
        account: String,
    },
    /// A subscription with its devices and everything that happened to it.
    Subscription {
        /// `subscriptions/{id}`.
        subscription: String,
    },
    /// Every partner with its API keys (their prefixes; the keys themselves are never kept).
    Partners,
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
    /// Manage the client certificates a partner may authenticate with (mutual TLS).
    #[command(subcommand)]
    Cert(PartnerCertCommand),
}

/// `tessera partner cert …`
#[derive(Debug, Subcommand)]
pub enum PartnerCertCommand {
    /// Bind a client certificate to a partner; prints the key it is kept as (revoke it
    /// with `tessera partner key revoke`) and its SHA-256 fingerprint.
    Add {
        /// The partner: its display name or `partners/{id}`.
        partner: String,
        /// The certificate, PEM or DER, issued by a CA of `--tls-client-ca`.
        certificate: std::path::PathBuf,
    },
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
    /// Token that grants admin access; admin calls are refused when unset. Prefer
    /// `--admin-token-file`: a flag's value shows in `ps`.
    #[arg(
        long,
        env = "TESSERA_ADMIN_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub admin_token: Option<String>,
    /// File holding the admin token (surrounding whitespace ignored), instead of
    /// `--admin-token`.
    #[arg(long, env = "TESSERA_ADMIN_TOKEN_FILE", global = true)]
    pub admin_token_file: Option<PathBuf>,
    /// Address of the Prometheus endpoint (`GET /metrics`, plain HTTP); no endpoint when
    /// unset. Keep it inside the cluster: it is not authenticated.
    #[arg(long, env = "TESSERA_METRICS_LISTEN", global = true)]
    pub metrics_listen: Option<SocketAddr>,
    /// OTLP/gRPC collector every RPC's span is exported to (`http://host:4317`); no export
    /// when unset. The other standard `OTEL_*` variables apply (`OTEL_SERVICE_NAME`,
    /// `OTEL_TRACES_SAMPLER`, `OTEL_EXPORTER_OTLP_HEADERS`, …).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", global = true)]
    pub otlp_endpoint: Option<String>,
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
    /// key is created and kept in the database (set one from the first start in
    /// production, so that a copy of the database alone cannot test guesses). The
    /// database keeps the key's fingerprint and refuses another key. Prefer
    /// `--secret-key-file`: a flag's value shows in `ps`.
    #[arg(
        long,
        env = "TESSERA_SECRET_KEY",
        hide_env_values = true,
        global = true
    )]
    pub secret_key: Option<String>,
    /// File holding the secret key (surrounding whitespace ignored), instead of
    /// `--secret-key`.
    #[arg(long, env = "TESSERA_SECRET_KEY_FILE", global = true)]
    pub secret_key_file: Option<PathBuf>,
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
    /// Rows of each kind (subscriptions, seats, device tokens, sessions, …) the read model
    /// keeps in memory at most; the least used go first. Bounds the server's memory: with
    /// a million subscriptions under check-in load the default keeps the server near
    /// 200 MB. A larger model answers more check-ins from memory. At least 1.
    #[arg(
        long,
        env = "TESSERA_READ_MODEL_CAPACITY",
        default_value_t = 100_000,
        value_parser = clap::value_parser!(u64).range(1..),
        global = true
    )]
    pub read_model_capacity: u64,
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
    /// PEM certificate chain (leaf first) to serve TLS with; plain-text HTTP/2 while
    /// unset. Re-read when the file changes: new connections get the new certificate.
    #[arg(long, env = "TESSERA_TLS_CERT", requires = "tls_key", global = true)]
    pub tls_cert: Option<std::path::PathBuf>,
    /// PEM private key of `--tls-cert` (PKCS#8, PKCS#1 or SEC1); re-read with it.
    #[arg(long, env = "TESSERA_TLS_KEY", requires = "tls_cert", global = true)]
    pub tls_key: Option<std::path::PathBuf>,
    /// PEM certificate authorities for partners' client certificates (mutual TLS). A
    /// client certificate must chain to one of them; a certificate bound to a partner
    /// (`tessera partner cert add`) authenticates as that partner. Clients without a
    /// certificate are served as before.
    #[arg(
        long,
        env = "TESSERA_TLS_CLIENT_CA",
        requires = "tls_cert",
        global = true
    )]
    pub tls_client_ca: Option<std::path::PathBuf>,
    /// Seconds a new connection has to finish its TLS handshake and send the HTTP/2
    /// preface before it is closed.
    #[arg(
        long,
        env = "TESSERA_HANDSHAKE_TIMEOUT_SECONDS",
        default_value_t = 10,
        value_parser = clap::value_parser!(u32).range(1..),
        global = true
    )]
    pub handshake_timeout_seconds: u32,
    /// Seconds a connection with no call in flight stays open before it is closed with a
    /// GOAWAY (clients reconnect on their next call); 0 keeps idle connections open.
    #[arg(
        long,
        env = "TESSERA_IDLE_TIMEOUT_SECONDS",
        default_value_t = 300,
        global = true
    )]
    pub idle_timeout_seconds: u32,
    /// Seconds between HTTP/2 pings on a quiet connection, to find peers that vanished
    /// without closing it (a crashed client, a NAT that forgot the flow); 0 sends none.
    #[arg(
        long,
        env = "TESSERA_KEEPALIVE_INTERVAL_SECONDS",
        default_value_t = 60,
        global = true
    )]
    pub keepalive_interval_seconds: u32,
    /// Seconds a keepalive ping may go unanswered before the connection is closed.
    #[arg(
        long,
        env = "TESSERA_KEEPALIVE_TIMEOUT_SECONDS",
        default_value_t = 20,
        value_parser = clap::value_parser!(u32).range(1..),
        global = true
    )]
    pub keepalive_timeout_seconds: u32,
    /// Calls one connection may have open at once (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS);
    /// more are refused with REFUSED_STREAM, which clients retry.
    #[arg(
        long,
        env = "TESSERA_MAX_CONCURRENT_STREAMS",
        default_value_t = 100,
        value_parser = clap::value_parser!(u32).range(1..),
        global = true
    )]
    pub max_concurrent_streams: u32,
    /// `WatchEvents` streams one caller (the admin token, or one partner) may hold open at
    /// once; the next is refused with RESOURCE_EXHAUSTED (WATCH_STREAM_LIMIT_REACHED).
    #[arg(
        long,
        env = "TESSERA_MAX_WATCH_STREAMS_PER_CALLER",
        default_value_t = 32,
        value_parser = clap::value_parser!(u32).range(1..),
        global = true
    )]
    pub max_watch_streams_per_caller: u32,
    /// A web origin (`https://shop.example.com`) whose pages may call the API with
    /// gRPC-Web; repeat the flag or separate origins with commas. None by default: the
    /// account page that Tessera serves itself is on its own origin and needs none.
    #[arg(
        long = "cors-origin",
        env = "TESSERA_CORS_ORIGINS",
        value_delimiter = ',',
        global = true
    )]
    pub cors_origins: Vec<CorsOrigin>,
    /// A TOML catalog file: the plans sold and the store products that grant them (the
    /// catalog built into the binary, `catalog/default.toml`, when unset). Checked at
    /// start-up; a mistake stops the server with its line.
    #[arg(long, env = "TESSERA_CATALOG", global = true)]
    pub catalog: Option<std::path::PathBuf>,
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
    /// The admin token, from `--admin-token` or the file `--admin-token-file` names.
    /// Errors: `Internal` when both are set, or the file cannot be read or is empty.
    pub fn load_admin_token(&self) -> Result<Option<String>> {
        secret(
            "admin token",
            ("--admin-token", "TESSERA_ADMIN_TOKEN"),
            self.admin_token.as_deref(),
            ("--admin-token-file", "TESSERA_ADMIN_TOKEN_FILE"),
            self.admin_token_file.as_deref(),
        )
    }

    /// The secret key, from `--secret-key` or the file `--secret-key-file` names.
    /// Errors: `Internal` when both are set, or the file cannot be read or is empty.
    pub fn load_secret_key(&self) -> Result<Option<Vec<u8>>> {
        Ok(secret(
            "secret key",
            ("--secret-key", "TESSERA_SECRET_KEY"),
            self.secret_key.as_deref(),
            ("--secret-key-file", "TESSERA_SECRET_KEY_FILE"),
            self.secret_key_file.as_deref(),
        )?
        .map(String::into_bytes))
    }

    /// The listener's limits and timeouts.
    pub fn transport(&self) -> crate::transport::TransportSettings {
        use std::time::Duration;
        let seconds = |n: u32| (n > 0).then(|| Duration::from_secs(u64::from(n)));
        crate::transport::TransportSettings {
            handshake_timeout: Duration::from_secs(u64::from(self.handshake_timeout_seconds)),
            idle_timeout: seconds(self.idle_timeout_seconds),
            keepalive_interval: seconds(self.keepalive_interval_seconds),
            keepalive_timeout: Duration::from_secs(u64::from(self.keepalive_timeout_seconds)),
            max_concurrent_streams: self.max_concurrent_streams,
        }
    }

    /// The TLS files, when TLS is on.
    pub fn tls_files(&self) -> Option<crate::transport::tls::TlsFiles> {
        Some(crate::transport::tls::TlsFiles {
            certificate: self.tls_cert.clone()?,
            key: self.tls_key.clone()?,
            client_ca: self.tls_client_ca.clone(),
        })
    }

    /// Settings for `database_url` with every other value at its default.
    pub fn for_database(database_url: impl Into<String>) -> Self {
        let mut settings = Cli::parse_from(["tessera"]).settings;
        settings.database_url = database_url.into();
        settings
    }
}

/// A secret given either as a value (`flag`) or as a file (`file_flag`), not both. An
/// empty value counts as unset; a file's surrounding whitespace (its final newline) is
/// not part of the secret, and an empty file is refused.
fn secret(
    what: &str,
    (flag, variable): (&str, &str),
    value: Option<&str>,
    (file_flag, file_variable): (&str, &str),
    file: Option<&std::path::Path>,
) -> Result<Option<String>> {
    let value = value.filter(|value| !value.is_empty());
    match (value, file) {
        (Some(_), Some(_)) => Err(Error::Internal(format!(
            "the {what} is given twice, by {flag} (or {variable}) and by {file_flag} (or \
             {file_variable}): keep only {file_flag}"
        ))),
        (Some(value), None) => Ok(Some(value.to_owned())),
        (None, None) => Ok(None),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::Internal(format!(
                    "cannot read the {what} file {} ({file_flag} or {file_variable}): {e}; \
                     check the path and that this user may read it",
                    path.display()
                ))
            })?;
            let text = text.trim();
            if text.is_empty() {
                return Err(Error::Internal(format!(
                    "the {what} file {} ({file_flag} or {file_variable}) is empty",
                    path.display()
                )));
            }
            warn_if_others_may_read(what, path);
            Ok(Some(text.to_owned()))
        }
    }
}

/// Logs a warning when a secret's file may be read by users other than its owner.
fn warn_if_others_may_read(what: &str, path: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(metadata) = std::fs::metadata(path)
            && metadata.permissions().mode() & 0o007 != 0
        {
            tracing::warn!(
                file = %path.display(),
                "every user of this machine may read the {what} file: chmod o-rwx it"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = (what, path);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(contents: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("tessera-secret-{}", uuid::Uuid::new_v4()));
        std::fs::write(&path, contents).unwrap();
        path
    }

    #[test]
    fn a_secret_from_a_file_loses_its_final_newline_only() {
        let path = file("  token with inner spaces \n");
        let mut settings = Settings::for_database("sqlite::memory:");
        settings.admin_token_file = Some(path.clone());
        assert_eq!(
            settings.load_admin_token().unwrap().as_deref(),
            Some("token with inner spaces")
        );
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn a_secret_given_twice_or_from_an_empty_file_is_refused() {
        let path = file("key\n");
        let mut settings = Settings::for_database("sqlite::memory:");
        settings.secret_key = Some("key".into());
        settings.secret_key_file = Some(path.clone());
        let twice = settings.load_secret_key().unwrap_err().to_string();
        assert!(
            twice.contains("given twice") && twice.contains("--secret-key-file"),
            "{twice}"
        );

        std::fs::write(&path, "\n").unwrap();
        settings.secret_key = None;
        let empty = settings.load_secret_key().unwrap_err().to_string();
        assert!(empty.contains("is empty"), "{empty}");
        std::fs::remove_file(path).unwrap();

        settings.secret_key_file = None;
        assert_eq!(settings.load_secret_key().unwrap(), None);
        settings.secret_key = Some(String::new());
        assert_eq!(
            settings.load_secret_key().unwrap(),
            None,
            "empty counts as unset"
        );
    }
}
