//! An HTTP client that sends Segment batches exactly as an SDK does (keep-alive, basic-auth
//! write key, retry on 429/503 honouring Retry-After), used by `demo` and `bench`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use std::sync::Mutex;

/// Serializes events into `/v1/batch` bodies of `batch` events each.
pub fn batch_bodies(events: impl IntoIterator<Item = Value>, batch: usize) -> Vec<(Bytes, usize)> {
    let sent_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut out = Vec::new();
    let mut chunk = Vec::with_capacity(batch);
    let mut flush = |chunk: &mut Vec<Value>| {
        if !chunk.is_empty() {
            let body = json!({"batch": chunk, "sentAt": sent_at});
            out.push((Bytes::from(body.to_string()), chunk.len()));
            chunk.clear();
        }
    };
    for e in events {
        chunk.push(e);
        if chunk.len() >= batch.max(1) {
            flush(&mut chunk);
        }
    }
    flush(&mut chunk);
    out
}

pub struct SendReport {
    pub requests: u64,
    pub events: u64,
    pub accepted: u64,
    pub duplicates: u64,
    pub rejected: u64,
    pub retries: u64,
    pub elapsed: Duration,
    /// Request latency (send → 200), microseconds.
    pub latency_us: Histogram<u64>,
}

impl SendReport {
    fn new() -> Result<Self> {
        Ok(SendReport {
            requests: 0,
            events: 0,
            accepted: 0,
            duplicates: 0,
            rejected: 0,
            retries: 0,
            elapsed: Duration::ZERO,
            latency_us: Histogram::new(3)?,
        })
    }
}

pub fn progress(len: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} {what} [{{bar:30}}] {{pos}}/{{len}} ({{per_sec}}, eta {{eta}})"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb
}

pub fn http_client(connections: usize) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .timeout(Duration::from_secs(15))
        .build()
        .context("building the HTTP client")
}

/// One `/v1/batch` request that was answered 2xx.
pub struct Posted {
    /// The collector's JSON answer (`accepted`, `duplicates`, `rejected`).
    pub answer: Value,
    /// 429/503 answers retried before it succeeded.
    pub retries: u64,
    /// Latency of the successful attempt, microseconds.
    pub latency_us: u64,
}

/// POSTs one batch body to `endpoint`, retrying 429/503 answers after their Retry-After.
pub async fn post_batch(
    client: &reqwest::Client,
    endpoint: &str,
    write_key: Option<&str>,
    body: Bytes,
) -> Result<Posted> {
    let mut attempts = 0;
    let mut retries = 0;
    loop {
        attempts += 1;
        let t0 = Instant::now();
        let mut req = client
            .post(endpoint)
            .header("Content-Type", "application/json")
            .body(body.clone());
        if let Some(k) = write_key {
            req = req.basic_auth(k, Some(""));
        }
        let resp = req.send().await.context("sending a batch")?;
        let status = resp.status();
        if status.as_u16() == 429 || status.as_u16() == 503 {
            let wait = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(1);
            retries += 1;
            if attempts > 20 {
                bail!("server kept answering {status}");
            }
            tokio::time::sleep(Duration::from_millis(wait.min(5) * 200)).await;
            continue;
        }
        let text = resp.text().await.context("reading the answer")?;
        if !status.is_success() {
            bail!("server answered {status}: {text}");
        }
        let latency_us = t0.elapsed().as_micros() as u64;
        let answer: Value = serde_json::from_str(&text).context("answer is not JSON")?;
        return Ok(Posted {
            answer,
            retries,
            latency_us,
        });
    }
}

/// Sends `bodies` to `{url}/v1/batch` over `connections` concurrent keep-alive connections.
pub async fn send_batches(
    url: &str,
    write_key: Option<&str>,
    bodies: Vec<(Bytes, usize)>,
    connections: usize,
    pb: &ProgressBar,
) -> Result<SendReport> {
    let client = http_client(connections)?;
    let queue = Arc::new(Mutex::new(bodies.into_iter().rev().collect::<Vec<_>>()));
    let endpoint = format!("{url}/v1/batch");
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections.max(1) {
        let client = client.clone();
        let queue = queue.clone();
        let endpoint = endpoint.clone();
        let key = write_key.map(str::to_owned);
        let pb = pb.clone();
        tasks.push(tokio::spawn(async move {
            let mut report = SendReport::new()?;
            loop {
                let next = queue
                    .lock()
                    .map_err(|_| anyhow::anyhow!("queue poisoned"))?
                    .pop();
                let Some((body, n)) = next else { break };
                let posted = post_batch(&client, &endpoint, key.as_deref(), body).await?;
                report.retries += posted.retries;
                report.latency_us.record(posted.latency_us.max(1))?;
                let v = posted.answer;
                report.requests += 1;
                report.events += n as u64;
                report.accepted += v["accepted"].as_u64().unwrap_or(0);
                report.duplicates += v["duplicates"].as_u64().unwrap_or(0);
                report.rejected += v["rejected"].as_array().map_or(0, |a| a.len() as u64);
                pb.inc(n as u64);
            }
            anyhow::Ok(report)
        }));
    }
    let mut total = SendReport::new()?;
    for t in tasks {
        let r = t.await.context("sender task")??;
        total.requests += r.requests;
        total.events += r.events;
        total.accepted += r.accepted;
        total.duplicates += r.duplicates;
        total.rejected += r.rejected;
        total.retries += r.retries;
        total.latency_us.add(&r.latency_us)?;
    }
    total.elapsed = started.elapsed();
    Ok(total)
}

/// Polls `/v1/status` until the live processor has applied everything in the log.
pub async fn wait_processed(url: &str, deadline: Duration) -> Result<Value> {
    poll_processed(&http_client(1)?, url, deadline, Duration::from_millis(100)).await
}

/// [`wait_processed`] on `client`, asking `every` so often (a replay waits before each of
/// thousands of requests).
pub async fn poll_processed(
    client: &reqwest::Client,
    url: &str,
    deadline: Duration,
    every: Duration,
) -> Result<Value> {
    let start = Instant::now();
    loop {
        let status: Value = client
            .get(format!("{url}/v1/status"))
            .send()
            .await?
            .json()
            .await?;
        if status["live"]["lag"].as_u64() == Some(0) {
            return Ok(status);
        }
        if start.elapsed() > deadline {
            bail!("events were not processed within {deadline:?}: {status}");
        }
        tokio::time::sleep(every).await;
    }
}

/// Stores catalog items through `POST /v1/items`, 1000 per request (the API's limit), with
/// `secret` as the Bearer key when given. Returns how many were stored.
pub async fn store_items(
    client: &reqwest::Client,
    url: &str,
    secret: Option<&str>,
    items: &[Value],
) -> Result<usize> {
    for chunk in items.chunks(1000) {
        let mut req = client
            .post(format!("{url}/v1/items"))
            .json(&json!({ "items": chunk }));
        if let Some(k) = secret {
            req = req.bearer_auth(k);
        }
        let resp = req.send().await.context("storing the catalog")?;
        let status = resp.status();
        if !status.is_success() {
            bail!(
                "storing the catalog: the server answered {status}: {}",
                resp.text().await.unwrap_or_default()
            );
        }
    }
    Ok(items.len())
}
