use anyhow::Context as _;
use clap::Parser;
use std::process::ExitCode;
use tessera::{
    Application, cli,
    observe::telemetry::{self, Telemetry, TelemetryConfig},
    settings::{Cli, Command, Settings},
    store,
};
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};

/// Runs the command; on failure prints the error with its causes on one line (what went
/// wrong and what to do), without a backtrace, and exits with status 1.
fn main() -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(Cli::parse())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = cli.settings;
    let command = cli.command.unwrap_or(Command::Serve);
    // Kept until the end of `main`, so that the last lines and spans are written.
    let _telemetry = init_telemetry(
        &settings,
        matches!(command, Command::Serve | Command::Migrate),
    )?;
    let mut out = std::io::stdout();
    match command {
        Command::Serve => {
            let app = Application::build(&settings)
                .await
                .context("the server could not start")?;
            tracing::info!(address = %app.local_addr(), "tessera listening");
            app.run_until_stopped(shutdown_signal()).await?;
            tracing::info!("tessera stopped");
        }
        Command::Partner(command) => cli::partner(&settings, command, &mut out).await?,
        Command::Keys(command) => cli::keys(&settings, command, &mut out).await?,
        Command::Support(args) => cli::support(&settings, args, &mut out).await?,
        Command::Backup { to } => cli::backup(&settings, &to, &mut out).await?,
        Command::Health {
            endpoint,
            service,
            timeout_seconds,
        } => {
            let timeout = std::time::Duration::from_secs(timeout_seconds);
            cli::health(&settings, endpoint, service, timeout, &mut out).await?;
        }
        Command::Migrate => {
            let store = store::connect(&settings.database_url).await?;
            store.migrate().await?;
            store.close().await;
            tracing::info!("migrations applied");
        }
    }
    Ok(())
}

/// The server logs to standard output through a writer thread: every call is logged,
/// and writing each line to the pipe from the request's own thread (taking stdout's
/// lock) cost a large share of a cheap call. Not lossy: when the thread falls behind,
/// callers wait rather than lines being dropped. The other commands print their answer
/// on standard output (CSV, JSON), so they log warnings and errors only, to standard
/// error. Spans go to the OTLP collector when one is set.
fn init_telemetry(settings: &Settings, serving: bool) -> anyhow::Result<(Telemetry, WorkerGuard)> {
    let (writer, guard, ansi) = if serving {
        let (writer, guard) = NonBlockingBuilder::default()
            .lossy(false)
            .finish(std::io::stdout());
        (
            writer,
            guard,
            std::io::IsTerminal::is_terminal(&std::io::stdout()),
        )
    } else {
        let (writer, guard) = NonBlockingBuilder::default()
            .lossy(false)
            .finish(std::io::stderr());
        (
            writer,
            guard,
            std::io::IsTerminal::is_terminal(&std::io::stderr()),
        )
    };
    let config = TelemetryConfig {
        log_format: settings.log_format,
        ansi,
        default_filter: if serving { "info" } else { "warn" },
        otlp_endpoint: settings.otlp_endpoint.clone(),
    };
    let telemetry = telemetry::init(&config, writer).context("starting logs and traces")?;
    // Dropped in this order: the spans are exported before the log writer stops.
    Ok((telemetry, guard))
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing calls in flight");
}
