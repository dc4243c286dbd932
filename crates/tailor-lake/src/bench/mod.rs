//! Benchmarks `tailor bench lake` and `examples/lake_bench.rs` run: events/s the sink writes
//! from an embedded log (the path `tailor serve` runs), and the time of the
//! `item_daily_stats` aggregation over generated rows. Figures are printed, never asserted
//! (tests do not depend on speed).

mod generate;
mod synth;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tailor_log::{EmbeddedLog, EmbeddedOptions, Log};

pub use self::generate::generate_lake;
pub use self::synth::{fill_log, synthetic_event, Rng, BASE_MS};
use crate::layout::EVENTS_TOPIC;
use crate::{Error, Lake, LakeConfig, LakeSink, RecordBatch, Result, Warehouse};

/// The write target: events written to the lake per CPU-second.
pub const WRITE_TARGET_PER_CORE: f64 = 300_000.0;
/// The aggregation target: `SELECT * FROM item_daily_stats` over 10 million rows.
pub const AGGREGATION_TARGET: Duration = Duration::from_secs(3);
/// Name of the thread (and of its runtime's blocking threads) that runs the sink, as in
/// `tailor serve`; their CPU time is the writer's.
const SINK_THREAD: &str = "tailor-lake";

/// User + system clock ticks from the fields after the `(comm)` of a `/proc/.../stat` line.
fn stat_ticks(after_comm: &str) -> Option<u64> {
    let mut f = after_comm.split_whitespace().skip(11);
    let utime: u64 = f.next()?.parse().ok()?;
    let stime: u64 = f.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Clock ticks → time (USER_HZ is 100 on every mainstream Linux build).
fn ticks(n: u64) -> Duration {
    Duration::from_millis(n * 10)
}

/// CPU time of this process so far (user + system), from `/proc/self/stat` (Linux).
pub fn process_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    stat_ticks(&stat[stat.rfind(')')? + 1..]).map(ticks)
}

/// CPU time (user + system) of this process's live threads named `name`, from
/// `/proc/self/task` (Linux); `None` where that is not available.
pub fn threads_cpu_time(name: &str) -> Option<Duration> {
    let mut total = None;
    for entry in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if stat.get(open + 1..close) == Some(name) {
            if let Some(t) = stat_ticks(&stat[close + 1..]) {
                total = Some(total.unwrap_or(0) + t);
            }
        }
    }
    total.map(ticks)
}

/// The median of `v` (the upper one for an even count); 0 for none.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// An embedded log filled with synthetic events, ready for [`write_once`].
pub struct BenchLog {
    pub log: Arc<EmbeddedLog>,
    pub events: u64,
    /// Time to read every record from the log alone (no decoding or writing).
    pub log_read: Duration,
}

impl BenchLog {
    /// Closes the log (flushes its segments).
    pub fn close(&self) -> Result<()> {
        Ok(self.log.close()?)
    }
}

/// Fills an embedded log in `dir` (fsync off) with `events` synthetic events over
/// `partitions` partitions, then reads it once, which warms the page cache and times the
/// log's own share of a write run. `progress` gets the events appended so far.
pub async fn prepare_log(
    dir: &Path,
    events: u64,
    partitions: u32,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<BenchLog> {
    let log = EmbeddedLog::open(
        dir,
        EmbeddedOptions {
            fsync: false,
            ..EmbeddedOptions::default()
        },
    )?;
    fill_log(&*log, events, partitions, progress).await?;
    let t0 = Instant::now();
    for p in 0..partitions {
        let mut next = log.start_offset(EVENTS_TOPIC, p)?;
        loop {
            let batch = log.read(EVENTS_TOPIC, p, next, 2_000)?;
            let Some(last) = batch.last() else { break };
            next = last.offset + 1;
        }
    }
    Ok(BenchLog {
        log,
        events,
        log_read: t0.elapsed(),
    })
}

/// Result of [`write_once`].
#[derive(Debug, Clone)]
pub struct WriteReport {
    pub events: u64,
    pub rows: u64,
    pub files: u64,
    pub bytes: u64,
    pub wall: Duration,
    /// CPU time of the sink's threads (its runtime thread and the blocking threads that
    /// encode and put files) during the run.
    pub cpu: Option<Duration>,
}

impl WriteReport {
    pub fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    /// Events per CPU-second of the writing threads: the per-core rate.
    pub fn events_per_cpu_sec(&self) -> Option<f64> {
        self.cpu
            .map(|c| self.events as f64 / c.as_secs_f64().max(1e-9))
    }

    /// One line: what was written, how fast.
    pub fn summary(&self) -> String {
        format!(
            "{} events -> {} rows in {} files ({:.1} MiB) in {:.2} s: {:.0} events/s wall, {} events/s per CPU-second ({} CPU-s)",
            self.events,
            self.rows,
            self.files,
            self.bytes as f64 / (1024.0 * 1024.0),
            self.wall.as_secs_f64(),
            self.events_per_sec(),
            self.events_per_cpu_sec()
                .map_or("n/a".into(), |r| format!("{r:.0}")),
            self.cpu
                .map_or("n/a".into(), |c| format!("{:.2}", c.as_secs_f64())),
        )
    }
}

/// Writes everything in `log` to a new lake in `lake_dir` with one [`LakeSink::run_once`]
/// (default [`LakeConfig`]: zstd Parquet, a commit every `roll_bytes`), run as `tailor serve`
/// runs the sink: on its own thread with a current-thread runtime.
pub async fn write_once(log: Arc<dyn Log>, lake_dir: &Path) -> Result<WriteReport> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name(SINK_THREAD)
        // Blocking threads must outlive the run, or their CPU time is not counted.
        .thread_keep_alive(Duration::from_secs(3600))
        .build()
        .map_err(|e| Error::io("starting the sink runtime", e))?;
    let lake = Lake::local(lake_dir)?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let thread = std::thread::Builder::new()
        .name(SINK_THREAD.into())
        .spawn(move || {
            let report = runtime.block_on(async move {
                let sink = LakeSink::with_lake(lake, LakeConfig::default()).await?;
                let cpu0 = threads_cpu_time(SINK_THREAD);
                let t0 = Instant::now();
                let stats = sink.run_once(&*log).await?;
                let wall = t0.elapsed();
                let cpu = threads_cpu_time(SINK_THREAD)
                    .zip(cpu0)
                    .map(|(a, b)| a.saturating_sub(b));
                Ok::<_, Error>(WriteReport {
                    events: stats.records,
                    rows: stats.event_rows,
                    files: stats.files,
                    bytes: stats.bytes,
                    wall,
                    cpu,
                })
            });
            let _ = tx.send(report);
        })
        .map_err(|e| Error::io("starting the sink thread", e))?;
    let report = rx
        .await
        .map_err(|_| Error::io("running the sink", std::io::Error::other("thread ended")))?;
    let _ = thread.join();
    report
}

/// Fills an embedded log in `dir` with `events` synthetic events, then writes them to a
/// lake in `dir` once ([`write_once`]).
pub async fn write_throughput(dir: &Path, events: u64, partitions: u32) -> Result<WriteReport> {
    let bench = prepare_log(&dir.join("log"), events, partitions, &|_| {}).await?;
    let report = write_once(bench.log.clone(), &dir.join("lake")).await;
    bench.close()?;
    report
}

/// Result of [`aggregation`].
#[derive(Debug, Clone)]
pub struct AggReport {
    pub rows: u64,
    pub generate: Duration,
    pub result_rows: usize,
    /// Each run of the query.
    pub runs: Vec<Duration>,
}

impl AggReport {
    /// The median query time.
    pub fn median(&self) -> Duration {
        Duration::from_secs_f64(median(
            self.runs.iter().map(Duration::as_secs_f64).collect(),
        ))
    }
}

/// Times `SELECT * FROM item_daily_stats` over `lake` `runs` times; `progress` gets the
/// runs done so far.
pub async fn time_aggregation(
    lake: Lake,
    runs: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(usize, Vec<Duration>)> {
    let wh = Warehouse::new(lake).await?;
    let mut times = Vec::new();
    let mut result_rows = 0;
    for run in 1..=runs.max(1) {
        let t = Instant::now();
        let batches = wh.query("SELECT * FROM item_daily_stats").await?;
        times.push(t.elapsed());
        result_rows = batches.iter().map(RecordBatch::num_rows).sum();
        progress(run as u64);
    }
    Ok((result_rows, times))
}

/// Generates `rows` rows straight into a lake in `dir` ([`generate_lake`], 10 days), then
/// times `SELECT * FROM item_daily_stats` `runs` times.
pub async fn aggregation(dir: &Path, rows: u64, runs: usize) -> Result<AggReport> {
    let t0 = Instant::now();
    let lake = generate_lake(dir, rows, 10, &|_| {}).await?;
    let generate = t0.elapsed();
    let (result_rows, runs) = time_aggregation(lake, runs, &|_| {}).await?;
    Ok(AggReport {
        rows,
        generate,
        result_rows,
        runs,
    })
}
