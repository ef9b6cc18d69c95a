use anyhow::Context as _;
use clap::Parser;
use tessera::{
    Application,
    settings::{Cli, Command, LogFormat},
    store,
};
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = cli.settings;
    // Kept until the end of `main`, so that the last lines are written.
    let _log_writer = init_logging(settings.log_format);
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
/// rather than lines being dropped.
fn init_logging(format: LogFormat) -> WorkerGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .finish(std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    guard
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
