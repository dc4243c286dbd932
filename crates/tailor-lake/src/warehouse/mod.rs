//! SQL over the lake with DataFusion: tables `events` and `dead_letters` (committed files
//! only, with the hive columns `dt` and, for events, `hour`), the views of [`views`], and
//! the `json_get_str(json, path)` function for the JSON text columns.
//!
//! Queries are read-only: DDL, DML and `SET` statements are refused, as are unknown tables
//! or columns, with an [`Error::Sql`] (a client error) that lists the tables. Each query
//! first picks up a newer manifest, if one was committed, and runs within a time and a
//! memory limit ([`QueryLimits`]; past either, [`Error::Limit`]).

mod json;
mod table;
pub mod views;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow::array::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::execution::context::{SQLOptions, SessionConfig, SessionContext};
use datafusion::execution::object_store::ObjectStoreUrl;

pub use self::json::lookup as json_lookup;
use self::table::LakeTable;
use crate::config::LakeConfig;
use crate::layout::Table;
use crate::manifest;
use crate::store::Lake;
use crate::{Error, Result};

/// The URL the lake's store is registered under in DataFusion.
const STORE_URL: &str = "tailorlake://lake";

/// What one query may take (`lake.query_timeout_secs`, `lake.query_memory_mb`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryLimits {
    pub timeout: std::time::Duration,
    pub memory_bytes: usize,
}

impl QueryLimits {
    pub fn of(config: &LakeConfig) -> QueryLimits {
        QueryLimits {
            timeout: std::time::Duration::from_secs(config.query_timeout_secs),
            memory_bytes: (config.query_memory_mb as usize).saturating_mul(1024 * 1024),
        }
    }
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits::of(&LakeConfig::default())
    }
}

/// A SQL engine over one lake.
pub struct Warehouse {
    pub(crate) lake: Lake,
    ctx: SessionContext,
    limits: QueryLimits,
    tables: Vec<Arc<LakeTable>>,
    version: AtomicU64,
    refresh_lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Warehouse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Warehouse")
            .field("lake", &self.lake)
            .field("version", &self.version.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Warehouse {
    /// Opens the lake that `config` names (relative paths under `data_dir`).
    pub async fn open(config: &LakeConfig, data_dir: &std::path::Path) -> Result<Warehouse> {
        Warehouse::with_limits(Lake::open(config, data_dir)?, QueryLimits::of(config)).await
    }

    /// A warehouse over an opened lake, with the default limits.
    pub async fn new(lake: Lake) -> Result<Warehouse> {
        Warehouse::with_limits(lake, QueryLimits::default()).await
    }

    /// A warehouse over an opened lake whose queries run within `limits`.
    pub async fn with_limits(lake: Lake, limits: QueryLimits) -> Result<Warehouse> {
        let config = SessionConfig::new().with_information_schema(true);
        let runtime = datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
            .with_memory_limit(limits.memory_bytes, 1.0)
            .build_arc()
            .map_err(sql_error)?;
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        let store_url = ObjectStoreUrl::parse(STORE_URL).map_err(sql_error)?;
        ctx.register_object_store(store_url.as_ref(), lake.store().clone());
        let mut tables = Vec::new();
        for t in Table::ALL {
            let table = Arc::new(LakeTable::new(t, store_url.clone()));
            ctx.register_table(t.name(), table.clone())
                .map_err(sql_error)?;
            tables.push(table);
        }
        ctx.register_udf(json::json_get_str());
        for (_, create) in views::VIEWS {
            ctx.sql(create).await.map_err(sql_error)?;
        }
        let w = Warehouse {
            lake,
            ctx,
            limits,
            tables,
            version: AtomicU64::new(u64::MAX),
            refresh_lock: tokio::sync::Mutex::new(()),
        };
        w.refresh().await?;
        Ok(w)
    }

    /// Loads the newest manifest if it changed; returns its version (0: empty lake).
    pub async fn refresh(&self) -> Result<u64> {
        let _one = self.refresh_lock.lock().await;
        let loaded = manifest::load(&self.lake).await?;
        let v = loaded.manifest.version;
        if self.version.load(Ordering::Acquire) != v {
            for t in &self.tables {
                t.set_files(loaded.manifest.files.clone());
            }
            self.version.store(v, Ordering::Release);
        }
        Ok(v)
    }

    /// The manifest version queries currently read.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Runs one read-only SQL statement over the newest committed data.
    pub async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        self.refresh().await?;
        let options = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        let run = async {
            let df = self
                .ctx
                .sql_with_options(sql, options)
                .await
                .map_err(|e| self.with_tables(sql_error(e)))?;
            df.collect().await.map_err(|e| self.limit_error(e))
        };
        // Dropping the plan on time-out stops its tasks.
        tokio::time::timeout(self.limits.timeout, run)
            .await
            .map_err(|_| {
                Error::Limit(format!(
                    "the query ran past its time limit of {} s and was stopped \
                     (lake.query_timeout_secs); narrow it, e.g. by dt",
                    self.limits.timeout.as_secs()
                ))
            })?
    }

    /// The tables and views queries can read, with their columns (`name type`), by name.
    pub async fn tables(&self) -> Result<Vec<(String, Vec<(String, String)>)>> {
        let mut out = Vec::new();
        for name in self.table_names() {
            let provider = self
                .ctx
                .table_provider(name.as_str())
                .await
                .map_err(sql_error)?;
            let columns = provider
                .schema()
                .fields()
                .iter()
                .map(|f| (f.name().clone(), f.data_type().to_string()))
                .collect();
            out.push((name, columns));
        }
        Ok(out)
    }

    /// The names of the tables and views, sorted.
    fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .ctx
            .catalog("datafusion")
            .and_then(|c| c.schema("public"))
            .map(|s| s.table_names())
            .unwrap_or_default();
        names.sort();
        names
    }

    /// A planning error that names an unknown table lists the tables there are.
    fn with_tables(&self, e: Error) -> Error {
        match e {
            Error::Sql(m) if m.contains("not found") && m.to_lowercase().contains("table") => {
                Error::Sql(format!(
                    "{m}; the tables are {} (GET /v1/sql/tables lists their columns)",
                    self.table_names().join(", ")
                ))
            }
            e => e,
        }
    }

    /// An execution error: past the memory limit, [`Error::Limit`].
    fn limit_error(&self, e: DataFusionError) -> Error {
        if matches!(e.find_root(), DataFusionError::ResourcesExhausted(..)) {
            return Error::Limit(format!(
                "the query needed more than its memory limit of {} MiB and was stopped \
                 (lake.query_memory_mb); aggregate or filter more, e.g. by dt",
                self.limits.memory_bytes / (1024 * 1024)
            ));
        }
        query_error(e)
    }

    /// The DataFusion session (tables and views registered), for callers that stream.
    pub fn session(&self) -> &SessionContext {
        &self.ctx
    }
}

fn is_client(e: &DataFusionError) -> bool {
    matches!(
        e.find_root(),
        DataFusionError::SQL(..)
            | DataFusionError::Plan(..)
            | DataFusionError::SchemaError(..)
            | DataFusionError::NotImplemented(..)
    )
}

/// Planning errors: the client's SQL, unless the cause is the lake itself.
pub(crate) fn sql_error(e: DataFusionError) -> Error {
    if is_client(&e) {
        Error::Sql(e.strip_backtrace())
    } else {
        Error::Query(e.strip_backtrace())
    }
}

/// Execution errors; some (a failing cast, division by zero) are still the client's.
pub(crate) fn query_error(e: DataFusionError) -> Error {
    if is_client(&e) || matches!(e.find_root(), DataFusionError::ArrowError(..)) {
        Error::Sql(e.strip_backtrace())
    } else {
        Error::Query(e.strip_backtrace())
    }
}
