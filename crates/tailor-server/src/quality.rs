//! Data quality in the server: the lake sink's checks (see `tailor_lake::quality`) judged
//! against the catalog feed, checks after every training run, and what happens to the
//! results — kept for `GET /v1/quality` and the dashboard, counted in metrics, logged, and,
//! when a check fails, POSTed as JSON to `quality.webhook_url`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;
use serde_json::{json, Value};
use tailor_lake::quality::{job_check, median_of, CheckResult, QualityMonitor, Status};
use tailor_lake::{QualityConfig, QualityReport};
use tokio::sync::mpsc;

use crate::ingest::now_ms;
use crate::metrics as m;
use crate::training::Job;

/// Reports kept for `GET /v1/quality`.
const RECENT: usize = 50;
/// Training runs remembered for the row-count baseline.
const RUNS: usize = 10;
/// Webhook attempts per alert (1 s, 2 s, 4 s apart).
const WEBHOOK_ATTEMPTS: u32 = 4;
/// Alerts waiting for the webhook; more are dropped (and counted) rather than held.
const WEBHOOK_QUEUE: usize = 256;

/// The latest result of one check.
#[derive(Debug, Clone, Serialize)]
pub struct Latest {
    pub source: String,
    pub checked_at_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lake_version: Option<u64>,
    #[serde(flatten)]
    pub result: CheckResult,
}

/// The latest results of the checks, counted by status.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Counts {
    pub pass: usize,
    pub skip: usize,
    pub fail: usize,
    /// (check key, why it was skipped), in key order.
    pub skipped: Vec<(String, String)>,
}

/// Where quality results gather.
pub struct QualityHub {
    monitor: Arc<QualityMonitor>,
    recent: Mutex<VecDeque<QualityReport>>,
    latest: Mutex<BTreeMap<String, Latest>>,
    /// (mode, rows) of the last training runs that succeeded.
    runs: Mutex<VecDeque<(String, u64)>>,
    webhook: Option<mpsc::Sender<Value>>,
}

/// Check names a lake commit reports (to publish zeroes before the first commit).
const LAKE_CHECKS: [&str; 7] = [
    "nulls",
    "unknown_items",
    "schema_drift",
    "volume",
    "timestamps",
    "duplicates",
    "dead_letters",
];

impl QualityHub {
    /// The hub, the monitor the lake sink runs, and the webhook task (when configured).
    pub fn start(
        cfg: &QualityConfig,
        state_path: std::path::PathBuf,
        catalog: Arc<crate::catalog::Catalog>,
    ) -> Arc<QualityHub> {
        let webhook = cfg.webhook_url.clone().map(|url| {
            let (tx, rx) = mpsc::channel(WEBHOOK_QUEUE);
            tokio::spawn(deliver(
                url,
                Duration::from_millis(cfg.webhook_timeout_ms),
                rx,
            ));
            tx
        });
        for c in LAKE_CHECKS.iter().chain(&["training"]) {
            metrics::gauge!(m::QUALITY_CHECK_FAILING, "check" => *c).set(0.0);
        }
        Arc::new_cyclic(|me: &std::sync::Weak<QualityHub>| {
            let me = me.clone();
            let monitor = QualityMonitor::new(cfg.clone(), Some(state_path))
                .with_known_items(Arc::new(move |id: &str| catalog.knows(id)))
                .with_listener(Arc::new(move |r: &QualityReport| {
                    if let Some(hub) = me.upgrade() {
                        hub.record(r);
                    }
                }));
            QualityHub {
                monitor: Arc::new(monitor),
                recent: Mutex::new(VecDeque::new()),
                latest: Mutex::new(BTreeMap::new()),
                runs: Mutex::new(VecDeque::new()),
                webhook,
            }
        })
    }

    pub fn monitor(&self) -> Arc<QualityMonitor> {
        self.monitor.clone()
    }

    /// A committed report: kept, counted, and sent to the webhook when a check failed.
    fn record(&self, r: &QualityReport) {
        let mut failing_by_check: BTreeMap<&str, bool> = BTreeMap::new();
        for c in &r.checks {
            metrics::counter!(m::QUALITY_CHECKS_TOTAL, "check" => c.check.clone(), "status" => c.status.as_str())
                .increment(1);
            let f = failing_by_check.entry(c.check.as_str()).or_default();
            *f |= c.status == Status::Fail;
        }
        for (check, failing) in failing_by_check {
            let label = if r.source == "lake_commit" {
                check
            } else {
                "training"
            };
            metrics::gauge!(m::QUALITY_CHECK_FAILING, "check" => label.to_owned())
                .set(if failing { 1.0 } else { 0.0 });
        }
        {
            let mut latest = self.latest.lock();
            for c in &r.checks {
                latest.insert(
                    c.key(),
                    Latest {
                        source: r.source.clone(),
                        checked_at_ms: r.checked_at_ms,
                        lake_version: r.lake_version,
                        result: c.clone(),
                    },
                );
            }
        }
        {
            let mut recent = self.recent.lock();
            recent.push_front(r.clone());
            recent.truncate(RECENT);
        }
        let failing: Vec<&CheckResult> = r.failing().collect();
        if failing.is_empty() {
            return;
        }
        if let Some(tx) = &self.webhook {
            let alert = json!({
                "alert": "tailor_data_quality",
                "status": "fail",
                "source": r.source,
                "checked_at": chrono::DateTime::from_timestamp_millis(r.checked_at_ms)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
                "checked_at_ms": r.checked_at_ms,
                "lake_version": r.lake_version,
                "rows": r.rows,
                "failing": failing,
            });
            if tx.try_send(alert).is_err() {
                metrics::counter!(m::QUALITY_WEBHOOK_TOTAL, "result" => "dropped").increment(1);
                tracing::warn!("quality webhook queue full; an alert was dropped");
            }
        }
    }

    /// Checks after a training run, committed to the lake with its next commit: the run's
    /// status, its rows against the previous runs of its mode, undecodable records read.
    pub fn after_training(&self, job: &Job) {
        let cfg = self.monitor.config();
        if !cfg.enabled || job.status == "skipped" || job.status == "running" {
            return;
        }
        let mode = job.mode.as_str().to_owned();
        let mut checks = vec![job_check(
            "training_status",
            if job.status == "succeeded" { 1.0 } else { 0.0 },
            Some((1.0, false)),
            job.message
                .clone()
                .unwrap_or_else(|| format!("{mode} training {}", job.status)),
        )];
        let mut rows = 0;
        if let Some(rep) = &job.report {
            rows = rep.meta.data.rows as u64;
            let mut runs = self.runs.lock();
            let prev: Vec<f64> = runs
                .iter()
                .filter(|(m, _)| *m == mode)
                .map(|(_, n)| *n as f64)
                .collect();
            checks.push(if prev.is_empty() {
                job_check(
                    "training_rows",
                    rows as f64,
                    None,
                    format!(
                        "{rows} interactions of {} users and {} items (first {mode} run)",
                        rep.meta.data.users, rep.meta.data.items
                    ),
                )
            } else {
                let med = median_of(&prev);
                job_check(
                    "training_rows",
                    rows as f64,
                    Some((0.5 * med, false)),
                    format!(
                        "{rows} interactions of {} users and {} items; previous {mode} runs: median {med}",
                        rep.meta.data.users, rep.meta.data.items
                    ),
                )
            });
            runs.push_back((mode.clone(), rows));
            while runs.len() > RUNS {
                runs.pop_front();
            }
            let read = rep.read.records.max(1);
            let share = rep.read.undecodable as f64 / read as f64;
            checks.push(job_check(
                "training_undecodable",
                share,
                Some((cfg.dead_letter_rate, true)),
                format!(
                    "{} of {} records read could not be decoded",
                    rep.read.undecodable, rep.read.records
                ),
            ));
        }
        self.monitor.submit(QualityReport {
            source: "training".into(),
            checked_at_ms: job.finished_at_ms.unwrap_or_else(now_ms),
            lake_version: None,
            rows,
            checks,
        });
    }

    /// Overall status (`unknown` before any report, `fail` or `pass`) and how many checks
    /// fail now.
    pub fn status(&self) -> (&'static str, usize) {
        Self::status_of(&self.latest.lock())
    }

    fn status_of(latest: &BTreeMap<String, Latest>) -> (&'static str, usize) {
        let failing = latest
            .values()
            .filter(|l| l.result.status == Status::Fail)
            .count();
        let status = if latest.is_empty() {
            "unknown"
        } else if failing > 0 {
            "fail"
        } else {
            "pass"
        };
        (status, failing)
    }

    /// How many checks' latest results pass, are skipped and fail, with each skipped
    /// check's reason.
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for (key, l) in self.latest.lock().iter() {
            match l.result.status {
                Status::Pass => c.pass += 1,
                Status::Fail => c.fail += 1,
                Status::Skip => {
                    c.skip += 1;
                    let why = if l.result.detail.is_empty() {
                        "not judged".to_owned()
                    } else {
                        l.result.detail.clone()
                    };
                    c.skipped.push((key.clone(), why));
                }
            }
        }
        c
    }

    /// `GET /v1/quality`: overall status, the latest result of every check, recent reports.
    pub fn view(&self, failing_only: bool, recent: usize) -> Value {
        let latest = self.latest.lock();
        let checks: Vec<&Latest> = latest
            .values()
            .filter(|l| !failing_only || l.result.status == Status::Fail)
            .collect();
        let (status, failing) = Self::status_of(&latest);
        let reports: Vec<QualityReport> = self
            .recent
            .lock()
            .iter()
            .filter(|r| !failing_only || r.failing().next().is_some())
            .take(recent)
            .cloned()
            .collect();
        json!({
            "status": status,
            "failing": failing,
            "checks": checks,
            "reports": reports,
            "webhook": self.webhook.is_some(),
        })
    }
}

/// POSTs alerts to the webhook, retrying each with backoff.
async fn deliver(url: String, timeout: Duration, mut rx: mpsc::Receiver<Value>) {
    let client = match reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("tailor/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the quality webhook client; alerts go to the log only");
            return;
        }
    };
    while let Some(alert) = rx.recv().await {
        let mut backoff = Duration::from_secs(1);
        for attempt in 1..=WEBHOOK_ATTEMPTS {
            let outcome = client.post(&url).json(&alert).send().await;
            match outcome {
                Ok(resp) if resp.status().is_success() => {
                    metrics::counter!(m::QUALITY_WEBHOOK_TOTAL, "result" => "ok").increment(1);
                    break;
                }
                Ok(resp) => tracing::warn!(
                    status = resp.status().as_u16(),
                    attempt,
                    "quality webhook refused the alert"
                ),
                Err(e) => tracing::warn!(error = %e, attempt, "quality webhook unreachable"),
            }
            if attempt == WEBHOOK_ATTEMPTS {
                metrics::counter!(m::QUALITY_WEBHOOK_TOTAL, "result" => "error").increment(1);
            } else {
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
    }
}
