//! What every handler shares.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use parking_lot::RwLock;
use tailor_event::SchemaRegistry;
use tailor_features::LiveState;
use tailor_log::Log;

use crate::config::Config;
use crate::dedupe::Dedupe;
use crate::ingest::Ingest;

pub struct AppState {
    pub cfg: Arc<Config>,
    pub log: Arc<dyn Log>,
    pub ingest: Ingest,
    pub dedupe: Arc<Dedupe>,
    pub registry: Arc<RwLock<Arc<SchemaRegistry>>>,
    pub registry_path: PathBuf,
    /// Serializes schema changes (read-modify-persist).
    pub registry_write: tokio::sync::Mutex<()>,
    pub live: Arc<RwLock<LiveState>>,
    /// Where feature rows are read: the engine state itself (`embedded://`) or the store
    /// the processor materializes rows into.
    pub features: Arc<dyn tailor_features::FeatureReader>,
    /// The compiled feature definitions in force.
    pub feature_set: Arc<tailor_features::FeatureSet>,
    /// SQL over the lake.
    pub warehouse: Arc<tailor_lake::Warehouse>,
    /// Trending counts last read from the global feature row (see `routes::recommend`).
    pub trending: crate::recommend::TtlCache<Option<Trending>>,
    /// Every known item by popularity, for filling short answers (`recommend::fill`).
    pub popular: crate::recommend::TtlCache<Arc<crate::recommend::Popular>>,
    /// Served lists joined with the events that carry their `rec_id`.
    pub attribution: Arc<crate::attribution::Attribution>,
    /// API keys in force.
    pub auth: Arc<crate::auth::Auth>,
    /// The item catalog (availability for the rules).
    pub catalog: Arc<crate::catalog::Catalog>,
    /// The served registry model (swapped on promotion).
    pub models: Arc<crate::models::ModelSlot>,
    /// Other registry models that experiment variants serve, by name.
    pub variant_models: std::collections::BTreeMap<String, Arc<crate::models::ModelSlot>>,
    /// Training jobs (admin API and schedule).
    pub trainer: Arc<crate::training::Trainer>,
    /// The retraining schedule (`models.retrain`).
    pub schedule: Option<Arc<crate::schedule::Schedule>>,
    /// Data-quality results (`GET /v1/quality`) and their webhook.
    pub quality: Arc<crate::quality::QualityHub>,
    /// Samples for the built-in dashboard.
    pub dashboard: Arc<crate::dashboard::Dashboard>,
    /// The lake sink's maintenance jobs (compaction, retention).
    pub lake_jobs: tailor_lake::jobs::LakeJobs,
    /// The partitions this process's processor owns when processors share them
    /// (`live.assignment = "group"`); `None` otherwise.
    pub owned_partitions: Option<Arc<parking_lot::Mutex<std::collections::BTreeSet<u32>>>>,
    /// GDPR erasures (`DELETE /v1/users/{id}`).
    pub eraser: Arc<crate::erasure::Eraser>,
    pub prometheus: PrometheusHandle,
    pub ready: AtomicBool,
}

pub type App = Arc<AppState>;

/// Trending items with their counts, best first.
pub type Trending = Arc<Vec<(String, f64)>>;

impl AppState {
    /// The slot serving registry model `name` (`models.serve` or an experiment's).
    pub fn model_slot(&self, name: &str) -> Option<&Arc<crate::models::ModelSlot>> {
        if name == self.models.name {
            Some(&self.models)
        } else {
            self.variant_models.get(name)
        }
    }
}
