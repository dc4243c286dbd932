//! `tailor demo`: the whole pipeline on a synthetic shop, through the real HTTP collector.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use crate::client::{batch_bodies, progress, send_batches, store_items, wait_processed};
use crate::commands::generate::ShopArgs;
use crate::commands::serve::shutdown_signal;
use crate::config::{load, DataArgs};

pub const EXAMPLES: &str = "Examples:
  tailor demo
  tailor demo --users 500 --items 100 --days 3 --exit
  tailor demo --data-dir /tmp/tailor-demo --listen 127.0.0.1:9000 --seed 7";

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Listen address (default 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    #[command(flatten)]
    pub shop: ShopArgs,
    /// Stop after printing the recommendations instead of serving until Ctrl-C.
    #[arg(long)]
    pub exit: bool,
}

pub async fn run(args: DemoArgs) -> Result<()> {
    let cfg = load(&args.data, args.listen.as_deref())?;
    let write_key = cfg.collector.write_keys.first().cloned();
    // A plain-text secret key from the config for the catalog writes (a `sha256:` one
    // cannot be presented).
    let cfg_secret = cfg
        .collector
        .secret_keys
        .iter()
        .find(|k| !k.starts_with("sha256:"))
        .cloned();
    let server = tailor_server::start(cfg).await?;
    let url = server.url();
    eprintln!("tailor is up on {url}; generating a synthetic shop");
    let shop = args
        .shop
        .shop_ending_at(chrono::Utc::now().timestamp_millis());
    // The catalog, so the demo shop page shows titles, categories and prices.
    let items: Vec<Value> = shop
        .catalog
        .iter()
        .map(|p| json!({"id": p.id, "title": p.name, "categories": [p.category], "price": p.price}))
        .collect();
    let stored = store_items(&reqwest::Client::new(), &url, cfg_secret.as_deref(), &items).await?;
    eprintln!("catalog: {stored} products stored (POST /v1/items)");
    let events: Vec<Value> = shop.events().collect();
    let mut views: HashMap<String, usize> = HashMap::new();
    for e in &events {
        if e["event"] == "Product Viewed" {
            let key = e["userId"]
                .as_str()
                .or(e["anonymousId"].as_str())
                .unwrap_or_default();
            *views.entry(key.to_owned()).or_default() += 1;
        }
    }
    let total = events.len() as u64;
    let bodies = batch_bodies(events, 100);
    let pb = progress(total, "sending events");
    let report = send_batches(&url, write_key.as_deref(), bodies, 8, &pb).await?;
    pb.finish_and_clear();
    eprintln!(
        "sent {} events in {} batches over HTTP in {:.1}s: {} accepted, {} duplicates (already stored), {} rejected",
        report.events,
        report.requests,
        report.elapsed.as_secs_f64(),
        report.accepted,
        report.duplicates,
        report.rejected
    );
    let status = wait_processed(&url, Duration::from_secs(120)).await?;
    eprintln!(
        "processed: {} events, {} users, {} items",
        status["live"]["events_processed"], status["live"]["users"], status["live"]["items"]
    );

    let mut users: Vec<(String, usize)> = views.into_iter().collect();
    users.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let client = reqwest::Client::new();
    let name = |id: &str| {
        shop.product(id)
            .map(|p| format!("{id} {} ({})", p.name, p.category))
            .unwrap_or_else(|| id.to_owned())
    };
    for (user, _) in users.iter().take(3) {
        let prefs = shop
            .preferred_categories(user)
            .map(|c| c.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", "))
            .unwrap_or_default();
        println!("\nuser {user} (prefers {prefs})");
        let features: Value = client
            .get(format!("{url}/v1/features/user/{user}"))
            .send()
            .await?
            .json()
            .await
            .context("features answer")?;
        let recent: Vec<String> = features["values"]["user_last_items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        println!(
            "  recently browsed (GET /v1/features/user/{user}, as of {}):",
            features["as_of"].as_str().unwrap_or("?")
        );
        for id in recent.iter().take(5) {
            println!("    {}", name(id));
        }
        let recs: Value = client
            .get(format!("{url}/v1/recommendations"))
            .query(&[("user_id", user.as_str()), ("k", "5")])
            .send()
            .await?
            .json()
            .await
            .context("recommendations answer")?;
        println!(
            "  recommended ({}, rec_id {}):",
            recs["model"].as_str().unwrap_or(""),
            recs["rec_id"].as_str().unwrap_or("")
        );
        for it in recs["items"].as_array().into_iter().flatten() {
            println!(
                "    {:>2}. {}  score {:.3}",
                it["position"],
                name(it["item_id"].as_str().unwrap_or("")),
                it["score"].as_f64().unwrap_or(0.0)
            );
        }
    }
    let shop_url = match &write_key {
        Some(k) if !k.starts_with("sha256:") => format!("{url}/demo/shop?key={k}"),
        _ => format!("{url}/demo/shop"),
    };
    println!("\ndashboard: {url}/\ndemo shop (tailor.js in your browser): {shop_url}");
    println!(
        "\nAPI: {url}/v1/recommendations?user_id={}&k=10\ncollector: POST {url}/v1/batch  (Segment HTTP API)\nfeatures: {url}/v1/features/user/{}\nmetrics: {url}/metrics   status: {url}/v1/status   dead letters: {url}/v1/dead-letters",
        users.first().map(|u| u.0.as_str()).unwrap_or("u000001"),
        users.first().map(|u| u.0.as_str()).unwrap_or("u000001")
    );
    if !args.exit {
        eprintln!("serving until Ctrl-C");
        shutdown_signal().await;
    }
    server.shutdown().await?;
    Ok(())
}
