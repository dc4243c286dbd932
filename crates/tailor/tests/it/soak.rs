//! Soak test: a child `tailor serve` (this build) under constant load of ever-new users and
//! items — Segment batches to `/v1/batch` and recommendation requests for the newest users —
//! with retraining, lake commits and checkpoints running, for `TAILOR_SOAK_SECS` seconds
//! (default 150; `scripts/soak.sh --duration N` runs a release build for longer).
//!
//! The server runs with small capacities (live items and users, entity TTLs, learned
//! catalog items, de-duplication entries, training events), and the load sends several
//! times more distinct users and items than those capacities hold. The test asserts that:
//! - every state the server reports stays within its capacity (`/v1/status`, `/metrics`);
//! - resident memory levels off: after a warm-up (the first 40 %), the peak of the last 30 %
//!   exceeds the peak of the 30 % before by less than a generous margin (a quarter of it,
//!   and at least 48 MiB: allocator and retraining noise), and the whole run stays under
//!   1 GiB. Without the capacities each of these states grows with every new id.
//!
//! The RSS samples are printed, every ten seconds, with the state sizes.
//! `TAILOR_SOAK_ENV=TAILOR__KEY=value,…` adds server settings (to soak another setup).

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common;
use common::{free_port, get_json, get_text, metric, stop_gracefully, wait_ready, Server};

const MAX_LIVE_ITEMS: u64 = 2_000;
const MAX_LIVE_USERS: u64 = 2_000;
const MAX_LEARNED: u64 = 2_000;
const DEDUPE_ENTRIES: u64 = 20_000;
/// `models.max_training_events` (one interaction per event here).
const TRAINING_EVENTS: u64 = 4_000;
/// Feature entities of one kind per partition (4 partitions; kinds: user, item, category,
/// global).
const MAX_ENTITIES: u64 = 250;
/// Event-time TTL of users' live sessions and of feature entities.
const TTL_SECS: u64 = 15;
/// Events per batch and users per batch (each sends `EVENTS_PER_USER`).
const EVENTS_PER_USER: usize = 4;
const USERS_PER_BATCH: usize = 10;

fn spawn(data: &str, port: u16) -> Child {
    let caps = [
        ("TAILOR__LIVE__MAX_ITEMS", MAX_LIVE_ITEMS.to_string()),
        ("TAILOR__LIVE__MAX_USERS", MAX_LIVE_USERS.to_string()),
        ("TAILOR__LIVE__USER_TTL_SECS", TTL_SECS.to_string()),
        ("TAILOR__LIVE__CHECKPOINT_INTERVAL_SECS", "2".into()),
        ("TAILOR__FEATURES__ENTITY_TTL_SECS", TTL_SECS.to_string()),
        (
            "TAILOR__FEATURES__MAX_ENTITIES_PER_PARTITION",
            MAX_ENTITIES.to_string(),
        ),
        (
            "TAILOR__CATALOG__MAX_LEARNED_ITEMS",
            MAX_LEARNED.to_string(),
        ),
        (
            "TAILOR__COLLECTOR__DEDUPE_MAX_ENTRIES",
            DEDUPE_ENTRIES.to_string(),
        ),
        ("TAILOR__LAKE__ROLL_SECS", "2".into()),
        ("TAILOR__MODELS__RETRAIN", "true".into()),
        ("TAILOR__MODELS__INCREMENTAL_EVERY_SECS", "10".into()),
        ("TAILOR__MODELS__FULL_EVERY_SECS", "30".into()),
        ("TAILOR__MODELS__MIN_INTERACTIONS", "10".into()),
        (
            "TAILOR__MODELS__MAX_TRAINING_EVENTS",
            TRAINING_EVENTS.to_string(),
        ),
        ("TAILOR__MODELS__KEEP_VERSIONS", "2".into()),
    ];
    Command::new(env!("CARGO_BIN_EXE_tailor"))
        .args([
            "serve",
            "--data-dir",
            data,
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .envs(caps)
        .envs(
            std::env::var("TAILOR_SOAK_ENV")
                .unwrap_or_default()
                .split(',')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned())),
        )
        .env("TAILOR_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn tailor serve")
}

/// Resident memory of `pid` in bytes, from /proc.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS");
    kb * 1024
}

/// One batch: `USERS_PER_BATCH` new users, each viewing `EVENTS_PER_USER` products: half
/// new ones (never seen before, with a category and a price, so the catalog learns them),
/// half from a small popular set.
fn batch(seq: u64) -> Value {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut events = Vec::with_capacity(USERS_PER_BATCH * EVENTS_PER_USER);
    for u in 0..USERS_PER_BATCH as u64 {
        let user = seq * USERS_PER_BATCH as u64 + u;
        for e in 0..EVENTS_PER_USER as u64 {
            let n = user * EVENTS_PER_USER as u64 + e;
            let item = if e % 2 == 0 {
                format!("new-{n}")
            } else {
                format!("hit-{}", n % 100)
            };
            events.push(json!({
                "type": "track",
                "event": "Product Viewed",
                "userId": format!("soak-user-{user}"),
                "messageId": format!("soak-{n}"),
                "timestamp": now,
                "properties": {
                    "product_id": item,
                    "category": format!("cat-{}", n % 40),
                    "price": 10 + n % 90,
                },
            }));
        }
    }
    json!({ "batch": events })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_levels_off_under_constant_load_of_new_users_and_items() {
    let secs: u64 = std::env::var("TAILOR_SOAK_SECS")
        .ok()
        .map(|v| v.parse().expect("TAILOR_SOAK_SECS: whole seconds"))
        .unwrap_or(150);
    assert!(secs >= 30, "TAILOR_SOAK_SECS: at least 30");
    let dir = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut server = Server(Some(spawn(dir.path().to_str().expect("utf-8 path"), port)));
    let pid = server.0.as_ref().expect("child").id();
    let http = reqwest::Client::new();
    wait_ready(&http, &url).await;

    // Load: one task sends batches at most every 100 ms (about 400 events/s, fewer if the
    // server is slower), another asks for recommendations for the newest users.
    let stop = Arc::new(AtomicBool::new(false));
    let batches = Arc::new(AtomicU64::new(0));
    let accepted = Arc::new(AtomicU64::new(0));
    let recs = Arc::new(AtomicU64::new(0));
    let ingest = {
        let (http, url, stop) = (http.clone(), url.clone(), stop.clone());
        let (batches, accepted) = (batches.clone(), accepted.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut seq = 0;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let resp = http
                    .post(format!("{url}/v1/batch"))
                    .json(&batch(seq))
                    .send()
                    .await
                    .expect("batch sent");
                let status = resp.status();
                let body: Value = resp.json().await.expect("batch answer");
                assert!(status.is_success(), "batch {seq}: {status} {body}");
                accepted.fetch_add(body["accepted"].as_u64().unwrap_or(0), Ordering::Relaxed);
                seq += 1;
                batches.store(seq, Ordering::Relaxed);
            }
        })
    };
    let serve = {
        let (http, url, stop) = (http.clone(), url.clone(), stop.clone());
        let (batches, recs) = (batches.clone(), recs.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(50));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let newest = batches.load(Ordering::Relaxed) * USERS_PER_BATCH as u64;
                let user = newest.saturating_sub(1 + recs.load(Ordering::Relaxed) % 50);
                let resp = http
                    .get(format!(
                        "{url}/v1/recommendations?user_id=soak-user-{user}&k=10"
                    ))
                    .send()
                    .await
                    .expect("recommendation asked");
                assert!(
                    resp.status().is_success(),
                    "recommendations: {}",
                    resp.status()
                );
                recs.fetch_add(1, Ordering::Relaxed);
            }
        })
    };

    // Samples: (seconds since start, RSS bytes), and the state sizes seen.
    let start = Instant::now();
    let mut samples: Vec<(f64, u64)> = Vec::new();
    let mut worst = Worst::default();
    let mut next_print = 0.0;
    // A slow machine sends less per second: the soak then runs on (up to three times as
    // long) until it has sent three times what the capacities hold.
    let enough = || {
        let users = batches.load(Ordering::Relaxed) * USERS_PER_BATCH as u64;
        users >= 3 * MAX_LIVE_USERS.max(MAX_LIVE_ITEMS)
            && users * EVENTS_PER_USER as u64 >= 3 * DEDUPE_ENTRIES / 2
    };
    while start.elapsed() < Duration::from_secs(secs)
        || (!enough() && start.elapsed() < Duration::from_secs(3 * secs))
    {
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!ingest.is_finished(), "the ingest load stopped early");
        assert!(
            !serve.is_finished(),
            "the recommendation load stopped early"
        );
        let t = start.elapsed().as_secs_f64();
        let bytes = rss(pid);
        samples.push((t, bytes));
        let state = worst.observe(&http, &url).await;
        if t >= next_print {
            next_print += 10.0;
            println!(
                "t={t:>5.0}s rss={:>6.1} MiB batches={} accepted={} recs={} {state}",
                bytes as f64 / 1048576.0,
                batches.load(Ordering::Relaxed),
                accepted.load(Ordering::Relaxed),
                recs.load(Ordering::Relaxed),
            );
        }
    }
    let ran = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    ingest.await.expect("ingest task");
    serve.await.expect("recommendation task");

    // The capacities were exercised: several times more ids than they hold were sent.
    let users_sent = batches.load(Ordering::Relaxed) * USERS_PER_BATCH as u64;
    let new_items_sent = users_sent * EVENTS_PER_USER as u64 / 2;
    println!(
        "sent {users_sent} users, {new_items_sent} new items, {} events accepted, {} \
         recommendation lists; peaks: {worst:?}",
        accepted.load(Ordering::Relaxed),
        recs.load(Ordering::Relaxed)
    );
    assert!(
        users_sent >= 3 * MAX_LIVE_USERS && new_items_sent >= 3 * MAX_LIVE_ITEMS,
        "too little load to exercise the capacities: {users_sent} users, {new_items_sent} items"
    );
    assert!(
        accepted.load(Ordering::Relaxed) >= 3 * DEDUPE_ENTRIES / 2,
        "too little load for the de-duplication capacity"
    );
    // Every state within its capacity (each is enforced when past it by an eighth).
    let over = |cap: u64| cap + cap / 8;
    assert!(worst.live_items <= over(MAX_LIVE_ITEMS), "{worst:?}");
    assert!(worst.live_users <= over(MAX_LIVE_USERS), "{worst:?}");
    assert!(worst.learned_items <= over(MAX_LEARNED), "{worst:?}");
    assert!(worst.dedupe_entries <= DEDUPE_ENTRIES, "{worst:?}");
    // Feature entities: at most the capacity per kind and partition …
    let kinds_bound = 4 * 4 * over(MAX_ENTITIES);
    assert!(
        worst.feature_keys <= kinds_bound,
        "feature state keys {} over {kinds_bound}",
        worst.feature_keys
    );
    // … and those of the last TTL: at most the users and items sent in two TTLs plus
    // categories (TTL sweeps run every TTL/16).
    let per_sec = users_sent as f64 / ran;
    let entity_bound = (2 * TTL_SECS) as f64 * per_sec * (1.0 + EVENTS_PER_USER as f64) + 1_000.0;
    assert!(
        (worst.feature_keys as f64) <= entity_bound,
        "feature state keys {} over {entity_bound:.0}",
        worst.feature_keys
    );

    // Retraining ran during the soak, on at most the training budget.
    let (code, models) = get_json(&http, &format!("{url}/v1/models")).await;
    assert_eq!(code, 200, "{models}");
    let serving = &models["serving"];
    println!(
        "serving: version {} data {}",
        serving["version"], serving["data"]
    );
    assert!(
        serving["version"].as_u64().is_some_and(|v| v >= 3),
        "retraining did not run: {models}"
    );
    assert!(
        serving["data"]["rows"]
            .as_u64()
            .is_some_and(|r| r <= TRAINING_EVENTS),
        "trained on more than models.max_training_events: {models}"
    );

    // Memory levels off.
    let window = |from: f64, to: f64| {
        samples
            .iter()
            .filter(|(t, _)| *t >= from * ran && *t < to * ran)
            .map(|&(_, b)| b)
            .max()
            .expect("samples in the window")
    };
    let middle = window(0.4, 0.7);
    let last = window(0.7, 1.01);
    let peak = samples.iter().map(|s| s.1).max().unwrap_or(0);
    let margin = (middle / 4).max(48 << 20);
    println!(
        "rss peaks: 40-70% {:.1} MiB, 70-100% {:.1} MiB (allowed {:.1}), whole run {:.1} MiB",
        middle as f64 / 1048576.0,
        last as f64 / 1048576.0,
        (middle + margin) as f64 / 1048576.0,
        peak as f64 / 1048576.0
    );
    assert!(
        last <= middle + margin,
        "resident memory still growing: {middle} → {last} bytes"
    );
    assert!(peak < 1 << 30, "resident memory over 1 GiB: {peak} bytes");

    stop_gracefully(server.0.take().expect("server"));
}

/// The largest state sizes the server reported.
#[derive(Debug, Default)]
struct Worst {
    live_items: u64,
    live_users: u64,
    learned_items: u64,
    dedupe_entries: u64,
    feature_keys: u64,
}

impl Worst {
    /// Reads `/v1/status` and `/metrics`, keeps the peaks, returns the current sizes.
    async fn observe(&mut self, http: &reqwest::Client, url: &str) -> String {
        let (code, status) = get_json(http, &format!("{url}/v1/status")).await;
        assert_eq!(code, 200, "{status}");
        let n = |v: &Value| v.as_u64().unwrap_or_else(|| panic!("a count in {status}"));
        let items = n(&status["live"]["items"]);
        let users = n(&status["live"]["users"]);
        let learned = n(&status["catalog"]["learned_items"]);
        let dedupe = n(&status["collector"]["dedupe_entries"]);
        let text = get_text(http, &format!("{url}/metrics")).await;
        let keys = metric(&text, "tailor_features_state_keys", &[]).unwrap_or(0.0) as u64;
        self.live_items = self.live_items.max(items);
        self.live_users = self.live_users.max(users);
        self.learned_items = self.learned_items.max(learned);
        self.dedupe_entries = self.dedupe_entries.max(dedupe);
        self.feature_keys = self.feature_keys.max(keys);
        format!(
            "live items={items} users={users} learned={learned} dedupe={dedupe} \
             feature_keys={keys} lag={}",
            status["live"]["lag"]
        )
    }
}
