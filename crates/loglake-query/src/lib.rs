//! # loglake-query
//!
//! SQL over loglake tables with DataFusion: each catalog table is a Hive-partitioned Parquet
//! listing (`<location>/dt=…/hr=…/part-*.parquet`) whose partition keys are columns, so a
//! filter on `dt`/`hr` prunes whole folders before any file is opened.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use arrow_schema::{DataType, Field, Schema};
//! use loglake_query::{Format, QueryEngine, TableDef};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let table = TableDef {
//!     name: "app_logs".into(),
//!     location: dir.path().display().to_string(),
//!     schema: Arc::new(Schema::new(vec![Field::new("message", DataType::Utf8, true)])),
//!     partition_keys: vec!["dt".into(), "hr".into()],
//!     partitions: None,
//! };
//! let engine = QueryEngine::new(&[table], &[]).await.unwrap();
//! let batches = engine.sql("SELECT count(*) AS n FROM app_logs").await.unwrap();
//! assert_eq!(loglake_query::format(&batches, Format::Csv).unwrap(), "n\n0\n");
//!
//! let err = engine.sql("SELECT * FROM nope").await.unwrap_err().to_string();
//! assert!(err.contains("known tables: app_logs"), "{err}");
//! # });
//! ```

mod catalog_table;

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::array::RecordBatch;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::{SessionConfig, SessionContext};
use object_store::ObjectStore;

/// Errors of a query.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The SQL names a table the catalog does not have.
    #[error("{message}; known tables: {known}")]
    UnknownTable {
        /// DataFusion's message.
        message: String,
        /// The catalog's tables, comma-separated.
        known: String,
    },
    /// A table's location is not a usable URL or path.
    #[error("table `{table}`: location `{location}`: {message}")]
    Location {
        /// Table.
        table: String,
        /// Location.
        location: String,
        /// Why.
        message: String,
    },
    /// A catalog column has a type this engine does not map to Arrow.
    #[error(
        "table `{table}`: column `{column}` has the Hive type `{hive_type}`, which `loglake query` cannot read\nhint: supported types are string, varchar, char, tinyint, smallint, int, bigint, float, double, decimal(p,s), boolean, date, timestamp"
    )]
    UnsupportedType {
        /// Table.
        table: String,
        /// Column.
        column: String,
        /// Its type in the catalog.
        hive_type: String,
    },
    /// Planning or execution failed (SQL errors, unreadable files).
    #[error("{0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    /// Formatting the result failed.
    #[error("formatting the result: {0}")]
    Format(#[from] datafusion::arrow::error::ArrowError),
}

impl Error {
    /// Whether the statement itself is wrong (unknown table or column, SQL syntax), as opposed
    /// to a failure reading the data.
    pub fn is_usage(&self) -> bool {
        use datafusion::error::DataFusionError as E;
        match self {
            Error::UnknownTable { .. } => true,
            Error::DataFusion(e) => matches!(
                e.find_root(),
                E::SQL(..) | E::Plan(_) | E::SchemaError(..) | E::NotImplemented(_)
            ),
            _ => false,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A table to query.
#[derive(Debug, Clone)]
pub struct TableDef {
    /// SQL name.
    pub name: String,
    /// Folder or `s3://bucket/prefix` holding the partition folders.
    pub location: String,
    /// Schema of the Parquet files (partition keys excluded).
    pub schema: SchemaRef,
    /// Partition keys, in folder order (strings).
    pub partition_keys: Vec<String>,
    /// The catalog's partitions, each read from its own location (compacted partitions live in
    /// generation folders); `None`: the partition folders found under `location`.
    pub partitions: Option<Vec<PartitionDef>>,
}

/// A partition as the catalog has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionDef {
    /// Values, in partition-key order.
    pub values: Vec<String>,
    /// Its folder or `s3://` prefix.
    pub location: String,
}

impl TableDef {
    /// A table from a Hive-style description (the Glue Data Catalog's): data columns with Hive
    /// types, partition keys (read as strings), location.
    ///
    /// ```
    /// let t = loglake_query::TableDef::from_hive(
    ///     "app_logs",
    ///     "s3://clean/clean/app_logs",
    ///     &[("ts".into(), "timestamp".into()), ("status".into(), "int".into())],
    ///     vec!["dt".into(), "hr".into()],
    /// )
    /// .unwrap();
    /// assert_eq!(t.schema.field(1).data_type(), &arrow_schema::DataType::Int32);
    /// ```
    pub fn from_hive(
        name: &str,
        location: &str,
        columns: &[(String, String)],
        partition_keys: Vec<String>,
    ) -> Result<Self> {
        let fields = columns
            .iter()
            .map(|(column, ty)| {
                arrow_type_of_hive(ty)
                    .map(|t| Field::new(column, t, true))
                    .ok_or_else(|| Error::UnsupportedType {
                        table: name.to_owned(),
                        column: column.clone(),
                        hive_type: ty.clone(),
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            name: name.to_owned(),
            location: location.to_owned(),
            schema: Arc::new(Schema::new(fields)),
            partition_keys,
            partitions: None,
        })
    }
}

/// The Arrow type a Hive (Glue, Athena) column type is read as; `None` for types without a
/// mapping here (arrays, maps, structs, …). `timestamp` is microseconds in UTC, which is how
/// the transform writes it (`TIMESTAMP(MICROS, isAdjustedToUTC=true)`).
pub fn arrow_type_of_hive(ty: &str) -> Option<DataType> {
    let ty = ty.trim().to_ascii_lowercase();
    let (base, args) = match ty.split_once('(') {
        Some((b, rest)) => (b.trim(), Some(rest.trim_end_matches(')'))),
        None => (ty.as_str(), None),
    };
    Some(match (base, args) {
        ("string" | "varchar" | "char", _) => DataType::Utf8,
        ("tinyint", None) => DataType::Int8,
        ("smallint", None) => DataType::Int16,
        ("int" | "integer", None) => DataType::Int32,
        ("bigint", None) => DataType::Int64,
        ("float", None) => DataType::Float32,
        ("double", None) => DataType::Float64,
        ("boolean", None) => DataType::Boolean,
        ("date", None) => DataType::Date32,
        ("timestamp", None) => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        ("decimal", None) => DataType::Decimal128(10, 0),
        ("decimal", Some(a)) => {
            let (p, s) = a.split_once(',').unwrap_or((a, "0"));
            DataType::Decimal128(p.trim().parse().ok()?, s.trim().parse().ok()?)
        }
        _ => return None,
    })
}

/// A DataFusion session with the catalog's tables registered.
pub struct QueryEngine {
    ctx: SessionContext,
    tables: Vec<String>,
}

impl std::fmt::Debug for QueryEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryEngine")
            .field("tables", &self.tables)
            .finish_non_exhaustive()
    }
}

impl QueryEngine {
    /// Registers `tables`; `stores` maps URL prefixes (`s3://bucket`) to object stores for
    /// tables outside the local file system.
    pub async fn new(
        tables: &[TableDef],
        stores: &[(url::Url, Arc<dyn ObjectStore>)],
    ) -> Result<Self> {
        let config = SessionConfig::new()
            .with_information_schema(true)
            .with_target_partitions(2);
        let ctx = SessionContext::new_with_config(config);
        for (url, store) in stores {
            ctx.register_object_store(url, store.clone());
        }
        for t in tables {
            if let Some(partitions) = &t.partitions {
                let table = catalog_table::CatalogTable::new(
                    t.schema.clone(),
                    t.partition_keys.clone(),
                    partitions.clone(),
                );
                ctx.register_table(t.name.as_str(), Arc::new(table))?;
                continue;
            }
            let location_err = |message: String| Error::Location {
                table: t.name.clone(),
                location: t.location.clone(),
                message,
            };
            let url = if t.location.contains("://") {
                let mut s = t.location.clone();
                if !s.ends_with('/') {
                    s.push('/');
                }
                ListingTableUrl::parse(&s)
            } else {
                std::fs::create_dir_all(&t.location).map_err(|e| location_err(e.to_string()))?;
                let abs =
                    std::path::absolute(&t.location).map_err(|e| location_err(e.to_string()))?;
                ListingTableUrl::parse(format!("{}/", abs.display()))
            }
            .map_err(|e| location_err(e.to_string()))?;
            let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
                .with_file_extension(".parquet")
                .with_table_partition_cols(
                    t.partition_keys
                        .iter()
                        .map(|k| (k.clone(), DataType::Utf8))
                        .collect(),
                );
            let config = ListingTableConfig::new(url)
                .with_listing_options(options)
                .with_schema(t.schema.clone());
            let table = ListingTable::try_new(config)?;
            ctx.register_table(t.name.as_str(), Arc::new(table))?;
        }
        Ok(Self {
            ctx,
            tables: tables.iter().map(|t| t.name.clone()).collect(),
        })
    }

    /// The registered tables.
    pub fn tables(&self) -> &[String] {
        &self.tables
    }

    /// Runs one SQL statement and collects the result.
    pub async fn sql(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        let df = match self.ctx.sql(sql).await {
            Ok(df) => df,
            Err(e) => {
                let message = e.to_string();
                if message.contains("table") && message.contains("not found") {
                    return Err(Error::UnknownTable {
                        message: message
                            .trim_start_matches("Error during planning: ")
                            .to_owned(),
                        known: if self.tables.is_empty() {
                            "(none yet: run `loglake run` first)".into()
                        } else {
                            self.tables.join(", ")
                        },
                    });
                }
                return Err(e.into());
            }
        };
        Ok(df.collect().await?)
    }
}

/// Output formats of `loglake query`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A bordered text table.
    Table,
    /// One JSON object per row (NDJSON).
    Json,
    /// CSV with a header.
    Csv,
}

/// Formats query results.
pub fn format(batches: &[RecordBatch], format: Format) -> Result<String> {
    Ok(match format {
        Format::Table => {
            let escaped = batches
                .iter()
                .map(escape_control_chars)
                .collect::<Result<Vec<_>>>()?;
            datafusion::arrow::util::pretty::pretty_format_batches(&escaped)?.to_string()
        }
        Format::Json => {
            let mut w = datafusion::arrow::json::LineDelimitedWriter::new(Vec::new());
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
            String::from_utf8_lossy(&w.into_inner()).into_owned()
        }
        Format::Csv => {
            let mut out = Vec::new();
            {
                let mut w = datafusion::arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(&mut out);
                for b in batches {
                    w.write(b)?;
                }
            }
            String::from_utf8_lossy(&out).into_owned()
        }
    })
}

/// Newlines, carriage returns and tabs in string values, escaped (`\n`, `\r`, `\t`) so a table
/// keeps one row per line, as `datafusion-cli` and `duckdb` print them. Other columns as they are.
fn escape_control_chars(batch: &RecordBatch) -> Result<RecordBatch> {
    use datafusion::arrow::array::{Array, ArrayRef, StringArray};
    let needs = |c: char| matches!(c, '\n' | '\r' | '\t');
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if !matches!(
            field.data_type(),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        ) {
            fields.push(field.as_ref().clone());
            columns.push(column.clone());
            continue;
        }
        let text = datafusion::arrow::compute::cast(column, &DataType::Utf8)?;
        let text = text
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| datafusion::error::DataFusionError::Internal("cast to Utf8".into()))?;
        let escaped: StringArray = text
            .iter()
            .map(|v| {
                v.map(|v| {
                    if !v.contains(needs) {
                        return v.to_owned();
                    }
                    v.replace('\n', "\\n")
                        .replace('\r', "\\r")
                        .replace('\t', "\\t")
                })
            })
            .collect();
        fields.push(Field::new(
            field.name(),
            DataType::Utf8,
            field.is_nullable(),
        ));
        columns.push(Arc::new(escaped));
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_output_keeps_one_row_per_line() {
        use datafusion::arrow::array::{Int64Array, StringArray};
        use datafusion::arrow::datatypes::{DataType, Field, Schema};
        let schema = Schema::new(vec![
            Field::new("msg", DataType::Utf8, true),
            Field::new("n", DataType::Int64, false),
        ]);
        let batch = RecordBatch::try_new(
            std::sync::Arc::new(schema),
            vec![
                std::sync::Arc::new(StringArray::from(vec![
                    Some("line one\nline two"),
                    Some("a\tb\r"),
                    None,
                    Some("plain"),
                ])),
                std::sync::Arc::new(Int64Array::from(vec![1, 2, 3, 4])),
            ],
        )
        .unwrap();
        let out = format(std::slice::from_ref(&batch), Format::Table).unwrap();
        // Borders (3), header (1), four rows: one line each.
        assert_eq!(out.lines().count(), 3 + 1 + 4, "{out}");
        assert!(out.contains("line one\\nline two"), "{out}");
        assert!(out.contains("a\\tb\\r"), "{out}");
        // JSON and CSV keep the values exact.
        let json = format(&[batch], Format::Json).unwrap();
        assert!(json.contains(r#""msg":"line one\nline two""#), "{json}");
    }

    /// The Glue table's types come from the schema file (`ColumnType::glue_name`); read back
    /// here they must be the Arrow types the transform writes, or queries would cast.
    #[test]
    fn hive_types_of_the_schema_read_as_the_written_arrow_types() {
        use loglake_core::ColumnType as C;
        for ty in [
            C::String,
            C::Int,
            C::Bigint,
            C::Double,
            C::Boolean,
            C::Timestamp,
        ] {
            assert_eq!(
                arrow_type_of_hive(ty.glue_name()),
                Some(loglake_transform::arrow_type(ty)),
                "{ty:?}"
            );
        }
        assert_eq!(
            arrow_type_of_hive("DECIMAL(12, 2)"),
            Some(DataType::Decimal128(12, 2))
        );
        assert_eq!(arrow_type_of_hive("varchar(64)"), Some(DataType::Utf8));
        assert_eq!(arrow_type_of_hive("array<string>"), None);
        let err = TableDef::from_hive("t", "/x", &[("m".into(), "map<string,int>".into())], vec![])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("column `m` has the Hive type `map<string,int>`"),
            "{err}"
        );
    }
}
