//! `tailor sql "SELECT ..." [--format table|csv|json]`: read-only SQL over the lake (tables
//! `events` and `dead_letters`; views `item_daily_stats`, `funnel_daily`,
//! `recommendation_ctr`). Reads committed files only, so it also works beside a running
//! server.

use anyhow::{Context, Result};
use tailor_lake::{format_batches, OutputFormat, Warehouse};

use crate::config::{load, DataArgs};

#[derive(Debug, clap::Args)]
pub struct SqlArgs {
    /// The query.
    pub query: String,
    /// table, csv or json.
    #[arg(long, default_value = "table")]
    pub format: String,
    #[command(flatten)]
    pub data: DataArgs,
}

pub async fn run(args: SqlArgs) -> Result<()> {
    let format: OutputFormat = args
        .format
        .parse()
        .map_err(|e| anyhow::anyhow!("--format: {e}"))?;
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
