//! The built-in dashboard's data (`GET /v1/dashboard`; the page itself is `/`). A sampler
//! reads the server's own Prometheus exposition every [`SAMPLE_EVERY`] — the same numbers
//! `/metrics` shows — and keeps [`KEEP`] samples of rates and levels; the endpoint adds the
//! pipeline's stages with a red/amber/green status, CTR per variant, recent dead letters,
//! models and data-quality checks.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;
use serde_json::{json, Value};

use crate::ingest::now_ms;
use crate::state::App;

/// Sampling period.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(2);
/// Samples kept: 10 minutes.
pub const KEEP: usize = 300;
/// Route whose latency the dashboard charts.
const REC_ROUTE: &str = "/v1/recommendations";

/// One point of the charts.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub t: i64,
    /// Events accepted per second.
    pub events_per_sec: f64,
    /// Events rejected (dead-lettered) per second.
    pub rejected_per_sec: f64,
    /// Duplicates dropped per second.
    pub duplicates_per_sec: f64,
    /// HTTP requests per second, and the share answered 5xx.
    pub requests_per_sec: f64,
    pub error_rate: f64,
    /// Live processor lag, in records.
    pub lag_records: f64,
    /// Freshness per stage, in seconds: now − the newest event time the collector logged,
    /// the processor applied (over all its partitions, and in its slowest partition: one
    /// without recent events ages there though nothing waits) and the lake committed.
    /// Event time, not processing time: historical events are as old as their timestamps.
    pub log_freshness_s: Option<f64>,
    pub features_freshness_s: Option<f64>,
    pub features_slowest_s: Option<f64>,
    pub lake_freshness_s: Option<f64>,
    /// Age of the served model, in seconds.
    pub model_age_s: Option<f64>,
    /// Recommendation latency quantiles over the period, in milliseconds.
    pub rec_p50_ms: Option<f64>,
    pub rec_p99_ms: Option<f64>,
    /// Event → feature-visible latency p99 over the period, in milliseconds.
    pub feature_p99_ms: Option<f64>,
    /// Resident memory, in bytes (Linux).
    pub memory_bytes: Option<f64>,
}

/// Counters and histogram buckets read from the exposition.
#[derive(Default, Clone)]
struct Reading {
    accepted: f64,
    rejected: f64,
    duplicates: f64,
    requests: f64,
    errors: f64,
    lag: f64,
    /// The watermark lag of the slowest and of the newest partition.
    features_lag: Option<f64>,
    features_newest: Option<f64>,
    lake_lag: Option<f64>,
    trained_at: Option<f64>,
    log_lag: Option<f64>,
    memory: Option<f64>,
    rec_buckets: BTreeMap<String, f64>,
    feature_buckets: BTreeMap<String, f64>,
    flush_errors: f64,
}

/// `name{labels} value` of an exposition line.
fn parse_line(line: &str) -> Option<(&str, &str, f64)> {
    if line.starts_with('#') || line.is_empty() {
        return None;
    }
    let (series, value) = line.rsplit_once(' ')?;
    let value: f64 = value.parse().ok()?;
    match series.split_once('{') {
        Some((name, labels)) => Some((name, labels.strip_suffix('}')?, value)),
        None => Some((series, "", value)),
    }
}

fn label<'a>(labels: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("{key}=\"");
    let start = labels.find(&pat)? + pat.len();
    let rest = &labels[start..];
    Some(&rest[..rest.find('"')?])
}

fn max_opt(a: Option<f64>, v: f64) -> Option<f64> {
    Some(a.map_or(v, |a| a.max(v)))
}

fn min_opt(a: Option<f64>, v: f64) -> Option<f64> {
    Some(a.map_or(v, |a| a.min(v)))
}

fn read(text: &str) -> Reading {
    let mut r = Reading::default();
    for line in text.lines() {
        let Some((name, labels, v)) = parse_line(line) else {
            continue;
        };
        match name {
            "tailor_collector_events_accepted_total" => r.accepted += v,
            "tailor_collector_events_rejected_total" => r.rejected += v,
            "tailor_collector_events_duplicate_total" => r.duplicates += v,
            "tailor_http_requests_total" => {
                r.requests += v;
                if label(labels, "status").is_some_and(|s| s.starts_with('5')) {
                    r.errors += v;
                }
            }
            "tailor_live_consumer_lag_records" => r.lag += v,
            "tailor_features_watermark_lag_seconds" => {
                r.features_lag = max_opt(r.features_lag, v);
                r.features_newest = min_opt(r.features_newest, v);
            }
            "tailor_lake_commit_lag_seconds" => r.lake_lag = max_opt(r.lake_lag, v),
            "tailor_model_trained_timestamp_seconds" => r.trained_at = max_opt(r.trained_at, v),
            "tailor_lake_flush_errors_total" => r.flush_errors += v,
            "tailor_log_freshness_seconds" => r.log_lag = max_opt(r.log_lag, v),
            "process_resident_memory_bytes" => r.memory = Some(v),
            "tailor_http_request_duration_seconds_bucket"
                if label(labels, "route") == Some(REC_ROUTE) =>
            {
                if let Some(le) = label(labels, "le") {
                    *r.rec_buckets.entry(le.to_owned()).or_default() += v;
                }
            }
            "tailor_features_visible_latency_seconds_bucket" => {
                if let Some(le) = label(labels, "le") {
                    *r.feature_buckets.entry(le.to_owned()).or_default() += v;
                }
            }
            _ => {}
        }
    }
    r
}

/// The `q` quantile (in ms) of the observations between two readings of cumulative
/// histogram buckets; `None` without observations.
fn quantile_ms(
    before: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
    q: f64,
) -> Option<f64> {
    let mut buckets: Vec<(f64, f64)> = after
        .iter()
        .map(|(le, n)| {
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap_or(f64::INFINITY)
            };
            (bound, n - before.get(le).copied().unwrap_or(0.0))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut prev = (0.0, 0.0);
    for (bound, count) in buckets {
        if count >= rank {
            if bound.is_infinite() {
                return Some(prev.0 * 1000.0);
            }
            // Linear inside the bucket, as histogram_quantile does.
            let within = if count > prev.1 {
                (rank - prev.1) / (count - prev.1)
            } else {
                1.0
            };
            return Some((prev.0 + (bound - prev.0) * within) * 1000.0);
        }
        prev = (bound, count);
    }
    None
}

/// The samples, and the reading they were last computed from.
#[derive(Default)]
pub struct Dashboard {
    samples: Mutex<VecDeque<Sample>>,
    last: Mutex<Option<(std::time::Instant, Reading)>>,
    /// Flush errors seen in the last period (the lake's status).
    lake_errors_recent: Mutex<f64>,
}

impl Dashboard {
    pub fn new() -> Arc<Dashboard> {
        Arc::new(Dashboard::default())
    }

    /// Takes one sample from the exposition text. `lateness_s`: the features'
    /// `allowed_lateness_secs`, which the watermark gauge counts on top of the newest
    /// applied event's age.
    pub fn sample(&self, exposition: &str, lateness_s: f64) {
        let now = std::time::Instant::now();
        let mut reading = read(exposition);
        let applied_age = |l: f64| (l - lateness_s).max(0.0);
        reading.features_lag = reading.features_lag.map(applied_age);
        reading.features_newest = reading.features_newest.map(applied_age);
        let mut last = self.last.lock();
        if let Some((at, prev)) = last.as_ref() {
            let secs = now.duration_since(*at).as_secs_f64().max(1e-3);
            let per_sec = |a: f64, b: f64| ((a - b) / secs).max(0.0);
            let requests = (reading.requests - prev.requests).max(0.0);
            let errors = (reading.errors - prev.errors).max(0.0);
            let now_s = now_ms() as f64 / 1000.0;
            *self.lake_errors_recent.lock() = reading.flush_errors - prev.flush_errors;
            let s = Sample {
                t: now_ms(),
                events_per_sec: per_sec(reading.accepted, prev.accepted),
                rejected_per_sec: per_sec(reading.rejected, prev.rejected),
                duplicates_per_sec: per_sec(reading.duplicates, prev.duplicates),
                requests_per_sec: requests / secs,
                error_rate: if requests > 0.0 {
                    errors / requests
                } else {
                    0.0
                },
                lag_records: reading.lag,
                log_freshness_s: reading.log_lag,
                features_freshness_s: reading.features_newest,
                features_slowest_s: reading.features_lag,
                lake_freshness_s: reading.lake_lag,
                model_age_s: reading.trained_at.map(|t| (now_s - t).max(0.0)),
                rec_p50_ms: quantile_ms(&prev.rec_buckets, &reading.rec_buckets, 0.5),
                rec_p99_ms: quantile_ms(&prev.rec_buckets, &reading.rec_buckets, 0.99),
                feature_p99_ms: quantile_ms(&prev.feature_buckets, &reading.feature_buckets, 0.99),
                memory_bytes: reading.memory,
            };
            let mut samples = self.samples.lock();
            samples.push_back(s);
            while samples.len() > KEEP {
                samples.pop_front();
            }
        }
        *last = Some((now, reading));
    }

    pub fn samples(&self) -> Vec<Sample> {
        self.samples.lock().iter().cloned().collect()
    }
}

/// Samples the server's metrics until the task is aborted.
pub async fn run(app: App) {
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        crate::routes::ops::refresh_gauges(&app);
        let text = app.prometheus.render();
        app.dashboard
            .sample(&text, app.cfg.features.allowed_lateness_secs as f64);
    }
}

#[derive(Serialize)]
struct Stage {
    name: &'static str,
    /// `green`, `amber`, `red` (or `grey`: nothing to judge yet).
    status: &'static str,
    detail: String,
}

fn stage(name: &'static str, status: &'static str, detail: String) -> Stage {
    Stage {
        name,
        status,
        detail,
    }
}

/// Mean of a field over the last `n` samples that have it.
fn recent(samples: &[Sample], n: usize, f: impl Fn(&Sample) -> Option<f64>) -> Option<f64> {
    let v: Vec<f64> = samples.iter().rev().take(n).filter_map(f).collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

fn stages(app: &App, samples: &[Sample]) -> Vec<Stage> {
    let last = samples.last();
    let n = 15; // the last 30 s
    let events = recent(samples, n, |s| Some(s.events_per_sec)).unwrap_or(0.0);
    let rejected = recent(samples, n, |s| Some(s.rejected_per_sec)).unwrap_or(0.0);
    let errors = recent(samples, n, |s| Some(s.error_rate)).unwrap_or(0.0);
    let share = if events + rejected > 0.0 {
        rejected / (events + rejected)
    } else {
        0.0
    };
    let collector = if errors > 0.05 || share > 0.2 {
        "red"
    } else if errors > 0.01 || share > 0.02 {
        "amber"
    } else {
        "green"
    };
    let mut out = vec![stage(
        "collector",
        collector,
        format!(
            "{events:.1} events/s accepted, {:.1} % rejected, {:.1} % of requests 5xx",
            share * 100.0,
            errors * 100.0
        ),
    )];

    let lag = last.map_or(0.0, |s| s.lag_records);
    let fresh = last.and_then(|s| s.features_freshness_s);
    let features = if lag > 100_000.0 {
        "red"
    } else if lag > 10_000.0 || (lag > 0.0 && fresh.is_some_and(|f| f > 300.0)) {
        "amber"
    } else {
        "green"
    };
    out.push(stage(
        "features",
        features,
        features_detail(lag, fresh, last.and_then(|s| s.log_freshness_s)),
    ));

    let lake_fresh = last.and_then(|s| s.lake_freshness_s);
    let roll = app.cfg.lake.roll_secs as f64;
    let behind = match (lake_fresh, fresh) {
        (Some(l), Some(f)) => (l - f).max(0.0),
        (None, Some(_)) => f64::INFINITY,
        _ => 0.0,
    };
    let lake_errors = *app.dashboard.lake_errors_recent.lock();
    let lake = if lake_errors > 0.0 || (behind.is_finite() && behind > 1800.0) {
        "red"
    } else if behind > 3.0 * roll + 10.0 {
        "amber"
    } else {
        "green"
    };
    out.push(stage(
        "lake",
        lake,
        match lake_fresh {
            Some(l) => format!(
                "newest committed event time {} ago; commits every {roll:.0} s{}",
                ago(l),
                if lake_errors > 0.0 {
                    ", flushes failing"
                } else {
                    ""
                }
            ),
            None => "nothing committed yet".into(),
        },
    ));

    let served = app.models.get();
    let last_job = app
        .trainer
        .jobs()
        .into_iter()
        .find(|j| j.status != "running");
    let failed = last_job.as_ref().is_some_and(|j| j.status == "failed");
    let age = last.and_then(|s| s.model_age_s);
    let models = if failed {
        "red"
    } else if served.is_none() || age.is_some_and(|a| a > 2.0 * 86_400.0) {
        "amber"
    } else {
        "green"
    };
    out.push(stage(
        "models",
        models,
        match (&served, failed) {
            (_, true) => format!(
                "last training failed: {}",
                last_job.and_then(|j| j.message).unwrap_or_default()
            ),
            (Some(m), _) => format!(
                "{} v{} serving, trained {:.0} min ago",
                m.meta.name,
                m.meta.version,
                age.unwrap_or(0.0) / 60.0
            ),
            (None, _) => "no trained model: live recommendations only".into(),
        },
    ));

    let p99 = recent(samples, n, |s| s.rec_p99_ms);
    let serving = match p99 {
        Some(p) if p > 50.0 => "red",
        Some(p) if p > 10.0 => "amber",
        _ => "green",
    };
    out.push(stage(
        "serving",
        serving,
        match p99 {
            Some(p) => format!("recommendations p99 {p:.1} ms over the last 30 s"),
            None => "no recommendation requests in the last 30 s".into(),
        },
    ));

    let counts = app.quality.counts();
    let quality = if counts.fail > 0 {
        "red"
    } else if counts.pass > 0 {
        "green"
    } else {
        "grey"
    };
    out.push(stage("quality", quality, quality_detail(&counts)));
    out
}

/// A duration in seconds as people read it: `0.4 s`, `12 s`, `4.5 min`, `3.0 h`, `2.1 days`.
fn ago(secs: f64) -> String {
    match secs {
        s if s < 10.0 => format!("{s:.1} s"),
        s if s < 120.0 => format!("{s:.0} s"),
        s if s < 7_200.0 => format!("{:.1} min", s / 60.0),
        s if s < 172_800.0 => format!("{:.1} h", s / 3_600.0),
        s => format!("{:.1} days", s / 86_400.0),
    }
}

/// The features stage: the processing lag in records, and the event time of the newest
/// event applied (its age, and how far it trails the newest event logged when records are
/// waiting). `fresh` and `log_fresh` are now − those event times, in seconds.
fn features_detail(lag: f64, fresh: Option<f64>, log_fresh: Option<f64>) -> String {
    let behind = if lag == 0.0 {
        "all logged events applied".to_owned()
    } else {
        format!("{lag:.0} records behind the log")
    };
    match (fresh, log_fresh) {
        (None, _) if lag == 0.0 => "no event applied yet".into(),
        (None, _) => format!("{behind}; no event applied yet"),
        (Some(f), Some(l)) if lag > 0.0 && f > l => format!(
            "{behind}; newest applied event time {} ago, {} older than the newest logged",
            ago(f),
            ago(f - l)
        ),
        (Some(f), _) => format!("{behind}; newest applied event time {} ago", ago(f)),
    }
}

/// The quality stage: how many checks passed, were skipped (and why) and failed, by their
/// latest results.
fn quality_detail(c: &crate::quality::Counts) -> String {
    if c.pass + c.skip + c.fail == 0 {
        return "no lake commit judged yet".into();
    }
    let why = if c.skipped.is_empty() {
        String::new()
    } else {
        let mut reasons: Vec<String> = c
            .skipped
            .iter()
            .take(2)
            .map(|(check, reason)| format!("{check}: {reason}"))
            .collect();
        if c.skipped.len() > 2 {
            reasons.push("…".into());
        }
        format!(" ({})", reasons.join("; "))
    };
    format!("{} pass, {} skipped{why}, {} fail", c.pass, c.skip, c.fail)
}

/// `GET /v1/dashboard`.
pub fn view(app: &App) -> Value {
    let samples = app.dashboard.samples();
    let dead: Vec<Value> =
        crate::routes::dead_letters::read_dead_letters(&*app.log, app.eraser.list(), None, 10)
            .map(|(items, _)| {
                items
                    .into_iter()
                    .rev()
                    .map(|d| {
                        // The reason, never the payload (it may hold personal data).
                        let reason: String = d["reason"]
                            .as_str()
                            .unwrap_or_default()
                            .chars()
                            .take(300)
                            .collect();
                        json!({
                            "received_at": d["received_at"],
                            "endpoint": d["endpoint"],
                            "reason": reason,
                            "offset": d["offset"],
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
    let mut models = vec![];
    for slot in std::iter::once(&app.models).chain(app.variant_models.values()) {
        models.push(match slot.get() {
            Some(m) => json!({
                "name": m.meta.name, "version": m.meta.version, "kind": m.meta.kind,
                "trained_at_ms": m.meta.trained_at_ms, "rows": m.meta.data.rows,
                "metrics": m.meta.metrics.as_ref().map(|x| &x.metrics),
            }),
            None => json!({"name": slot.name, "version": null}),
        });
    }
    let jobs: Vec<Value> = app
        .trainer
        .jobs()
        .into_iter()
        .take(5)
        .map(|j| {
            json!({"id": j.id, "mode": j.mode.as_str(), "status": j.status,
                   "started_at_ms": j.started_at_ms, "duration_secs": j.duration_secs,
                   "message": j.message})
        })
        .collect();
    json!({
        "now_ms": now_ms(),
        "sample_every_secs": SAMPLE_EVERY.as_secs(),
        "stages": stages(app, &samples),
        "samples": samples,
        "ctr": app.attribution.stats(),
        "dead_letters": dead,
        "models": models,
        "jobs": jobs,
        "quality": app.quality.view(false, 5),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_lines_and_quantiles() {
        let text = "# HELP x y\n\
            tailor_collector_events_accepted_total{endpoint=\"batch\"} 10\n\
            tailor_collector_events_accepted_total{endpoint=\"track\"} 5\n\
            tailor_http_requests_total{route=\"/v1/batch\",method=\"POST\",status=\"200\"} 9\n\
            tailor_http_requests_total{route=\"/v1/batch\",method=\"POST\",status=\"503\"} 1\n\
            tailor_http_request_duration_seconds_bucket{route=\"/v1/recommendations\",method=\"GET\",status=\"200\",le=\"0.001\"} 50\n\
            tailor_http_request_duration_seconds_bucket{route=\"/v1/recommendations\",method=\"GET\",status=\"200\",le=\"0.01\"} 99\n\
            tailor_http_request_duration_seconds_bucket{route=\"/v1/recommendations\",method=\"GET\",status=\"200\",le=\"+Inf\"} 100\n\
            tailor_lake_commit_lag_seconds 4.5\n";
        let r = read(text);
        assert_eq!((r.accepted, r.requests, r.errors), (15.0, 10.0, 1.0));
        assert_eq!(r.lake_lag, Some(4.5));
        let p50 = quantile_ms(&BTreeMap::new(), &r.rec_buckets, 0.5).expect("p50");
        assert!((p50 - 1.0).abs() < 1e-9, "{p50}");
        let p99 = quantile_ms(&BTreeMap::new(), &r.rec_buckets, 0.99).expect("p99");
        assert!((p99 - 10.0).abs() < 1e-9, "{p99}");
        // Between two readings only the new observations count.
        assert_eq!(quantile_ms(&r.rec_buckets, &r.rec_buckets, 0.5), None);

        let d = Dashboard::default();
        d.sample(text, 300.0);
        d.sample(&text.replace("} 10\n", "} 30\n"), 300.0);
        let s = d.samples();
        assert_eq!(s.len(), 1);
        assert!(s[0].events_per_sec > 0.0);
    }

    #[test]
    fn features_freshness_is_the_newest_applied_events_age_without_the_lateness() {
        // Live traffic: the watermark trails the newest event by the allowed lateness.
        let text = "tailor_features_watermark_lag_seconds{partition=\"0\"} 301.5\n\
            tailor_features_watermark_lag_seconds{partition=\"1\"} 300.2\n\
            tailor_log_freshness_seconds 0.4\n";
        let d = Dashboard::default();
        d.sample(text, 300.0);
        d.sample(text, 300.0);
        let s = d.samples();
        let f = s[0].features_freshness_s.expect("freshness");
        assert!(
            (f - 0.2).abs() < 1e-6,
            "newest partition, lateness removed: {f}"
        );
        let slowest = s[0].features_slowest_s.expect("slowest");
        assert!((slowest - 1.5).abs() < 1e-9, "slowest partition: {slowest}");
        assert_eq!(
            features_detail(0.0, Some(f), s[0].log_freshness_s),
            "all logged events applied; newest applied event time 0.2 s ago"
        );
    }

    #[test]
    fn features_detail_says_what_it_measures() {
        assert_eq!(features_detail(0.0, None, None), "no event applied yet");
        assert_eq!(
            features_detail(12.0, None, Some(3.0)),
            "12 records behind the log; no event applied yet"
        );
        // Waiting records: how far the applied event time trails the logged one.
        assert_eq!(
            features_detail(5000.0, Some(95.0), Some(5.0)),
            "5000 records behind the log; newest applied event time 95 s ago, 90 s older \
             than the newest logged"
        );
        // Historical events (an import, the demo's shop): old event times, nothing waiting.
        assert_eq!(
            features_detail(0.0, Some(5400.0), Some(5400.0)),
            "all logged events applied; newest applied event time 90.0 min ago"
        );
        assert_eq!(ago(0.4), "0.4 s");
        assert_eq!(ago(86_400.0 * 3.0), "3.0 days");
    }

    #[test]
    fn quality_detail_counts_skipped_checks_apart() {
        use crate::quality::Counts;
        assert_eq!(
            quality_detail(&Counts::default()),
            "no lake commit judged yet"
        );
        let c = Counts {
            pass: 2,
            skip: 3,
            fail: 0,
            skipped: vec![
                ("volume:event_time".into(), "no baseline yet".into()),
                (
                    "dead_letters".into(),
                    "4 records, fewer than min_rows".into(),
                ),
                (
                    "unknown_items:item_id".into(),
                    "no catalog to judge by".into(),
                ),
            ],
        };
        let d = quality_detail(&c);
        assert_eq!(
            d,
            "2 pass, 3 skipped (volume:event_time: no baseline yet; dead_letters: 4 records, \
             fewer than min_rows; …), 0 fail"
        );
        assert!(!d.contains("every check"));
        let all = Counts {
            pass: 7,
            ..Counts::default()
        };
        assert_eq!(quality_detail(&all), "7 pass, 0 skipped, 0 fail");
    }
}
