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
    let mut cfg = fresh_config(dir.path(), true);
    // Training is started by the benchmark, not the schedule.
    cfg.models.retrain = false;
    let server = IsolatedServer::start(cfg).await?;
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
    let load = Load {
        url: url.clone(),
        client: client.clone(),
        user_ids,
        item_ids,
        requests,
        connections,
    };
    // Baseline in the same run: the live model alone, before any trained model serves.
    let live = measure(&load, "live model only", runs).await?;
    let t = Instant::now();
    // Training answers when the version serves: no short client timeout.
    let resp = reqwest::Client::builder()
        .timeout(Duration::from_secs(3600))
        .build()?
        .post(format!("{url}/v1/admin/train"))
        .json(&serde_json::json!({"mode": "full"}))
        .send()
        .await?;
    let status = resp.status();
    let job: serde_json::Value = resp.json().await?;
    anyhow::ensure!(status.is_success(), "training answered {status}: {job}");
    println!(
        "trained {} v{} on {} interactions ({} items) in {:.1}s; it serves from now on",
        job["report"]["meta"]["name"].as_str().unwrap_or("?"),
        job["report"]["meta"]["version"],
        job["report"]["meta"]["data"]["rows"],
        job["report"]["meta"]["data"]["items"],
        t.elapsed().as_secs_f64()
    );
    let blend = measure(&load, "trained blend + live model", runs).await?;
    println!(
        "blended vs live-only: p99 {:.3} / {:.3} ms (×{:.2}), requests/s {:.0} / {:.0}",
        blend.1,
        live.1,
        blend.1 / live.1.max(1e-9),
        blend.2,
        live.2
    );
    server.shutdown().await?;
    Ok(())
}

struct Load {
    url: String,
    client: reqwest::Client,
    user_ids: Arc<Vec<String>>,
    item_ids: Arc<Vec<String>>,
    requests: usize,
    connections: usize,
}

/// `runs` rounds of requests (90 % known users, 5 % context items, 5 % unknown users);
/// returns the medians (p50 ms, p99 ms, requests/s).
async fn measure(load: &Load, label: &str, runs: usize) -> Result<(f64, f64, f64)> {
    let connections = load.connections.max(1);
    let (mut p50s, mut p99s, mut rps) = (Vec::new(), Vec::new(), Vec::new());
    for run in 1..=runs.max(1) {
        let started = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..connections {
            let (client, url, user_ids, item_ids) = (
                load.client.clone(),
                load.url.clone(),
                load.user_ids.clone(),
                load.item_ids.clone(),
            );
            let n = load.requests / connections;
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
            "{label}, run {run}: {} requests in {secs:.2}s: {:.0} requests/s, latency p50 {p50:.3} ms, p99 {p99:.3} ms, max {:.3} ms",
            all.len(), all.len() as f64 / secs, ms(all.max())
        );
        p50s.push(p50);
        p99s.push(p99);
        rps.push(all.len() as f64 / secs);
    }
    let out = (median(p50s), median(p99s), median(rps));
    println!(
        "{label}, median: {:.0} requests/s, latency p50 {:.3} ms, p99 {:.3} ms",
        out.2, out.0, out.1
    );
    Ok(out)
}
