//! `tailor bench ingest|recommend|features|lake`: throughput and latency against a fresh
//! server, and the lake's write and query speed.

mod features;
mod ingest;
mod lake;
mod recommend;

use anyhow::{Context, Result};
use tailor_server::Config;

pub const EXAMPLES: &str = "Examples:
  tailor bench ingest --events 100000 --runs 1 --baseline
  tailor bench ingest --log kafka://127.0.0.1:9092/bench
  tailor bench recommend --users 5000 --items 1000 --catalog-items 10000 --requests 5000 --runs 1
  tailor bench lake --events 100000 --rows 0 --runs 1";

#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Batched POST /v1/batch over keep-alive connections, fsync on: events/s and ack latency.
    Ingest {
        /// Events per run.
        #[arg(long, default_value_t = 500_000)]
        events: usize,
        /// Events per request.
        #[arg(long, default_value_t = 100)]
        batch: usize,
        /// Concurrent keep-alive connections (each has one batch in flight).
        #[arg(long, default_value_t = 8)]
        connections: usize,
        /// Runs (each on a fresh server); the median is reported.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Also run with fsync off as a baseline, to show the cost of durability.
        #[arg(long)]
        baseline: bool,
        /// Also run with the dashboard open and /metrics scraped every second, to show
        /// what watching costs.
        #[arg(long)]
        watch: bool,
        /// Also run the same load through a Kafka log (`kafka://host:port[/topic]`; each
        /// run gets a fresh topic), reported next to the embedded log.
        #[arg(long, value_name = "URL")]
        log: Option<String>,
    },
    /// The feature engine alone (default feature set, in memory), then event → feature-visible
    /// latency through the full path (collector → log → engine → online store) under a paced
    /// load.
    Features {
        /// Events through the engine alone per run.
        #[arg(long, default_value_t = 2_000_000)]
        events: usize,
        /// Distinct users the events come from.
        #[arg(long, default_value_t = 100_000)]
        users: usize,
        /// Distinct products the events are about.
        #[arg(long, default_value_t = 10_000)]
        items: usize,
        /// Offered live load during the full-path probes, events/s.
        #[arg(long, default_value_t = 20_000)]
        rate: u64,
        /// Seconds of full-path probing per run.
        #[arg(long, default_value_t = 15)]
        seconds: u64,
        /// Runs; the median is reported.
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// GET /v1/recommendations on a loaded server with a large catalog, an A/B experiment
    /// (trained model | live model) and filters: latency p50/p99 and requests/s, closed-loop
    /// (as fast as the connections go) and open-loop at a fixed rate.
    Recommend {
        /// Users of the synthetic shop (its events are loaded).
        #[arg(long, default_value_t = 50_000)]
        users: usize,
        /// Products of the synthetic shop (the items with interactions).
        #[arg(long, default_value_t = 10_000)]
        items: usize,
        /// Catalog size: the shop's products plus generated items without interactions.
        #[arg(long, default_value_t = 100_000)]
        catalog_items: usize,
        /// Requests per closed-loop run.
        #[arg(long, default_value_t = 50_000)]
        requests: usize,
        /// Concurrent keep-alive connections.
        #[arg(long, default_value_t = 16)]
        connections: usize,
        /// Offered load of the open-loop runs, requests/s.
        #[arg(long, default_value_t = 2_000)]
        rate: u64,
        /// Seconds per open-loop run.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Runs of each measurement; the median is reported.
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// The lake sink writing an embedded log to zstd Parquet (events/s per wall-second and
    /// per CPU-second of its threads), then `SELECT * FROM item_daily_stats` over generated
    /// rows.
    Lake {
        /// Events in the log, written to a fresh lake each run.
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        /// Partitions of the log's `events` topic.
        #[arg(long, default_value_t = 4)]
        partitions: u32,
        /// Rows generated (directly as Parquet) for the aggregation; 0 skips it.
        #[arg(long, default_value_t = 10_000_000)]
        rows: u64,
        /// Runs of the write and of the query; the median is reported.
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
}

pub(crate) fn fresh_config(dir: &std::path::Path, fsync: bool) -> Config {
    let mut cfg = Config {
        data_dir: dir.to_path_buf(),
        listen: "127.0.0.1:0".into(),
        ..Config::default()
    };
    cfg.log.fsync = fsync;
    cfg
}

/// A server on its own runtime (its own worker threads), as it would be in its own process:
/// the load generator's tasks never run on the server's workers.
pub(crate) struct IsolatedServer {
    runtime: Option<tokio::runtime::Runtime>,
    server: Option<tailor_server::RunningServer>,
    pub url: String,
}

impl IsolatedServer {
    pub async fn start(cfg: Config) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("tailor-server")
            .enable_all()
            .build()
            .context("building the server runtime")?;
        let server = runtime
            .spawn(tailor_server::start(cfg))
            .await
            .context("server start task")??;
        let url = server.url();
        Ok(IsolatedServer {
            runtime: Some(runtime),
            server: Some(server),
            url,
        })
    }

    pub async fn shutdown(mut self) -> Result<()> {
        if let (Some(rt), Some(server)) = (self.runtime.take(), self.server.take()) {
            rt.spawn(server.shutdown())
                .await
                .context("server stop task")??;
            rt.shutdown_background();
        }
        Ok(())
    }
}

pub(crate) fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

pub async fn run(which: BenchCommand) -> Result<()> {
    match which {
        BenchCommand::Ingest {
            events,
            batch,
            connections,
            runs,
            baseline,
            watch,
            log,
        } => ingest::ingest(events, batch, connections, runs, baseline, watch, log).await,
        BenchCommand::Recommend {
            users,
            items,
            catalog_items,
            requests,
            connections,
            rate,
            seconds,
            runs,
        } => {
            recommend::recommend(recommend::RecommendBench {
                users,
                items,
                catalog_items,
                requests,
                connections,
                rate,
                seconds,
                runs,
            })
            .await
        }
        BenchCommand::Features {
            events,
            users,
            items,
            rate,
            seconds,
            runs,
        } => {
            features::features(features::FeaturesBench {
                events,
                users,
                items,
                rate,
                seconds,
                runs,
            })
            .await
        }
        BenchCommand::Lake {
            events,
            partitions,
            rows,
            runs,
        } => {
            lake::lake(lake::LakeBench {
                events,
                partitions,
                rows,
                runs,
            })
            .await
        }
    }
}
