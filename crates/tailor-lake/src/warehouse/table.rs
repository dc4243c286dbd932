//! A DataFusion table over the files one manifest lists (never a directory listing, so
//! uncommitted files are invisible). The hive partition columns come from the manifest, and
//! filters on them prune whole files before any is opened.

use std::sync::{Arc, RwLock};

use arrow::datatypes::{FieldRef, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::listing::helpers::{expr_applicable_for_cols, filter_partitioned_file};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::table_schema::TableSchemaBuilder;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result as DfResult;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::ExecutionPlan;

use crate::layout::{HivePartition, Table};
use crate::manifest::DataFile;
use crate::schema::{file_schema, partition_fields};

/// One lake table as DataFusion sees it; its file list is swapped on refresh.
#[derive(Debug)]
pub(crate) struct LakeTable {
    table: Table,
    file_schema: SchemaRef,
    partition_fields: Vec<FieldRef>,
    schema: SchemaRef,
    store_url: ObjectStoreUrl,
    files: RwLock<Arc<Vec<DataFile>>>,
}

impl LakeTable {
    pub fn new(table: Table, store_url: ObjectStoreUrl) -> LakeTable {
        let file_schema = file_schema(table);
        let partition_fields = partition_fields(table);
        let fields: Vec<FieldRef> = file_schema
            .fields()
            .iter()
            .cloned()
            .chain(partition_fields.iter().cloned())
            .collect();
        LakeTable {
            table,
            schema: Arc::new(Schema::new(fields)),
            file_schema,
            partition_fields,
            store_url,
            files: RwLock::new(Arc::new(Vec::new())),
        }
    }

    /// Replaces the committed file list (from a newer manifest).
    pub fn set_files(&self, files: Vec<DataFile>) {
        let files: Vec<DataFile> = files
            .into_iter()
            .filter(|f| f.table == self.table)
            .collect();
        *self.files.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(files);
    }

    fn files(&self) -> Arc<Vec<DataFile>> {
        self.files.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn partition_names(&self) -> Vec<&str> {
        self.partition_fields
            .iter()
            .map(|f| f.name().as_str())
            .collect()
    }

    fn partition_values(&self, f: &DataFile) -> Option<Vec<ScalarValue>> {
        let p = HivePartition::parse(&f.dt, f.hour)?;
        let mut v = vec![ScalarValue::Date32(Some(p.day))];
        if self.table.hourly() {
            v.push(ScalarValue::Int32(Some(i32::from(p.hour?))));
        }
        Some(v)
    }
}

#[async_trait]
impl TableProvider for LakeTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        let names = self.partition_names();
        Ok(filters
            .iter()
            .map(|f| {
                if expr_applicable_for_cols(&names, f) {
                    TableProviderFilterPushDown::Exact
                } else {
                    TableProviderFilterPushDown::Inexact
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let names = self.partition_names();
        let partition_filters: Vec<Expr> = filters
            .iter()
            .filter(|f| expr_applicable_for_cols(&names, f))
            .cloned()
            .collect();
        let partition_schema = DFSchema::from_unqualified_fields(
            self.partition_fields.clone().into(),
            Default::default(),
        )?;
        let groups_wanted = state.config().target_partitions().max(1);
        let mut groups: Vec<Vec<PartitionedFile>> = vec![Vec::new(); groups_wanted];
        let mut sizes = vec![0u64; groups_wanted];
        let mut files: Vec<&DataFile> = Vec::new();
        let all = self.files();
        files.extend(all.iter());
        // Largest first into the lightest group keeps the groups even.
        files.sort_by_key(|f| std::cmp::Reverse(f.bytes));
        let mut any = false;
        for f in files {
            let Some(values) = self.partition_values(f) else {
                continue;
            };
            let pf = PartitionedFile::new(f.path.clone(), f.bytes).with_partition_values(values);
            if let Some(pf) = filter_partitioned_file(pf, &partition_filters, &partition_schema)? {
                let i = (0..groups_wanted).min_by_key(|&i| sizes[i]).unwrap_or(0);
                sizes[i] += f.bytes;
                groups[i].push(pf);
                any = true;
            }
        }
        if !any {
            let schema = match projection {
                Some(p) => Arc::new(self.schema.project(p)?),
                None => self.schema.clone(),
            };
            return Ok(Arc::new(EmptyExec::new(schema)));
        }
        let groups: Vec<FileGroup> = groups
            .into_iter()
            .filter(|g| !g.is_empty())
            .map(FileGroup::new)
            .collect();
        let table_schema = TableSchemaBuilder::new(self.file_schema.clone())
            .with_table_partition_cols(self.partition_fields.clone())
            .build();
        let format = ParquetFormat::default().with_options(state.default_table_options().parquet);
        let source = format.file_source(table_schema);
        let config = FileScanConfigBuilder::new(self.store_url.clone(), source)
            .with_file_groups(groups)
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .build();
        format.create_physical_plan(state, config).await
    }
}
