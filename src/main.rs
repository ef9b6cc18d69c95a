use anyhow::Context as _;
use clap::Parser;
use tessera::{
    Application,
    observe::telemetry::{self, Telemetry, TelemetryConfig},
    settings::{Cli, Command, Settings},
    store,
};
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = cli.settings;
    // Kept until the end of `main`, so that the last lines and spans are written.
    let _telemetry = init_telemetry(&settings)?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = Application::build(&settings)
                .await
                .context("starting the server")?;
            tracing::info!(address = %app.local_addr(), "tessera listening");
            app.run_until_stopped(shutdown_signal()).await?;
            tracing::info!("tessera stopped");
        }
        Command::Partner(command) => {
            tessera::cli::partner(&settings, command, &mut std::io::stdout()).await?;
        }
        Command::Keys(command) => tessera::cli::keys(&settings, command).await?,
        Command::Migrate => {
            let store = store::connect(&settings.database_url).await?;
            store.migrate().await?;
            store.close().await;
            tracing::info!("migrations applied");
        }
    }
    Ok(())
}

/// Logs to standard output through a writer thread: every call is logged, and writing
/// each line to the pipe from the request's own thread (taking stdout's lock) cost a
/// large share of a cheap call. Not lossy: when the thread falls behind, callers wait
/// rather than lines being dropped. Spans go to the OTLP collector when one is set.
fn init_telemetry(settings: &Settings) -> anyhow::Result<(Telemetry, WorkerGuard)> {
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .finish(std::io::stdout());
    let config = TelemetryConfig {
        log_format: settings.log_format,
        ansi: std::io::IsTerminal::is_terminal(&std::io::stdout()),
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
