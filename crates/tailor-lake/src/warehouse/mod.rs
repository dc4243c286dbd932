//! SQL over the lake with DataFusion: tables `events` and `dead_letters` (committed files
//! only, with the hive columns `dt` and, for events, `hour`), the views of [`views`], and
//! the `json_get_str(json, path)` function for the JSON text columns.
//!
//! Queries are read-only: DDL, DML and `SET` statements are refused, as are unknown tables
//! or columns, with an [`Error::Sql`] (a client error). Each query first picks up a newer
//! manifest, if one was committed.

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

/// A SQL engine over one lake.
pub struct Warehouse {
    pub(crate) lake: Lake,
    ctx: SessionContext,
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
        Warehouse::new(Lake::open(config, data_dir)?).await
    }

    /// A warehouse over an opened lake.
    pub async fn new(lake: Lake) -> Result<Warehouse> {
        let config = SessionConfig::new().with_information_schema(true);
        let ctx = SessionContext::new_with_config(config);
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
        let df = self
            .ctx
            .sql_with_options(sql, options)
            .await
            .map_err(sql_error)?;
        df.collect().await.map_err(query_error)
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
