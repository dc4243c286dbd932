//! What the sink's maintenance jobs did last (compaction after commits, hourly retention),
//! shared with whoever shows them (`GET /v1/jobs`).

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::Serialize;

use crate::metrics as m;

/// One maintenance job as `GET /v1/jobs` shows it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LakeJob {
    pub name: &'static str,
    /// How it is triggered, in words (`after each commit`, `hourly`).
    pub schedule: &'static str,
    /// When it runs next, if known (Unix ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_run_ms: Option<i64>,
    pub consecutive_failures: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_run: Option<LakeJobRun>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct LakeJobRun {
    pub started_at_ms: i64,
    pub duration_secs: f64,
    /// `succeeded` or `failed`.
    pub status: &'static str,
    /// What it did, or why it failed.
    pub message: String,
}

/// The jobs' records; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct LakeJobs(Arc<Mutex<BTreeMap<&'static str, LakeJob>>>);

impl LakeJobs {
    /// Registers a job (before its first run).
    pub fn declare(&self, name: &'static str, schedule: &'static str) {
        metrics::gauge!(m::JOB_LAST_SUCCESS, "name" => name).set(1.0);
        self.0.lock().entry(name).or_insert(LakeJob {
            name,
            schedule,
            ..LakeJob::default()
        });
    }

    /// Records a run; returns the consecutive failures so far.
    pub fn record(&self, name: &'static str, run: LakeJobRun, next_run_ms: Option<i64>) -> u32 {
        let ok = run.status == "succeeded";
        metrics::gauge!(m::JOB_LAST_SUCCESS, "name" => name).set(if ok { 1.0 } else { 0.0 });
        metrics::counter!(m::JOB_RUNS_TOTAL, "name" => name, "status" => run.status).increment(1);
        let mut jobs = self.0.lock();
        let job = jobs.entry(name).or_insert(LakeJob {
            name,
            ..LakeJob::default()
        });
        job.consecutive_failures = if ok { 0 } else { job.consecutive_failures + 1 };
        job.next_run_ms = next_run_ms;
        job.last_run = Some(run);
        job.consecutive_failures
    }

    /// Sets when a job runs next.
    pub fn record_next(&self, name: &'static str, next_run_ms: i64) {
        if let Some(j) = self.0.lock().get_mut(name) {
            j.next_run_ms = Some(next_run_ms);
        }
    }

    pub fn list(&self) -> Vec<LakeJob> {
        self.0.lock().values().cloned().collect()
    }
}
