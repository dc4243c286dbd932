//! `tailor sql "SELECT ..." [--format table|csv|json]`: read-only SQL over the lake (tables
//! `events` and `dead_letters`; views `item_daily_stats`, `funnel_daily`,
//! `recommendation_ctr`). Reads committed files only, so it also works beside a running
//! server.

use anyhow::{Context, Result};
use tailor_lake::{format_batches, OutputFormat, Warehouse};

use crate::config::{load, DataArgs};

pub const EXAMPLES: &str = "Examples:
  tailor sql \"SELECT event, count(*) AS n FROM events GROUP BY event ORDER BY n DESC\"
  tailor sql \"SELECT * FROM item_daily_stats LIMIT 20\" --format csv > stats.csv
  tailor sql \"SELECT * FROM recommendation_ctr\" --format json
  tailor sql \"SELECT reason, count(*) FROM dead_letters GROUP BY reason\"";

/// How the rows are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SqlFormat {
    /// An aligned text table.
    #[value(alias = "text")]
    Table,
    /// CSV with a header row.
    Csv,
    /// One JSON object per row, in a JSON array.
    Json,
}

impl From<SqlFormat> for OutputFormat {
    fn from(f: SqlFormat) -> Self {
        match f {
            SqlFormat::Table => OutputFormat::Table,
            SqlFormat::Csv => OutputFormat::Csv,
            SqlFormat::Json => OutputFormat::Json,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct SqlArgs {
    /// The query (one read-only statement; quote it for the shell).
    pub query: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = SqlFormat::Table)]
    pub format: SqlFormat,
    #[command(flatten)]
    pub data: DataArgs,
}

pub async fn run(args: SqlArgs) -> Result<()> {
    let format = OutputFormat::from(args.format);
    let cfg = load(&args.data, None)?;
    let warehouse = Warehouse::open(&cfg.lake, &cfg.data_dir)
        .await
        .context("opening the lake")?;
    let batches = warehouse.query(&args.query).await?;
    print!("{}", format_batches(&batches, format)?);
    if format == OutputFormat::Table {
        println!();
    }
    Ok(())
}
