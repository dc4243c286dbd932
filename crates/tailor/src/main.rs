//! `tailor`: one binary for every role of the Tailor personalization platform.

#[cfg(test)]
mod cli_tests;
mod client;
mod commands;
mod config;
mod synth;

use anyhow::Result;
use clap::{CommandFactory, Parser, Subcommand};

use crate::config::DataArgs;

/// mimalloc: the collector and processor allocate many small short-lived objects across
/// threads, where glibc malloc spent a quarter of the CPU in `tailor bench ingest`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "tailor",
    version,
    about = "Real-time personalization: collect, log, process, recommend.",
    after_help = "Examples:
  tailor demo
  tailor serve --data-dir ./tailor-data --listen 127.0.0.1:8080
  tailor import events.ndjson --format segment-ndjson
  tailor completions bash > ~/.local/share/bash-completion/completions/tailor

`tailor COMMAND --help` shows each command's options and examples."
)]
struct Cli {
    /// Log format on stderr: `human` (one readable line per message) or `json` (one JSON
    /// object per line, for log shippers). Level filter: `TAILOR_LOG` (e.g. `debug`).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human, env = "TAILOR_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every role (collector, log, live processor, API) in one process.
    #[command(after_help = commands::serve::EXAMPLES)]
    Serve {
        #[command(flatten)]
        data: DataArgs,
        /// Listen address (default 127.0.0.1:8080).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
        /// Roles this process runs, comma-separated (default `all`; overrides `roles` in the
        /// config).
        #[arg(long, value_name = "ROLES", value_enum, value_delimiter = ',')]
        roles: Vec<commands::serve::RoleArg>,
    },
    /// Start the server, send it a synthetic shop's events over HTTP, and show recommendations.
    #[command(after_help = commands::demo::EXAMPLES)]
    Demo(commands::demo::DemoArgs),
    /// Write synthetic shop events as Segment-format NDJSON.
    #[command(after_help = commands::generate::EXAMPLES)]
    Generate(commands::generate::GenerateArgs),
    /// Declared features: `list` the definitions, `show ENTITY ID` one entity's values.
    #[command(after_help = commands::features::EXAMPLES)]
    Features {
        #[command(subcommand)]
        which: commands::features::FeaturesCommand,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Bulk-load a file of events (Segment NDJSON, or CSV with a column mapping or preset).
    #[command(after_help = commands::import::EXAMPLES)]
    Import(Box<commands::import::ImportArgs>),
    /// The item catalog: `import FILE` (NDJSON or CSV) into the data directory's log.
    #[command(after_help = commands::items::EXAMPLES)]
    Items {
        #[command(subcommand)]
        which: commands::items::ItemsCommand,
        #[command(flatten)]
        data: DataArgs,
    },
    /// API keys: `add --kind write|secret --name NAME`, `list`, `revoke ID` (no restart needed).
    #[command(after_help = commands::keys::EXAMPLES)]
    Keys {
        #[command(subcommand)]
        which: commands::keys::KeysCommand,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Read-only SQL over the Parquet lake (DataFusion).
    #[command(after_help = commands::sql::EXAMPLES)]
    Sql(commands::sql::SqlArgs),
    /// Benchmarks: `ingest`, `recommend`, `features` and `lake`.
    #[command(after_help = commands::bench::EXAMPLES)]
    Bench {
        #[command(subcommand)]
        which: commands::bench::BenchCommand,
    },
    /// Inspect the durable log (like kcat for Kafka).
    #[command(after_help = commands::log::EXAMPLES)]
    Log {
        #[command(subcommand)]
        which: commands::log::LogCommand,
        #[command(flatten)]
        data: DataArgs,
    },
    /// The schema registry: list, show, add.
    #[command(after_help = commands::schema::EXAMPLES)]
    Schema {
        #[command(subcommand)]
        which: commands::schema::SchemaCommand,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Tune, train and compare every model on a public dataset or a file.
    #[command(after_help = commands::eval::EXAMPLES)]
    Eval(commands::eval::EvalArgs),
    /// Train the production model on the stored events, save it as a new version, promote it.
    #[command(after_help = commands::train::EXAMPLES)]
    Train(commands::train::TrainArgs),
    /// The model registry: `list`, `promote NAME VERSION`, `rollback NAME`.
    #[command(after_help = commands::models::EXAMPLES)]
    Models {
        #[command(subcommand)]
        which: commands::models::ModelsCommand,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Erase a user (GDPR) from the lake, features, online store, dead letters and models,
    /// and keep their events out of replays and training; prints the receipt.
    #[command(after_help = commands::forget::EXAMPLES)]
    Forget(commands::forget::ForgetArgs),
    /// The effective configuration: `check` it as `serve` would, `show` it with defaults
    /// and secrets masked.
    #[command(after_help = commands::config_cmd::EXAMPLES)]
    Config {
        #[command(subcommand)]
        which: commands::config_cmd::ConfigCommand,
        #[command(flatten)]
        data: DataArgs,
    },
    /// List rejected events with their reasons.
    #[command(after_help = commands::log::DEAD_LETTERS)]
    DeadLetters {
        /// How many of the most recent dead letters to print.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Start at this offset instead of the most recent.
        #[arg(long)]
        from: Option<u64>,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Print a shell completion script for tailor's commands and options.
    #[command(after_help = commands::completions::EXAMPLES)]
    Completions {
        /// The shell to complete in.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

fn init_tracing(default: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TAILOR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => logs.init(),
        LogFormat::Json => logs
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
    }
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    // Benchmarks and tools print their own results; the server's info lines would bury them.
    init_tracing(
        match cli.command {
            Command::Serve { .. } => "info",
            _ => "warn",
        },
        cli.log_format,
    );
    if let Err(e) = run(cli).await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve {
            data,
            listen,
            roles,
        } => commands::serve::run(&data, listen.as_deref(), &roles).await,
        Command::Demo(args) => commands::demo::run(args).await,
        Command::Generate(args) => commands::generate::run(args),
        Command::Bench { which } => commands::bench::run(which).await,
        Command::Log { which, data } => commands::log::run(which, &data),
        Command::Features { which, data } => commands::features::run(which, &data),
        Command::Import(args) => commands::import::run(*args).await,
        Command::Items { which, data } => commands::items::run(which, &data).await,
        Command::Keys { which, data } => commands::keys::run(which, &data),
        Command::Sql(args) => commands::sql::run(args).await,
        Command::Schema { which, data } => commands::schema::run(which, &data).await,
        Command::Eval(args) => commands::eval::run(args),
        Command::Train(args) => commands::train::run(args),
        Command::Models { which, data } => commands::models::run(which, &data),
        Command::Forget(args) => commands::forget::run(args).await,
        Command::Config { which, data } => commands::config_cmd::run(which, &data),
        Command::DeadLetters { limit, from, data } => {
            commands::log::dead_letters(&data, limit, from)
        }
        Command::Completions { shell } => commands::completions::run(shell, &mut Cli::command()),
    }
}
