//! `tailor bench ingest`: batched POST /v1/batch against a fresh server, fsync on; with
//! `--log kafka://…`, the same load through a Kafka log in the same run, next to the
//! embedded one.

use anyhow::Result;

use super::{fresh_config, median, ms, IsolatedServer};
use crate::client::{batch_bodies, progress, send_batches};
use crate::synth::{Shop, ShopConfig};

/// Which log a run writes to.
#[derive(Clone)]
enum Path {
    Embedded { fsync: bool },
    Kafka { url: String },
}

impl Path {
    fn label(&self) -> String {
        match self {
            Path::Embedded { fsync: true } => "embedded log, fsync".into(),
            Path::Embedded { fsync: false } => "embedded log, no fsync".into(),
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
    let r = send_batches(&server.url, None, bodies, connections, &pb).await?;
    pb.finish_and_clear();
    server.shutdown().await?;
    let eps = r.accepted as f64 / r.elapsed.as_secs_f64();
    let (p50, p99) = (
        ms(r.latency_us.value_at_quantile(0.5)),
        ms(r.latency_us.value_at_quantile(0.99)),
    );
    println!(
        "run {run}: {} {} events in {} requests, {:.2}s: {:.0} events/s, ack p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, 429-retries {}",
        path.label(), r.accepted, r.requests, r.elapsed.as_secs_f64(), eps, p50, p99, ms(r.latency_us.max()), r.retries
    );
    Ok((eps, p50, p99))
}

pub(super) async fn ingest(
    events: usize,
    batch: usize,
    connections: usize,
    runs: usize,
    baseline: bool,
    kafka: Option<String>,
) -> Result<()> {
    println!("bench ingest: {events} events/run, batches of {batch}, {connections} connections, {runs} runs, fresh server each run");
    let mut paths = vec![Path::Embedded { fsync: true }];
    if baseline {
        paths.push(Path::Embedded { fsync: false });
    }
    if let Some(url) = kafka {
        if !url.starts_with("kafka://") {
            anyhow::bail!("--log: {url:?} is not a kafka://host:port[/topic] URL");
        }
        paths.push(Path::Kafka { url });
    }
    let mut summary = Vec::new();
    for path in &paths {
        let mut eps = Vec::new();
        let mut p50 = Vec::new();
        let mut p99 = Vec::new();
        for run in 1..=runs.max(1) {
            let (e, a, b) = ingest_once(events, batch, connections, path, run).await?;
            eps.push(e);
            p50.push(a);
            p99.push(b);
        }
        let line = format!(
            "median ({}): {:.0} events/s, ack p50 {:.2} ms, ack p99 {:.2} ms",
            path.label(),
            median(eps),
            median(p50),
            median(p99)
        );
        println!("{line}");
        summary.push(line);
    }
    if summary.len() > 1 {
        println!("summary:");
        for line in summary {
            println!("  {line}");
        }
    }
    Ok(())
}
