//! The retraining schedule of `serve`: incremental runs every
//! `models.incremental_every_secs`, full runs every `models.full_every_secs` (a full run
//! resets the incremental clock). A failed run is retried with backoff (30 s, doubling, at
//! most the run's period); a run due while another runs is skipped. `GET /v1/jobs` shows
//! each job's period, next run and last run.

use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tailor_rec::training::TrainMode;

use crate::config::ModelsConfig;
use crate::ingest::now_ms;
use crate::training::{Job, Trainer};

/// First retry delay after a failed scheduled run.
const RETRY_BASE: Duration = Duration::from_secs(30);

/// When the scheduled runs are due (Unix ms), shared with `GET /v1/jobs`.
pub struct Schedule {
    incremental_every: Duration,
    full_every: Duration,
    next_incremental_ms: AtomicI64,
    next_full_ms: AtomicI64,
    /// Consecutive failed scheduled runs.
    failures: AtomicU32,
}

/// One scheduled job as `GET /v1/jobs` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct JobView {
    pub name: &'static str,
    pub every_secs: u64,
    pub next_run_ms: i64,
    pub consecutive_failures: u32,
    /// The latest run of this kind (scheduled or asked for).
    pub last_run: Option<Job>,
}

impl Schedule {
    pub fn new(cfg: &ModelsConfig) -> Schedule {
        let now = now_ms();
        let inc = Duration::from_secs(cfg.incremental_every_secs.max(1));
        let full = Duration::from_secs(cfg.full_every_secs.max(1));
        Schedule {
            incremental_every: inc,
            full_every: full,
            next_incremental_ms: AtomicI64::new(now + inc.as_millis() as i64),
            next_full_ms: AtomicI64::new(now + full.as_millis() as i64),
            failures: AtomicU32::new(0),
        }
    }

    /// Each scheduled job with its last run among `jobs` (newest first).
    pub fn view(&self, jobs: &[Job]) -> Vec<JobView> {
        let failures = self.failures.load(Ordering::Relaxed);
        [
            (
                "train_incremental",
                TrainMode::Incremental,
                self.incremental_every,
                &self.next_incremental_ms,
            ),
            (
                "train_full",
                TrainMode::Full,
                self.full_every,
                &self.next_full_ms,
            ),
        ]
        .into_iter()
        .map(|(name, mode, every, next)| JobView {
            name,
            every_secs: every.as_secs(),
            next_run_ms: next.load(Ordering::Relaxed),
            consecutive_failures: failures,
            last_run: jobs.iter().find(|j| j.mode == mode).cloned(),
        })
        .collect()
    }

    fn set(&self, at: &AtomicI64, after: Duration) {
        at.store(now_ms() + after.as_millis() as i64, Ordering::Relaxed);
    }

    fn due_in(at: &AtomicI64) -> Duration {
        Duration::from_millis((at.load(Ordering::Relaxed) - now_ms()).max(0) as u64)
    }
}

/// Runs the schedule until the task is aborted.
pub async fn run(trainer: Arc<Trainer>, s: Arc<Schedule>) {
    loop {
        let wait = Schedule::due_in(&s.next_incremental_ms).min(Schedule::due_in(&s.next_full_ms));
        tokio::time::sleep(wait).await;
        let full_due = Schedule::due_in(&s.next_full_ms).is_zero();
        let (mode, every) = if full_due {
            (TrainMode::Full, s.full_every)
        } else {
            (TrainMode::Incremental, s.incremental_every)
        };
        // Until the run ends, the next one of its kind is a period away.
        s.set(
            if full_due {
                &s.next_full_ms
            } else {
                &s.next_incremental_ms
            },
            every,
        );
        if full_due {
            s.set(&s.next_incremental_ms, s.incremental_every);
        }
        let status = match trainer.submit(mode, "schedule") {
            Ok((_, handle)) => handle.await.map(|j| j.status).unwrap_or("failed"),
            Err(running) => {
                tracing::info!(running, "scheduled training skipped: a job is running");
                continue;
            }
        };
        if status == "failed" {
            let n = s.failures.fetch_add(1, Ordering::Relaxed) + 1;
            let backoff = RETRY_BASE.saturating_mul(1 << (n - 1).min(16)).min(every);
            tracing::warn!(
                mode = mode.as_str(),
                failures = n,
                retry_in_secs = backoff.as_secs(),
                "scheduled training failed; retrying"
            );
            s.set(
                if full_due {
                    &s.next_full_ms
                } else {
                    &s.next_incremental_ms
                },
                backoff,
            );
        } else {
            s.failures.store(0, Ordering::Relaxed);
        }
    }
}
