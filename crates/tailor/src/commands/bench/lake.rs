//! `tailor bench lake`: events/s the lake sink writes from an embedded log (per wall-second
//! and per CPU-second of its threads), and the time of the `item_daily_stats` aggregation.
//! The measuring code is `tailor_lake::bench`; this prints it with progress bars.

use std::time::Duration;

use anyhow::Result;
use indicatif::ProgressBar;
use tailor_lake::bench;

use super::median;
use crate::client::progress;

pub(super) struct LakeBench {
    pub events: u64,
    pub partitions: u32,
    pub rows: u64,
    pub runs: usize,
}

fn spinner(what: String) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    pb.set_message(what);
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

pub(super) async fn lake(b: LakeBench) -> Result<()> {
    let runs = b.runs.max(1);
    println!(
        "bench lake: {} synthetic events in an embedded log ({} partitions) written by the lake sink (zstd Parquet, default lake config, the `tailor serve` path), {runs} runs, a fresh lake each run",
        b.events, b.partitions
    );
    let dir = tempfile::tempdir()?;
    let pb = progress(b.events, "filling the log");
    let log = bench::prepare_log(&dir.path().join("log"), b.events, b.partitions, &|n| {
        pb.set_position(n);
    })
    .await?;
    pb.finish_and_clear();
    println!(
        "reading the log alone (no decoding or writing): {:.2} s",
        log.log_read.as_secs_f64()
    );
    let (mut wall, mut per_cpu) = (Vec::new(), Vec::new());
    for run in 1..=runs {
        let lake_dir = dir.path().join(format!("lake-{run}"));
        let sp = spinner(format!(
            "run {run}: writing {} events to the lake",
            b.events
        ));
        let w = bench::write_once(log.log.clone(), &lake_dir).await;
        sp.finish_and_clear();
        let w = w?;
        println!("run {run}: {}", w.summary());
        wall.push(w.events_per_sec());
        per_cpu.extend(w.events_per_cpu_sec());
        std::fs::remove_dir_all(&lake_dir)?;
    }
    log.close()?;
    let per_core = (!per_cpu.is_empty()).then(|| median(per_cpu));
    println!(
        "median: {:.0} events/s written per wall-second, {} events/s per CPU-second of the sink's threads (target ≥ {:.0} per core: {})",
        median(wall),
        per_core.map_or("n/a".into(), |r| format!("{r:.0}")),
        bench::WRITE_TARGET_PER_CORE,
        per_core.map_or("not measured", |r| verdict(r >= bench::WRITE_TARGET_PER_CORE)),
    );

    if b.rows == 0 {
        return Ok(());
    }
    let pb = progress(b.rows, "generating Parquet rows");
    let started = std::time::Instant::now();
    let lake = bench::generate_lake(&dir.path().join("agg"), b.rows, 10, &|n| {
        pb.set_position(n);
    })
    .await?;
    pb.finish_and_clear();
    println!(
        "aggregation data: {} events rows generated directly as Parquet files (one per hour over 10 days, not through the log or the sink) in {:.1} s",
        b.rows,
        started.elapsed().as_secs_f64()
    );
    let pb = progress(runs as u64, "SELECT * FROM item_daily_stats");
    let (result_rows, times) = bench::time_aggregation(lake, runs, &|n| pb.set_position(n)).await?;
    pb.finish_and_clear();
    for (run, t) in times.iter().enumerate() {
        println!(
            "run {}: SELECT * FROM item_daily_stats over {} rows -> {result_rows} rows in {:.3} s",
            run + 1,
            b.rows,
            t.as_secs_f64()
        );
    }
    let m = median(times.iter().map(Duration::as_secs_f64).collect());
    println!(
        "median: {m:.3} s (target ≤ {:.0} s over 10,000,000 rows: {})",
        bench::AGGREGATION_TARGET.as_secs_f64(),
        if b.rows >= 10_000_000 {
            verdict(m <= bench::AGGREGATION_TARGET.as_secs_f64())
        } else {
            "not comparable, fewer rows"
        }
    );
    Ok(())
}
