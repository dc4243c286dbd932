//! Training runs of the served blend: one function ([`train`]) used by `tailor train` and by
//! the server, where runs are jobs ([`Trainer`]) started by `POST /v1/admin/train` or by the
//! schedule (incremental every `models.incremental_every_secs`, full every
//! `models.full_every_secs`). One run at a time; each saves a registry version, promotes it,
//! swaps it in and prunes old versions.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use serde::Serialize;
use tailor_log::Log;
use tailor_rec::model::{BlendParams, ModelSpec};
use tailor_rec::registry::{kind_of, DataRange, ModelMeta, OfflineMetrics, Registry};
use tailor_rec::serving::ServedModel;
use tailor_rec::training::{fit_blend, holdout_metrics, PartReport, TrainMode};

use crate::config::ModelsConfig;
use crate::ingest::now_ms;
use crate::models::{read_interactions, ModelSlot};
use crate::{Error, Result, EVENTS_TOPIC};

/// Jobs remembered for `GET /v1/admin/jobs`.
const KEEP_JOBS: usize = 64;

/// What one training run did.
#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    pub meta: ModelMeta,
    /// The mode run (an incremental run with no usable base version runs full).
    pub mode: TrainMode,
    pub parts: Vec<PartReport>,
    pub read: ReadSummary,
    /// Versions deleted by pruning.
    pub pruned: Vec<u32>,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ReadSummary {
    pub records: u64,
    pub undecodable: u64,
    /// Sum of the partitions' end offsets read up to.
    pub end_offsets: u64,
    /// Older events left out by `models.max_training_events`.
    pub skipped_old: u64,
    pub read_secs: f64,
}

/// Inputs of [`train`].
pub struct TrainSpec<'a> {
    pub name: &'a str,
    /// The blend to fit (`ModelsConfig::blend_params`).
    pub params: BlendParams,
    pub mode: TrainMode,
    /// The version the incremental mode builds on.
    pub base: Option<&'a ServedModel>,
    pub threads: usize,
    /// Offline metrics to store with the version (`tailor train --holdout-eval`).
    pub metrics: Option<OfflineMetrics>,
    /// Compute them here on a temporal hold-out when `metrics` is not given (a second fit).
    pub evaluate: bool,
    /// Versions to keep when pruning (0: no pruning).
    pub keep_versions: usize,
    /// Fewer interactions than this: [`Error::NothingToTrain`], nothing saved.
    pub min_interactions: usize,
    /// Most events read (`models.max_training_events`): the latest.
    pub max_events: u64,
}

/// Reads the events topic, fits the production blend, saves it as a new version of
/// `spec.name` and promotes it. `progress(stage, done, total)` reports reading and fitting.
pub fn train(
    log: &dyn Log,
    registry: &Registry,
    spec: TrainSpec<'_>,
    progress: &mut dyn FnMut(&str, u64, u64),
) -> Result<TrainReport> {
    let rec = |e: tailor_rec::Error| Error::Model(e.to_string());
    registry.versions_of(spec.name).map_err(rec)?;
    let t = Instant::now();
    let base = spec.base.filter(|_| spec.mode == TrainMode::Incremental);
    let (data, stats) = read_interactions(
        log,
        EVENTS_TOPIC,
        base.map(|b| &b.trained.vocab),
        spec.max_events,
        &mut |d, n| progress("reading events", d, n),
    )?;
    let read = ReadSummary {
        records: stats.records,
        undecodable: stats.undecodable,
        end_offsets: stats.end_offsets,
        skipped_old: stats.skipped_old,
        read_secs: t.elapsed().as_secs_f64(),
    };
    if data.is_empty() || data.len() < spec.min_interactions {
        return Err(Error::NothingToTrain(format!(
            "{} interactions (product views, clicks, carts, orders) in the events topic, \
             {} needed; send events first",
            data.len(),
            spec.min_interactions.max(1)
        )));
    }
    let mut params = spec.params;
    for (s, _) in &mut params.parts {
        if let ModelSpec::Als(p) = s {
            p.threads = Some(spec.threads.max(1));
        }
    }
    let n = params.parts.len() as u64;
    let mut done = 0;
    let out = fit_blend(
        &data,
        &params,
        spec.mode,
        base.map(|b| &b.trained),
        &mut |name| {
            progress(&format!("training {name}"), done, n);
            done += 1;
        },
    )
    .map_err(rec)?;
    let metrics = match spec.metrics {
        Some(m) => Some(m),
        None if spec.evaluate => {
            progress("evaluating on a hold-out", n, n);
            match holdout_metrics(&data, &params, &mut |_| {}) {
                Ok(m) => Some(m),
                Err(e) => {
                    // Too little data for a hold-out is not a reason to keep the old model.
                    tracing::info!(error = %e, "no offline metrics for this version");
                    None
                }
            }
        }
        None => None,
    };
    let params = ModelSpec::Blend(params);
    let meta = ModelMeta {
        name: spec.name.to_owned(),
        version: 0,
        kind: kind_of(&params).into(),
        params,
        data: DataRange::of(&data),
        metrics,
        train_secs: out.train_secs,
        trained_at_ms: now_ms(),
    };
    let meta = registry.save(&out.trained, meta).map_err(rec)?;
    tailor_log::failpoint::hit("model.before_promote");
    registry.promote(spec.name, meta.version).map_err(rec)?;
    let pruned = if spec.keep_versions > 0 {
        registry.prune(spec.name, spec.keep_versions).map_err(rec)?
    } else {
        Vec::new()
    };
    Ok(TrainReport {
        meta,
        mode: out.mode,
        parts: out.parts,
        read,
        pruned,
    })
}

/// A training job as `GET /v1/admin/jobs/{id}` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    pub id: u64,
    /// `api` or `schedule`.
    pub trigger: &'static str,
    /// The mode asked for.
    pub mode: TrainMode,
    /// `running`, `succeeded`, `skipped` or `failed`.
    pub status: &'static str,
    pub started_at_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_secs: Option<f64>,
    /// Why it failed or was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<TrainReport>,
    /// The version serving when the job ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serving_version: Option<u32>,
}

/// Training jobs of a server: at most one runs at a time.
pub struct Trainer {
    log: Arc<dyn Log>,
    slot: Arc<ModelSlot>,
    cfg: ModelsConfig,
    jobs: Mutex<VecDeque<Job>>,
    next_id: AtomicU64,
    /// Id of the running job, 0 when idle.
    running: AtomicU64,
    /// End offsets read by the last successful run (scheduled runs skip when unchanged).
    last_read: Mutex<Option<u64>>,
    /// Called with every finished job (the data-quality checks of a training run).
    on_finish: Option<FinishHook>,
}

/// Called with every finished job.
pub type FinishHook = Arc<dyn Fn(&Job) + Send + Sync>;

impl Trainer {
    pub fn new(log: Arc<dyn Log>, slot: Arc<ModelSlot>, cfg: ModelsConfig) -> Trainer {
        Trainer {
            log,
            slot,
            cfg,
            jobs: Mutex::new(VecDeque::new()),
            next_id: AtomicU64::new(1),
            running: AtomicU64::new(0),
            last_read: Mutex::new(None),
            on_finish: None,
        }
    }

    /// Calls `hook` with every finished job.
    pub fn with_on_finish(mut self, hook: FinishHook) -> Trainer {
        self.on_finish = Some(hook);
        self
    }

    pub fn job(&self, id: u64) -> Option<Job> {
        self.jobs.lock().iter().find(|j| j.id == id).cloned()
    }

    /// Jobs, newest first.
    pub fn jobs(&self) -> Vec<Job> {
        self.jobs.lock().iter().rev().cloned().collect()
    }

    fn update(&self, job: Job) {
        let mut jobs = self.jobs.lock();
        match jobs.iter_mut().find(|j| j.id == job.id) {
            Some(j) => *j = job,
            None => {
                jobs.push_back(job);
                while jobs.len() > KEEP_JOBS {
                    jobs.pop_front();
                }
            }
        }
    }

    /// Starts a job unless one runs (then `Err(id of the running job)`). The returned handle
    /// finishes with the job; dropping it does not stop the job.
    pub fn submit(
        self: &Arc<Self>,
        mode: TrainMode,
        trigger: &'static str,
    ) -> std::result::Result<(u64, tokio::task::JoinHandle<Job>), u64> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.running
            .compare_exchange(0, id, Ordering::AcqRel, Ordering::Acquire)?;
        let job = Job {
            id,
            trigger,
            mode,
            status: "running",
            started_at_ms: now_ms(),
            finished_at_ms: None,
            duration_secs: None,
            message: None,
            report: None,
            serving_version: self.slot.get().map(|m| m.meta.version),
        };
        self.update(job.clone());
        let me = self.clone();
        let handle = tokio::spawn(async move {
            let t = Instant::now();
            let me2 = me.clone();
            let outcome = tokio::task::spawn_blocking(move || me2.run(mode, trigger))
                .await
                .unwrap_or_else(|e| Err(Error::Model(format!("training task failed: {e}"))));
            let mut job = job;
            job.finished_at_ms = Some(now_ms());
            job.duration_secs = Some(t.elapsed().as_secs_f64());
            job.serving_version = me.slot.get().map(|m| m.meta.version);
            let status = match outcome {
                Ok(Some(report)) => {
                    job.report = Some(report);
                    "succeeded"
                }
                Ok(None) => {
                    job.message = Some("no new events since the last training".into());
                    "skipped"
                }
                Err(Error::NothingToTrain(m)) if trigger == "schedule" => {
                    job.message = Some(m);
                    "skipped"
                }
                Err(e) => {
                    tracing::warn!(model = %me.slot.name, error = %e, "training failed");
                    job.message = Some(e.to_string());
                    "failed"
                }
            };
            job.status = status;
            metrics::counter!("tailor_model_trainings_total",
                "model" => me.slot.name.clone(), "mode" => mode.as_str(), "status" => status)
            .increment(1);
            if status != "skipped" {
                metrics::gauge!("tailor_model_last_training_success", "model" => me.slot.name.clone())
                    .set(if status == "succeeded" { 1.0 } else { 0.0 });
                metrics::histogram!("tailor_model_training_duration_seconds", "model" => me.slot.name.clone())
                    .record(t.elapsed().as_secs_f64());
            }
            me.update(job.clone());
            me.running.store(0, Ordering::Release);
            if let Some(hook) = &me.on_finish {
                hook(&job);
            }
            job
        });
        Ok((id, handle))
    }

    /// The blocking part of a job: `Ok(None)` when a scheduled run had nothing new to train on.
    fn run(&self, mode: TrainMode, trigger: &str) -> Result<Option<TrainReport>> {
        let scheduled = trigger == "schedule";
        if scheduled {
            let mut end = 0;
            for p in 0..self.log.partitions(EVENTS_TOPIC)? {
                end += self.log.end_offset(EVENTS_TOPIC, p)?;
            }
            if *self.last_read.lock() == Some(end) {
                return Ok(None);
            }
        }
        let base = self.slot.get();
        let report = train(
            self.log.as_ref(),
            &self.slot.registry,
            TrainSpec {
                name: &self.slot.name,
                params: self.cfg.blend_params(),
                mode,
                base: base.as_deref(),
                threads: self.cfg.threads,
                metrics: None,
                // Full runs (nightly, or asked for) measure the version on a hold-out.
                evaluate: mode == TrainMode::Full,
                keep_versions: self.cfg.keep_versions,
                max_events: self.cfg.max_training_events,
                min_interactions: if scheduled {
                    self.cfg.min_interactions
                } else {
                    1
                },
            },
            &mut |_, _, _| {},
        )?;
        *self.last_read.lock() = Some(report.read.end_offsets);
        self.slot.refresh()?;
        Ok(Some(report))
    }
}
