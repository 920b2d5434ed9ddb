//! The command line (SPEC section 6): clap definitions and one file per command family.
//!
//! Exit status: 0 on success, 1 on refusal or failure with one sentence on stderr,
//! 2 on usage errors (clap's own).

pub mod client;
mod commands;
pub mod daemon;
mod output;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

pub use commands::execute;

/// etcd-warden: keeps an etcd cluster alive, on this machine or on DC/OS.
#[derive(Debug, Parser)]
#[command(name = "etcd-warden", version, about, propagate_version = true)]
pub struct Cli {
    /// The daemon's API, for client commands.
    #[arg(long, global = true, env = "ETCD_WARDEN_SERVER", default_value = "http://127.0.0.1:7379")]
    pub server: String,
    /// A bearer token: required by the daemon when set on `run`, sent by clients.
    #[arg(long, global = true, env = "ETCD_WARDEN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// A file holding the bearer token (kept out of `ps`), instead of --token.
    #[arg(long, global = true, env = "ETCD_WARDEN_TOKEN_FILE", conflicts_with = "token")]
    pub token_file: Option<PathBuf>,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Log formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Output {
    /// A table for humans.
    #[default]
    Table,
    /// JSON, for scripts.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the controller daemon.
    Run(RunArgs),
    /// Store the desired state of the clusters in FILE in the running daemon.
    Apply {
        /// The manifest (YAML or JSON, one or more documents).
        #[arg(short = 'f', long = "filename")]
        file: PathBuf,
        /// Check against the daemon without storing anything.
        #[arg(long)]
        dry_run: bool,
    },
    /// Show the steps the next pass would take and the rule behind each, changing nothing.
    Plan {
        /// A managed cluster.
        #[arg(required_unless_present = "file", conflicts_with = "file")]
        name: Option<String>,
        /// A manifest that is not applied yet.
        #[arg(short = 'f', long = "filename")]
        file: Option<PathBuf>,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: Output,
    },
    /// Show the status of one cluster, or a line per cluster.
    Status {
        /// The cluster; all clusters when omitted.
        name: Option<String>,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: Output,
        /// Print again every interval until interrupted.
        #[arg(long)]
        watch: bool,
        /// The interval of --watch.
        #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
        interval: Duration,
    },
    /// List what the controller saw, did and refused for a cluster.
    Events {
        /// The cluster.
        name: String,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: Output,
    },
    /// Take a verified backup now; prints its id, revision, size and sha256.
    Backup {
        /// The cluster.
        name: String,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: Output,
    },
    /// Restore the newest verified backup into a scratch etcd beside the daemon, check
    /// its revision, key count and a sample of keys, then delete it (the cluster is not
    /// touched); exits 1 when the drill fails.
    Drill {
        /// The cluster.
        name: String,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: Output,
    },
    /// List a cluster's backups.
    Backups {
        /// The cluster.
        name: String,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t)]
        output: Output,
    },
    /// Restore every member from a backup as a new cluster (old data is kept aside).
    Restore {
        /// The cluster.
        name: String,
        /// A backup ID from `etcd-warden backups`, or `latest` (the newest that verifies).
        #[arg(long, default_value = "latest")]
        from: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Stop managing a cluster and stop its members; --purge also deletes their data.
    Delete {
        /// The cluster.
        name: String,
        /// Delete the members' data and every file of the cluster.
        #[arg(long)]
        purge: bool,
    },
    /// Check a manifest file without a daemon.
    Validate {
        /// The manifest.
        #[arg(short = 'f', long = "filename")]
        file: PathBuf,
    },
    /// Print the manifest's JSON Schema.
    Schema,
}

/// Options of `run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Where desired state, status, events and local members live.
    #[arg(long, env = "ETCD_WARDEN_STATE_DIR", default_value = "/var/lib/etcd-warden")]
    pub state_dir: PathBuf,
    /// The API's address; loopback unless you add a token.
    #[arg(long, default_value = "127.0.0.1:7379")]
    pub listen: String,
    /// Manifests to apply at start-up.
    #[arg(short = 'f', long = "filename")]
    pub files: Vec<PathBuf>,
    /// How often a cluster is looked at when nothing happens.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub resync: Duration,
}
