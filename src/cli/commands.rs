//! The client commands: read input, call the daemon, print.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::client::{ApiClient, ClientError};
use super::{Cli, Command, Output, RunArgs, output};
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

fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, CommandError> {
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

/// Prints `value` as JSON, or as the table `table` makes of it.
fn print<T: serde::Serialize + ?Sized>(
    format: Output,
    value: &T,
    table: impl FnOnce(&T) -> String,
) -> Result<(), CommandError> {
    print!("{}", render(format, value, table)?);
    Ok(())
}

/// The text `print` would print, for a caller that prints it later.
fn render<T: serde::Serialize + ?Sized>(
    format: Output,
    value: &T,
    table: impl FnOnce(&T) -> String,
) -> Result<String, CommandError> {
    match format {
        Output::Json => json(value),
        Output::Table => Ok(table(value)),
    }
}

/// Runs a command other than `run`.
///
/// # Errors
/// One sentence saying what failed.
pub async fn execute(cli: Cli) -> Result<(), CommandError> {
    let token = token(cli.token, cli.token_file.as_deref())?;
    let client = ApiClient::new(&cli.server, token.clone());
    match cli.command {
        Command::Run(args) => run(args, token).await,
        Command::Validate { file } => validate(&file),
        Command::Schema => schema(),
        Command::Apply { file, dry_run } => apply(&client, &file, dry_run).await,
        Command::Plan { name, file, output } => plan(&client, name, file, output).await,
        Command::Status { name, output, watch, interval } => {
            status(&client, name.as_deref(), output, watch, interval).await
        }
        Command::Events { name, output } => events(&client, &name, output).await,
        Command::Backup { name, output } => backup(&client, &name, output).await,
        Command::Drill { name, output } => drill(&client, &name, output).await,
        Command::Backups { name, output } => backups(&client, &name, output).await,
        Command::Restore { name, from, yes } => restore(&client, &name, &from, yes).await,
        Command::Delete { name, purge } => delete(&client, &name, purge).await,
    }
}

/// The bearer token: `--token`, or the content of `--token-file` without its trailing
/// whitespace. The file's content never appears in an error.
fn token(flag: Option<String>, file: Option<&Path>) -> Result<Option<String>, CommandError> {
    let Some(file) = file else { return Ok(flag) };
    let text = std::fs::read_to_string(file)
        .map_err(|e| CommandError::Manifest(format!("cannot read the token file {}: {e}", file.display())))?;
    let token = text.trim_end();
    if token.is_empty() {
        return Err(CommandError::Manifest(format!("the token file {} is empty", file.display())));
    }
    Ok(Some(token.to_owned()))
}

/// `run`: the daemon, until it stops.
async fn run(args: RunArgs, token: Option<String>) -> Result<(), CommandError> {
    super::daemon::run(args, token).await.map_err(|e| CommandError::Daemon(e.to_string()))
}

/// `validate`: a line per valid cluster; no daemon needed.
fn validate(file: &Path) -> Result<(), CommandError> {
    let docs = manifest::load_file(file).map_err(|e| CommandError::Manifest(e.to_string()))?;
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

/// `schema`: the manifest's JSON Schema.
fn schema() -> Result<(), CommandError> {
    print!("{}", manifest::schema_text());
    Ok(())
}

/// `apply`: every document is checked by the daemon before any is stored.
async fn apply(client: &ApiClient, file: &Path, dry_run: bool) -> Result<(), CommandError> {
    let docs = documents(file)?;
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

/// `plan`: of a managed cluster, or of the first document of a manifest not applied yet.
async fn plan(
    client: &ApiClient,
    name: Option<String>,
    file: Option<PathBuf>,
    format: Output,
) -> Result<(), CommandError> {
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
    print(format, &plan, output::plan)
}

/// `status`: one cluster, or a line per cluster; with `watch`, again every interval.
async fn status(
    client: &ApiClient,
    name: Option<&str>,
    format: Output,
    watch: bool,
    interval: Duration,
) -> Result<(), CommandError> {
    loop {
        let text = match name {
            Some(name) => render(format, &client.status(name).await?, output::status)?,
            None => render(format, client.list().await?.as_slice(), output::summaries)?,
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
    }
}

/// `events`: what the controller saw, did and refused.
async fn events(client: &ApiClient, name: &str, format: Output) -> Result<(), CommandError> {
    print(format, client.events(name).await?.as_slice(), output::events)
}

/// `backup`: one backup now, with a spinner while it runs.
async fn backup(client: &ApiClient, name: &str, format: Output) -> Result<(), CommandError> {
    let spinner = spinner(&format!("backing up {name}"));
    let record = client.backup(name).await;
    if let Some(spinner) = spinner {
        spinner.finish_and_clear();
    }
    print(format, &record?, output::backup)
}

/// `drill`: a restore drill now, with a spinner while it runs; the report is printed
/// whatever it found, and a failed drill exits 1 saying why.
async fn drill(client: &ApiClient, name: &str, format: Output) -> Result<(), CommandError> {
    let spinner = spinner(&format!("drilling the newest backup of {name}"));
    let report = client.drill(name).await;
    if let Some(spinner) = spinner {
        spinner.finish_and_clear();
    }
    let report = report?;
    print(format, &report, output::drill)?;
    if report.passed() {
        return Ok(());
    }
    let failure = report.failure.map_or("failed", |f| f.describe());
    Err(CommandError::Daemon(format!(
        "the restore drill of backup {} failed ({failure}): {}",
        report.backup_id, report.message
    )))
}

/// `backups`: the catalog.
async fn backups(client: &ApiClient, name: &str, format: Output) -> Result<(), CommandError> {
    print(format, client.backups(name).await?.as_slice(), output::backups)
}

/// `restore`: asks first unless `yes`, since writes since the backup are lost; prints JSON.
async fn restore(client: &ApiClient, name: &str, from: &str, yes: bool) -> Result<(), CommandError> {
    if !yes {
        confirm(&format!("restore every member of {name} from backup {from}? writes since it are lost"))?;
    }
    let spinner = spinner(&format!("restoring {name} from {from}"));
    let report = client.restore(name, from).await;
    if let Some(spinner) = spinner {
        spinner.finish_and_clear();
    }
    print!("{}", json(&report?)?);
    Ok(())
}

/// `delete`: says whether the members' data was kept.
async fn delete(client: &ApiClient, name: &str, purge: bool) -> Result<(), CommandError> {
    client.delete(name, purge).await?;
    let what = if purge {
        "deleted; its members were stopped and their data removed"
    } else {
        "deleted; its members were stopped and their data kept"
    };
    println!("cluster {name} {what}");
    Ok(())
}
