//! The client commands: read input, call the daemon, print.

use std::io::IsTerminal;
use std::path::Path;

use super::client::{ApiClient, ClientError};
use super::{Cli, Command, Output, output};
use crate::manifest;

/// Why a command failed: one sentence for stderr; exit status 1.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The manifest is invalid.
    #[error("{0}")]
    Manifest(String),
    /// The daemon refused or could not be reached.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Output could not be produced.
    #[error("cannot print: {0}")]
    Print(String),
    /// The daemon failed.
    #[error("{0}")]
    Daemon(String),
}

/// Asks on a terminal; refuses when there is none to ask on.
fn confirm(question: &str) -> Result<(), CommandError> {
    if !std::io::stdin().is_terminal() {
        return Err(CommandError::Manifest(format!("{question}: pass --yes to confirm without a terminal")));
    }
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).map_err(|e| CommandError::Print(e.to_string()))?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(CommandError::Manifest("not confirmed; nothing was done".into()))
    }
}

/// A spinner on stderr when it is a terminal; nothing when piped.
fn spinner(message: &str) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new_spinner().with_message(message.to_owned());
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    Some(bar)
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, CommandError> {
    serde_json::to_string_pretty(value).map(|s| s + "\n").map_err(|e| CommandError::Print(e.to_string()))
}

fn documents(file: &Path) -> Result<Vec<(String, serde_json::Value)>, CommandError> {
    let loaded = manifest::load_file(file).map_err(|e| CommandError::Manifest(e.to_string()))?;
    loaded
        .iter()
        .map(|doc| {
            let value =
                serde_json::to_value(&doc.manifest).map_err(|e| CommandError::Print(e.to_string()))?;
            Ok((doc.desired.name.to_string(), value))
        })
        .collect()
}

/// Runs a command other than `run`.
///
/// # Errors
/// One sentence saying what failed.
pub async fn execute(cli: Cli) -> Result<(), CommandError> {
    let client = ApiClient::new(&cli.server, cli.token.clone());
    match cli.command {
        Command::Run(args) => {
            super::daemon::run(args, cli.token).await.map_err(|e| CommandError::Daemon(e.to_string()))
        }
        Command::Validate { file } => {
            let docs = manifest::load_file(&file).map_err(|e| CommandError::Manifest(e.to_string()))?;
            for doc in &docs {
                println!(
                    "{}: cluster {} is valid ({} member(s))",
                    file.display(),
                    doc.desired.name,
                    doc.desired.members.get()
                );
            }
            Ok(())
        }
        Command::Schema => {
            print!("{}", manifest::schema_text());
            Ok(())
        }
        Command::Apply { file, dry_run } => {
            let docs = documents(&file)?;
            // Check every document with the daemon first, so that a refusal of the
            // second document leaves the first one unapplied too.
            for (_, value) in &docs {
                client.apply(value, true).await?;
            }
            for (name, value) in &docs {
                let answer = client.apply(value, dry_run).await?;
                let what = match (dry_run, answer.changed) {
                    (true, _) => "valid (dry run, nothing stored)".to_owned(),
                    (false, true) => format!("applied (generation {})", answer.generation),
                    (false, false) => format!("unchanged (generation {})", answer.generation),
                };
                println!("cluster {name} {what}");
            }
            Ok(())
        }
        Command::Plan { name, file, output: format } => {
            let plan = match (name, file) {
                (_, Some(file)) => {
                    let docs = documents(&file)?;
                    let mut plans = Vec::new();
                    for (_, value) in &docs {
                        plans.push(client.plan_manifest(value).await?);
                    }
                    plans.into_iter().next().unwrap_or_default()
                }
                (Some(name), None) => client.plan(&name).await?,
                (None, None) => {
                    return Err(CommandError::Manifest("give a cluster name or -f FILE".to_owned()));
                }
            };
            match format {
                Output::Json => print!("{}", json(&plan)?),
                Output::Table => print!("{}", output::plan(&plan)),
            }
            Ok(())
        }
        Command::Status { name, output: format, watch, interval } => loop {
            let text = match &name {
                Some(name) => {
                    let status = client.status(name).await?;
                    match format {
                        Output::Json => json(&status)?,
                        Output::Table => output::status(&status),
                    }
                }
                None => {
                    let list = client.list().await?;
                    match format {
                        Output::Json => json(&list)?,
                        Output::Table => output::summaries(&list),
                    }
                }
            };
            if watch && std::io::stdout().is_terminal() {
                // Clear the screen and go home, like `watch`.
                print!("\x1b[2J\x1b[H");
            }
            print!("{text}");
            if !watch {
                return Ok(());
            }
            tokio::time::sleep(interval).await;
        },
        Command::Events { name, output: format } => {
            let events = client.events(&name).await?;
            match format {
                Output::Json => print!("{}", json(&events)?),
                Output::Table => print!("{}", output::events(&events)),
            }
            Ok(())
        }
        Command::Backup { name, output: format } => {
            let spinner = spinner(&format!("backing up {name}"));
            let record = client.backup(&name).await;
            if let Some(spinner) = spinner {
                spinner.finish_and_clear();
            }
            let record = record?;
            match format {
                Output::Json => print!("{}", json(&record)?),
                Output::Table => print!("{}", output::backup(&record)),
            }
            Ok(())
        }
        Command::Backups { name, output: format } => {
            let records = client.backups(&name).await?;
            match format {
                Output::Json => print!("{}", json(&records)?),
                Output::Table => print!("{}", output::backups(&records)),
            }
            Ok(())
        }
        Command::Restore { name, from, yes } => {
            if !yes {
                confirm(&format!(
                    "restore every member of {name} from backup {from}? writes since it are lost"
                ))?;
            }
            let spinner = spinner(&format!("restoring {name} from {from}"));
            let report = client.restore(&name, &from).await;
            if let Some(spinner) = spinner {
                spinner.finish_and_clear();
            }
            print!("{}", json(&report?)?);
            Ok(())
        }
        Command::Delete { name, purge } => {
            client.delete(&name, purge).await?;
            let what = if purge {
                "deleted; its members were stopped and their data removed"
            } else {
                "deleted; its members were stopped and their data kept"
            };
            println!("cluster {name} {what}");
            Ok(())
        }
    }
}
