//! The `etcd-warden` binary: parse the command line, set up logging, dispatch.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use etcd_warden::cli::{Cli, LogFormat};
use tracing_subscriber::EnvFilter;

/// Logs go to standard error, in colour only on a terminal and never under `NO_COLOR`
/// (<https://no-color.org>): a log redirected to a file holds no escape sequences.
fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_env("ETCD_WARDEN_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colour);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, etcd_warden::cli::Command::Run(_)) {
        init_tracing(cli.log_format);
    }
    match etcd_warden::cli::execute(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(1)
        }
    }
}
