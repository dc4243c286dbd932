//! `tailor bench lake` without the CLI (builds much faster, handy under a profiler).
//!
//! `cargo run --release -p tailor-lake --example lake_bench -- [EVENTS] [ROWS] [RUNS]`
//! (defaults: 1 000 000 events, 10 000 000 rows, 3 runs; ROWS 0 skips the aggregation).

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
    let runs: usize = args.next().map_or(Ok(3), |s| s.parse())?;

    let dir = tempfile::tempdir()?;
    let log = bench::prepare_log(&dir.path().join("log"), events, 4, &|_| {}).await?;
    let (mut wall, mut cpu) = (Vec::new(), Vec::new());
    for run in 1..=runs.max(1) {
        let w = bench::write_once(log.log.clone(), &dir.path().join(format!("lake{run}"))).await?;
        println!("write run {run}: {}", w.summary());
        wall.push(w.events_per_sec());
        cpu.extend(w.events_per_cpu_sec());
    }
    println!(
        "write median: {:.0} events/s wall, {:.0} events/s per CPU-second (reading the log alone: {:.2} s)",
        bench::median(wall),
        bench::median(cpu),
        log.log_read.as_secs_f64(),
    );
    log.close()?;

    if rows > 0 {
        let a = bench::aggregation(&dir.path().join("agg"), rows, runs).await?;
        println!(
            "aggregate: generated {} rows in {:.1} s; SELECT * FROM item_daily_stats -> {} rows: median {:.3} s ({} runs)",
            a.rows,
            a.generate.as_secs_f64(),
            a.result_rows,
            a.median().as_secs_f64(),
            a.runs.len(),
        );
    }
    Ok(())
}
