//! Schema inference (`loglake schema infer`): from a sample of records to a schema file the
//! transform accepts as it is, with the evidence for each choice.
//!
//! [`Inferrer::observe`] takes one record at a time and keeps bounded statistics per field
//! path (top-level keys and scalars nested up to [`NESTED_DEPTH`] objects deep): coverage,
//! JSON types seen with counts and examples, how many values parse as a time in a plausible
//! range (and in which format), as a log level, and up to [`MAX_DISTINCT`] distinct values.
//! [`Inferrer::finish`] applies the rules, each stated where it is applied:
//!
//! - **timestamp**: the field whose values parse as times most often (at least 90% of the
//!   values it has), ties broken by sub-second precision, then by the field seen first; when
//!   some records lack it, the other fields that qualify follow as aliases (mixed loggers). It
//!   becomes the required `ts` column
//!   (`ts_2` when a field named `ts` holds something else).
//! - **level**: a field named like a level (`level`, `lvl`, `severity`, …) whose values are
//!   at least 90% known level spellings or numbers; it becomes `level`, normalised.
//! - **columns**: every other scalar field present in at least half the records. Only
//!   booleans → `boolean`; only integers → `int` (or `bigint` past 32 bits); integers and
//!   decimals → `double`; anything else → `string` (numbers kept as their JSON text). Nested
//!   scalars become columns named by their path (`log_origin_file_line`) with the dotted path as
//!   alias. Everything else stays in `attributes`, nothing dropped.
//! - **dictionary**: string columns with at most [`MAX_DISTINCT`] distinct values that repeat
//!   (seen at least 8 times per distinct value).
//!
//! ```
//! use loglake_core::infer::Inferrer;
//! let mut inf = Inferrer::new(None);
//! for line in [
//!     r#"{"time":"2024-05-01T07:00:00Z","lvl":"info","msg":"up","port":8080}"#,
//!     r#"{"time":"2024-05-01T07:00:01Z","lvl":"warning","msg":"slow","port":8080}"#,
//! ] {
//!     inf.observe(line.as_bytes());
//! }
//! let inference = inf.finish("app", Vec::new()).unwrap();
//! let schema = inference.schema;
//! assert_eq!(schema.columns[0].aliases, ["time"]);
//! assert_eq!(schema.columns[1].name, "level");
//! schema.compile("inferred").unwrap(); // the transform accepts it as it is
//! ```

use std::collections::{BTreeMap, BTreeSet};

use crate::json::{self, Kind, Value};
use crate::level::{self, LevelMap};
use crate::normalize::parse_time;
use crate::schema::{
    Column, ColumnType, InputSpec, LevelsSpec, Normalize, PartitionKey, Schema, TimeWindow,
    TimestampSpec,
};
use crate::time::TimeFormat;

/// Distinct values remembered per field (more means "many").
pub const MAX_DISTINCT: usize = 64;
/// Field paths tracked at most (memory stays bounded when keys are data, e.g. ids as keys);
/// values of further new paths are counted in [`Inference::untracked`] only.
pub const MAX_FIELDS: usize = 10_000;
/// Objects deep that nested scalars are offered as dotted aliases.
pub const NESTED_DEPTH: usize = 2;
const MAX_EXAMPLES: usize = 3;
/// 1990-01-01 and 2100-01-01 in microseconds: the range a value must fall in to count as a time.
const PLAUSIBLE_US: (i64, i64) = (631_152_000_000_000, 4_102_444_800_000_000);
const LEVEL_NAMES: &[&str] = &[
    "level",
    "lvl",
    "severity",
    "severitytext",
    "loglevel",
    "log.level",
    "level_name",
    "priority",
    "s",
];

/// What one field's values looked like.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldStats {
    /// Order of first appearance (ties are broken by it, so the result is deterministic).
    pub first_seen: u64,
    /// Records holding the field (null included).
    pub present: u64,
    /// Values by JSON type (`string`, `integer`, `decimal`, `boolean`, `null`, `object`, `array`).
    pub types: BTreeMap<&'static str, u64>,
    /// Up to three example values per type, as their JSON text.
    pub examples: BTreeMap<&'static str, Vec<String>>,
    /// Values that parse as a time between 1990 and 2100, by format (`rfc3339`, `epoch`,
    /// `log4j_instant`).
    pub times: BTreeMap<&'static str, u64>,
    /// Earliest and latest time parsed, microseconds.
    pub time_range: Option<(i64, i64)>,
    /// Times with a fraction of a second (more precise than a whole-second field).
    pub subsecond: u64,
    /// Values that are known level spellings or numbers.
    pub levels: u64,
    /// Level spellings the built-in table does not know, with counts.
    pub unknown_levels: BTreeMap<String, u64>,
    /// Distinct scalar values, up to [`MAX_DISTINCT`] + 1.
    pub distinct: BTreeSet<String>,
    /// Largest absolute integer seen.
    pub int_max: u128,
}

impl FieldStats {
    fn count(&self, ty: &str) -> u64 {
        self.types.get(ty).copied().unwrap_or(0)
    }

    fn add_time(&mut self, format: &'static str, us: i64) {
        *self.times.entry(format).or_default() += 1;
        self.time_range = Some(
            self.time_range
                .map_or((us, us), |(a, b)| (a.min(us), b.max(us))),
        );
        self.subsecond += u64::from(us % 1_000_000 != 0);
    }

    fn times_total(&self) -> u64 {
        self.times.values().sum()
    }

    /// Non-null values.
    pub fn values(&self) -> u64 {
        self.present - self.count("null")
    }
}

/// Statistics over a sample of records.
#[derive(Debug, Clone)]
pub struct Inferrer {
    records: u64,
    not_objects: u64,
    untracked: u64,
    fields: BTreeMap<String, FieldStats>,
    levels: LevelMap,
    timestamp_hint: Option<String>,
}

/// Why a schema could not be inferred.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InferError {
    /// The sample held no JSON object.
    #[error("no JSON object records in the sample ({not_objects} records that are not objects)")]
    NoRecords {
        /// Records that were not JSON objects.
        not_objects: u64,
    },
    /// No field holds times often enough.
    #[error(
        "no field holds a time in at least 90% of its values (candidates: {candidates})\nhint: name the field with --timestamp FIELD, or check the sample"
    )]
    NoTimestamp {
        /// Fields with some times, with their parse rates.
        candidates: String,
    },
    /// The hinted timestamp field is not in the sample or holds no times.
    #[error("--timestamp `{field}`: {why}")]
    BadHint {
        /// The field named.
        field: String,
        /// What is wrong with it.
        why: String,
    },
}

/// A chosen column, with the evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// The field path in the records.
    pub field: String,
    /// What became of it: a column's name and type, or `attributes`.
    pub outcome: String,
    /// Why.
    pub why: String,
}

/// The result: a schema file and the report behind it.
#[derive(Debug, Clone)]
pub struct Inference {
    /// The schema file.
    pub schema: Schema,
    /// Records sampled, and records that were not JSON objects.
    pub records: u64,
    /// Records in the sample that were not JSON objects.
    pub not_objects: u64,
    /// Values of field paths beyond [`MAX_FIELDS`] (they stay in `attributes`).
    pub untracked: u64,
    /// Every field seen, by path, with its statistics.
    pub fields: BTreeMap<String, FieldStats>,
    /// Timestamp candidates (field, values that parsed, values), best first.
    pub timestamp_candidates: Vec<(String, u64, u64)>,
    /// The fields the timestamp column reads, in the order the transform tries them (a field
    /// of the column's own name first, then the aliases).
    pub timestamp_fields: Vec<String>,
    /// The field the level column reads, if one was found.
    pub level_field: Option<String>,
    /// One line per field: what became of it and why.
    pub choices: Vec<Choice>,
}

impl Inferrer {
    /// An empty sample. `timestamp_hint` names the timestamp field instead of choosing it.
    pub fn new(timestamp_hint: Option<String>) -> Self {
        Self {
            records: 0,
            not_objects: 0,
            untracked: 0,
            fields: BTreeMap::new(),
            levels: LevelMap::new(&LevelsSpec::default()),
            timestamp_hint,
        }
    }

    /// Adds one record (its raw bytes) to the sample.
    pub fn observe(&mut self, raw: &[u8]) {
        let Ok(text) = std::str::from_utf8(raw) else {
            self.not_objects += 1;
            return;
        };
        let mut members = Vec::new();
        if !text.trim_start().starts_with('{') || collect(text, "", 1, &mut members).is_err() {
            self.not_objects += 1;
            return;
        }
        self.records += 1;
        // A duplicate key counts once per record, its last occurrence (as the transform reads it).
        let last: BTreeMap<&str, usize> = members
            .iter()
            .enumerate()
            .map(|(i, (p, _))| (p.as_str(), i))
            .collect();
        let keep: Vec<bool> = (0..members.len())
            .map(|i| last.get(members[i].0.as_str()) == Some(&i))
            .collect();
        for ((path, value), keep) in members.into_iter().zip(keep) {
            if !keep {
                continue;
            }
            if self.fields.len() >= MAX_FIELDS && !self.fields.contains_key(&path) {
                self.untracked += 1;
                continue;
            }
            let order = self.fields.len() as u64;
            let f = self.fields.entry(path).or_insert_with(|| FieldStats {
                first_seen: order,
                ..FieldStats::default()
            });
            observe_value(f, value, &self.levels);
        }
    }

    /// Applies the rules (module docs) to the sample.
    pub fn finish(self, table: &str, record_path: Vec<String>) -> Result<Inference, InferError> {
        if self.records == 0 {
            return Err(InferError::NoRecords {
                not_objects: self.not_objects,
            });
        }
        let candidates = self.timestamp_candidates();
        let ts_fields = self.choose_timestamp(&candidates)?;
        let ts_field = ts_fields[0].clone();
        let level_field = self.choose_level(&ts_fields);
        let mut columns = Vec::new();
        let mut choices = Vec::new();
        // Column names taken: the reserved ones, and every field's own path (a column is always
        // fed from the field of its own name too, so a name may only be its own source's).
        let mut used: BTreeSet<String> = ["attributes", "dt", "hr"].map(String::from).into();
        used.extend(self.fields.keys().cloned());

        let own = ts_fields.iter().find(|f| *f == "ts").unwrap_or(&ts_field);
        let ts_name = unique("ts".into(), own, &mut used);
        let mut ts_column = column(&ts_name, ColumnType::Timestamp, &ts_field, true, None);
        ts_column.aliases = ts_fields.clone();
        ts_column.aliases.retain(|f| *f != ts_name);
        let read_order: Vec<String> = ts_fields
            .iter()
            .filter(|f| **f == ts_name)
            .chain(&ts_column.aliases)
            .cloned()
            .collect();
        columns.push(ts_column);
        let mut formats: Vec<String> = Vec::new();
        for f in &ts_fields {
            let stats = &self.fields[f];
            for format in stats.times.keys() {
                if !formats.iter().any(|x| x == format) {
                    formats.push((*format).to_owned());
                }
            }
            choices.push(Choice {
                field: f.clone(),
                outcome: format!("{ts_name} timestamp (required)"),
                why: format!(
                    "{} of {} values parse as times ({}){}",
                    stats.times_total(),
                    stats.values(),
                    stats.times.keys().copied().collect::<Vec<_>>().join(", "),
                    if *f == ts_field {
                        ""
                    } else {
                        "; for records without the fields before it"
                    }
                ),
            });
        }
        if let Some(lf) = &level_field {
            let f = &self.fields[lf];
            let name = unique("level".into(), lf, &mut used);
            let mut c = column(&name, ColumnType::String, lf, false, Some(Normalize::Level));
            c.dictionary = true;
            columns.push(c);
            choices.push(Choice {
                field: lf.clone(),
                outcome: format!("{name} string (normalised, dictionary)"),
                why: format!("{} of {} values are known levels", f.levels, f.values()),
            });
        }
        for (path, f) in self.by_first_seen() {
            if ts_fields.contains(path) || Some(path) == level_field.as_ref() {
                continue;
            }
            let (outcome, why) = self.place(path, f, &mut used, &mut columns);
            choices.push(Choice {
                field: path.clone(),
                outcome,
                why,
            });
        }
        columns.push(lineage_column(&mut used));
        let schema = Schema {
            table: table.to_owned(),
            description: format!(
                "Inferred by `loglake schema infer` from {} records.",
                self.records
            ),
            input: InputSpec { record_path },
            timestamp: TimestampSpec {
                column: ts_name,
                formats,
                window: TimeWindow::default(),
            },
            columns,
            levels: LevelsSpec::default(),
            partition_keys: ["dt", "hr"]
                .map(|k| PartitionKey {
                    name: k.into(),
                    ty: ColumnType::String,
                    source: None,
                    comment: String::new(),
                })
                .into(),
            attributes_column: "attributes".into(),
        };
        Ok(Inference {
            schema,
            records: self.records,
            not_objects: self.not_objects,
            untracked: self.untracked,
            fields: self.fields,
            timestamp_candidates: candidates,
            timestamp_fields: read_order,
            level_field,
            choices,
        })
    }

    fn by_first_seen(&self) -> Vec<(&String, &FieldStats)> {
        let mut v: Vec<_> = self.fields.iter().collect();
        v.sort_by_key(|(_, f)| f.first_seen);
        v
    }

    /// Fields with any time, best first: most values parsed, then most with a fraction of a
    /// second (of two copies of the event time, the precise one), then first seen.
    fn timestamp_candidates(&self) -> Vec<(String, u64, u64)> {
        let mut c: Vec<_> = self
            .by_first_seen()
            .into_iter()
            .filter(|(_, f)| f.times_total() > 0)
            .collect();
        c.sort_by_key(|(_, f)| std::cmp::Reverse((f.times_total(), f.subsecond)));
        c.into_iter()
            .map(|(p, f)| (p.clone(), f.times_total(), f.values()))
            .collect()
    }

    /// The timestamp fields: the best candidate, then, when it is missing from some records,
    /// the other qualifying candidates in order (loggers that name the time differently).
    fn choose_timestamp(
        &self,
        candidates: &[(String, u64, u64)],
    ) -> Result<Vec<String>, InferError> {
        if let Some(hint) = &self.timestamp_hint {
            let Some(f) = self.fields.get(hint) else {
                return Err(InferError::BadHint {
                    field: hint.clone(),
                    why: "no record in the sample has it".into(),
                });
            };
            if f.times_total() == 0 {
                return Err(InferError::BadHint {
                    field: hint.clone(),
                    why: "none of its values parses as a time (rfc3339, epoch or log4j_instant, 1990-2100)".into(),
                });
            }
            return Ok(vec![hint.clone()]);
        }
        let qualifying: Vec<String> = candidates
            .iter()
            .filter(|(_, parsed, values)| *parsed * 10 >= *values * 9)
            .map(|(p, _, _)| p.clone())
            .collect();
        let Some(first) = qualifying.first() else {
            return Err(InferError::NoTimestamp {
                candidates: if candidates.is_empty() {
                    "none".into()
                } else {
                    candidates
                        .iter()
                        .map(|(p, n, v)| format!("{p} {n}/{v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            });
        };
        Ok(if self.fields[first].present < self.records {
            qualifying
        } else {
            vec![first.clone()]
        })
    }

    fn choose_level(&self, ts_fields: &[String]) -> Option<String> {
        self.by_first_seen()
            .into_iter()
            .filter(|(p, f)| {
                let leaf = p.rsplit('.').next().unwrap_or(p).to_ascii_lowercase();
                let named = LEVEL_NAMES.contains(&p.to_ascii_lowercase().as_str())
                    || LEVEL_NAMES.contains(&leaf.as_str());
                !ts_fields.contains(p) && named && f.values() > 0 && f.levels * 10 >= f.values() * 9
            })
            .max_by_key(|(_, f)| (f.levels, std::cmp::Reverse(f.first_seen)))
            .map(|(p, _)| p.clone())
    }

    /// A column for a field present in at least half the records, or `attributes`.
    fn place(
        &self,
        path: &str,
        f: &FieldStats,
        used: &mut BTreeSet<String>,
        columns: &mut Vec<Column>,
    ) -> (String, String) {
        let coverage = format!("in {} of {} records", f.present, self.records);
        let nested = f.count("object") + f.count("array");
        if nested > 0 {
            return (
                "attributes".into(),
                format!("{coverage}; objects or arrays"),
            );
        }
        if f.present * 2 < self.records {
            return ("attributes".into(), format!("{coverage} (under half)"));
        }
        let (ty, why) = column_type(f);
        let name = unique(column_name(path), path, used);
        let mut c = column(&name, ty, path, false, None);
        let repeats = f.distinct.len() <= MAX_DISTINCT && f.values() >= 8 * f.distinct.len() as u64;
        c.dictionary = ty == ColumnType::String && repeats && !f.distinct.is_empty();
        let dict = if c.dictionary {
            format!(", dictionary ({} distinct)", f.distinct.len())
        } else {
            String::new()
        };
        columns.push(c);
        (
            format!("{name} {}{dict}", ty.glue_name()),
            format!("{coverage}; {why}"),
        )
    }
}

/// The members of an object, with nested objects' scalars as dotted paths up to `NESTED_DEPTH`.
fn collect<'a>(
    text: &'a str,
    prefix: &str,
    depth: usize,
    out: &mut Vec<(String, Value<'a>)>,
) -> Result<(), json::SyntaxError> {
    let mut members = Vec::new();
    json::scan_object(text, &mut |k, v| members.push((k.text().into_owned(), v)))?;
    for (key, value) in members {
        let path = if prefix.is_empty() {
            key
        } else {
            format!("{prefix}.{key}")
        };
        out.push((path.clone(), value));
        if value.kind == Kind::Object && depth < NESTED_DEPTH {
            collect(value.raw, &path, depth + 1, out)?;
        }
    }
    Ok(())
}

fn observe_value(f: &mut FieldStats, value: Value<'_>, levels: &LevelMap) {
    f.present += 1;
    let ty = match value.kind {
        Kind::Str { .. } => "string",
        Kind::Num if value.raw.contains(['.', 'e', 'E']) => "decimal",
        Kind::Num => "integer",
        Kind::True | Kind::False => "boolean",
        Kind::Null => "null",
        Kind::Object => "object",
        Kind::Array => "array",
    };
    *f.types.entry(ty).or_default() += 1;
    let ex = f.examples.entry(ty).or_default();
    if ex.len() < MAX_EXAMPLES && !ex.iter().any(|e| e == value.raw) {
        ex.push(value.raw.chars().take(80).collect());
    }
    if let Some((format, us)) = as_time(value) {
        f.add_time(format, us);
    }
    if matches!(ty, "null" | "object" | "array") {
        return;
    }
    let text = value
        .str_content()
        .unwrap_or(std::borrow::Cow::Borrowed(value.raw));
    if ty == "integer" {
        f.int_max = f.int_max.max(
            value
                .raw
                .trim_start_matches('-')
                .parse()
                .unwrap_or(u128::MAX),
        );
    }
    if f.distinct.len() <= MAX_DISTINCT {
        f.distinct.insert(text.chars().take(200).collect());
    }
    if ty != "boolean" {
        let level = levels.normalize(&text);
        if level::is_canonical(&level) {
            f.levels += 1;
        } else if f.unknown_levels.len() < MAX_DISTINCT {
            *f.unknown_levels
                .entry(text.chars().take(80).collect())
                .or_default() += 1;
        }
    }
}

/// The formats inference tries, by their schema-file names: each value is read by the
/// transform's own reading ([`parse_time`]), one format at a time, to know which one it is in.
static TIME_FORMATS: [(&str, TimeFormat); 3] = [
    ("rfc3339", TimeFormat::Rfc3339),
    ("epoch", TimeFormat::EpochAuto),
    ("log4j_instant", TimeFormat::Log4jInstant),
];

/// A value as a time between 1990 and 2100, with the name of the format that reads it.
fn as_time(value: Value<'_>) -> Option<(&'static str, i64)> {
    TIME_FORMATS.iter().find_map(|(name, format)| {
        let us = parse_time(value, std::slice::from_ref(format))?;
        (PLAUSIBLE_US.0..PLAUSIBLE_US.1)
            .contains(&us)
            .then_some((*name, us))
    })
}

fn column_type(f: &FieldStats) -> (ColumnType, String) {
    let values = f.values();
    let (ints, decimals, bools) = (f.count("integer"), f.count("decimal"), f.count("boolean"));
    if values > 0 && bools == values {
        (ColumnType::Boolean, "only booleans".into())
    } else if values > 0 && ints == values {
        if f.int_max < 1 << 31 {
            (ColumnType::Int, "only integers within 32 bits".into())
        } else {
            (
                ColumnType::Bigint,
                "only integers, some past 32 bits".into(),
            )
        }
    } else if values > 0 && ints + decimals == values {
        (
            ColumnType::Double,
            format!("{ints} integers and {decimals} decimals"),
        )
    } else if values == f.count("string") {
        (ColumnType::String, "only strings".into())
    } else {
        let seen: Vec<String> = f
            .types
            .iter()
            .filter(|(t, _)| **t != "null")
            .map(|(t, n)| format!("{n} {t}"))
            .collect();
        (
            ColumnType::String,
            format!("mixed types ({}): kept as text", seen.join(", ")),
        )
    }
}

fn column(
    name: &str,
    ty: ColumnType,
    field: &str,
    required: bool,
    normalize: Option<Normalize>,
) -> Column {
    Column {
        name: name.to_owned(),
        ty,
        aliases: if field == name {
            Vec::new()
        } else {
            vec![field.to_owned()]
        },
        required,
        normalize,
        comment: format!("From `{field}` (inferred)"),
        dictionary: false,
        lineage: false,
    }
}

/// The lineage column every inferred schema gets (compaction needs it; see `Column::lineage`),
/// named `source_object` unless the records already have a field of that name.
fn lineage_column(used: &mut BTreeSet<String>) -> Column {
    Column {
        name: unique(LINEAGE_NAME.into(), "", used),
        ty: ColumnType::String,
        aliases: Vec::new(),
        required: false,
        normalize: None,
        comment: "The raw object the row came from (bucket/key); filled by loglake".into(),
        dictionary: true,
        lineage: true,
    }
}

/// The lineage column's name in the shipped and inferred schemas.
pub const LINEAGE_NAME: &str = "source_object";

/// A field path as a column name: lower-case letters, digits and `_`, starting with a letter.
fn column_name(path: &str) -> String {
    let mut s: String = path
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    s = s.trim_matches('_').to_owned();
    while s.contains("__") {
        s = s.replace("__", "_");
    }
    if !s.starts_with(|c: char| c.is_ascii_lowercase()) {
        s = format!("f_{s}");
    }
    s
}

/// `name`, or `name_2`, `name_3`…: the first not taken, where the name of `source` itself is
/// free for the column fed from it.
fn unique(name: String, source: &str, used: &mut BTreeSet<String>) -> String {
    let mut candidate = name.clone();
    let mut n = 2;
    while candidate != source && used.contains(&candidate) {
        candidate = format!("{name}_{n}");
        n += 1;
    }
    used.insert(candidate.clone());
    candidate
}

/// The envelope a document uses, as `input.record_path`: CloudTrail and S3-style `Records`,
/// CloudWatch Logs `logEvents`, OTLP/JSON `resourceLogs[].scopeLogs[].logRecords[]`. `start`
/// is the beginning of the decompressed input (a prefix is enough, the document may be
/// pretty-printed over many lines): the first top-level key of the first value that holds an
/// array and names an envelope decides. `None` for plain log records.
pub fn detect_envelope(start: &[u8]) -> Option<Vec<String>> {
    let (mut depth, mut i) = (0usize, 0usize);
    while i < start.len() {
        match start[i] {
            b'"' => {
                let end = string_end(start, i)?;
                if depth == 1
                    && holds_array(&start[end..])
                    && let Some(path) = envelope_path(&start[i + 1..end - 1])
                {
                    return Some(path.iter().map(|s| (*s).to_owned()).collect());
                }
                i = end;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return None; // the first value ended without an envelope key
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The record path an envelope key leads to.
fn envelope_path(key: &[u8]) -> Option<&'static [&'static str]> {
    match key {
        b"Records" => Some(&["Records"]),
        b"logEvents" => Some(&["logEvents"]),
        b"resourceLogs" => Some(&["resourceLogs", "scopeLogs", "logRecords"]),
        _ => None,
    }
}

/// Whether the text after a string is `: [` (whitespace allowed): a key whose value is an array.
fn holds_array(after: &[u8]) -> bool {
    let mut rest = after.iter().filter(|b| !b.is_ascii_whitespace());
    rest.next() == Some(&b':') && rest.next() == Some(&b'[')
}

/// The index after the closing quote of the string opening at `open`.
fn string_end(b: &[u8], open: usize) -> Option<usize> {
    let mut i = open + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests;
