//! `tailor eval --replay`: the same split as `tailor eval`, measured through the serving
//! path. A real server starts in-process on a fresh data directory with the default
//! configuration; the training part of the split is posted to `/v1/batch` in event-time
//! order, `POST /v1/admin/train` fits the production blend (as the schedule's next run
//! would), then every test case is asked of `GET /v1/recommendations` when it happens:
//!
//! * `session`: the test sessions are replayed event by event in time order; before each
//!   event after a session's first, the session's next-item list is asked (surface
//!   `next_item` by default) and scored against that event's item;
//! * `temporal`, `next_basket`: each user's list (surface `home`, respectively `buy_again`,
//!   by default) is asked once the training events are in, and scored against the user's
//!   held-out items.
//!
//! The answers are scored with the metric functions `tailor eval` uses, and printed next to
//! the library figure of the same blend on the same split.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use indicatif::ProgressBar;
use rustc_hash::{FxHashMap, FxHashSet};
use serde_json::{json, Value};
use tailor_event::InteractionKind;
use tailor_rec::data::{Interactions, Row};
use tailor_rec::eval::metrics::binomial_se;
use tailor_rec::eval::{accuracy, evaluate_fitted, Protocol, Split};
use tailor_rec::model::ModelSpec;

use crate::client::{batch_bodies, poll_processed, post_batch, progress};

/// Events per `POST /v1/batch`.
const BATCH: usize = 200;

/// What the serving path answered, scored.
pub struct Served {
    /// `(metric, value)` in the order of the library report.
    pub metrics: Vec<(String, f64)>,
    pub cases: usize,
    /// Answers holding fewer items than asked.
    pub short: usize,
    /// Temporal protocols: the share of served items (first 10) the user already had in
    /// training, which the library's protocol never ranks.
    pub had: Option<f64>,
    /// How many served items each source proposed (`model`, `cooc`, …).
    pub sources: Vec<(String, usize)>,
    pub surface: String,
}

/// The `track` event of a row (impressions are not replayed: they carry no item interest).
fn event(data: &Interactions, r: &Row, id: usize) -> Option<Value> {
    let item = data.items.name(r.item);
    let mut product = json!({ "product_id": item });
    if let Some(c) = data.category_of(r.item) {
        product["category"] = json!(data.categories.name(c));
    }
    let (name, properties) = match r.kind {
        InteractionKind::View => ("Product Viewed", product),
        InteractionKind::Click => ("Product Clicked", product),
        InteractionKind::AddToCart => ("Product Added", product),
        InteractionKind::Purchase => ("Order Completed", json!({ "products": [product] })),
        InteractionKind::Impression => return None,
    };
    Some(json!({
        "type": "track",
        "event": name,
        "userId": data.users.name(r.user),
        "messageId": format!("replay-{id}"),
        "timestamp": tailor_event::time::format_ms(r.ts_ms),
        "properties": properties,
    }))
}

struct Client {
    http: reqwest::Client,
    url: String,
}

impl Client {
    /// Sends `req` to `path`; a non-2xx answer is an error naming the request.
    async fn call(&self, req: reqwest::RequestBuilder, path: &str) -> Result<Value> {
        let resp = req.send().await.with_context(|| path.to_owned())?;
        let status = resp.status();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("{path}: {status}: {v}");
        }
        Ok(v)
    }

    /// Posts events through the collector in their order; every one must be accepted.
    async fn send(&self, events: Vec<Value>, pb: Option<&ProgressBar>) -> Result<()> {
        let endpoint = format!("{}/v1/batch", self.url);
        for (body, n) in batch_bodies(events, BATCH) {
            let answer = post_batch(&self.http, &endpoint, None, body).await?.answer;
            if answer["rejected"].as_array().is_some_and(|r| !r.is_empty()) {
                bail!("the collector rejected replayed events: {answer}");
            }
            if let Some(pb) = pb {
                pb.inc(n as u64);
            }
        }
        Ok(())
    }

    /// Waits until the live processor has applied everything in the log.
    async fn processed(&self) -> Result<()> {
        let (deadline, every) = (Duration::from_secs(300), Duration::from_millis(2));
        poll_processed(&self.http, &self.url, deadline, every).await?;
        Ok(())
    }

    /// The answer for `user` on `surface`.
    async fn ask(&self, user: &str, k: usize, surface: &str) -> Result<Value> {
        let req = self
            .http
            .get(format!("{}/v1/recommendations", self.url))
            .query(&[
                ("user_id", user),
                ("k", &k.to_string()),
                ("surface", surface),
            ]);
        self.call(req, "GET /v1/recommendations").await
    }
}

/// Runs the split through a real server and scores its answers.
pub async fn replay(
    data: &Interactions,
    split: &Split,
    base: tailor_server::Config,
    surface: Option<&str>,
    threads: usize,
) -> Result<Served> {
    let session = matches!(split.protocol, Protocol::Session { .. });
    let surface = surface
        .unwrap_or(match split.protocol {
            Protocol::Session { .. } => "next_item",
            Protocol::NextBasket => "buy_again",
            Protocol::Temporal { .. } => "home",
        })
        .to_owned();
    let dir = tempfile::tempdir().context("a data directory for the replay")?;
    // The given configuration, on a fresh data directory and port, trained only when the
    // replay asks.
    let mut cfg = tailor_server::Config {
        data_dir: dir.path().to_path_buf(),
        listen: "127.0.0.1:0".into(),
        ..base
    };
    // Everything stays inside that directory and open to the replay's own client: the
    // file's storage, roles, keys and TLS are set aside.
    let defaults = tailor_server::Config::default();
    cfg.log = defaults.log;
    cfg.lake = defaults.lake;
    cfg.online = defaults.online;
    cfg.roles = defaults.roles;
    cfg.tls = defaults.tls;
    cfg.collector.write_keys.clear();
    cfg.collector.secret_keys.clear();
    cfg.models.retrain = false;
    cfg.models.threads = threads.max(1);
    let server = tailor_server::start(cfg)
        .await
        .context("starting the server")?;
    let client = Client {
        http: reqwest::Client::new(),
        url: server.url(),
    };

    // The training part, in event-time order.
    let train = &split.train;
    let mut order: Vec<usize> = (0..train.rows.len()).collect();
    order.sort_by_key(|&i| (train.rows[i].ts_ms, i));
    let events: Vec<Value> = order
        .iter()
        .filter_map(|&i| event(train, &train.rows[i], i))
        .collect();
    let pb = progress(events.len() as u64, "posting the training events");
    client.send(events, Some(&pb)).await?;
    pb.finish_and_clear();
    client.processed().await?;
    let pb = ProgressBar::new_spinner();
    pb.set_message("training (POST /v1/admin/train)");
    pb.enable_steady_tick(Duration::from_millis(120));
    let train_url = format!("{}/v1/admin/train", client.url);
    client
        .call(
            client.http.post(train_url).json(&json!({})),
            "POST /v1/admin/train",
        )
        .await?;
    pb.finish_and_clear();

    // Enough for every metric (HR@20, MRR@20, Recall@20).
    let k = 20;
    let mut lists: Vec<Vec<u32>> = Vec::new();
    let mut targets: Vec<FxHashSet<u32>> = Vec::new();
    let mut short = 0;
    let mut had = (0usize, 0usize);
    let mut sources: FxHashMap<String, usize> = FxHashMap::default();
    let mut score = |answer: &Value, want: FxHashSet<u32>, lists: &mut Vec<Vec<u32>>| {
        let items = answer["items"].as_array().cloned().unwrap_or_default();
        if items.len() < k {
            short += 1;
        }
        for i in &items {
            *sources
                .entry(i["source"].as_str().unwrap_or("?").to_owned())
                .or_default() += 1;
        }
        lists.push(
            items
                .iter()
                .map(|i| {
                    i["item_id"]
                        .as_str()
                        .and_then(|id| data.items.get(id))
                        .unwrap_or(u32::MAX)
                })
                .collect(),
        );
        targets.push(want);
    };
    if session {
        // Test rows are grouped by session; replay them in time order across sessions.
        let rows = &split.test_rows;
        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.sort_by_key(|&i| (rows[i].ts_ms, i));
        let mut started: FxHashSet<u32> = FxHashSet::default();
        let pb = progress(rows.len() as u64, "replaying the test sessions");
        for (n, &i) in order.iter().enumerate() {
            let r = &rows[i];
            if !started.insert(r.session) {
                client.processed().await?;
                let answer = client.ask(data.users.name(r.user), k, &surface).await?;
                score(&answer, [r.item].into_iter().collect(), &mut lists);
            }
            let Some(e) = event(data, r, train.rows.len() + n) else {
                continue;
            };
            client.send(vec![e], None).await?;
            pb.inc(1);
        }
        pb.finish_and_clear();
    } else {
        let pb = progress(split.cases.len() as u64, "asking for each user's list");
        for c in &split.cases {
            let Some(u) = c.ctx.user else { continue };
            let answer = client.ask(train.users.name(u), k, &surface).await?;
            score(&answer, c.targets.clone(), &mut lists);
            if let Some(l) = lists.last() {
                let (h, n) = had;
                let top = &l[..l.len().min(10)];
                had = (
                    h + top.iter().filter(|i| c.exclude.contains(i)).count(),
                    n + top.len(),
                );
            }
            pb.inc(1);
        }
        pb.finish_and_clear();
    }
    server.shutdown().await.context("stopping the server")?;

    let targets: Vec<&FxHashSet<u32>> = targets.iter().collect();
    let metrics = accuracy(&lists, &targets, session);
    let mut sources: Vec<(String, usize)> = sources.into_iter().collect();
    sources.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(Served {
        metrics,
        cases: lists.len(),
        short,
        had: (had.1 > 0).then(|| had.0 as f64 / had.1 as f64),
        sources,
        surface,
    })
}

/// The library figure of the blend the server trains, on the same split.
pub fn library(
    split: &Split,
    cfg: &tailor_server::Config,
) -> Result<tailor_rec::eval::ModelReport> {
    let spec = ModelSpec::Blend(cfg.models.blend_params());
    let fitted = spec.fit(&split.train)?;
    let mut report = evaluate_fitted(&[fitted], split);
    report
        .models
        .pop()
        .context("the library evaluation gave no report")
}

/// Library and served figures side by side, with the first metric's standard error.
pub fn table(
    name: &str,
    protocol: &Protocol,
    library: &tailor_rec::eval::ModelReport,
    served: &Served,
) -> String {
    let mut out = format!(
        "{name}, {} protocol: the production blend as a library and through the serving path \
         (surface {}; {} cases)\n",
        protocol.name(),
        served.surface,
        served.cases
    );
    out.push_str(&format!(
        "{:<12} {:>10} {:>10} {:>10}\n",
        "metric", "library", "served", "served-lib"
    ));
    for (m, v) in &served.metrics {
        let lib = library.metric(m).unwrap_or(f64::NAN);
        out.push_str(&format!(
            "{m:<12} {lib:>10.4} {v:>10.4} {:>+10.4}\n",
            v - lib
        ));
    }
    if let (Some((m, v)), Some(lib)) = (
        served.metrics.first(),
        served.metrics.first().and_then(|(m, _)| library.metric(m)),
    ) {
        let se = binomial_se(lib, served.cases).max(binomial_se(*v, served.cases));
        out.push_str(&format!(
            "{m}: one standard error is {se:.4}; the served figure is {} the library's\n",
            if (v - lib).abs() <= se {
                "within one standard error of"
            } else if *v > lib {
                "above"
            } else {
                "below"
            }
        ));
    }
    if let Some(h) = served.had {
        out.push_str(&format!(
            "served items (first 10) the user already had in training, which the library never ranks: {:.1}%\n",
            100.0 * h
        ));
    }
    out.push_str(&format!(
        "answers shorter than asked: {}; items by source: {}\n",
        served.short,
        served
            .sources
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    out
}
