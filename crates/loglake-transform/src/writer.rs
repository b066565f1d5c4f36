//! The partitioned Parquet writer: routes rows to one open file per partition, sizes row groups
//! for Athena, and keeps memory bounded however many partitions one input spans.
//!
//! Memory: every open partition holds its in-progress row group (encoded, compressed pages) in
//! memory. After each batch the writer sums [`ArrowWriter::memory_size`] over open files and,
//! while the sum is over the budget, flushes the largest row group to disk. Time-ordered logs
//! touch one or two partitions at a time and get full-size row groups; shuffled input gets
//! smaller row groups instead of unbounded memory. The decisions depend only on the data, so
//! output stays byte-identical for identical input.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

use arrow_array::{RecordBatch, UInt32Array};
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use rustc_hash::FxHashMap;

use crate::error::{Error, Result};
use crate::output::{LocalOutput, create_parent, in_progress_path, io_err};
use crate::publish::Sealed;

/// Knobs of the writer; the defaults suit Athena and the 256 MiB memory target.
#[derive(Debug, Clone, Copy)]
pub struct WriterOptions {
    /// A row group is closed once this many bytes of input JSON went into it (the Parquet
    /// uncompressed size is somewhat smaller): 128 MiB gives row groups above 64 MiB.
    pub row_group_input_bytes: u64,
    /// Budget for all in-progress row groups of one transform.
    pub memory_budget: usize,
    /// A file is closed and the next sequence number started past this many bytes on disk.
    pub max_file_bytes: usize,
    /// zstd level for the Parquet pages.
    pub zstd_level: i32,
}

impl Default for WriterOptions {
    fn default() -> Self {
        Self {
            row_group_input_bytes: 128 << 20,
            memory_budget: 48 << 20,
            max_file_bytes: 1 << 30,
            zstd_level: 1,
        }
    }
}

/// The columns the schema marks `dictionary: true`.
pub(crate) fn dictionary_columns(schema: &loglake_core::CompiledSchema) -> Vec<String> {
    schema
        .columns()
        .iter()
        .filter(|c| c.dictionary)
        .map(|c| c.name.clone())
        .collect()
}

/// The Parquet settings every loglake file is written with (transform and compaction): zstd at
/// `zstd_level`, page statistics, dictionaries only for the columns the schema marks (zstd
/// compresses the others as well without the per-value hashing), and one key-value note.
pub(crate) fn writer_properties(
    path: &std::path::Path,
    zstd_level: i32,
    dictionary_columns: &[String],
    note: KeyValue,
) -> Result<parquet::file::properties::WriterPropertiesBuilder> {
    let level = ZstdLevel::try_new(zstd_level).map_err(|source| Error::Parquet {
        path: path.display().to_string(),
        source,
    })?;
    let mut props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_dictionary_enabled(false)
        .set_key_value_metadata(Some(vec![note]));
    for c in dictionary_columns {
        props = props.set_column_dictionary_enabled(ColumnPath::from(c.as_str()), true);
    }
    Ok(props)
}

/// A partition: `(hours since epoch, extra key values, raw; escaped for the path)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct PartKey {
    pub(crate) hour: i64,
    pub(crate) extras: Vec<String>,
}

struct OpenFile {
    writer: ArrowWriter<BufWriter<File>>,
    tmp: PathBuf,
    path: PathBuf,
    /// The final name, relative to the table folder.
    rel: String,
    group_input_bytes: u64,
}

struct Partition {
    /// `dt=…/hr=…[/k=v]`.
    rel_dir: String,
    next_seq: u32,
    open: Option<OpenFile>,
    /// The batch number that last wrote rows here.
    last_batch: u64,
}

/// A partition with an in-progress row group that received no rows for this many batches is
/// flushed: time-ordered logs leave each finished hour behind, and its buffers should not
/// wait for the memory budget.
const COLD_BATCHES: u64 = 16;

/// Writes the rows of one source into partition files.
pub(crate) struct PartitionedWriter<'o> {
    out: &'o LocalOutput,
    table: String,
    source_id: String,
    schema: SchemaRef,
    props: WriterProperties,
    opts: WriterOptions,
    parts: Vec<Partition>,
    batches: u64,
    /// Files this run has opened, relative to the table folder.
    pub(crate) files: std::collections::BTreeSet<String>,
    /// Files written whole but not yet visible. They are published only by
    /// [`crate::publish::publish`], once every file of the source is sealed, so a source that
    /// fails (a broken read, a full disk) publishes nothing.
    sealed: Vec<Sealed>,
}

impl<'o> PartitionedWriter<'o> {
    pub(crate) fn new(
        out: &'o LocalOutput,
        table: &str,
        source_id: &str,
        source_name: &str,
        schema: SchemaRef,
        dictionary_columns: &[String],
        opts: WriterOptions,
    ) -> Result<Self> {
        let props = writer_properties(
            &out.table_dir(table),
            opts.zstd_level,
            dictionary_columns,
            KeyValue::new("loglake.source".to_owned(), source_name.to_owned()),
        )?
        // Row groups are closed by input bytes (see WriterOptions), not by a row count.
        .set_max_row_group_row_count(None)
        .build();
        Ok(Self {
            out,
            table: table.to_owned(),
            source_id: source_id.to_owned(),
            schema,
            props,
            opts,
            parts: Vec::new(),
            batches: 0,
            files: Default::default(),
            sealed: Vec::new(),
        })
    }

    /// Adds the next partition. Ids are assigned by the normaliser stage in order of first
    /// appearance and partitions are added here in that order, so a partition's id is its
    /// position.
    pub(crate) fn add_partition(&mut self, key: &PartKey, names: &[String]) {
        let mut rel_dir = loglake_core::time::dt_hr_path(key.hour);
        for (name, v) in names.iter().zip(&key.extras) {
            rel_dir.push_str(&format!("/{name}={}", loglake_core::partition::escape(v)));
        }
        self.parts.push(Partition {
            rel_dir,
            next_seq: 0,
            open: None,
            last_batch: 0,
        });
    }

    /// Sorted `dt=…/hr=…` names of the partitions that received rows.
    pub(crate) fn partition_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.parts.iter().map(|p| p.rel_dir.clone()).collect();
        v.sort();
        v
    }

    fn open(&mut self, part: usize) -> Result<()> {
        let p = &mut self.parts[part];
        let rel = format!(
            "{}/part-{}-{}.parquet",
            p.rel_dir, self.source_id, p.next_seq
        );
        p.next_seq += 1;
        let path = self.out.table_dir(&self.table).join(&rel);
        self.files.insert(rel.clone());
        create_parent(&path)?;
        let tmp = in_progress_path(&path);
        let f = File::create(&tmp).map_err(io_err(&tmp))?;
        let writer = ArrowWriter::try_new(
            BufWriter::with_capacity(64 * 1024, f),
            self.schema.clone(),
            Some(self.props.clone()),
        )
        .map_err(|source| Error::Parquet {
            path: path.display().to_string(),
            source,
        })?;
        self.parts[part].open = Some(OpenFile {
            writer,
            tmp,
            path,
            rel,
            group_input_bytes: 0,
        });
        Ok(())
    }

    /// Writes the file's footer under its in-progress name; [`Self::publish`] makes it visible.
    fn close(&mut self, part: usize) -> Result<()> {
        if let Some(f) = self.parts[part].open.take() {
            let path = f.path.display().to_string();
            match f.writer.close() {
                Ok(_) => self.sealed.push(Sealed {
                    path: f.tmp,
                    rel: f.rel,
                }),
                Err(source) => {
                    // A file that could not be finished (a full disk) is not left behind.
                    let _ = std::fs::remove_file(&f.tmp);
                    return Err(Error::Parquet { path, source });
                }
            }
        }
        Ok(())
    }

    fn write_part(&mut self, part: usize, batch: &RecordBatch, input_bytes: u64) -> Result<()> {
        if self.parts[part].open.is_none() {
            self.open(part)?;
        }
        let opts = self.opts;
        self.parts[part].last_batch = self.batches;
        let Some(f) = self.parts[part].open.as_mut() else {
            return Ok(());
        };
        let perr = |source| Error::Parquet {
            path: f.path.display().to_string(),
            source,
        };
        f.writer.write(batch).map_err(perr)?;
        f.group_input_bytes += input_bytes;
        if f.group_input_bytes >= opts.row_group_input_bytes {
            f.writer.flush().map_err(|source| Error::Parquet {
                path: f.path.display().to_string(),
                source,
            })?;
            f.group_input_bytes = 0;
        }
        if f.writer.bytes_written() >= opts.max_file_bytes {
            self.close(part)?;
        }
        Ok(())
    }

    /// Writes a batch whose row `i` belongs to partition `parts[i]`; `input_bytes[p]` is the
    /// input JSON size of the batch's rows in partition `p`.
    pub(crate) fn write(
        &mut self,
        batch: &RecordBatch,
        parts: &[u32],
        input_bytes: &FxHashMap<u32, u64>,
    ) -> Result<()> {
        let Some(&first) = parts.first() else {
            return Ok(());
        };
        self.batches += 1;
        if parts.iter().all(|&p| p == first) {
            let bytes = input_bytes.get(&first).copied().unwrap_or(0);
            self.write_part(first as usize, batch, bytes)?;
        } else {
            // Stable counting sort by partition, one `take`, then contiguous slices. Partitions
            // are written in order of first appearance, so output is deterministic.
            let mut order: Vec<u32> = Vec::new();
            let mut counts: FxHashMap<u32, u32> = FxHashMap::default();
            for &p in parts {
                let c = counts.entry(p).or_insert(0);
                if *c == 0 {
                    order.push(p);
                }
                *c += 1;
            }
            let mut offsets: FxHashMap<u32, u32> = FxHashMap::default();
            let mut acc = 0u32;
            for p in &order {
                offsets.insert(*p, acc);
                acc += counts[p];
            }
            let mut perm = vec![0u32; parts.len()];
            let mut cursor = offsets.clone();
            for (row, p) in parts.iter().enumerate() {
                let slot = cursor.get_mut(p).map(|c| {
                    let s = *c;
                    *c += 1;
                    s
                });
                if let Some(s) = slot {
                    perm[s as usize] = u32::try_from(row).unwrap_or(u32::MAX);
                }
            }
            let sorted = arrow_select::take::take_record_batch(batch, &UInt32Array::from(perm))
                .map_err(|source| Error::Arrow {
                    path: self.out.table_dir(&self.table).display().to_string(),
                    source,
                })?;
            for p in order {
                let slice = sorted.slice(offsets[&p] as usize, counts[&p] as usize);
                let bytes = input_bytes.get(&p).copied().unwrap_or(0);
                self.write_part(p as usize, &slice, bytes)?;
            }
        }
        self.enforce_budget()
    }

    /// Flushes cold partitions' row groups, then the largest in-progress row groups until the
    /// total is under budget.
    fn enforce_budget(&mut self) -> Result<()> {
        let now = self.batches;
        for p in &mut self.parts {
            if p.last_batch + COLD_BATCHES >= now {
                continue;
            }
            if let Some(f) = p.open.as_mut().filter(|f| f.writer.in_progress_rows() > 0) {
                f.writer.flush().map_err(|source| Error::Parquet {
                    path: f.path.display().to_string(),
                    source,
                })?;
                f.group_input_bytes = 0;
            }
        }
        loop {
            let mut total = 0usize;
            let mut largest: Option<(usize, usize)> = None;
            for (i, p) in self.parts.iter().enumerate() {
                if let Some(f) = &p.open {
                    let m = f.writer.memory_size();
                    total += m;
                    if largest.is_none_or(|(_, lm)| m > lm) {
                        largest = Some((i, m));
                    }
                }
            }
            match largest {
                Some((i, m)) if total > self.opts.memory_budget && m > 0 => {
                    if let Some(f) = self.parts[i].open.as_mut() {
                        f.writer.flush().map_err(|source| Error::Parquet {
                            path: f.path.display().to_string(),
                            source,
                        })?;
                        f.group_input_bytes = 0;
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    /// Finishes every file under its in-progress name: after this, publishing needs no space.
    /// On error the caller aborts (nothing of this run is visible).
    pub(crate) fn seal(&mut self) -> Result<()> {
        (0..self.parts.len()).try_for_each(|i| self.close(i))
    }

    /// Every file of the source, sealed, for [`crate::publish::publish`].
    pub(crate) fn into_sealed(mut self) -> Result<Vec<Sealed>> {
        self.seal()?;
        Ok(std::mem::take(&mut self.sealed))
    }

    /// Removes in-progress files after a failure; the manifest keeps naming every file that
    /// may exist, so the next run cleans up.
    pub(crate) fn abort(self) {
        for p in self.parts {
            if let Some(f) = p.open {
                drop(f.writer);
                let _ = std::fs::remove_file(&f.tmp);
            }
        }
        for f in self.sealed {
            let _ = std::fs::remove_file(&f.path);
        }
    }
}
