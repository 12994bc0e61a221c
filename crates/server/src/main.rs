//! `identity-server`: serves the identity gRPC API (default) or runs migrations.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use identity_server::{Application, Settings, startup, telemetry};

#[derive(Debug, Parser)]
#[command(
    name = "identity-server",
    version,
    about = "Identity service: users, passwords, API keys, organizations"
)]
struct Cli {
    /// Optional TOML settings file; `IDENTITY_*` environment variables override it.
    #[arg(long, global = true, env = "IDENTITY_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve gRPC (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Bootstrap and break-glass commands, run against the database directly.
    Admin {
        #[command(subcommand)]
        command: identity_server::admin::AdminCommand,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, the error and its causes, no backtrace: start-up failures (a port in use,
            // a placeholder secret, an unreachable database) are read by operators in pod logs.
            let line = format!("{e:#}").replace(['\n', '\r'], " ");
            tracing::error!(error = %line, "identity-server failed");
            eprintln!("identity-server: {line}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load(cli.config.as_deref())?;
    let command = cli.command.unwrap_or(Command::Serve);
    if matches!(command, Command::Admin { .. }) {
        telemetry::init_stderr(&settings.log_format);
    } else {
        telemetry::init(&settings.log_format);
    }
    match command {
        Command::Serve => {
            let app = Application::build(settings).await?;
            app.run_until_stopped(startup::shutdown_signal()).await
        }
        Command::Migrate => {
            let db = startup::open_database(&settings).await?;
            identity_store::migrate(&db)
                .await
                .context("running migrations")?;
            // Closing checkpoints SQLite's write-ahead log and ends Postgres sessions cleanly.
            db.close().await.context("closing the database")?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Admin { command } => identity_server::admin::run(&settings, command).await,
    }
}
