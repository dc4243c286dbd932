//! Lake benchmark: events/s written by the sink from an embedded log, and the time of
//! `SELECT * FROM item_daily_stats` over generated rows.
//!
//! `cargo run --release -p tailor-lake --example lake_bench -- [EVENTS] [ROWS]`
//! (defaults: 1 000 000 events, 10 000 000 rows).

use anyhow::Result;
use tailor_lake::bench;

/// The `tailor` binary's allocator (ADR 0004), so the figures are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let events: u64 = args.next().map_or(Ok(1_000_000), |s| s.parse())?;
    let rows: u64 = args.next().map_or(Ok(10_000_000), |s| s.parse())?;

    let dir = tempfile::tempdir()?;
    let w = bench::write_throughput(&dir.path().join("write"), events, 4).await?;
    println!(
        "write: {} events -> {} rows in {} files ({:.1} MiB) in {:.2} s: {:.0} events/s wall, {} events/s per CPU-second (reading the log alone: {:.2} s)",
        w.events,
        w.rows,
        w.files,
        w.bytes as f64 / (1024.0 * 1024.0),
        w.wall.as_secs_f64(),
        w.events_per_sec(),
        w.events_per_cpu_sec()
            .map_or("n/a".into(), |r| format!("{r:.0}")),
        w.log_read.as_secs_f64(),
    );

    let a = bench::aggregation(&dir.path().join("agg"), rows, 3).await?;
    let mut runs: Vec<f64> = a.runs.iter().map(|d| d.as_secs_f64()).collect();
    runs.sort_by(f64::total_cmp);
    println!(
        "aggregate: generated {} rows in {:.1} s; SELECT * FROM item_daily_stats -> {} rows: best {:.3} s, median {:.3} s ({} runs)",
        a.rows,
        a.generate.as_secs_f64(),
        a.result_rows,
        runs[0],
        runs[runs.len() / 2],
        runs.len(),
    );
    Ok(())
}
