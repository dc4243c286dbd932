//! Data-quality checks. The sink runs them on the rows of every commit, before it writes
//! them, and commits the results in the same manifest version as the rows they describe
//! (table `quality`, one row per check). Other jobs (training) hand in their own reports,
//! which the next commit writes.
//!
//! Checks on a commit (rates only count once the commit holds `min_rows` rows):
//!
//! | check | column | fails when |
//! |---|---|---|
//! | `nulls` | each nullable column | its null rate rose more than `null_rate_increase` above the median of the last commits |
//! | `unknown_items` | `item_id` | more than `unknown_item_rate` of interaction rows name items the catalog feed does not hold (skipped without a feed) |
//! | `schema_drift` | `properties` | an event name with `drift_min_events` events seen gains a property never seen, or loses one that ≥ 95 % of its events carried (the attribution fields `tailor.js` adds, `rec_id`, `list_id`, `model`, `variant`, `position`, are not drift) |
//! | `volume` | `event_time` | an event-time bucket that closed has a robust z-score beyond `volume_z` against the buckets before it |
//! | `timestamps` | `event_time` | more than `bad_time_rate` of events are from the future (`future_secs` past receipt) or older than `max_age_days` |
//! | `duplicates` | `message_id` | more than `duplicate_rate` of rows repeat a message id or an (actor, event, item, time) already in the commit |
//! | `dead_letters` | | more than `dead_letter_rate` of the commit's records were rejected |
//!
//! The baselines (null rates, property keys, closed volume buckets) are kept in a small JSON
//! file so a restart does not re-learn them.

mod config;
mod report;

pub use config::QualityConfig;
pub use report::{job_check, CheckResult, QualityReport, Status};

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{Array, Int32Array, RecordBatch, StringArray, TimestampMillisecondArray};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// Whether the catalog feed holds an item: `None` when there is no feed to judge by.
pub type KnownItems = Arc<dyn Fn(&str) -> Option<bool> + Send + Sync>;
/// Called with every report once the lake committed it.
pub type Listener = Arc<dyn Fn(&QualityReport) + Send + Sync>;

/// Columns whose null rate is watched.
const NULL_COLUMNS: [&str; 9] = [
    "user_id",
    "anonymous_id",
    "event",
    "interaction",
    "item_id",
    "category",
    "price",
    "properties",
    "context",
];
/// Commits remembered per null-rate baseline.
const NULL_HISTORY: usize = 24;
/// Commits needed before `nulls` judges.
const NULL_MIN_HISTORY: usize = 3;
/// Property baseline caps (event names, keys per name).
const MAX_EVENT_NAMES: usize = 1000;
/// Properties Tailor's own tracker and recommendation widgets add to the events they send
/// about a served list (`tailor.js`): their coming and going is not drift.
const TRACKER_KEYS: &[&str] = &["rec_id", "list_id", "model", "variant", "position"];
const MAX_KEYS: usize = 300;
/// Events of a name a commit needs before a missing property counts.
const MISSING_MIN_EVENTS: u64 = 20;
/// Events whose properties are parsed per commit (bounds the cost of big commits).
const MAX_PARSED: usize = 20_000;

#[derive(Debug, Default, Serialize, Deserialize)]
struct EventKeys {
    events: u64,
    keys: BTreeMap<String, u64>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Volume {
    /// Last bucket judged (closed).
    last_closed: Option<i64>,
    /// Counts of buckets not closed yet.
    open: BTreeMap<i64, u64>,
    /// Counts of the last closed buckets, oldest first.
    closed: VecDeque<u64>,
    max_event_ms: Option<i64>,
}

/// What the checks compare with, kept across commits (and restarts).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Baseline {
    nulls: BTreeMap<String, VecDeque<f64>>,
    properties: BTreeMap<String, EventKeys>,
    volume: Volume,
}

/// Runs the checks and keeps their baselines.
pub struct QualityMonitor {
    cfg: QualityConfig,
    known_items: Option<KnownItems>,
    listener: Option<Listener>,
    state_path: Option<PathBuf>,
    baseline: Mutex<Baseline>,
    /// Reports of other jobs waiting for the next commit.
    /// Reports of other jobs waiting for the next commit, and since when the oldest waits.
    pending: Mutex<(Vec<QualityReport>, Option<std::time::Instant>)>,
}

impl std::fmt::Debug for QualityMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QualityMonitor")
            .field("cfg", &self.cfg)
            .field("state_path", &self.state_path)
            .finish_non_exhaustive()
    }
}

/// A nullable string column of `batch`.
fn strings<'a>(batch: &'a RecordBatch, name: &str) -> Option<&'a StringArray> {
    batch.column_by_name(name)?.as_any().downcast_ref()
}

/// The `interaction_index` column (0 on the first row of each event).
fn interaction_index(batch: &RecordBatch) -> Option<&Int32Array> {
    batch
        .column_by_name("interaction_index")?
        .as_any()
        .downcast_ref()
}

fn times<'a>(batch: &'a RecordBatch, name: &str) -> Option<&'a TimestampMillisecondArray> {
    batch.column_by_name(name)?.as_any().downcast_ref()
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Robust z-score of `x` against `base`: (x − median) / (1.4826 · MAD), with the scale
/// floored at 5 % of the median (and 1) so a perfectly steady baseline does not turn every
/// small wobble into an anomaly.
pub fn robust_z(x: f64, base: &[f64]) -> f64 {
    let mut v = base.to_vec();
    let med = median(&mut v);
    let mut dev: Vec<f64> = base.iter().map(|b| (b - med).abs()).collect();
    let mad = median(&mut dev);
    let scale = (1.4826 * mad).max(0.05 * med.abs()).max(1.0);
    (x - med) / scale
}

fn rate(n: u64, of: u64) -> f64 {
    if of == 0 {
        0.0
    } else {
        n as f64 / of as f64
    }
}

impl QualityMonitor {
    /// A monitor with `cfg`'s thresholds; `state_path` keeps its baselines across restarts.
    pub fn new(cfg: QualityConfig, state_path: Option<PathBuf>) -> QualityMonitor {
        let baseline = state_path
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|b| match serde_json::from_slice(&b) {
                Ok(b) => Some(b),
                Err(e) => {
                    tracing::warn!(error = %e, "quality baselines unreadable; starting afresh");
                    None
                }
            })
            .unwrap_or_default();
        QualityMonitor {
            cfg,
            known_items: None,
            listener: None,
            state_path,
            baseline: Mutex::new(baseline),
            pending: Mutex::new((Vec::new(), None)),
        }
    }

    /// Judges `item_id` against a catalog feed.
    pub fn with_known_items(mut self, known: KnownItems) -> QualityMonitor {
        self.known_items = Some(known);
        self
    }

    /// Receives every report once committed.
    pub fn with_listener(mut self, listener: Listener) -> QualityMonitor {
        self.listener = Some(listener);
        self
    }

    pub fn config(&self) -> &QualityConfig {
        &self.cfg
    }

    /// Queues a report of another job for the next lake commit.
    pub fn submit(&self, report: QualityReport) {
        let mut p = self.pending.lock();
        p.0.push(report);
        p.1.get_or_insert_with(std::time::Instant::now);
    }

    /// How long the oldest queued report has waited.
    pub fn pending_for(&self) -> Option<std::time::Duration> {
        self.pending.lock().1.map(|t| t.elapsed())
    }

    pub(crate) fn take_pending(&self) -> Vec<QualityReport> {
        let mut p = self.pending.lock();
        p.1 = None;
        std::mem::take(&mut p.0)
    }

    /// Hands committed reports to the listener (and the log).
    pub(crate) fn publish(&self, reports: &[QualityReport]) {
        for r in reports {
            for c in r.failing() {
                tracing::warn!(
                    source = %r.source,
                    check = %c.key(),
                    value = c.value,
                    threshold = ?c.threshold,
                    detail = %c.detail,
                    "data-quality check failed"
                );
            }
            if let Some(l) = &self.listener {
                l(r);
            }
        }
    }

    fn save(&self, b: &Baseline) {
        let Some(path) = &self.state_path else { return };
        let tmp = path.with_extension("tmp");
        let res = serde_json::to_vec(b)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, path));
        if let Err(e) = res {
            tracing::warn!(path = %path.display(), error = %e, "cannot save the quality baselines");
        }
    }

    /// Runs every check on the `events` batches and dead-letter count of one commit, and
    /// moves the baselines on.
    pub fn check_commit(
        &self,
        events: &[&RecordBatch],
        dead_letters: u64,
        now_ms: i64,
    ) -> QualityReport {
        let rows: u64 = events.iter().map(|b| b.num_rows() as u64).sum();
        let mut b = self.baseline.lock();
        let mut checks = Vec::new();
        checks.extend(self.nulls(&mut b, events, rows));
        checks.push(self.unknown_items(events));
        checks.push(self.schema_drift(&mut b, events));
        checks.push(self.volume(&mut b, events));
        let (c, event_count) = self.timestamps(events);
        checks.push(c);
        checks.push(self.duplicates(events, rows));
        let total = event_count + dead_letters;
        let dl = rate(dead_letters, total);
        checks.push(if total < self.cfg.min_rows {
            CheckResult::new("dead_letters", None, Status::Skip, dl)
                .threshold(self.cfg.dead_letter_rate)
                .detail(format!("{total} records, fewer than min_rows"))
        } else {
            let status = if dl > self.cfg.dead_letter_rate {
                Status::Fail
            } else {
                Status::Pass
            };
            CheckResult::new("dead_letters", None, status, dl)
                .threshold(self.cfg.dead_letter_rate)
                .detail(format!("{dead_letters} of {total} records rejected"))
        });
        self.save(&b);
        QualityReport {
            source: "lake_commit".into(),
            checked_at_ms: now_ms,
            lake_version: None,
            rows,
            checks,
        }
    }

    fn nulls(&self, b: &mut Baseline, events: &[&RecordBatch], rows: u64) -> Vec<CheckResult> {
        let mut out = Vec::new();
        for col in NULL_COLUMNS {
            let nulls: u64 = events
                .iter()
                .filter_map(|b| b.column_by_name(col))
                .map(|a| a.null_count() as u64)
                .sum();
            let r = rate(nulls, rows);
            if rows < self.cfg.min_rows {
                out.push(
                    CheckResult::new("nulls", Some(col), Status::Skip, r)
                        .detail(format!("{rows} rows, fewer than min_rows")),
                );
                continue;
            }
            let hist = b.nulls.entry(col.to_owned()).or_default();
            let c = if hist.len() < NULL_MIN_HISTORY {
                CheckResult::new("nulls", Some(col), Status::Skip, r)
                    .detail("learning the baseline")
            } else {
                let mut v: Vec<f64> = hist.iter().copied().collect();
                let base = median(&mut v);
                let limit = (base + self.cfg.null_rate_increase).min(1.0);
                let status = if r > limit {
                    Status::Fail
                } else {
                    Status::Pass
                };
                CheckResult::new("nulls", Some(col), status, r)
                    .threshold(limit)
                    .detail(format!(
                        "{nulls} of {rows} rows null (baseline {:.1} %)",
                        base * 100.0
                    ))
            };
            // A failing commit does not become the new normal at once.
            if c.status != Status::Fail {
                hist.push_back(r);
                while hist.len() > NULL_HISTORY {
                    hist.pop_front();
                }
            }
            out.push(c);
        }
        out
    }

    fn unknown_items(&self, events: &[&RecordBatch]) -> CheckResult {
        let t = self.cfg.unknown_item_rate;
        let Some(known) = &self.known_items else {
            return CheckResult::new("unknown_items", Some("item_id"), Status::Skip, 0.0)
                .detail("no catalog to judge by");
        };
        let (mut seen, mut unknown, mut examples) = (0u64, 0u64, Vec::new());
        for batch in events {
            let Some(items) = strings(batch, "item_id") else {
                continue;
            };
            for id in items.iter().flatten() {
                match known(id) {
                    None => {
                        return CheckResult::new(
                            "unknown_items",
                            Some("item_id"),
                            Status::Skip,
                            0.0,
                        )
                        .detail("the catalog feed is empty");
                    }
                    Some(true) => seen += 1,
                    Some(false) => {
                        seen += 1;
                        unknown += 1;
                        if examples.len() < 3 && !examples.contains(&id) {
                            examples.push(id);
                        }
                    }
                }
            }
        }
        let r = rate(unknown, seen);
        if seen < self.cfg.min_rows {
            return CheckResult::new("unknown_items", Some("item_id"), Status::Skip, r)
                .threshold(t)
                .detail(format!("{seen} interaction rows, fewer than min_rows"));
        }
        let status = if r > t { Status::Fail } else { Status::Pass };
        let mut detail =
            format!("{unknown} of {seen} interaction rows name items not in the catalog");
        if !examples.is_empty() {
            detail.push_str(&format!(" (e.g. {})", examples.join(", ")));
        }
        CheckResult::new("unknown_items", Some("item_id"), status, r)
            .threshold(t)
            .detail(detail)
    }

    fn schema_drift(&self, b: &mut Baseline, events: &[&RecordBatch]) -> CheckResult {
        // Property keys per event name in this commit (first row of each event only).
        let mut now: BTreeMap<String, EventKeys> = BTreeMap::new();
        let mut parsed = 0usize;
        'outer: for batch in events {
            let (Some(name), Some(props), Some(index)) = (
                strings(batch, "event"),
                strings(batch, "properties"),
                interaction_index(batch),
            ) else {
                continue;
            };
            for i in 0..batch.num_rows() {
                if index.value(i) != 0 || name.is_null(i) {
                    continue;
                }
                if parsed >= MAX_PARSED {
                    break 'outer;
                }
                parsed += 1;
                let entry = now.entry(name.value(i).to_owned()).or_default();
                entry.events += 1;
                if props.is_null(i) {
                    continue;
                }
                let Ok(keys) = serde_json::from_str::<BTreeMap<Cow<'_, str>, serde::de::IgnoredAny>>(
                    props.value(i),
                ) else {
                    continue;
                };
                for k in keys.into_keys() {
                    if let Some(c) = entry.keys.get_mut(k.as_ref()) {
                        *c += 1;
                    } else if entry.keys.len() < MAX_KEYS {
                        entry.keys.insert(k.into_owned(), 1);
                    }
                }
            }
        }
        let mut drift = Vec::new();
        let mut judged = 0usize;
        for (name, seen) in &now {
            let Some(base) = b.properties.get(name) else {
                continue;
            };
            if base.events < self.cfg.drift_min_events {
                continue;
            }
            judged += 1;
            let new: Vec<&str> = seen
                .keys
                .keys()
                .filter(|k| !base.keys.contains_key(*k) && !TRACKER_KEYS.contains(&k.as_str()))
                .map(String::as_str)
                .collect();
            let missing: Vec<&str> = if seen.events >= MISSING_MIN_EVENTS {
                base.keys
                    .iter()
                    .filter(|(k, n)| {
                        **n as f64 >= 0.95 * base.events as f64
                            && !seen.keys.contains_key(*k)
                            && !TRACKER_KEYS.contains(&k.as_str())
                    })
                    .map(|(k, _)| k.as_str())
                    .collect()
            } else {
                Vec::new()
            };
            if !new.is_empty() || !missing.is_empty() {
                let mut d = format!("event {name:?}:");
                if !new.is_empty() {
                    d.push_str(&format!(" new properties [{}]", new.join(", ")));
                }
                if !missing.is_empty() {
                    d.push_str(&format!(" missing properties [{}]", missing.join(", ")));
                }
                drift.push(d);
            }
        }
        // Fold this commit into the baseline.
        for (name, seen) in now {
            if !b.properties.contains_key(&name) && b.properties.len() >= MAX_EVENT_NAMES {
                continue;
            }
            let base = b.properties.entry(name).or_default();
            base.events += seen.events;
            for (k, n) in seen.keys {
                if let Some(c) = base.keys.get_mut(&k) {
                    *c += n;
                } else if base.keys.len() < MAX_KEYS {
                    base.keys.insert(k, n);
                }
            }
        }
        if judged == 0 {
            return CheckResult::new("schema_drift", Some("properties"), Status::Skip, 0.0)
                .detail("no event name with enough history in this commit");
        }
        let status = if drift.is_empty() {
            Status::Pass
        } else {
            Status::Fail
        };
        let detail = if drift.is_empty() {
            format!("{judged} event names match their properties")
        } else {
            drift.join("; ")
        };
        CheckResult::new(
            "schema_drift",
            Some("properties"),
            status,
            drift.len() as f64,
        )
        .threshold(0.0)
        .detail(detail)
    }

    fn volume(&self, b: &mut Baseline, events: &[&RecordBatch]) -> CheckResult {
        let width = self.cfg.volume_bucket_secs as i64 * 1000;
        let v = &mut b.volume;
        for batch in events {
            let (Some(t), Some(index)) = (times(batch, "event_time"), interaction_index(batch))
            else {
                continue;
            };
            for i in 0..batch.num_rows() {
                if index.value(i) != 0 {
                    continue;
                }
                let ms = t.value(i);
                let bucket = ms.div_euclid(width);
                if v.last_closed.is_some_and(|c| bucket <= c) {
                    continue; // later than a bucket's lateness: not counted again
                }
                *v.open.entry(bucket).or_default() += 1;
                v.max_event_ms = Some(v.max_event_ms.map_or(ms, |m| m.max(ms)));
            }
        }
        let Some(max) = v.max_event_ms else {
            return CheckResult::new("volume", Some("event_time"), Status::Skip, 0.0)
                .threshold(self.cfg.volume_z)
                .detail("no events yet");
        };
        // A bucket closes one bucket width after it ends (its allowed lateness).
        let closable = (max - width).div_euclid(width); // buckets < this are closed
        let first_open = v.open.keys().next().copied();
        let start = match (v.last_closed, first_open) {
            (Some(c), _) => c + 1,
            (None, Some(f)) => f,
            (None, None) => closable,
        };
        if closable - start > self.cfg.volume_baseline as i64 * 4 {
            // A long silence or a jump in time: the old baseline says nothing about now.
            v.closed.clear();
            v.open.retain(|k, _| *k >= closable);
            v.last_closed = Some(closable - 1);
            return CheckResult::new("volume", Some("event_time"), Status::Skip, 0.0)
                .threshold(self.cfg.volume_z)
                .detail("event time jumped; the volume baseline starts again");
        }
        let mut worst: Option<(f64, i64, u64, f64)> = None;
        for bucket in start..closable {
            let n = v.open.remove(&bucket).unwrap_or(0);
            if v.closed.len() >= self.cfg.volume_min_baseline {
                let base: Vec<f64> = v.closed.iter().map(|c| *c as f64).collect();
                let z = robust_z(n as f64, &base);
                let mut m = base.clone();
                let med = median(&mut m);
                if worst.is_none_or(|(w, ..)| z.abs() > w.abs()) {
                    worst = Some((z, bucket, n, med));
                }
                if z.abs() > self.cfg.volume_z {
                    v.last_closed = Some(bucket);
                    continue; // an anomaly does not join the baseline
                }
            }
            v.closed.push_back(n);
            while v.closed.len() > self.cfg.volume_baseline {
                v.closed.pop_front();
            }
            v.last_closed = Some(bucket);
        }
        match worst {
            None => CheckResult::new("volume", Some("event_time"), Status::Skip, 0.0)
                .threshold(self.cfg.volume_z)
                .detail(if v.closed.len() >= self.cfg.volume_min_baseline {
                    "no event-time bucket closed in this commit".to_owned()
                } else {
                    format!(
                        "learning the baseline ({} of {} buckets)",
                        v.closed.len(),
                        self.cfg.volume_min_baseline
                    )
                }),
            Some((z, bucket, n, med)) => {
                let status = if z.abs() > self.cfg.volume_z {
                    Status::Fail
                } else {
                    Status::Pass
                };
                let at = chrono::DateTime::from_timestamp_millis(bucket * width)
                    .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                    .unwrap_or_default();
                CheckResult::new("volume", Some("event_time"), status, z)
                    .threshold(self.cfg.volume_z)
                    .detail(format!(
                        "{n} events in the {}s bucket from {at} against a median of {med}",
                        self.cfg.volume_bucket_secs
                    ))
            }
        }
    }

    fn timestamps(&self, events: &[&RecordBatch]) -> (CheckResult, u64) {
        let future = self.cfg.future_secs as i64 * 1000;
        let old = self.cfg.max_age_days as i64 * 86_400_000;
        let (mut n, mut ahead, mut behind) = (0u64, 0u64, 0u64);
        for batch in events {
            let (Some(t), Some(rcv), Some(index)) = (
                times(batch, "event_time"),
                times(batch, "received_at"),
                interaction_index(batch),
            ) else {
                continue;
            };
            for i in 0..batch.num_rows() {
                if index.value(i) != 0 {
                    continue;
                }
                n += 1;
                let d = t.value(i) - rcv.value(i);
                if d > future {
                    ahead += 1;
                } else if -d > old {
                    behind += 1;
                }
            }
        }
        let r = rate(ahead + behind, n);
        let t = self.cfg.bad_time_rate;
        let c = if n < self.cfg.min_rows {
            CheckResult::new("timestamps", Some("event_time"), Status::Skip, r)
                .threshold(t)
                .detail(format!("{n} events, fewer than min_rows"))
        } else {
            let status = if r > t { Status::Fail } else { Status::Pass };
            CheckResult::new("timestamps", Some("event_time"), status, r)
                .threshold(t)
                .detail(format!(
                    "{ahead} events from the future, {behind} older than {} days, of {n}",
                    self.cfg.max_age_days
                ))
        };
        (c, n)
    }

    fn duplicates(&self, events: &[&RecordBatch], rows: u64) -> CheckResult {
        let t = self.cfg.duplicate_rate;
        let mut ids: HashSet<(&str, i32)> = HashSet::new();
        let mut content: HashSet<u64> = HashSet::new();
        let (mut by_id, mut by_content) = (0u64, 0u64);
        for batch in events {
            let (Some(mid), Some(index), Some(user), Some(anon), Some(name), Some(item), Some(t)) = (
                strings(batch, "message_id"),
                interaction_index(batch),
                strings(batch, "user_id"),
                strings(batch, "anonymous_id"),
                strings(batch, "event"),
                strings(batch, "item_id"),
                times(batch, "event_time"),
            ) else {
                continue;
            };
            let interaction = strings(batch, "interaction");
            for i in 0..batch.num_rows() {
                if !ids.insert((mid.value(i), index.value(i))) {
                    by_id += 1;
                    continue;
                }
                let mut h = std::collections::hash_map::DefaultHasher::new();
                (user.is_valid(i).then(|| user.value(i))).hash(&mut h);
                (anon.is_valid(i).then(|| anon.value(i))).hash(&mut h);
                (name.is_valid(i).then(|| name.value(i))).hash(&mut h);
                (item.is_valid(i).then(|| item.value(i))).hash(&mut h);
                interaction
                    .and_then(|a| a.is_valid(i).then(|| a.value(i)))
                    .hash(&mut h);
                index.value(i).hash(&mut h);
                t.value(i).hash(&mut h);
                if !content.insert(h.finish()) {
                    by_content += 1;
                }
            }
        }
        let r = rate(by_id + by_content, rows);
        if rows < self.cfg.min_rows {
            return CheckResult::new("duplicates", Some("message_id"), Status::Skip, r)
                .threshold(t)
                .detail(format!("{rows} rows, fewer than min_rows"));
        }
        let status = if r > t { Status::Fail } else { Status::Pass };
        CheckResult::new("duplicates", Some("message_id"), status, r)
            .threshold(t)
            .detail(format!(
                "{by_id} rows repeat a message id, {by_content} repeat an earlier row's actor, event, item and time, of {rows}"
            ))
    }
}

/// Median of a slice (0 for none).
pub fn median_of(v: &[f64]) -> f64 {
    median(&mut v.to_vec())
}
