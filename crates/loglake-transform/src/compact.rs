//! Compaction of one partition: its files rewritten into a few large ones, rows ordered by time.
//!
//! This module only writes a new generation folder that no reader sees yet; making it visible is
//! the catalog's one atomic step (the caller's: a SQLite transaction locally, a Glue
//! `UpdatePartition` on AWS), and the old generation is deleted after a grace period.
//!
//! ```text
//! <table>/dt=D/hr=H/part-<source_id>-<n>.parquet          generation 0: where transforms write
//! <table>/gen-<N>/dt=D/hr=H/compacted-<i>.parquet          generation N ≥ 1, written here
//! <table>/gen-<N>/dt=D/hr=H/_compaction.json               what it holds (hidden from readers)
//! ```
//!
//! Generation folders are siblings, never nested in one another, because Athena reads every
//! file under a partition's location. A transform that finds a partition compacted writes its
//! `part-…` files into the current generation's folder, so late data is visible at once.
//!
//! The rows of a generation: every row of the `part-…` files in the current folder, and every
//! row of the current compacted files except those of a source being replaced (`drop`: the
//! sources that have `part-…` files in the current folder, which were published after the
//! compaction that made it, plus any the caller names). Rows are ordered by (time, lineage,
//! input order), inputs by name: the same inputs give byte-identical files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use arrow_array::{Array, ArrayRef, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow_schema::SchemaRef;
use loglake_core::CompiledSchema;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::metadata::KeyValue;
use serde::{Deserialize, Serialize};

use crate::columns::arrow_schema;
use crate::error::{Error, Result};
use crate::output::{io_err, remove_if_exists, write_atomic};
use crate::writer::writer_properties;

/// The compaction manifest's file name inside a generation folder (hidden: leading `_`).
pub const COMPACTION_MANIFEST: &str = "_compaction.json";

/// Knobs of a compaction.
#[derive(Debug, Clone, Copy)]
pub struct CompactOptions {
    /// Target size of a compacted file (Parquet bytes, estimated from the inputs' bytes per
    /// row). Athena's guidance is files of 128 MB or more.
    pub target_file_bytes: u64,
    /// Inputs are read and sorted in groups of at most this many Parquet bytes, which bounds
    /// memory (Arrow holds roughly 3-8x the Parquet size); each group's rows are in time order.
    pub max_group_bytes: u64,
    /// zstd level, as the transform's.
    pub zstd_level: i32,
}

impl Default for CompactOptions {
    fn default() -> Self {
        Self {
            target_file_bytes: 128 << 20,
            max_group_bytes: 256 << 20,
            zstd_level: 1,
        }
    }
}

/// What a generation holds: written last into its folder, read by the next compaction.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompactionManifest {
    /// The partition's path (`dt=…/hr=…`).
    pub partition: String,
    /// This generation's number (≥ 1).
    pub generation: u64,
    /// The compacted files, by name within the folder.
    pub files: Vec<String>,
    /// Rows per source (the lineage column's values).
    pub sources: BTreeMap<String, u64>,
    /// Rows in all files.
    pub rows: u64,
    /// The input files' names, relative to the table folder (for the swap's check and for
    /// garbage collection).
    pub inputs: Vec<String>,
}

impl CompactionManifest {
    /// Reads a generation folder's manifest.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(COMPACTION_MANIFEST);
        let bytes = std::fs::read(&path).map_err(io_err(&path))?;
        serde_json::from_slice(&bytes).map_err(|source| Error::Manifest {
            path: path.display().to_string(),
            source,
        })
    }
}

/// The input of one partition's compaction.
#[derive(Debug, Clone)]
pub struct CompactInput {
    /// The partition's path (`dt=…/hr=…`).
    pub partition: String,
    /// The table folder (the root of generation folders).
    pub table_dir: PathBuf,
    /// The current generation (0: the partition folder itself).
    pub generation: u64,
    /// `part-…` files in the current folder, relative to the table folder.
    pub parts: Vec<String>,
    /// Sources whose rows in the current compacted files are dropped besides those with
    /// `part-…` files (a replaced source that wrote nothing to this partition).
    pub drop: BTreeSet<String>,
    /// Where the next generation is written; `None`: its own folder under `table_dir`. A local
    /// catalog writes into a staging folder of its own and renames it into place when it
    /// switches, so two compactors of one partition never write the same folder.
    pub out_dir: Option<PathBuf>,
}

/// A generation's folder relative to the table folder: the partition path for generation 0,
/// `gen-<N>/<partition>` after.
pub fn generation_dir(partition: &str, generation: u64) -> String {
    if generation == 0 {
        partition.to_owned()
    } else {
        format!("gen-{generation}/{partition}")
    }
}

/// Splits a file's path relative to the table folder into (generation, partition path):
/// `gen-3/dt=…/hr=…/x.parquet` → (3, `dt=…/hr=…`).
pub fn generation_of(rel: &str) -> (u64, String) {
    generation_of_dir(rel.rsplit_once('/').map_or("", |(d, _)| d))
}

/// [`generation_of`] for a generation's folder: `gen-3/dt=…/hr=…` → (3, `dt=…/hr=…`).
pub fn generation_of_dir(dir: &str) -> (u64, String) {
    if let Some((head, rest)) = dir.split_once('/')
        && let Some(n) = head.strip_prefix("gen-").and_then(|n| n.parse().ok())
    {
        return (n, rest.to_owned());
    }
    (0, dir.to_owned())
}

/// The partition path (`dt=…/hr=…`) of a partition location under a table location (a folder
/// or an `s3://` prefix), whatever its generation; `None` outside the table.
pub fn partition_of(table_location: &str, location: &str) -> Option<String> {
    let rel = location
        .trim_end_matches('/')
        .strip_prefix(table_location.trim_end_matches('/'))?
        .trim_matches('/');
    (!rel.is_empty()).then(|| generation_of_dir(rel).1)
}

/// When a partition's hour ends, as UTC epoch milliseconds, from its values (`dt`, `hr`, …):
/// compaction waits for the hour to end plus a settle time.
pub fn hour_end_ms(values: &[String]) -> Option<i64> {
    let day = loglake_core::time::parse_rfc3339(&format!("{}T00:00:00Z", values.first()?))?;
    let hour: i64 = values.get(1)?.parse().ok()?;
    Some(day / 1000 + (hour + 1) * 3_600_000)
}

/// Whether a partition is worth compacting: generation 0 once it has `min_files` `part-…` files
/// (at least 2); a compacted one once `min_files` late files gathered in its current folder
/// (they are visible at once; at least 1).
pub fn worth_compacting(generation: u64, part_files: usize, min_files: usize) -> bool {
    part_files >= min_files.max(if generation == 0 { 2 } else { 1 })
}

/// Writes generation `input.generation + 1` of the partition and returns its manifest. The
/// folder is emptied first (a killed earlier attempt), and the manifest is written last.
pub fn compact_partition(
    schema: &CompiledSchema,
    input: &CompactInput,
    opts: &CompactOptions,
) -> Result<CompactionManifest> {
    let next = input.generation + 1;
    let out_dir = input
        .out_dir
        .clone()
        .unwrap_or_else(|| input.table_dir.join(generation_dir(&input.partition, next)));
    clear_dir(&out_dir)?;
    std::fs::create_dir_all(&out_dir).map_err(io_err(&out_dir))?;
    let current = input
        .table_dir
        .join(generation_dir(&input.partition, input.generation));
    let sources = Sources::new(schema, input, &current)?;
    let mut manifest = CompactionManifest {
        partition: input.partition.clone(),
        generation: next,
        inputs: input.parts.clone(),
        ..Default::default()
    };
    let target = arrow_schema(schema);
    for group in sources.groups(opts.max_group_bytes) {
        let rows = read_group(&group, &target, &sources.drop, schema)?;
        write_group(rows, &out_dir, schema, opts, &mut manifest)?;
    }
    let mut bytes = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
    bytes.push(b'\n');
    write_atomic(&out_dir.join(COMPACTION_MANIFEST), &bytes)?;
    Ok(manifest)
}

/// The files to read, in name order, and the sources whose compacted rows are dropped.
struct Sources {
    /// (path, Parquet bytes, whether it is a compacted file).
    files: Vec<(PathBuf, u64, bool)>,
    drop: BTreeSet<String>,
}

impl Sources {
    fn new(schema: &CompiledSchema, input: &CompactInput, current: &Path) -> Result<Self> {
        let mut drop = input.drop.clone();
        let mut files = Vec::new();
        if input.generation > 0 {
            for f in CompactionManifest::read(current)?.files {
                files.push(current.join(f));
            }
        }
        let compacted = files.len();
        let mut parts = input.parts.clone();
        parts.sort();
        for rel in &parts {
            let path = input.table_dir.join(rel);
            drop.extend(lineage_values(&path, schema)?);
            files.push(path);
        }
        let files = files
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                let len = std::fs::metadata(&p).map_err(io_err(&p))?.len();
                Ok((p, len, i < compacted))
            })
            .collect::<Result<_>>()?;
        Ok(Self { files, drop })
    }

    /// Consecutive files of at most `max` bytes together (a larger file is a group alone).
    fn groups(&self, max: u64) -> Vec<Vec<(PathBuf, u64, bool)>> {
        let mut groups: Vec<Vec<(PathBuf, u64, bool)>> = Vec::new();
        let mut size = 0;
        for f in &self.files {
            if groups.is_empty() || size + f.1 > max {
                groups.push(Vec::new());
                size = 0;
            }
            size += f.1;
            if let Some(g) = groups.last_mut() {
                g.push(f.clone());
            }
        }
        groups
    }
}

/// The distinct lineage values of a `part-…` file (one source; read from the column itself).
fn lineage_values(path: &Path, schema: &CompiledSchema) -> Result<BTreeSet<String>> {
    let Some(name) = lineage_name(schema) else {
        return Ok(BTreeSet::new());
    };
    let mut out = BTreeSet::new();
    for batch in read_file(path, Some(name))? {
        if let Some(col) = string_column(&batch, name) {
            out.extend(col.iter().flatten().map(str::to_owned));
        }
    }
    Ok(out)
}

fn lineage_name(schema: &CompiledSchema) -> Option<&str> {
    schema
        .lineage_column
        .map(|c| schema.columns()[c].name.as_str())
}

fn string_column<'b>(batch: &'b RecordBatch, name: &str) -> Option<&'b StringArray> {
    batch.column_by_name(name)?.as_any().downcast_ref()
}

/// A Parquet file's batches: every column, or only the one named.
fn read_file(path: &Path, only: Option<&str>) -> Result<Vec<RecordBatch>> {
    let parquet_err = |source| Error::Parquet {
        path: path.display().to_string(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io_err(path))?;
    let mut builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet_err)?;
    if let Some(name) = only {
        let mask = parquet::arrow::ProjectionMask::columns(builder.parquet_schema(), [name]);
        builder = builder.with_projection(mask);
    }
    let reader = builder.with_batch_size(8192).build().map_err(parquet_err)?;
    reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|source| Error::Arrow {
            path: path.display().to_string(),
            source,
        })
}

/// A group's rows, conformed to the current schema (a column added since a file was written
/// reads as null), without the dropped sources' compacted rows.
fn read_group(
    group: &[(PathBuf, u64, bool)],
    target: &SchemaRef,
    drop: &BTreeSet<String>,
    schema: &CompiledSchema,
) -> Result<Vec<RecordBatch>> {
    let mut out = Vec::new();
    for (path, _, compacted) in group {
        for batch in read_file(path, None)? {
            let batch = conform(&batch, target, path)?;
            let batch = match (compacted, lineage_name(schema)) {
                (true, Some(name)) if !drop.is_empty() => without(&batch, name, drop, path)?,
                _ => batch,
            };
            if batch.num_rows() > 0 {
                out.push(batch);
            }
        }
    }
    Ok(out)
}

fn conform(batch: &RecordBatch, target: &SchemaRef, path: &Path) -> Result<RecordBatch> {
    let columns: Vec<ArrayRef> = target
        .fields()
        .iter()
        .map(|f| {
            batch
                .column_by_name(f.name())
                .cloned()
                .unwrap_or_else(|| arrow_array::new_null_array(f.data_type(), batch.num_rows()))
        })
        .collect();
    RecordBatch::try_new(target.clone(), columns).map_err(|source| Error::Arrow {
        path: path.display().to_string(),
        source,
    })
}

fn without(
    batch: &RecordBatch,
    lineage: &str,
    drop: &BTreeSet<String>,
    path: &Path,
) -> Result<RecordBatch> {
    let Some(col) = string_column(batch, lineage) else {
        return Ok(batch.clone());
    };
    let keep: arrow_array::BooleanArray = col
        .iter()
        .map(|v| Some(!v.is_some_and(|v| drop.contains(v))))
        .collect();
    arrow_select::filter::filter_record_batch(batch, &keep).map_err(|source| Error::Arrow {
        path: path.display().to_string(),
        source,
    })
}

/// Sorts a group's rows by (time, lineage, input order) and writes them as files of about the
/// target size, continuing the manifest's file numbering.
fn write_group(
    batches: Vec<RecordBatch>,
    out_dir: &Path,
    schema: &CompiledSchema,
    opts: &CompactOptions,
    manifest: &mut CompactionManifest,
) -> Result<()> {
    let order = sorted_rows(&batches, schema, out_dir)?;
    if order.is_empty() {
        return Ok(());
    }
    let bytes: usize = batches.iter().map(RecordBatch::get_array_memory_size).sum();
    let per_row = (bytes / order.len()).max(1) as u64;
    // Arrow's in-memory size is several times the zstd Parquet size; 4x is a middle estimate.
    let rows_per_file = usize::try_from(opts.target_file_bytes * 4 / per_row)
        .unwrap_or(usize::MAX)
        .max(1);
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    for chunk in order.chunks(rows_per_file) {
        let name = format!("compacted-{}.parquet", manifest.files.len());
        let path = out_dir.join(&name);
        let rows =
            arrow_select::interleave::interleave_record_batch(&refs, chunk).map_err(|source| {
                Error::Arrow {
                    path: path.display().to_string(),
                    source,
                }
            })?;
        count_sources(&rows, schema, manifest);
        write_file(&path, &rows, schema, opts, &manifest.partition)?;
        loglake_core::failpoint::hit("compact:file-written");
        manifest.files.push(name);
        manifest.rows += rows.num_rows() as u64;
    }
    Ok(())
}

/// (batch, row) of every row in (time, lineage, input order) order.
fn sorted_rows(
    batches: &[RecordBatch],
    schema: &CompiledSchema,
    dir: &Path,
) -> Result<Vec<(usize, usize)>> {
    let ts_name = &schema.columns()[schema.timestamp_column].name;
    let lineage = lineage_name(schema);
    let mut keys: Vec<(i64, &str, usize, usize)> = Vec::new();
    for (b, batch) in batches.iter().enumerate() {
        let ts = batch
            .column_by_name(ts_name)
            .and_then(|c| c.as_any().downcast_ref::<TimestampMicrosecondArray>())
            .ok_or_else(|| Error::Output {
                path: dir.display().to_string(),
                source: std::io::Error::other(format!("an input has no `{ts_name}` timestamps")),
            })?;
        let src = lineage.and_then(|n| string_column(batch, n));
        for r in 0..batch.num_rows() {
            let s = src.filter(|s| s.is_valid(r)).map_or("", |s| s.value(r));
            keys.push((ts.value(r), s, b, r));
        }
    }
    keys.sort_unstable();
    Ok(keys.into_iter().map(|(_, _, b, r)| (b, r)).collect())
}

fn count_sources(rows: &RecordBatch, schema: &CompiledSchema, manifest: &mut CompactionManifest) {
    let Some(col) = lineage_name(schema).and_then(|n| string_column(rows, n)) else {
        return;
    };
    for v in col.iter() {
        *manifest
            .sources
            .entry(v.unwrap_or_default().to_owned())
            .or_insert(0) += 1;
    }
}

fn write_file(
    path: &Path,
    rows: &RecordBatch,
    schema: &CompiledSchema,
    opts: &CompactOptions,
    partition: &str,
) -> Result<()> {
    let parquet_err = |source| Error::Parquet {
        path: path.display().to_string(),
        source,
    };
    let dictionary = crate::writer::dictionary_columns(schema);
    let note = KeyValue::new("loglake.compacted".to_owned(), partition.to_owned());
    let props = writer_properties(path, opts.zstd_level, &dictionary, note)?
        .set_max_row_group_row_count(Some(1 << 20))
        .build();
    let tmp = crate::output::in_progress_path(path);
    let file = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
    let mut writer = ArrowWriter::try_new(file, rows.schema(), Some(props)).map_err(parquet_err)?;
    writer.write(rows).map_err(parquet_err)?;
    writer.close().map_err(parquet_err)?;
    std::fs::rename(&tmp, path).map_err(io_err(path))
}

/// Removes every file of a generation folder (a killed attempt's, or an old generation's after
/// its grace period), then the folder.
pub fn clear_dir(dir: &Path) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io_err(dir))?;
        remove_if_exists(&entry.path())?;
    }
    match std::fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(dir)(e)),
    }
}

/// The `part-…` files of a folder, relative to the table folder, in name order (hidden and
/// in-progress names excluded).
pub fn part_files(table_dir: &Path, dir_rel: &str) -> Result<Vec<String>> {
    let dir = table_dir.join(dir_rel);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(&dir)(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let name = entry.map_err(io_err(&dir))?.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("part-") && name.ends_with(".parquet") {
            out.push(format!("{dir_rel}/{name}"));
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_folders_are_siblings_and_parse_back() {
        assert_eq!(
            generation_dir("dt=2024-05-01/hr=07", 0),
            "dt=2024-05-01/hr=07"
        );
        assert_eq!(
            generation_dir("dt=2024-05-01/hr=07", 3),
            "gen-3/dt=2024-05-01/hr=07"
        );
        assert_eq!(
            generation_of("gen-3/dt=2024-05-01/hr=07/part-a-0.parquet"),
            (3, "dt=2024-05-01/hr=07".to_owned())
        );
        assert_eq!(
            generation_of("dt=2024-05-01/hr=07/part-a-0.parquet"),
            (0, "dt=2024-05-01/hr=07".to_owned())
        );
    }

    #[test]
    fn locations_hours_and_thresholds() {
        let t = "s3://b/clean/app_logs";
        assert_eq!(
            partition_of(t, "s3://b/clean/app_logs/gen-2/dt=2024-05-01/hr=07/").as_deref(),
            Some("dt=2024-05-01/hr=07")
        );
        assert_eq!(
            partition_of(t, "s3://b/clean/app_logs/dt=2024-05-01/hr=07").as_deref(),
            Some("dt=2024-05-01/hr=07")
        );
        assert_eq!(partition_of(t, "s3://b/other/dt=2024-05-01/hr=07"), None);
        let hour = |v: [&str; 2]| hour_end_ms(&v.map(String::from));
        assert_eq!(hour(["1970-01-01", "00"]), Some(3_600_000));
        assert_eq!(hour(["1970-01-02", "23"]), Some(48 * 3_600_000));
        assert_eq!(hour(["nope", "00"]), None);
        assert!(
            !worth_compacting(0, 1, 1),
            "one uncompacted file is never worth it"
        );
        assert!(worth_compacting(0, 2, 1));
        assert!(
            worth_compacting(1, 1, 1),
            "a late file in a compacted partition"
        );
        assert!(!worth_compacting(1, 7, 8));
    }

    #[test]
    fn groups_bound_their_bytes_and_keep_order() {
        let f = |n: &str, len| (PathBuf::from(n), len, false);
        let s = Sources {
            files: vec![f("a", 5), f("b", 5), f("c", 20), f("d", 1)],
            drop: BTreeSet::new(),
        };
        let names: Vec<Vec<String>> = s
            .groups(10)
            .iter()
            .map(|g| g.iter().map(|x| x.0.display().to_string()).collect())
            .collect();
        assert_eq!(names, vec![vec!["a", "b"], vec!["c"], vec!["d"]]);
    }
}
