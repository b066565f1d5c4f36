//! A table whose partitions come from the catalog: each partition is read from the location the
//! catalog names for it, not found by listing the table folder. Compaction switches a
//! partition's location to a new generation folder in one catalog step, so a query sees the
//! old files or the new ones, never both and never neither.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, BooleanArray, RecordBatch, StringArray};
use datafusion::catalog::Session;
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::table_schema::TableSchemaBuilder;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use futures::TryStreamExt;

use crate::PartitionDef;

/// A Parquet table over the catalog's partitions.
#[derive(Debug)]
pub(crate) struct CatalogTable {
    file_schema: SchemaRef,
    table_schema: SchemaRef,
    keys: Vec<String>,
    partitions: Vec<PartitionDef>,
}

impl CatalogTable {
    pub(crate) fn new(
        file_schema: SchemaRef,
        keys: Vec<String>,
        partitions: Vec<PartitionDef>,
    ) -> Self {
        let mut fields: Vec<Field> = file_schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.extend(keys.iter().map(|k| Field::new(k, DataType::Utf8, false)));
        Self {
            file_schema,
            table_schema: Arc::new(Schema::new(fields)),
            keys,
            partitions,
        }
    }

    /// The partitions every filter on partition keys alone keeps (evaluated on their values).
    fn prune(&self, state: &dyn Session, filters: &[Expr]) -> Result<Vec<&PartitionDef>> {
        let key_filters: Vec<&Expr> = filters
            .iter()
            .filter(|f| {
                let cols = f.column_refs();
                !cols.is_empty() && cols.iter().all(|c| self.keys.contains(&c.name))
            })
            .collect();
        if key_filters.is_empty() || self.partitions.is_empty() {
            return Ok(self.partitions.iter().collect());
        }
        let schema = Arc::new(Schema::new(
            self.keys
                .iter()
                .map(|k| Field::new(k, DataType::Utf8, false))
                .collect::<Vec<_>>(),
        ));
        let columns: Vec<ArrayRef> = (0..self.keys.len())
            .map(|i| -> ArrayRef {
                Arc::new(StringArray::from_iter_values(
                    self.partitions
                        .iter()
                        .map(|p| p.values.get(i).map_or("", String::as_str)),
                ))
            })
            .collect();
        let batch = RecordBatch::try_new(schema.clone(), columns)?;
        let df_schema = DFSchema::try_from(schema)?;
        let mut keep = vec![true; self.partitions.len()];
        for f in key_filters {
            let expr = state.create_physical_expr(f.clone(), &df_schema)?;
            let result = expr.evaluate(&batch)?.into_array(batch.num_rows())?;
            let result = result
                .as_any()
                .downcast_ref::<BooleanArray>()
                .ok_or_else(|| DataFusionError::Internal("filter is not boolean".into()))?;
            for (k, r) in keep.iter_mut().zip(result.iter()) {
                *k &= r == Some(true);
            }
        }
        Ok(self
            .partitions
            .iter()
            .zip(keep)
            .filter_map(|(p, k)| k.then_some(p))
            .collect())
    }
}

/// A location as (store URL, path prefix in that store).
fn store_and_prefix(location: &str) -> Result<(ObjectStoreUrl, object_store::path::Path)> {
    if let Some(rest) = location.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let url = ObjectStoreUrl::parse(format!("s3://{bucket}"))?;
        return Ok((
            url,
            object_store::path::Path::from(prefix.trim_matches('/')),
        ));
    }
    let abs = std::path::absolute(location)?;
    let path = object_store::path::Path::from_absolute_path(&abs)
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    Ok((ObjectStoreUrl::local_filesystem(), path))
}

/// Whether a listed object is a data file of the partition folder itself: a `.parquet` file
/// directly in it whose name is not hidden (`_…`, `.…`), as Hive readers and Athena skip.
fn is_data_file(prefix: &object_store::path::Path, location: &object_store::path::Path) -> bool {
    let Some(rest) = location.prefix_match(prefix) else {
        return false;
    };
    let parts: Vec<_> = rest.collect();
    match parts.as_slice() {
        [name] => {
            let n = name.as_ref();
            n.ends_with(".parquet") && !n.starts_with('_') && !n.starts_with('.')
        }
        _ => false,
    }
}

#[async_trait]
impl TableProvider for CatalogTable {
    fn schema(&self) -> SchemaRef {
        self.table_schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let mut files = Vec::new();
        let mut store_url = None;
        for p in self.prune(state, filters)? {
            let (url, prefix) = store_and_prefix(&p.location)?;
            let store = state.runtime_env().object_store(&url)?;
            let mut listed: Vec<_> = store.list(Some(&prefix)).try_collect().await?;
            listed.retain(|m| is_data_file(&prefix, &m.location));
            listed.sort_by(|a, b| a.location.cmp(&b.location));
            let values: Vec<ScalarValue> = p
                .values
                .iter()
                .map(|v| ScalarValue::Utf8(Some(v.clone())))
                .collect();
            files.extend(listed.into_iter().map(|meta| {
                PartitionedFile::new_from_meta(meta).with_partition_values(values.clone())
            }));
            store_url.get_or_insert(url);
        }
        let Some(store_url) = store_url.filter(|_| !files.is_empty()) else {
            let schema = match projection {
                Some(p) => Arc::new(self.table_schema.project(p)?),
                None => self.table_schema.clone(),
            };
            return Ok(Arc::new(EmptyExec::new(schema)));
        };
        let n = state.config().target_partitions().max(1);
        let mut groups: Vec<Vec<PartitionedFile>> = vec![Vec::new(); n.min(files.len())];
        let len = groups.len();
        for (i, f) in files.into_iter().enumerate() {
            groups[i % len].push(f);
        }
        let format = ParquetFormat::default();
        let table_schema = TableSchemaBuilder::from(&self.file_schema)
            .with_table_partition_cols(
                self.keys
                    .iter()
                    .map(|k| Arc::new(Field::new(k, DataType::Utf8, false)))
                    .collect::<Vec<_>>(),
            )
            .build();
        let config = FileScanConfigBuilder::new(store_url, format.file_source(table_schema))
            .with_file_groups(groups.into_iter().map(FileGroup::new).collect())
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .build();
        format.create_physical_plan(state, config).await
    }
}
