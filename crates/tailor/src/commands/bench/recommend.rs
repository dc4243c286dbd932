//! `tailor bench recommend`: GET /v1/recommendations on a loaded server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};

use super::{fresh_config, median, ms, IsolatedServer};
use crate::client::{batch_bodies, http_client, progress, send_batches, wait_processed};
use crate::synth::{Shop, ShopConfig};

pub(super) async fn recommend(
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
