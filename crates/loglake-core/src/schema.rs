//! The table schema: one JSON file that both the transform and Terraform read (DESIGN.md §2.5).
//!
//! The file lists the table's columns with their types, the source fields (aliases) each column is
//! filled from, which fields are required, how timestamps are written, how levels are normalised,
//! the partition keys and the name of the catch-all column for unknown fields. [`Schema`] is the
//! file as written; [`CompiledSchema`] is the validated form the normaliser runs on.

use std::path::Path;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::level::LevelMap;
use crate::time::TimeFormat;

/// The default schema for generic application logs, shipped in the repository at
/// `schemas/app_logs.json` and compiled into the binary.
pub const DEFAULT_SCHEMA_JSON: &str = include_str!("../../../schemas/app_logs.json");

/// A column type. The names are the Glue/Hive type names, so Terraform can use them verbatim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    /// UTF-8 text. Numbers, booleans and nested values are kept as their JSON text.
    String,
    /// 32-bit signed integer.
    Int,
    /// 64-bit signed integer.
    Bigint,
    /// 64-bit float.
    Double,
    /// Boolean (`true`/`false`, also `"true"`, `"yes"`, `1`, ...).
    Boolean,
    /// UTC timestamp with microsecond precision.
    Timestamp,
}

impl ColumnType {
    /// The Glue/Hive type name.
    pub fn glue_name(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Int => "int",
            Self::Bigint => "bigint",
            Self::Double => "double",
            Self::Boolean => "boolean",
            Self::Timestamp => "timestamp",
        }
    }
}

/// How a column's value is normalised after type coercion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Normalize {
    /// Map log levels to `TRACE`/`DEBUG`/`INFO`/`WARN`/`ERROR`/`FATAL` using `levels`.
    Level,
}

/// One column as written in the schema file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Column {
    /// Column name in the table: lower-case letters, digits and `_`, starting with a letter.
    pub name: String,
    /// Column type.
    #[serde(rename = "type")]
    pub ty: ColumnType,
    /// Source fields this column is filled from, in order of preference; the column's own name
    /// is always tried first. A dotted alias (`log.level`) matches a literal top-level key of that
    /// name first, then the nested path (`{"log": {"level": ...}}`).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// A record without a usable value for this column is quarantined.
    #[serde(default)]
    pub required: bool,
    /// Optional value normalisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalize: Option<Normalize>,
    /// Human description; Terraform copies it into the Glue column comment.
    #[serde(default)]
    pub comment: String,
    /// Dictionary-encode this column in Parquet. Worth it only for low-cardinality columns
    /// (levels, service names, status codes): for the others the writer hashes every value and
    /// then gives up, which cost ~30% of transform CPU in the benchmark. Default: off.
    #[serde(default)]
    pub dictionary: bool,
    /// The lineage column: filled with the name of the raw object each row came from
    /// (`bucket/key` on S3, the raw file's store and key locally), never from the record.
    /// Compaction needs it to replace the rows of a source that has a new version; users can
    /// ask which object a row came from. At most one, of type `string`, with no aliases.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub lineage: bool,
}

/// How the event timestamp is found and parsed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimestampSpec {
    /// The column (of type `timestamp`) holding the event time; it decides `dt` and `hr`.
    pub column: String,
    /// Accepted formats, tried in order: `rfc3339` (ISO 8601 variants), `epoch` (number or
    /// numeric string, unit by magnitude), `epoch_s`, `epoch_ms`, `epoch_us`, `epoch_ns`,
    /// `log4j_instant` (`{"epochSecond":..,"nanoOfSecond":..}`), or a chrono `strftime` pattern.
    #[serde(default = "default_formats")]
    pub formats: Vec<String>,
    /// The event times the table accepts; a record outside is quarantined
    /// (`timestamp_out_of_window`). Terraform derives the table's partition projection range
    /// from the same setting, so no written row is invisible to Athena.
    #[serde(default)]
    pub window: TimeWindow,
}

fn default_formats() -> Vec<String> {
    vec!["rfc3339".into(), "epoch".into()]
}

/// The accepted time window (DESIGN.md §3): `[from, written + max_future_days)`.
///
/// The upper bound is relative to when the object was written (S3 `LastModified`, a file's
/// modification time), so the same object version gives the same output whenever it is
/// processed; Athena's projection range ends at `NOW+<max_future_days>DAYS`, which is never
/// earlier than that bound.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeWindow {
    /// The earliest accepted UTC date, `YYYY-MM-DD` (from its midnight); the projection
    /// range's start.
    #[serde(default = "default_window_from")]
    pub from: String,
    /// How many days after the object was written an event may be stamped (clock skew,
    /// local times read as UTC); the projection range ends at `NOW+<days>DAYS`.
    #[serde(default = "default_max_future_days")]
    pub max_future_days: u32,
}

impl Default for TimeWindow {
    fn default() -> Self {
        Self {
            from: default_window_from(),
            max_future_days: default_max_future_days(),
        }
    }
}

fn default_window_from() -> String {
    "1970-01-01".into()
}

fn default_max_future_days() -> u32 {
    1
}

/// Microseconds in a day.
const DAY_US: i64 = 86_400_000_000;

/// Level normalisation table.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelsSpec {
    /// Extra or overriding aliases, case-insensitive: `{"warning": "WARN"}`.
    #[serde(default)]
    pub aliases: std::collections::BTreeMap<String, String>,
    /// Numeric levels (numbers or numeric strings). When given it replaces the built-in Bunyan
    /// table (10 TRACE .. 60 FATAL), e.g. with syslog priorities.
    #[serde(default)]
    pub numbers: Option<std::collections::BTreeMap<String, String>>,
}

/// How records are found in an input.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// Keys leading from a top-level object to the array of records, e.g. `["Records"]` for
    /// CloudTrail files or `["logEvents"]` for CloudWatch Logs payloads. Arrays met on the way
    /// are walked element by element. Empty: NDJSON, or a top-level array of records.
    #[serde(default)]
    pub record_path: Vec<String>,
}

/// A partition key. `dt` and `hr` always come first and are derived from the timestamp;
/// extra keys take their value from a column (which then lives in the path, not the file).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionKey {
    /// Key name as it appears in the path (`name=value`).
    pub name: String,
    /// Always `string`.
    #[serde(rename = "type", default = "string_type")]
    pub ty: ColumnType,
    /// For extra keys: the column whose value becomes the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Human description.
    #[serde(default)]
    pub comment: String,
}

fn string_type() -> ColumnType {
    ColumnType::String
}

/// The schema file, as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    /// Table name (Glue/Athena rules: lower-case letters, digits, `_`).
    pub table: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// How records are found in an input.
    #[serde(default)]
    pub input: InputSpec,
    /// The event timestamp.
    pub timestamp: TimestampSpec,
    /// Data columns, in table order.
    pub columns: Vec<Column>,
    /// Level normalisation.
    #[serde(default)]
    pub levels: LevelsSpec,
    /// Partition keys: `dt`, `hr`, then optional extra keys.
    pub partition_keys: Vec<PartitionKey>,
    /// Name of the string column that keeps every field not mapped to a column, as JSON.
    pub attributes_column: String,
}

impl Schema {
    /// Parses a schema from JSON text; `origin` names it in error messages.
    pub fn from_json(text: &str, origin: &str) -> Result<Self> {
        serde_json::from_str(text).map_err(|source| Error::SchemaParse {
            origin: origin.to_owned(),
            source,
        })
    }

    /// Reads a schema file.
    pub fn from_path(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::SchemaRead {
            path: path.to_owned(),
            source,
        })?;
        Self::from_json(&text, &path.display().to_string())
    }

    /// The built-in default schema (`schemas/app_logs.json`).
    pub fn default_app_logs() -> Self {
        Self::from_json(DEFAULT_SCHEMA_JSON, "built-in app_logs").expect("built-in schema parses")
    }

    /// Validates the schema and builds the lookup tables the normaliser uses.
    pub fn compile(&self, origin: &str) -> Result<CompiledSchema> {
        CompiledSchema::new(self, origin)
    }
}

/// A source field that feeds a column directly.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Direct {
    pub(crate) column: usize,
    /// Lower is preferred (position in the column's alias list).
    pub(crate) priority: u16,
}

/// A dotted alias whose first segment is a top-level key: the rest of the path is looked up
/// inside that key's object.
#[derive(Debug, Clone)]
pub(crate) struct Nested {
    pub(crate) column: usize,
    pub(crate) priority: u16,
    /// Path below the top-level key (at least one segment).
    pub(crate) rest: Vec<String>,
}

/// Everything a top-level key feeds: found with one hash lookup per key.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyRoute {
    pub(crate) direct: Option<Direct>,
    pub(crate) nested: Vec<Nested>,
}

/// A validated schema with lookup tables.
#[derive(Debug, Clone)]
pub struct CompiledSchema {
    /// The schema as written.
    pub schema: Schema,
    /// Index of the timestamp column in `schema.columns`.
    pub timestamp_column: usize,
    /// Parsed timestamp formats.
    pub(crate) time_formats: Vec<TimeFormat>,
    pub(crate) levels: LevelMap,
    /// Top-level key → the columns it feeds, directly or through a nested path.
    pub(crate) routes: FxHashMap<String, KeyRoute>,
    /// For each extra partition key, the column it takes its value from.
    pub extra_partition_columns: Vec<usize>,
    /// Columns written to the Parquet file (all columns minus extra partition sources).
    pub data_columns: Vec<usize>,
    /// The lineage column (`lineage: true`), filled with the source's name.
    pub lineage_column: Option<usize>,
    /// Every accepted source field per column, for error messages.
    pub(crate) column_sources: Vec<Vec<String>>,
    /// `timestamp.window.from` as UTC microseconds (inclusive).
    pub window_from_us: i64,
    /// `timestamp.window.max_future_days` in microseconds.
    pub window_future_us: i64,
}

/// `YYYY-MM-DD` as the UTC microsecond of its midnight.
fn parse_date(s: &str) -> Option<i64> {
    let ok = s.len() == 10
        && s.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !ok {
        return None;
    }
    crate::time::parse_rfc3339(&format!("{s}T00:00:00Z"))
}

fn valid_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && s.len() <= 255
}

/// The table name, the columns (valid, unique names; level columns are strings) and the
/// attributes column; returns each column's index by name.
fn check_columns<'s>(
    schema: &'s Schema,
    invalid: Invalid<'_>,
) -> Result<FxHashMap<&'s str, usize>> {
    if !valid_ident(&schema.table) {
        return Err(invalid(format!(
            "table name `{}` is not valid; use lower-case letters, digits and `_`, starting with a letter",
            schema.table
        )));
    }
    if schema.columns.is_empty() {
        return Err(invalid(
            "`columns` is empty; declare at least the timestamp column".into(),
        ));
    }
    let mut names: FxHashMap<&str, usize> = FxHashMap::default();
    for (i, c) in schema.columns.iter().enumerate() {
        if !valid_ident(&c.name) {
            return Err(invalid(format!(
                "column name `{}` is not valid; use lower-case letters, digits and `_`, starting with a letter (Glue and Athena fold names to lower case)",
                c.name
            )));
        }
        if names.insert(&c.name, i).is_some() {
            return Err(invalid(format!("column `{}` is declared twice", c.name)));
        }
        if c.lineage
            && (c.ty != ColumnType::String
                || !c.aliases.is_empty()
                || c.required
                || c.normalize.is_some())
        {
            return Err(invalid(format!(
                "column `{}` is the lineage column: make it `string`, with no aliases, not required, not normalised",
                c.name
            )));
        }
        if c.normalize == Some(Normalize::Level) && c.ty != ColumnType::String {
            return Err(invalid(format!(
                "column `{}` has `normalize: level` but type `{}`; level columns must be `string`",
                c.name,
                c.ty.glue_name()
            )));
        }
    }
    if schema.columns.iter().filter(|c| c.lineage).count() > 1 {
        return Err(invalid(
            "more than one column has `lineage: true`; keep one".into(),
        ));
    }
    if !valid_ident(&schema.attributes_column) {
        return Err(invalid(format!(
            "attributes_column `{}` is not a valid column name",
            schema.attributes_column
        )));
    }
    if names.contains_key(schema.attributes_column.as_str()) {
        return Err(invalid(format!(
            "attributes_column `{}` clashes with a declared column; pick another name",
            schema.attributes_column
        )));
    }
    Ok(names)
}

/// The timestamp column (declared, of type `timestamp`) and its parsed formats.
fn check_timestamp(
    schema: &Schema,
    names: &FxHashMap<&str, usize>,
    invalid: Invalid<'_>,
) -> Result<(usize, Vec<TimeFormat>)> {
    let timestamp_column = *names.get(schema.timestamp.column.as_str()).ok_or_else(|| {
        invalid(format!(
            "timestamp.column `{}` is not one of the declared columns",
            schema.timestamp.column
        ))
    })?;
    if schema.columns[timestamp_column].ty != ColumnType::Timestamp {
        return Err(invalid(format!(
            "timestamp.column `{}` must have type `timestamp`",
            schema.timestamp.column
        )));
    }
    if schema.timestamp.formats.is_empty() {
        return Err(invalid(
            "timestamp.formats is empty; use e.g. [\"rfc3339\", \"epoch\"]".into(),
        ));
    }
    let time_formats = schema
        .timestamp
        .formats
        .iter()
        .map(|f| TimeFormat::parse(f).map_err(|m| invalid(format!("timestamp.formats: {m}"))))
        .collect::<Result<Vec<_>>>()?;

    Ok((timestamp_column, time_formats))
}

/// Partition keys: `dt`, `hr`, then extras sourced from string-typed columns; returns the
/// source column of each extra key.
fn check_partition_keys(
    schema: &Schema,
    names: &FxHashMap<&str, usize>,
    timestamp_column: usize,
    invalid: Invalid<'_>,
) -> Result<Vec<usize>> {
    let keys = &schema.partition_keys;
    if keys.len() < 2 || keys[0].name != "dt" || keys[1].name != "hr" {
        return Err(invalid(
            "partition_keys must start with `dt` then `hr` (derived from the timestamp)".into(),
        ));
    }
    let mut extra_partition_columns = Vec::new();
    let mut seen_keys: Vec<&str> = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        if k.ty != ColumnType::String {
            return Err(invalid(format!(
                "partition key `{}` must have type `string`",
                k.name
            )));
        }
        if !valid_ident(&k.name) || seen_keys.contains(&k.name.as_str()) {
            return Err(invalid(format!(
                "partition key `{}` is not a valid, unique name",
                k.name
            )));
        }
        seen_keys.push(&k.name);
        if i < 2 {
            if k.source.is_some() {
                return Err(invalid(format!(
                    "partition key `{}` is derived from the timestamp and takes no `source`",
                    k.name
                )));
            }
            if names.contains_key(k.name.as_str()) {
                return Err(invalid(format!(
                    "column `{}` clashes with the partition key of the same name",
                    k.name
                )));
            }
            continue;
        }
        let source = k.source.as_deref().ok_or_else(|| {
            invalid(format!(
                "extra partition key `{}` needs a `source` column",
                k.name
            ))
        })?;
        let col = *names.get(source).ok_or_else(|| {
            invalid(format!(
                "partition key `{}`: source `{source}` is not a declared column",
                k.name
            ))
        })?;
        if col == timestamp_column {
            return Err(invalid(format!(
                "partition key `{}` cannot use the timestamp column",
                k.name
            )));
        }
        if k.name != source && names.contains_key(k.name.as_str()) {
            return Err(invalid(format!(
                "partition key `{}` clashes with a column of the same name",
                k.name
            )));
        }
        extra_partition_columns.push(col);
    }
    Ok(extra_partition_columns)
}

/// Alias tables: each source field (name, alias, dotted path) routed to the one column it
/// feeds, and every accepted source per column (for error messages).
fn alias_routes(schema: &Schema, invalid: Invalid<'_>) -> Result<(Routes, Vec<Vec<String>>)> {
    // Alias tables. A key may feed only one column, so a record's meaning never depends on
    // hash order.
    let mut routes: FxHashMap<String, KeyRoute> = FxHashMap::default();
    let mut column_sources = Vec::with_capacity(schema.columns.len());
    for (col, c) in schema.columns.iter().enumerate() {
        if c.lineage {
            // Filled from the object's name, never from a record's field.
            column_sources.push(Vec::new());
            continue;
        }
        let mut sources: Vec<String> = vec![c.name.clone()];
        for a in &c.aliases {
            if !sources.contains(a) {
                sources.push(a.clone());
            }
        }
        for (priority, src) in sources.iter().enumerate() {
            let priority = u16::try_from(priority)
                .map_err(|_| invalid(format!("column `{}` has too many aliases", c.name)))?;
            if src.is_empty() {
                return Err(invalid(format!("column `{}` has an empty alias", c.name)));
            }
            if let Some(prev) = routes.get(src).and_then(|r| r.direct) {
                if prev.column != col {
                    return Err(invalid(format!(
                        "field `{src}` is an alias of both `{}` and `{}`; a field may feed one column only",
                        schema.columns[prev.column].name, c.name
                    )));
                }
                continue;
            }
            routes.entry(src.clone()).or_default().direct = Some(Direct {
                column: col,
                priority,
            });
            if src.contains('.') {
                let mut parts = src.split('.').map(str::to_owned);
                let head = parts.next().unwrap_or_default();
                let rest: Vec<String> = parts.collect();
                if head.is_empty() || rest.iter().any(String::is_empty) {
                    return Err(invalid(format!(
                        "alias `{src}` of column `{}` has an empty path segment",
                        c.name
                    )));
                }
                routes.entry(head).or_default().nested.push(Nested {
                    column: col,
                    priority,
                    rest,
                });
            }
        }
        column_sources.push(sources);
    }
    Ok((routes, column_sources))
}

/// `timestamp.window`: its first day as UTC microseconds, and the future allowance.
fn check_window(schema: &Schema, invalid: Invalid<'_>) -> Result<(i64, i64)> {
    let window = &schema.timestamp.window;
    let window_from_us = parse_date(&window.from).ok_or_else(|| {
        invalid(format!(
            "timestamp.window.from `{}` is not a date; write it as YYYY-MM-DD (UTC)",
            window.from
        ))
    })?;
    if window.max_future_days > 3650 {
        return Err(invalid(format!(
            "timestamp.window.max_future_days {} is over 3650; it bounds clock skew, not planning",
            window.max_future_days
        )));
    }
    Ok((window_from_us, i64::from(window.max_future_days) * DAY_US))
}

/// Makes a schema error from its message (the schema's origin is the caller's).
type Invalid<'a> = &'a dyn Fn(String) -> Error;
/// Top-level key → the columns it feeds.
type Routes = FxHashMap<String, KeyRoute>;

impl CompiledSchema {
    fn new(schema: &Schema, origin: &str) -> Result<Self> {
        let invalid = |message: String| Error::SchemaInvalid {
            origin: origin.to_owned(),
            message,
        };
        let names = check_columns(schema, &invalid)?;
        let (timestamp_column, time_formats) = check_timestamp(schema, &names, &invalid)?;
        let extra_partition_columns =
            check_partition_keys(schema, &names, timestamp_column, &invalid)?;
        let data_columns = (0..schema.columns.len())
            .filter(|c| !extra_partition_columns.contains(c))
            .collect();
        let (routes, column_sources) = alias_routes(schema, &invalid)?;
        let (window_from_us, window_future_us) = check_window(schema, &invalid)?;
        let lineage_column = schema.columns.iter().position(|c| c.lineage);
        if lineage_column.is_some_and(|c| c == timestamp_column) {
            return Err(invalid(
                "the timestamp column cannot be the lineage column".into(),
            ));
        }
        Ok(Self {
            lineage_column,
            schema: schema.clone(),
            timestamp_column,
            time_formats,
            levels: LevelMap::new(&schema.levels),
            routes,
            extra_partition_columns,
            data_columns,
            column_sources,
            window_from_us,
            window_future_us,
        })
    }

    /// Whether top-level `key` feeds columns only through dotted aliases (`http` for
    /// `http.method`): the normaliser keeps such a key's object in the attributes column too.
    pub fn is_alias_root(&self, key: &str) -> bool {
        self.routes
            .get(key)
            .is_some_and(|r| r.direct.is_none() && !r.nested.is_empty())
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.schema.table
    }

    /// The columns, in schema order.
    pub fn columns(&self) -> &[Column] {
        &self.schema.columns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schema_compiles() {
        let s = Schema::default_app_logs();
        let c = s.compile("built-in").unwrap();
        assert_eq!(c.table(), "app_logs");
        assert_eq!(s.columns[c.timestamp_column].ty, ColumnType::Timestamp);
    }

    fn schema_with(columns: &str, keys: &str) -> Result<CompiledSchema> {
        let text = format!(
            r#"{{"table":"t","timestamp":{{"column":"ts"}},"columns":{columns},
               "partition_keys":{keys},"attributes_column":"attributes"}}"#
        );
        Schema::from_json(&text, "test")?.compile("test")
    }

    const DT_HR: &str = r#"[{"name":"dt"},{"name":"hr"}]"#;

    #[test]
    fn rejects_alias_shared_by_two_columns() {
        let err = schema_with(
            r#"[{"name":"ts","type":"timestamp","aliases":["time"]},
                {"name":"other","type":"string","aliases":["time"]}]"#,
            DT_HR,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("`time` is an alias of both `ts` and `other`"),
            "{err}"
        );
    }

    #[test]
    fn rejects_non_timestamp_time_column() {
        let err = schema_with(r#"[{"name":"ts","type":"string"}]"#, DT_HR)
            .unwrap_err()
            .to_string();
        assert!(err.contains("must have type `timestamp`"), "{err}");
    }

    #[test]
    fn rejects_upper_case_column() {
        let err = schema_with(
            r#"[{"name":"ts","type":"timestamp"},{"name":"Level","type":"string"}]"#,
            DT_HR,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("column name `Level` is not valid"), "{err}");
    }

    #[test]
    fn rejects_unknown_type_naming_the_position() {
        let err = schema_with(r#"[{"name":"ts","type":"datetime"}]"#, DT_HR)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown variant `datetime`"), "{err}");
        assert!(err.contains("line"), "{err}");
    }

    #[test]
    fn partition_keys_must_start_with_dt_hr() {
        let err = schema_with(
            r#"[{"name":"ts","type":"timestamp"}]"#,
            r#"[{"name":"hr"}]"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("must start with `dt` then `hr`"), "{err}");
    }

    #[test]
    fn extra_partition_key_removes_its_column_from_data() {
        let c = schema_with(
            r#"[{"name":"ts","type":"timestamp"},{"name":"env","type":"string"},{"name":"msg","type":"string"}]"#,
            r#"[{"name":"dt"},{"name":"hr"},{"name":"env","source":"env"}]"#,
        )
        .unwrap();
        assert_eq!(c.extra_partition_columns, vec![1]);
        assert_eq!(c.data_columns, vec![0, 2]);
    }
}
