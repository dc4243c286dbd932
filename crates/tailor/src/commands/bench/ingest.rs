//! `tailor bench ingest`: batched POST /v1/batch against a fresh server, fsync on; with
//! `--log kafka://…`, the same load through a Kafka log in the same run, next to the
//! embedded one; with `--watch`, the same load again with the dashboard open (an observer
//! polling `GET /v1/dashboard` and scraping `GET /metrics` every second), to show what
//! watching costs. Runs of the different setups alternate, so drift on a shared machine
//! hits them alike.

use anyhow::Result;

use super::{fresh_config, median, ms, IsolatedServer};
use crate::client::{batch_bodies, progress, send_batches};
use crate::synth::{Shop, ShopConfig};

/// Which log a run writes to.
#[derive(Clone)]
enum Path {
    Embedded {
        fsync: bool,
    },
    /// Embedded log with fsync, watched by the dashboard and a Prometheus scraper.
    Watched,
    Kafka {
        url: String,
    },
}

impl Path {
    fn label(&self) -> String {
        match self {
            Path::Embedded { fsync: true } => "embedded log, fsync".into(),
            Path::Embedded { fsync: false } => "embedded log, no fsync".into(),
            Path::Watched => "embedded log, fsync, dashboard open + /metrics every 1 s".into(),
            Path::Kafka { .. } => "kafka log, acks=all".into(),
        }
    }
}

async fn ingest_once(
    events: usize,
    batch: usize,
    connections: usize,
    path: &Path,
    run: usize,
) -> Result<(f64, f64, f64)> {
    let dir = tempfile::tempdir()?;
    let cfg = match path {
        Path::Embedded { fsync } => fresh_config(dir.path(), *fsync),
        Path::Watched => fresh_config(dir.path(), true),
        Path::Kafka { url } => {
            let mut cfg = fresh_config(dir.path(), true);
            // A fresh events topic per run: `kafka://brokers/<topic>-<nanos>`.
            let base = url.trim_end_matches('/');
            let (brokers, topic) = match base["kafka://".len()..].split_once('/') {
                Some((b, t)) => (b.to_owned(), t.to_owned()),
                None => (base["kafka://".len()..].to_owned(), "bench".to_owned()),
            };
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_nanos();
            cfg.log.url = format!("kafka://{brokers}/{topic}-{nanos:x}");
            cfg
        }
    };
    let server = IsolatedServer::start(cfg).await?;
    let shop = Shop::new(ShopConfig {
        users: (events / 15).max(10),
        items: 10_000,
        seed: run as u64 + 1,
        ..ShopConfig::default()
    });
    let bodies = batch_bodies(shop.events().take(events), batch);
    let total: u64 = bodies.iter().map(|b| b.1 as u64).sum();
    let pb = progress(total, &format!("ingest ({})", path.label()));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = matches!(path, Path::Watched)
        .then(|| tokio::spawn(watch(server.url.clone(), stop.clone())));
    let r = send_batches(&server.url, None, bodies, connections, &pb).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let polls = match watcher {
        Some(w) => Some(w.await??),
        None => None,
    };
    let r = r?;
    pb.finish_and_clear();
    server.shutdown().await?;
    let eps = r.accepted as f64 / r.elapsed.as_secs_f64();
    let (p50, p99) = (
        ms(r.latency_us.value_at_quantile(0.5)),
        ms(r.latency_us.value_at_quantile(0.99)),
    );
    println!(
        "run {run}: {} {} events in {} requests, {:.2}s: {:.0} events/s, ack p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, 429/503 retries {}",
        path.label(), r.accepted, r.requests, r.elapsed.as_secs_f64(), eps, p50, p99, ms(r.latency_us.max()), r.retries
    );
    if let Some(n) = polls {
        println!("  (the observer fetched /v1/dashboard and /metrics {n} times each)");
    }
    Ok((eps, p50, p99))
}

/// Polls the dashboard's data and scrapes `/metrics` every second until `stop`; returns
/// how many rounds it made. A failed poll fails the run.
async fn watch(url: String, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) -> Result<u64> {
    let http = reqwest::Client::new();
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    let mut rounds = 0;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        tick.tick().await;
        for path in ["/v1/dashboard", "/metrics"] {
            let resp = http.get(format!("{url}{path}")).send().await?;
            anyhow::ensure!(resp.status().is_success(), "GET {path}: {}", resp.status());
            resp.bytes().await?;
        }
        rounds += 1;
    }
    Ok(rounds)
}

pub(super) async fn ingest(
    events: usize,
    batch: usize,
    connections: usize,
    runs: usize,
    baseline: bool,
    watched: bool,
    kafka: Option<String>,
) -> Result<()> {
    println!("bench ingest: {events} events/run, batches of {batch}, {connections} connections, {runs} runs, fresh server each run");
    let mut paths = vec![Path::Embedded { fsync: true }];
    if baseline {
        paths.push(Path::Embedded { fsync: false });
    }
    if watched {
        paths.push(Path::Watched);
    }
    if let Some(url) = kafka {
        if !url.starts_with("kafka://") {
            anyhow::bail!("--log: {url:?} is not a kafka://host:port[/topic] URL");
        }
        paths.push(Path::Kafka { url });
    }
    let mut summary = Vec::new();
    let mut results: Vec<(Vec<f64>, Vec<f64>, Vec<f64>)> = vec![Default::default(); paths.len()];
    for run in 1..=runs.max(1) {
        for (path, (eps, p50, p99)) in paths.iter().zip(results.iter_mut()) {
            let (e, a, b) = ingest_once(events, batch, connections, path, run).await?;
            eps.push(e);
            p50.push(a);
            p99.push(b);
        }
    }
    let first = median(results[0].0.clone());
    for (path, (eps, p50, p99)) in paths.iter().zip(results) {
        let eps = median(eps);
        let mut line = format!(
            "median ({}): {:.0} events/s, ack p50 {:.2} ms, ack p99 {:.2} ms",
            path.label(),
            eps,
            median(p50),
            median(p99)
        );
        if !summary.is_empty() && first > 0.0 {
            line.push_str(&format!(" — {:.2}× the first", eps / first));
        }
        summary.push(line);
    }
    println!("summary:");
    for line in summary {
        println!("  {line}");
    }
    Ok(())
}
