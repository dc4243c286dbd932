//! `tailor bench recommend`: GET /v1/recommendations on a loaded server with a large
//! catalog, an A/B experiment (trained model | live model) and filters; closed loop (as fast
//! as the connections go) and open loop at a fixed rate, before and after training.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::SecondsFormat;
use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tailor_server::experiments::{ExperimentConfig, VariantConfig, LIVE};
use tailor_server::routes::recommend::RecAnswer;

use super::{fresh_config, median, ms, IsolatedServer};
use crate::client::{batch_bodies, http_client, progress, send_batches, wait_processed};
use crate::synth::{Shop, ShopConfig};

pub(super) struct RecommendBench {
    pub users: usize,
    pub items: usize,
    pub catalog_items: usize,
    pub requests: usize,
    pub connections: usize,
    pub rate: u64,
    pub seconds: u64,
    pub runs: usize,
}

/// Issue 6's target.
const TARGET: &str = "target p99 ≤ 10 ms at 2,000/s";
/// Generated catalog items created within the last 3 days: new items for exploration.
const NEW_ITEMS: usize = 300;
const DAY_MS: i64 = 86_400_000;

pub(super) async fn recommend(b: RecommendBench) -> Result<()> {
    anyhow::ensure!(
        b.users > 0 && b.items > 0 && b.connections > 0 && b.rate > 0,
        "--users, --items, --connections and --rate must be positive"
    );
    let dir = tempfile::tempdir()?;
    let mut cfg = fresh_config(dir.path(), true);
    // Training is started by the benchmark, not the schedule.
    cfg.models.retrain = false;
    // Sticky halves of the users: the trained registry model (merged with the live model),
    // or the live model alone. Until a model is trained, both serve the live model alone.
    let variant = |name: &str, model: &str| VariantConfig {
        name: name.into(),
        model: model.into(),
        share: 0.5,
    };
    cfg.experiment = vec![ExperimentConfig {
        name: "bench".into(),
        surface: None,
        variants: vec![variant("trained", &cfg.models.serve), variant("live", LIVE)],
    }];
    let server = IsolatedServer::start(cfg).await?;
    let url = server.url.clone();
    let shop = Shop::new(ShopConfig {
        users: b.users,
        items: b.items,
        ..ShopConfig::default()
    });
    let client = http_client(b.connections)?;
    let categories = import_catalog(&client, &url, &shop, b.catalog_items).await?;
    let bodies = batch_bodies(shop.events(), 500);
    let total: u64 = bodies.iter().map(|b| b.1 as u64).sum();
    let pb = progress(total, "loading events");
    send_batches(&url, None, bodies, 8, &pb).await?;
    pb.finish_and_clear();
    let status = wait_processed(&url, Duration::from_secs(600)).await?;
    println!(
        "bench recommend: {} catalog items in {} categories ({} with events); loaded {} events: {} users; experiment bench: trained | live 50/50; closed loop {} requests/run over {} connections, open loop {}/s for {} s; {} runs",
        b.catalog_items.max(shop.catalog.len()),
        categories.len(),
        status["live"]["items"],
        status["live"]["events_processed"],
        status["live"]["users"],
        b.requests,
        b.connections,
        b.rate,
        b.seconds,
        b.runs
    );
    let load = Arc::new(Load {
        url: url.clone(),
        client,
        user_ids: shop.user_ids(),
        item_ids: shop.catalog.iter().map(|p| p.id.clone()).collect(),
        categories,
        connections: b.connections,
    });
    // Baseline in the same run: the live model alone, before any trained model serves.
    let live = phase(&load, &b, "live model only").await?;
    let t = Instant::now();
    // Training answers when the version serves: no short client timeout.
    let resp = reqwest::Client::builder()
        .timeout(Duration::from_secs(3600))
        .build()?
        .post(format!("{url}/v1/admin/train"))
        .json(&json!({"mode": "full"}))
        .send()
        .await?;
    let status = resp.status();
    let job: Value = resp.json().await?;
    anyhow::ensure!(status.is_success(), "training answered {status}: {job}");
    println!(
        "trained {} v{} on {} interactions ({} items) in {:.1}s; variant trained serves it from now on",
        job["report"]["meta"]["name"].as_str().unwrap_or("?"),
        job["report"]["meta"]["version"],
        job["report"]["meta"]["data"]["rows"],
        job["report"]["meta"]["data"]["items"],
        t.elapsed().as_secs_f64()
    );
    let trained = phase(&load, &b, "experiment trained | live").await?;
    server.shutdown().await?;
    for s in live.iter().chain(&trained) {
        println!(
            "{}: p50 {:.2} ms, p99 {:.2} ms at {:.0} requests/s ({TARGET})",
            s.label, s.p50, s.p99, s.rps
        );
    }
    let ([lc, lo], [tc, to]) = (&live, &trained);
    println!(
        "experiment vs live-only: closed loop p99 {:.3} / {:.3} ms (×{:.2}), requests/s {:.0} / {:.0} (×{:.2}); open loop p99 {:.3} / {:.3} ms (×{:.2})",
        tc.p99,
        lc.p99,
        tc.p99 / lc.p99.max(1e-9),
        tc.rps,
        lc.rps,
        tc.rps / lc.rps.max(1e-9),
        to.p99,
        lo.p99,
        to.p99 / lo.p99.max(1e-9)
    );
    Ok(())
}

/// Stores the shop's products plus generated items (up to `total` in all) in the catalog
/// through `POST /v1/items`, 1000 per request: ~3 % unavailable (the availability rule
/// filters), the last [`NEW_ITEMS`] created within 3 days (exploration picks them), the
/// others 1–12 months old. Returns the category names.
async fn import_catalog(
    client: &reqwest::Client,
    url: &str,
    shop: &Shop,
    total: usize,
) -> Result<Vec<String>> {
    let mut categories: Vec<String> = shop.catalog.iter().map(|p| p.category.clone()).collect();
    categories.sort_unstable();
    categories.dedup();
    let mut rng = StdRng::seed_from_u64(6);
    let (n, now) = (
        total.max(shop.catalog.len()),
        chrono::Utc::now().timestamp_millis(),
    );
    let mut items = Vec::with_capacity(n);
    for i in 0..n {
        let (id, title, category, price) = match shop.catalog.get(i) {
            Some(p) => (p.id.clone(), p.name.clone(), p.category.clone(), p.price),
            None => {
                let c = categories[rng.gen_range(0..categories.len())].clone();
                let price = f64::from(rng.gen_range(500..20_000u32)) / 100.0;
                (format!("X{i:06}"), format!("{c} #{i}"), c, price)
            }
        };
        let age = if i + NEW_ITEMS >= n {
            rng.gen_range(0..3 * DAY_MS)
        } else {
            rng.gen_range(30 * DAY_MS..365 * DAY_MS)
        };
        let created_at = chrono::DateTime::from_timestamp_millis(now - age)
            .context("creation time out of range")?
            .to_rfc3339_opts(SecondsFormat::Millis, true);
        items.push(json!({
            "id": id, "title": title, "categories": [category], "price": price,
            "available": !rng.gen_bool(0.03), "created_at": created_at,
        }));
    }
    crate::client::store_items(client, url, None, &items).await?;
    Ok(categories)
}

/// What requests are drawn from.
struct Load {
    url: String,
    client: reqwest::Client,
    user_ids: Vec<String>,
    /// The shop's products (the items with events): context items and exclusions.
    item_ids: Vec<String>,
    categories: Vec<String>,
    connections: usize,
}

impl Load {
    /// A request's query: surface home 50 % / product 30 % (with the viewed item) / cart 20 %
    /// (with the item just added); 90 % known users, 10 % new anonymous visitors; 30 % with a
    /// `category`, 30 % with 3–5 ids to `exclude`; k = 10.
    fn query(&self, rng: &mut StdRng) -> Vec<(&'static str, String)> {
        let pick = |rng: &mut StdRng, v: &[String]| v[rng.gen_range(0..v.len())].clone();
        let mut q = vec![("k", "10".to_owned())];
        if rng.gen_bool(0.9) {
            q.push(("user_id", pick(rng, &self.user_ids)));
        } else {
            q.push(("anonymous_id", format!("anon-{}", rng.gen::<u32>())));
        }
        let roll: f64 = rng.gen();
        if roll < 0.5 {
            q.push(("surface", "home".into()));
        } else {
            let surface = if roll < 0.8 { "product" } else { "cart" };
            q.push(("surface", surface.into()));
            q.push(("item_id", pick(rng, &self.item_ids)));
        }
        if rng.gen_bool(0.3) {
            q.push(("category", pick(rng, &self.categories)));
        }
        if rng.gen_bool(0.3) {
            let ids: Vec<String> = (0..rng.gen_range(3..=5))
                .map(|_| pick(rng, &self.item_ids))
                .collect();
            q.push(("exclude", ids.join(",")));
        }
        q
    }
}

/// A measurement's medians over its runs.
struct Summary {
    label: String,
    p50: f64,
    p99: f64,
    rps: f64,
}

/// The closed-loop and the open-loop measurement of one phase.
async fn phase(load: &Arc<Load>, b: &RecommendBench, name: &str) -> Result<[Summary; 2]> {
    let closed = format!("{name}, closed loop ({} connections)", b.connections);
    let open = format!("{name}, open loop at {}/s", b.rate);
    Ok([
        measure(load, b, closed, None).await?,
        measure(load, b, open, Some(b.rate as f64)).await?,
    ])
}

/// `b.runs` runs of requests over `b.connections` connections: closed loop (`rate` None,
/// `b.requests` per run) or open loop (`rate` requests/s for `b.seconds`).
async fn measure(
    load: &Arc<Load>,
    b: &RecommendBench,
    label: String,
    rate: Option<f64>,
) -> Result<Summary> {
    let per_connection = match rate {
        None => b.requests,
        Some(r) => (r * b.seconds as f64) as usize,
    } / b.connections;
    let (mut p50s, mut p99s, mut rps) = (Vec::new(), Vec::new(), Vec::new());
    let mut total = Tally::default();
    for run in 1..=b.runs.max(1) {
        let start = Instant::now();
        let tasks: Vec<_> = (0..b.connections)
            .map(|c| {
                let seed = (run * 1000 + c) as u64;
                tokio::spawn(connection(
                    load.clone(),
                    c,
                    per_connection,
                    start,
                    rate,
                    seed,
                ))
            })
            .collect();
        let mut tally = Tally::default();
        for t in tasks {
            tally.merge(t.await.context("request task")??)?;
        }
        let secs = start.elapsed().as_secs_f64();
        let all = tally.latency()?;
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
        total.merge(tally)?;
    }
    let s = Summary {
        label,
        p50: median(p50s),
        p99: median(p99s),
        rps: median(rps),
    };
    println!(
        "{}, median: {:.0} requests/s, latency p50 {:.3} ms, p99 {:.3} ms",
        s.label, s.rps, s.p50, s.p99
    );
    println!("{}, answers per variant: {}", s.label, total.split());
    Ok(s)
}

/// One connection's `n` requests. Closed loop (`rate` None): each as soon as the previous
/// one is answered. Open loop: request `j = i·connections + c` of the run is due at
/// `start + j / rate`.
async fn connection(
    load: Arc<Load>,
    c: usize,
    n: usize,
    start: Instant,
    rate: Option<f64>,
    seed: u64,
) -> Result<Tally> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut tally = Tally::default();
    let endpoint = format!("{}/v1/recommendations", load.url);
    for i in 0..n {
        let query = load.query(&mut rng);
        let sent = match rate {
            None => Instant::now(),
            Some(rate) => {
                let due = start + Duration::from_secs_f64((i * load.connections + c) as f64 / rate);
                // Behind schedule (the previous answer came late): latency counts from when
                // the request was due, so queueing is not hidden (coordinated omission). On
                // time: from the actual send, so the timer's 1 ms granularity is not counted.
                if Instant::now() < due {
                    tokio::time::sleep_until(due.into()).await;
                    Instant::now()
                } else {
                    due
                }
            }
        };
        let resp = load.client.get(&endpoint).query(&query).send().await?;
        let status = resp.status();
        let body = resp.bytes().await?;
        let latency = sent.elapsed();
        anyhow::ensure!(
            status.is_success(),
            "recommendations answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
        tally.record(latency, &serde_json::from_slice(&body)?)?;
    }
    Ok(tally)
}

/// Latencies and answers per experiment variant.
#[derive(Default)]
struct Tally(BTreeMap<String, Arm>);

struct Arm {
    latency: Histogram<u64>,
    /// Answers the trained model took part in.
    trained: u64,
    /// Answers with a new item in an exploration slot.
    explored: u64,
}

impl Tally {
    fn arm(&mut self, variant: &str) -> Result<&mut Arm> {
        if !self.0.contains_key(variant) {
            let arm = Arm {
                latency: Histogram::new(3)?,
                trained: 0,
                explored: 0,
            };
            self.0.insert(variant.to_owned(), arm);
        }
        self.0.get_mut(variant).context("variant just inserted")
    }

    fn record(&mut self, latency: Duration, answer: &RecAnswer) -> Result<()> {
        let arm = self.arm(&answer.variant)?;
        arm.latency.record((latency.as_micros() as u64).max(1))?;
        arm.trained += u64::from(answer.strategy.starts_with("model+"));
        arm.explored += u64::from(answer.items.iter().any(|i| i.exploration));
        Ok(())
    }

    fn merge(&mut self, other: Tally) -> Result<()> {
        for (variant, o) in other.0 {
            let arm = self.arm(&variant)?;
            arm.latency.add(&o.latency)?;
            arm.trained += o.trained;
            arm.explored += o.explored;
        }
        Ok(())
    }

    /// All variants' latencies together.
    fn latency(&self) -> Result<Histogram<u64>> {
        let mut all = Histogram::new(3)?;
        for arm in self.0.values() {
            all.add(&arm.latency)?;
        }
        Ok(all)
    }

    /// Each variant's share of the answers, how many the trained model took part in, how
    /// many had an exploration slot, and its latency.
    fn split(&self) -> String {
        let total: u64 = self.0.values().map(|a| a.latency.len()).sum();
        let pct = |k: u64, of: u64| 100.0 * k as f64 / of.max(1) as f64;
        let arms: Vec<String> = self
            .0
            .iter()
            .map(|(variant, a)| {
                let n = a.latency.len();
                format!(
                    "{variant} {:.1} % ({n}; trained model in {:.0} %, exploration slot in {:.0} %; p50 {:.3} ms, p99 {:.3} ms)",
                    pct(n, total),
                    pct(a.trained, n),
                    pct(a.explored, n),
                    ms(a.latency.value_at_quantile(0.5)),
                    ms(a.latency.value_at_quantile(0.99))
                )
            })
            .collect();
        arms.join(", ")
    }
}
