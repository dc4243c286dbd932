//! `tailor bench ingest`: batched POST /v1/batch against a fresh server, fsync on.

use anyhow::Result;

use super::{fresh_config, median, ms, IsolatedServer};
use crate::client::{batch_bodies, progress, send_batches};
use crate::synth::{Shop, ShopConfig};

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

pub(super) async fn ingest(
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
