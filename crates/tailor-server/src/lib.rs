//! Tailor's HTTP server: the Segment-compatible collector, recommendations, schema
//! registry, dead letters and operations endpoints, wired to the embedded log and the live
//! processor. [`start`] runs every role in one process.

pub mod attribution;
pub mod auth;
pub mod body;
pub mod catalog;
pub mod config;
pub mod dashboard;
pub mod dedupe;
pub mod erasure;
mod error;
pub mod experiments;
pub mod ingest;
pub mod lake;
pub mod metrics;
pub mod mix;
pub mod models;
pub mod quality;
pub mod recommend;
pub mod registry_store;
pub mod roles;
pub mod routes;
pub mod schedule;
pub mod sdk_config;
pub mod state;
pub mod tls;
pub mod training;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use parking_lot::RwLock;
use tailor_features::{Processor, ProcessorOptions};
use tailor_log::{EmbeddedLog, EmbeddedOptions, KafkaLog, Log};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::{Config, LogBackend};
pub use error::{ApiError, Error, Result};
pub use ingest::{DEAD_LETTER_TOPIC, EVENTS_TOPIC};
use roles::Role;
use state::{App, AppState};

/// Consumer group of the live processor.
pub const LIVE_GROUP: &str = "live";

/// Opens the log `log.url` names (the embedded log of the data directory, or a Kafka
/// cluster), creating the topics it needs.
pub fn open_log(cfg: &Config) -> Result<Arc<dyn Log>> {
    let log: Arc<dyn Log> = match cfg.log.backend().map_err(Error::Config)? {
        LogBackend::Embedded => EmbeddedLog::open(
            &cfg.data_dir.join("log"),
            EmbeddedOptions {
                segment_bytes: cfg.log.segment_bytes,
                fsync: cfg.log.fsync,
                queue_capacity: cfg.log.queue_capacity,
                ..EmbeddedOptions::default()
            },
        )?,
        LogBackend::Kafka(opts) => KafkaLog::open(opts)?,
    };
    log.create_topic(EVENTS_TOPIC, cfg.log.partitions)?;
    log.create_topic(DEAD_LETTER_TOPIC, 1)?;
    Ok(log)
}

/// The model registry of a deployment: in the lake's bucket (`_models/`) when the lake is in
/// object storage, so trainers and API replicas on other machines share it; else
/// `<data_dir>/models`.
pub fn model_registry(cfg: &Config) -> Result<tailor_rec::registry::Registry> {
    let blobs = tailor_lake::blobs::shared_or_local(
        &cfg.lake,
        &cfg.data_dir,
        tailor_lake::blobs::MODELS_PREFIX,
        cfg.data_dir.join("models"),
    )
    .map_err(|e| Error::Lake(e.to_string()))?;
    Ok(tailor_rec::registry::Registry::new(blobs))
}

/// Where processors sharing partitions keep each partition's checkpoint: in the lake's
/// bucket (`_checkpoints/partitions/`) when the lake is in object storage, so a processor on
/// another machine takes a partition over from it; else `<data_dir>/checkpoints/partitions`.
pub fn partition_checkpoints(cfg: &Config) -> Result<Arc<dyn tailor_log::Blobs>> {
    tailor_lake::blobs::shared_or_local(
        &cfg.lake,
        &cfg.data_dir,
        &format!("{}/partitions", tailor_lake::blobs::CHECKPOINTS_PREFIX),
        cfg.data_dir.join("checkpoints").join("partitions"),
    )
    .map_err(|e| Error::Lake(e.to_string()))
}

/// Where the processor's checkpoint lives: `_checkpoints/live.ckpt` in the lake's bucket when
/// the lake is in object storage, so a processor started on another machine resumes from
/// it; else `<data_dir>/checkpoints/live.ckpt`.
pub fn live_checkpoint(cfg: &Config) -> Result<tailor_features::CheckpointStore> {
    let shared = tailor_lake::blobs::shared(
        &cfg.lake,
        &cfg.data_dir,
        tailor_lake::blobs::CHECKPOINTS_PREFIX,
    )
    .map_err(|e| Error::Lake(e.to_string()))?;
    Ok(match shared {
        Some(blobs) => tailor_features::CheckpointStore::Blob(blobs, "live.ckpt".into()),
        None => tailor_features::CheckpointStore::File(
            cfg.data_dir.join("checkpoints").join("live.ckpt"),
        ),
    })
}

/// A server started by [`start`].
pub struct RunningServer {
    pub addr: SocketAddr,
    /// Whether it speaks HTTPS (`[tls]`).
    pub tls: bool,
    pub app: App,
    stop: Option<oneshot::Sender<()>>,
    join: JoinHandle<Result<()>>,
}

impl RunningServer {
    /// Graceful shutdown: stop accepting, finish in-flight requests, drain the processor,
    /// checkpoint, commit and close the log.
    pub async fn shutdown(mut self) -> Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.join
            .await
            .unwrap_or_else(|e| Err(Error::Config(format!("server task failed: {e}"))))
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }
}

fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The router over shared state: every route, those of roles this process does not run
/// answering `421` (see [`roles`]).
pub fn router(app: App) -> Router {
    let max = app.cfg.collector.max_request_bytes;
    let gate = |r: Router<App>, role: Role| {
        r.route_layer(axum::middleware::from_fn_with_state(
            (app.clone(), role),
            roles::require,
        ))
    };
    Router::new()
        .merge(gate(routes::collector::router(), Role::Collector))
        .merge(gate(routes::schemas::router(), Role::Collector))
        .merge(gate(routes::sdk_config::router(), Role::Collector))
        .merge(gate(routes::recommend::router(), Role::Api))
        .merge(gate(routes::features::router(), Role::Api))
        .merge(gate(routes::sql::router(), Role::Api))
        .merge(gate(routes::experiments::router(), Role::Api))
        .merge(gate(routes::admin::trainer_router(), Role::Trainer))
        // An erasure rewrites the processor's state and the lake's files in place.
        .merge(gate(
            gate(routes::users::router(), Role::Processor),
            Role::Lake,
        ))
        .merge(routes::dead_letters::router())
        .merge(routes::ops::router())
        .merge(routes::admin::router())
        .merge(routes::items::router())
        .merge(routes::web::router())
        .merge(routes::keys::router())
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            routes::guard,
        ))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            routes::body_deadline,
        ))
        .layer(axum::middleware::from_fn(routes::track_http))
        .layer(DefaultBodyLimit::max(max))
        .with_state(app)
}

/// Swaps in versions promoted by another process (`tailor models promote|rollback`).
async fn poll_registry(slot: Arc<models::ModelSlot>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let s = slot.clone();
        match tokio::task::spawn_blocking(move || s.refresh()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(model = %slot.name, error = %e, "cannot load the promoted model")
            }
            Err(e) => tracing::warn!(error = %e, "registry poll task failed"),
        }
    }
}

/// Picks up keys added or revoked by `tailor keys` (another process) without a restart.
async fn reload_keys(auth: Arc<auth::Auth>) {
    let mut tick = tokio::time::interval(auth.reload_every());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = auth.refresh() {
            tracing::warn!(error = %e, "cannot reload the key file; the keys loaded before stay in force");
        }
    }
}

/// Starts every role of a single-node Tailor: log, live processor, HTTP server.
pub async fn start(cfg: Config) -> Result<RunningServer> {
    cfg.validate().map_err(Error::Config)?;
    std::fs::create_dir_all(&cfg.data_dir).map_err(io_err(&cfg.data_dir))?;
    let prometheus = metrics::prometheus();
    let auth = Arc::new(
        auth::Auth::open(
            &cfg.auth,
            &cfg.collector.write_keys,
            &cfg.collector.secret_keys,
            &cfg.data_dir,
        )
        .map_err(Error::Config)?,
    );
    let listen: SocketAddr = cfg
        .listen
        .parse()
        .map_err(|e| Error::Config(format!("listen: {e}")))?;
    if !listen.ip().is_loopback() && !auth.closed() {
        return Err(Error::Config(format!(
            "listen: refusing to listen on {listen} (not loopback) without both a write key and \
             a secret key; create them with `tailor keys add --kind write|secret --name NAME` \
             (or set collector.write_keys and collector.secret_keys), or listen on 127.0.0.1"
        )));
    }
    let tls = match (&cfg.tls.cert_file, &cfg.tls.key_file) {
        (Some(cert), Some(key)) => Some(tls::server_config(cert, key).map_err(Error::Config)?),
        _ => None,
    };
    let log = open_log(&cfg)?;
    let dyn_log = log.clone();
    let registry_path = cfg.data_dir.join("schemas.json");
    let registry = Arc::new(RwLock::new(Arc::new(registry_store::load_or_init(
        &registry_path,
    )?)));
    let dedupe = Arc::new(dedupe::Dedupe::new(
        cfg.collector.dedupe_window_secs,
        cfg.collector.dedupe_max_entries,
    ));
    let attribution = Arc::new(attribution::Attribution::default());
    let catalog = Arc::new(catalog::Catalog::with_capacity(
        dyn_log.clone(),
        cfg.catalog.max_learned_items,
    )?);
    let ingest = ingest::Ingest::new(
        dyn_log.clone(),
        registry.clone(),
        dedupe.clone(),
        Duration::from_millis(cfg.collector.ack_timeout_ms),
    )
    .with_attribution(attribution.clone())
    .with_catalog(catalog.clone());
    let remembered = ingest.rebuild_dedupe()?;
    tracing::info!(ids = remembered, "dedupe window rebuilt from the log");
    let erasures = Arc::new(tailor_log::ErasureList::load(dyn_log.as_ref())?);
    let grouped = cfg.live.assignment == tailor_features::Assignment::Group;
    // Processors sharing partitions keep partition states in Redis, read merged.
    let partitioned = if grouped {
        let set = tailor_features::FeatureSet::compile(&cfg.features)?;
        let redis = Arc::new(tailor_features::online::RedisStore::open(&cfg.online)?);
        Some(Arc::new(tailor_features::PartitionedStore::new(
            redis, set,
        )?))
    } else {
        None
    };
    let online = match &partitioned {
        Some(_) => tailor_features::OnlineBackend::Live,
        None => tailor_features::online::open(&cfg.online)?,
    };
    let roles = cfg.roles.clone();
    if !roles.is_all() && matches!(cfg.log.backend(), Ok(config::LogBackend::Embedded)) {
        tracing::warn!(%roles, "running some roles on an embedded log: no other process can open it for writing, so the roles not run here run nowhere");
    }
    let (live, features, feature_set, owned_partitions, processor) = if roles.has(Role::Processor) {
        let processor = Processor::open(
            dyn_log.clone(),
            ProcessorOptions {
                topic: EVENTS_TOPIC.into(),
                group: LIVE_GROUP.into(),
                live: cfg.live.clone(),
                features: cfg.features.clone(),
                online,
                checkpoint: live_checkpoint(&cfg)?,
                sharing: match &partitioned {
                    Some(store) => Some(tailor_features::GroupOptions {
                        store: store.clone(),
                        checkpoints: partition_checkpoints(&cfg)?,
                        session_timeout: Duration::from_millis(cfg.live.group_session_timeout_ms),
                    }),
                    None => None,
                },
            },
        )?
        .with_erasures(erasures.clone());
        let live = processor.state();
        let owned = processor.owned();
        let features: Arc<dyn tailor_features::FeatureReader> = match &partitioned {
            Some(store) => store.clone(),
            None => processor.reader(),
        };
        let feature_set = processor.engine().read().feature_set().clone();
        (live, features, feature_set, owned, Some(processor.spawn()?))
    } else {
        // Another process applies events: features come from the shared store it writes
        // (config validation refuses an api role reading a process-local store).
        let engine = tailor_features::FeatureEngine::new(&cfg.features, 1)?;
        let feature_set = engine.feature_set().clone();
        let features: Arc<dyn tailor_features::FeatureReader> = match (partitioned, online) {
            (Some(store), _) => store,
            (None, tailor_features::OnlineBackend::Store(store)) => store,
            (None, tailor_features::OnlineBackend::Live) => Arc::new(
                tailor_features::online::LiveReader::new(Arc::new(RwLock::new(engine))),
            ),
        };
        let live = Arc::new(RwLock::new(tailor_features::LiveState::default()));
        (live, features, feature_set, None, None)
    };
    let quality = quality::QualityHub::start(
        &cfg.quality,
        cfg.data_dir.join("quality-baselines.json"),
        catalog.clone(),
    );
    let lake = if roles.has(Role::Lake) {
        Some(
            lake::LakeHandle::spawn(
                &cfg.lake,
                &cfg.data_dir,
                dyn_log.clone(),
                Some(quality.monitor()),
                erasures.clone(),
            )
            .await?,
        )
    } else {
        None
    };
    let warehouse = Arc::new(
        tailor_lake::Warehouse::open(&cfg.lake, &cfg.data_dir)
            .await
            .map_err(|e| Error::Lake(e.to_string()))?,
    );

    let model_registry = model_registry(&cfg)?;
    let slot = Arc::new(models::ModelSlot::new(
        model_registry.clone(),
        &cfg.models.serve,
    ));
    tailor_rec::set_threads(cfg.models.threads);
    {
        let slot = slot.clone();
        tokio::task::spawn_blocking(move || slot.refresh())
            .await
            .map_err(|e| Error::Model(format!("loading the served model: {e}")))??;
    }
    let trainer = Arc::new(
        training::Trainer::new(dyn_log.clone(), slot.clone(), cfg.models.clone()).with_on_finish({
            let quality = quality.clone();
            Arc::new(move |job: &training::Job| quality.after_training(job))
        }),
    );
    // Registry models experiment variants serve, besides `models.serve`.
    let mut variant_models = std::collections::BTreeMap::new();
    for v in cfg.experiment.iter().flat_map(|e| &e.variants) {
        if v.model != experiments::LIVE && v.model != cfg.models.serve {
            variant_models.entry(v.model.clone()).or_insert_with(|| {
                Arc::new(models::ModelSlot::new(model_registry.clone(), &v.model))
            });
        }
    }
    let eraser = Arc::new(erasure::Eraser::new(
        dyn_log.clone(),
        erasures.clone(),
        processor.as_ref().map(|p| p.control()),
        lake.as_ref().map(|l| l.sink.clone()),
        std::iter::once(&slot)
            .chain(variant_models.values())
            .cloned()
            .collect(),
        attribution.clone(),
    ));
    for e in erasures.unfinished() {
        tracing::error!(erasure = %e.id, "an erasure was recorded but not finished (the server stopped meanwhile); its records stay hidden from every read, and asking for it again (DELETE /v1/users/ID) finishes it");
    }
    let mut background = vec![
        tokio::spawn(reload_keys(auth.clone())),
        tokio::spawn(catalog.clone().follow()),
    ];
    for s in std::iter::once(&slot).chain(variant_models.values()) {
        background.push(tokio::spawn(poll_registry(
            s.clone(),
            Duration::from_millis(cfg.models.poll_ms),
        )));
    }
    let schedule = (cfg.models.retrain && roles.has(Role::Trainer))
        .then(|| Arc::new(schedule::Schedule::new(&cfg.models)));
    if let Some(s) = &schedule {
        background.push(tokio::spawn(schedule::run(trainer.clone(), s.clone())));
    }

    let listener = tokio::net::TcpListener::bind(&cfg.listen)
        .await
        .map_err(|source| Error::Bind {
            addr: cfg.listen.clone(),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| Error::Bind {
        addr: cfg.listen.clone(),
        source,
    })?;
    let app: App = Arc::new(AppState {
        cfg: Arc::new(cfg),
        log: dyn_log,
        ingest,
        dedupe,
        registry,
        registry_path,
        registry_write: tokio::sync::Mutex::new(()),
        live,
        features,
        feature_set,
        warehouse,
        trending: crate::recommend::TtlCache::new(routes::recommend::TRENDING_TTL),
        popular: crate::recommend::TtlCache::new(crate::recommend::POPULAR_TTL),
        attribution,
        auth,
        catalog,
        models: slot,
        variant_models,
        trainer,
        schedule,
        quality,
        dashboard: dashboard::Dashboard::new(),
        lake_jobs: lake.as_ref().map(|l| l.jobs.clone()).unwrap_or_default(),
        owned_partitions,
        eraser,
        prometheus,
        ready: AtomicBool::new(false),
    });
    background.push(tokio::spawn(dashboard::run(app.clone())));
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let router = router(app.clone());
    let tls_config = tls.clone();
    let app2 = app.clone();
    let join = tokio::spawn(async move {
        app2.ready.store(true, Ordering::Release);
        let stopped = async move {
            let _ = stop_rx.await;
        };
        let served = match tls_config {
            Some(c) => match tls::TlsListener::new(listener, c) {
                Ok(l) => axum::serve(l, router).with_graceful_shutdown(stopped).await,
                Err(e) => Err(e),
            },
            None => {
                axum::serve(listener, router)
                    .with_graceful_shutdown(stopped)
                    .await
            }
        };
        app2.ready.store(false, Ordering::Release);
        for task in background {
            task.abort();
        }
        if let Err(e) = served {
            tracing::error!(error = %e, "HTTP server failed");
        }
        if let Some(p) = processor {
            p.stop().await?;
        }
        if let Some(l) = lake {
            l.stop().await;
        }
        log.close()?;
        tracing::info!("tailor stopped cleanly");
        Ok(())
    });
    tracing::info!(%addr, tls = tls.is_some(), %roles, "tailor listening");
    Ok(RunningServer {
        addr,
        tls: tls.is_some(),
        app,
        stop: Some(stop_tx),
        join,
    })
}
