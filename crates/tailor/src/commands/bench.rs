//! `tailor bench ingest|recommend`: throughput and latency against a fresh server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};
use tailor_server::Config;

use crate::client::{batch_bodies, http_client, progress, send_batches, wait_processed};
use crate::synth::{Shop, ShopConfig};

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
    },
    /// GET /v1/recommendations on a loaded server: latency p50/p99 and requests/s.
    Recommend {
        #[arg(long, default_value_t = 50_000)]
        users: usize,
        #[arg(long, default_value_t = 10_000)]
        items: usize,
        /// Requests per run.
        #[arg(long, default_value_t = 50_000)]
        requests: usize,
        #[arg(long, default_value_t = 16)]
        connections: usize,
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
}

fn fresh_config(dir: &std::path::Path, fsync: bool) -> Config {
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
struct IsolatedServer {
    runtime: Option<tokio::runtime::Runtime>,
    server: Option<tailor_server::RunningServer>,
    url: String,
}

impl IsolatedServer {
    async fn start(cfg: Config) -> Result<Self> {
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

    async fn shutdown(mut self) -> Result<()> {
        if let (Some(rt), Some(server)) = (self.runtime.take(), self.server.take()) {
            rt.spawn(server.shutdown())
                .await
                .context("server stop task")??;
            rt.shutdown_background();
        }
        Ok(())
    }
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn median(mut v: Vec<f64>) -> f64 {
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
        } => ingest(events, batch, connections, runs, baseline).await,
        BenchCommand::Recommend {
            users,
            items,
            requests,
            connections,
            runs,
        } => recommend(users, items, requests, connections, runs).await,
    }
}

async fn ingest_once(
    events: usize,
    batch: usize,
    connections: usize,
    fsync: bool,
    run: usize,
) -> Result<(f64, f64, f64)> {
    let dir = tempfile::tempdir()?;
    let server = IsolatedServer::start(fresh_config(dir.path(), fsync)).await?;
    let shop = Shop::new(ShopConfig {
        users: (events / 15).max(10),
        items: 10_000,
        seed: run as u64 + 1,
        ..ShopConfig::default()
    });
    let bodies = batch_bodies(shop.events().take(events), batch);
    let total: u64 = bodies.iter().map(|b| b.1 as u64).sum();
    let pb = progress(
        total,
        if fsync {
            "ingest (fsync)"
        } else {
            "ingest (no fsync)"
        },
    );
    let r = send_batches(&server.url, None, bodies, connections, &pb).await?;
    pb.finish_and_clear();
    server.shutdown().await?;
    let eps = r.accepted as f64 / r.elapsed.as_secs_f64();
    let (p50, p99) = (
        ms(r.latency_us.value_at_quantile(0.5)),
        ms(r.latency_us.value_at_quantile(0.99)),
    );
    println!(
        "run {run}: fsync={fsync} {} events in {} requests, {:.2}s: {:.0} events/s, ack p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, 429-retries {}",
        r.accepted, r.requests, r.elapsed.as_secs_f64(), eps, p50, p99, ms(r.latency_us.max()), r.retries
    );
    Ok((eps, p50, p99))
}

async fn ingest(
    events: usize,
    batch: usize,
    connections: usize,
    runs: usize,
    baseline: bool,
) -> Result<()> {
    println!("bench ingest: {events} events/run, batches of {batch}, {connections} connections, {runs} runs, fresh server each run");
    let mut modes = vec![true];
    if baseline {
        modes.push(false);
    }
    for fsync in modes {
        let mut eps = Vec::new();
        let mut p50 = Vec::new();
        let mut p99 = Vec::new();
        for run in 1..=runs.max(1) {
            let (e, a, b) = ingest_once(events, batch, connections, fsync, run).await?;
            eps.push(e);
            p50.push(a);
            p99.push(b);
        }
        println!(
            "median (fsync={fsync}): {:.0} events/s, ack p50 {:.2} ms, ack p99 {:.2} ms",
            median(eps),
            median(p50),
            median(p99)
        );
    }
    Ok(())
}

async fn recommend(
    users: usize,
    items: usize,
    requests: usize,
    connections: usize,
    runs: usize,
) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = IsolatedServer::start(fresh_config(dir.path(), true)).await?;
    let url = server.url.clone();
    let shop = Shop::new(ShopConfig {
        users,
        items,
        ..ShopConfig::default()
    });
    let bodies = batch_bodies(shop.events(), 500);
    let total: u64 = bodies.iter().map(|b| b.1 as u64).sum();
    let pb = progress(total, "loading events");
    send_batches(&url, None, bodies, 8, &pb).await?;
    pb.finish_and_clear();
    let status = wait_processed(&url, Duration::from_secs(600)).await?;
    println!(
        "bench recommend: loaded {} events: {} users, {} items; {requests} requests/run over {connections} connections, {runs} runs",
        status["live"]["events_processed"], status["live"]["users"], status["live"]["items"]
    );
    let user_ids = Arc::new(shop.user_ids());
    let item_ids: Arc<Vec<String>> = Arc::new(shop.catalog.iter().map(|p| p.id.clone()).collect());
    let client = http_client(connections)?;
    let (mut p50s, mut p99s, mut rps) = (Vec::new(), Vec::new(), Vec::new());
    for run in 1..=runs.max(1) {
        let started = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..connections.max(1) {
            let (client, url, user_ids, item_ids) = (
                client.clone(),
                url.clone(),
                user_ids.clone(),
                item_ids.clone(),
            );
            let n = requests / connections.max(1);
            tasks.push(tokio::spawn(async move {
                let mut rng = rand::rngs::StdRng::seed_from_u64((run * 1000 + c) as u64);
                let mut h = Histogram::<u64>::new(3)?;
                for _ in 0..n {
                    let roll: f64 = rng.gen();
                    let query = if roll < 0.9 && !user_ids.is_empty() {
                        format!("user_id={}", user_ids[rng.gen_range(0..user_ids.len())])
                    } else if roll < 0.95 && !item_ids.is_empty() {
                        format!("item_id={}", item_ids[rng.gen_range(0..item_ids.len())])
                    } else {
                        format!("user_id=unknown-{}", rng.gen::<u32>())
                    };
                    let t0 = Instant::now();
                    let resp = client
                        .get(format!("{url}/v1/recommendations?{query}&k=10"))
                        .send()
                        .await?;
                    let status = resp.status();
                    let _ = resp.bytes().await?;
                    anyhow::ensure!(status.is_success(), "recommendations answered {status}");
                    h.record((t0.elapsed().as_micros() as u64).max(1))?;
                }
                anyhow::Ok(h)
            }));
        }
        let mut all = Histogram::<u64>::new(3)?;
        for t in tasks {
            all.add(&t.await.context("request task")??)?;
        }
        let secs = started.elapsed().as_secs_f64();
        let (p50, p99) = (
            ms(all.value_at_quantile(0.5)),
            ms(all.value_at_quantile(0.99)),
        );
        println!(
            "run {run}: {} requests in {secs:.2}s: {:.0} requests/s, latency p50 {p50:.3} ms, p99 {p99:.3} ms, max {:.3} ms",
            all.len(), all.len() as f64 / secs, ms(all.max())
        );
        p50s.push(p50);
        p99s.push(p99);
        rps.push(all.len() as f64 / secs);
    }
    println!(
        "median: {:.0} requests/s, latency p50 {:.3} ms, p99 {:.3} ms",
        median(rps),
        median(p50s),
        median(p99s)
    );
    server.shutdown().await?;
    Ok(())
}
