//! `tailor bench features`: the feature engine alone (in memory, no HTTP), then the full
//! path — collector → log → engine → online store — measured from outside: while a paced
//! load of live events runs, probe events are sent for fresh users and their feature row is
//! polled until the probe's item shows in it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use hdrhistogram::Histogram;
use serde_json::{json, Value};

use super::{fresh_config, median, ms, IsolatedServer};
use crate::client::http_client;
use crate::synth::{Shop, ShopConfig};

pub(super) struct FeaturesBench {
    pub events: usize,
    pub users: usize,
    pub items: usize,
    pub rate: u64,
    pub seconds: u64,
    pub runs: usize,
}

pub(super) async fn features(b: FeaturesBench) -> Result<()> {
    engine_alone(&b)?;
    full_path(&b).await
}

fn engine_alone(b: &FeaturesBench) -> Result<()> {
    use tailor_features::engine::bench::{partition_of, run, synthetic_events};
    use tailor_features::{FeatureEngine, FeaturesConfig};
    println!(
        "engine alone: default feature set, {} items × {} users, 4 partitions, batches of 2,000 \
         per partition as the processor reads them; {} events to warm the state up, then {} \
         timed; {} runs",
        b.items, b.users, b.events, b.events, b.runs
    );
    // Warm-up, timed run, then fresh events for the materialization figure (events already
    // applied would only be late the second time).
    let all = synthetic_events(2 * b.events + 100_000, b.items as u32, b.users as u32, 7);
    let (warm_up, rest) = all.split_at(b.events);
    let (timed, fresh) = rest.split_at(b.events);
    let (mut wall_rates, mut cpu_rates, mut materialized) = (Vec::new(), Vec::new(), Vec::new());
    for run_no in 1..=b.runs.max(1) {
        let mut engine = FeatureEngine::new(&FeaturesConfig::default(), 4)?;
        // As the embedded processor runs: serving reads the state in place.
        engine.set_track_touched(false);
        run(&mut engine, warm_up);
        let r = run(&mut engine, timed);
        let cpu_rate = r.cpu_seconds.map(|c| r.events as f64 / c.max(1e-9));
        // What a materializing store (memory://, later networked ones) adds: the rows of
        // every entity touched, written after each batch.
        engine.set_track_touched(true);
        let t = Instant::now();
        let mut rows = 0usize;
        let mut outcomes = Vec::new();
        let mut offsets = engine.next_offsets();
        for chunk in fresh.chunks(2_000) {
            for (e, p) in chunk.iter().map(|e| (e, partition_of(e.actor_key(), 4))) {
                outcomes.clear();
                engine.apply_batch(p, &[(offsets[p as usize], e)], &mut outcomes);
                offsets[p as usize] += 1;
            }
            let touched = engine.take_touched();
            rows += engine.materialize(&touched).len();
        }
        let applied = fresh.len();
        let with_rows = applied as f64 / t.elapsed().as_secs_f64().max(1e-9);
        println!(
            "run {run_no}: {:.0} events/s ({}), {} entities, ~{:.0} MiB state, {} late; \
             materializing every touched row too: {with_rows:.0} events/s ({rows} rows)",
            r.events_per_sec,
            cpu_rate.map_or("no CPU clock".to_owned(), |c| format!(
                "{c:.0} per CPU-second"
            )),
            r.entities,
            r.state_bytes as f64 / (1024.0 * 1024.0),
            r.late_events,
        );
        wall_rates.push(r.events_per_sec);
        if let Some(c) = cpu_rate {
            cpu_rates.push(c);
        }
        materialized.push(with_rows);
    }
    println!(
        "median: {:.0} events/s on one core ({} per CPU-second); {:.0} events/s when every \
         touched row is also materialized",
        median(wall_rates),
        if cpu_rates.is_empty() {
            "n/a".to_owned()
        } else {
            format!("{:.0}", median(cpu_rates))
        },
        median(materialized)
    );
    Ok(())
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Live events for the paced load: the synthetic shop's behaviour, stamped with the send time.
fn paced_body(events: &mut impl Iterator<Item = Value>, n: usize) -> Option<Bytes> {
    let now = now_rfc3339();
    let mut batch = Vec::with_capacity(n);
    for mut e in events.by_ref().take(n) {
        e["timestamp"] = Value::String(now.clone());
        batch.push(e);
    }
    if batch.is_empty() {
        return None;
    }
    Some(Bytes::from(
        json!({ "batch": batch, "sentAt": now }).to_string(),
    ))
}

async fn full_path(b: &FeaturesBench) -> Result<()> {
    println!(
        "full path: {} events/s of live traffic for {}s, probes every 20 ms, {} runs",
        b.rate, b.seconds, b.runs
    );
    let (mut p50s, mut p99s) = (Vec::new(), Vec::new());
    for run in 1..=b.runs.max(1) {
        let (p50, p99) = full_path_once(b, run).await?;
        p50s.push(p50);
        p99s.push(p99);
    }
    println!(
        "median: event → feature visible p50 {:.2} ms, p99 {:.2} ms at {} events/s",
        median(p50s),
        median(p99s),
        b.rate
    );
    Ok(())
}

async fn full_path_once(b: &FeaturesBench, run: usize) -> Result<(f64, f64)> {
    let dir = tempfile::tempdir()?;
    let server = IsolatedServer::start(fresh_config(dir.path(), true)).await?;
    let url = server.url.clone();
    let client = http_client(32)?;
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));

    // Paced load: one batch of 100 every 100/rate seconds, each on its own task so a slow
    // answer never lowers the offered rate.
    let load = {
        let (client, url, stop, sent) = (client.clone(), url.clone(), stop.clone(), sent.clone());
        let (users, items, rate) = (b.users, b.items, b.rate.max(100));
        tokio::spawn(async move {
            let shop = Shop::new(ShopConfig {
                users,
                items,
                seed: run as u64,
                ..ShopConfig::default()
            });
            let mut events = shop.events();
            let mut tick = tokio::time::interval(Duration::from_secs_f64(100.0 / rate as f64));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut inflight = tokio::task::JoinSet::new();
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let Some(body) = paced_body(&mut events, 100) else {
                    break;
                };
                let (client, url, sent) = (client.clone(), url.clone(), sent.clone());
                inflight.spawn(async move {
                    let resp = client
                        .post(format!("{url}/v1/batch"))
                        .header("Content-Type", "application/json")
                        .body(body)
                        .send()
                        .await?;
                    if resp.status().is_success() {
                        sent.fetch_add(100, Ordering::Relaxed);
                    }
                    anyhow::Ok(())
                });
                while let Some(done) = inflight.try_join_next() {
                    done.context("load task")??;
                }
            }
            while let Some(done) = inflight.join_next().await {
                done.context("load task")??;
            }
            anyhow::Ok(())
        })
    };

    // Probes: a fresh user views a fresh item; time until GET /v1/features shows it.
    let started = Instant::now();
    let mut probes = tokio::task::JoinSet::new();
    let mut n = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    while started.elapsed() < Duration::from_secs(b.seconds) {
        tick.tick().await;
        n += 1;
        let (client, url) = (client.clone(), url.clone());
        probes.spawn(async move { probe(&client, &url, run, n).await });
    }
    stop.store(true, Ordering::Relaxed);
    let mut h = Histogram::<u64>::new(3)?;
    while let Some(r) = probes.join_next().await {
        h.record(r.context("probe task")??.max(1))?;
    }
    load.await.context("load task")??;
    let offered = sent.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    server.shutdown().await?;
    let (p50, p99) = (ms(h.value_at_quantile(0.5)), ms(h.value_at_quantile(0.99)));
    println!(
        "run {run}: {} probes under {offered:.0} events/s accepted: event → feature visible p50 {p50:.2} ms, p99 {p99:.2} ms, max {:.2} ms",
        h.len(),
        ms(h.max())
    );
    Ok((p50, p99))
}

/// Sends one probe event and polls its user's features; returns microseconds until visible.
async fn probe(client: &reqwest::Client, url: &str, run: usize, n: u64) -> Result<u64> {
    let user = format!("probe-{run}-{n}");
    let item = format!("probe-item-{n}");
    let body = json!({
        "batch": [{
            "type": "track",
            "event": "Product Viewed",
            "userId": user,
            "messageId": format!("probe-{run}-{n}"),
            "timestamp": now_rfc3339(),
            "properties": {"product_id": item, "category": "probe", "price": 1.0},
        }],
    });
    let t0 = Instant::now();
    let resp = client
        .post(format!("{url}/v1/batch"))
        .json(&body)
        .send()
        .await?;
    if !resp.status().is_success() {
        bail!("probe answered {}", resp.status());
    }
    loop {
        let resp = client
            .get(format!("{url}/v1/features/user/{user}"))
            .send()
            .await?;
        if resp.status().is_success() {
            let row: Value = resp.json().await?;
            let seen = row["values"]["user_last_items"]
                .as_array()
                .is_some_and(|items| items.iter().any(|i| i == &Value::String(item.clone())));
            if seen {
                return Ok(t0.elapsed().as_micros() as u64);
            }
        }
        if t0.elapsed() > Duration::from_secs(30) {
            bail!("probe {user} not visible in its features after 30 s");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
