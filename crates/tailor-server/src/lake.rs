//! The lake sink as a server role: it runs on its own OS thread and runtime (encoding
//! Parquet is CPU-heavy and must not hold the API's workers), consumes the log from the
//! offsets its manifest committed, and stops cleanly with the server.

use std::path::Path;
use std::sync::Arc;

use tailor_lake::jobs::LakeJobs;
use tailor_lake::{LakeConfig, LakeSink, QualityMonitor};
use tailor_log::Log;
use tokio::sync::oneshot;

use crate::{Error, Result};

pub struct LakeHandle {
    /// What the sink's maintenance jobs did last (`GET /v1/jobs`).
    pub jobs: LakeJobs,
    /// The sink itself (erasures rewrite its files while it runs).
    pub sink: Arc<LakeSink>,
    stop: Option<oneshot::Sender<()>>,
    join: Option<std::thread::JoinHandle<()>>,
}

impl LakeHandle {
    pub async fn spawn(
        cfg: &LakeConfig,
        data_dir: &Path,
        log: Arc<dyn Log>,
        quality: Option<Arc<QualityMonitor>>,
        erasures: Arc<tailor_log::ErasureList>,
    ) -> Result<LakeHandle> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Lake(format!("cannot start the lake runtime: {e}")))?;
        let (cfg, data_dir) = (cfg.clone(), data_dir.to_path_buf());
        let jobs = LakeJobs::default();
        let sink_jobs = jobs.clone();
        let (opened_tx, opened_rx) = oneshot::channel::<Result<Arc<LakeSink>>>();
        let (tx, rx) = oneshot::channel::<()>();
        let join = std::thread::Builder::new()
            .name("tailor-lake".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let sink = match LakeSink::open(&cfg, &data_dir).await {
                        Ok(sink) => {
                            let sink = sink.with_jobs(sink_jobs).with_erasures(erasures);
                            let sink = Arc::new(match quality {
                                Some(q) => sink.with_quality(q),
                                None => sink,
                            });
                            let _ = opened_tx.send(Ok(sink.clone()));
                            sink
                        }
                        Err(e) => {
                            let _ = opened_tx.send(Err(Error::Lake(e.to_string())));
                            return;
                        }
                    };
                    let stopped = async move {
                        let _ = rx.await;
                    };
                    match sink.run(log, stopped).await {
                        Ok(stats) => tracing::info!(
                            rows = stats.event_rows,
                            files = stats.files,
                            "lake sink stopped"
                        ),
                        Err(e) => tracing::error!(error = %e, "lake sink failed"),
                    }
                })
            })
            .map_err(|e| Error::Lake(format!("cannot start the lake thread: {e}")))?;
        let sink = opened_rx
            .await
            .map_err(|_| Error::Lake("the lake thread ended while opening the lake".into()))??;
        Ok(LakeHandle {
            jobs,
            sink,
            stop: Some(tx),
            join: Some(join),
        })
    }

    /// Commits what is buffered and stops.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(join) = self.join.take() {
            let _ = tokio::task::spawn_blocking(move || join.join()).await;
        }
    }
}
