//! One object through the whole transform: read → decompress → split (reader thread) →
//! normalise → Arrow batches → partitioned Parquet + quarantine → summary.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use loglake_core::decode::{self, Chunk, SplitOptions};
use loglake_core::{Cell, CompiledSchema, Normalizer, Row};
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::columns::{BatchBuilder, arrow_schema};
use crate::error::{Error, Result};
use crate::output::LocalOutput;
use crate::publish::{LocalTarget, Published, Target, publish};
use crate::quarantine::QuarantineWriter;
use crate::writer::{PartKey, PartitionedWriter, WriterOptions};

/// Options of one transform.
#[derive(Debug, Clone)]
pub struct TransformOptions {
    /// Rows per Arrow batch handed to the writer. Fixed, so output never depends on how the
    /// input happened to be read.
    pub batch_rows: usize,
    /// Chunking of the input (its `record_path` comes from the schema).
    pub split: SplitOptions,
    /// Parquet writer knobs.
    pub writer: WriterOptions,
}

impl Default for TransformOptions {
    fn default() -> Self {
        Self {
            batch_rows: 8192,
            split: SplitOptions::default(),
            writer: WriterOptions::default(),
        }
    }
}

/// The summary printed for each object (DESIGN.md §3, contract fields first).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Summary {
    /// The object as the user named it (path or URI).
    pub source: String,
    /// Raw records seen: `records_written + records_quarantined`.
    pub records_in: u64,
    /// Rows written to Parquet.
    pub records_written: u64,
    /// Records written to the quarantine file.
    pub records_quarantined: u64,
    /// Bytes read from the object (compressed size).
    pub bytes_in: u64,
    /// `dt=…/hr=…` partitions that received rows, sorted.
    pub partitions: Vec<String>,
    /// Parquet files written, under the output root, sorted.
    pub files: Vec<String>,
    /// Per column, values that were present but not coercible (stored as null).
    pub null_coercions: BTreeMap<String, u64>,
    /// The table written to.
    pub table: String,
    /// `source_id` (first 16 hex of SHA-256 of the source name): the files' name stem.
    pub source_id: String,
    /// Bytes after decompression.
    pub bytes_decoded: u64,
    /// Detected compression.
    pub compression: String,
    /// Quarantined records per kind.
    pub quarantine_reasons: BTreeMap<String, u64>,
    /// The quarantine file, when records were quarantined.
    pub quarantine_file: Option<String>,
    /// Files of a previous version of this source that were removed.
    pub removed_files: Vec<String>,
    /// Wall time of the transform (the only non-deterministic field).
    pub duration_ms: u64,
}

/// The object's bytes as they come from the store (before decompression): counted for
/// `bytes_in` and progress, and any
/// failure of the source itself noted in `failed`, so that the decoder, which turns what a
/// stream error leaves behind into a truncated record, cannot hide a failed read as bad data.
/// The end of the stream before the object's known size is such a failure too (a short read).
pub(crate) struct Counting<'a, R> {
    pub(crate) inner: R,
    pub(crate) count: &'a AtomicU64,
    pub(crate) progress: &'a (dyn Fn(u64) + Sync),
    /// The object's size when known.
    pub(crate) size: Option<u64>,
    /// The first failure: (bytes read before it, the error).
    pub(crate) failed: &'a std::sync::Mutex<Option<(u64, std::io::Error)>>,
}

impl<R: Read> Counting<'_, R> {
    fn fail(&self, e: std::io::Error) -> std::io::Error {
        let offset = self.count.load(Ordering::Relaxed);
        let copy = std::io::Error::new(e.kind(), e.to_string());
        if let Ok(mut slot) = self.failed.lock() {
            slot.get_or_insert((offset, e));
        }
        copy
    }
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return Err(e),
            Err(e) => return Err(self.fail(e)),
        };
        let count = self.count.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        if n == 0
            && !buf.is_empty()
            && let Some(size) = self.size.filter(|size| count < *size)
        {
            return Err(self.fail(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("the stream ended after {count} of the object's {size} bytes"),
            )));
        }
        (self.progress)(n as u64);
        Ok(n)
    }
}

/// The identity of a source: `name` decides `source_id` (for S3, `bucket/key`); `display` is
/// what summaries and quarantine lines show.
#[derive(Debug, Clone)]
pub struct Source {
    /// Identity, hashed into `source_id`.
    pub name: String,
    /// Shown to users.
    pub display: String,
    /// When the object was written (S3 `LastModified`, a file's modification time), UTC
    /// microseconds: the accepted time window ends `timestamp.window.max_future_days` after it.
    /// `None` (unknown): the time the transform starts.
    pub written_us: Option<i64>,
    /// The object's size in bytes (file length, S3 Content-Length or listing size): reading
    /// fewer bytes fails the object. `None`: unknown (a pipe), not checked.
    pub size: Option<u64>,
}

impl Source {
    /// Opens a local file as a source: named `name`, else by its absolute path; its length
    /// and modification time from the open file.
    pub fn open_file(path: &std::path::Path, name: Option<&str>) -> Result<(std::fs::File, Self)> {
        let input_err = |source| Error::Input {
            path: path.display().to_string(),
            source,
        };
        let file = std::fs::File::open(path).map_err(input_err)?;
        let meta = file.metadata().map_err(input_err)?;
        let name = match name {
            Some(n) => n.to_owned(),
            None => std::path::absolute(path)
                .map_err(input_err)?
                .display()
                .to_string(),
        };
        let source = Self {
            name,
            display: path.display().to_string(),
            written_us: Self::file_written_us(&meta),
            size: Some(meta.len()),
        };
        Ok((file, source))
    }

    /// A file's modification time, UTC microseconds (`None` when the platform has none).
    pub(crate) fn file_written_us(meta: &std::fs::Metadata) -> Option<i64> {
        let modified = meta.modified().ok()?;
        let since = modified.duration_since(std::time::UNIX_EPOCH).ok()?;
        i64::try_from(since.as_micros()).ok()
    }
}

/// The normaliser for an object written at `written_us` (UTC microseconds; unknown: now), whose
/// time window ends `max_future_days` after it.
pub(crate) fn normalizer_for(schema: &CompiledSchema, written_us: Option<i64>) -> Normalizer<'_> {
    let written = written_us.unwrap_or_else(|| loglake_core::ledger::now_ms().saturating_mul(1000));
    Normalizer::new(schema).written_at(written)
}

/// One Arrow batch on its way from the normaliser stage to the writer stage.
struct Batch {
    batch: arrow_array::RecordBatch,
    /// Partition id of each row.
    parts: Vec<u32>,
    /// Input JSON bytes per partition in this batch (row-group sizing).
    part_bytes: FxHashMap<u32, u64>,
    /// Partitions first seen in this batch, in id order.
    new_parts: Vec<PartKey>,
}

/// The normaliser stage: records → rows → Arrow batches, bad records → quarantine. Partition ids
/// are assigned here in order of first appearance and announced with each batch, so the writer
/// stage assigns the same ids.
struct Sink<'s> {
    schema: &'s CompiledSchema,
    quarantine: QuarantineWriter,
    builder: BatchBuilder,
    parts: Vec<u32>,
    part_bytes: FxHashMap<u32, u64>,
    partitions: Partitioner,
    batch_rows: usize,
    max_record_bytes: usize,
    records_in: u64,
    written: u64,
    coercions: Vec<u64>,
    reasons: BTreeMap<String, u64>,
    table_dir: String,
    /// Taken (dropped) when the stage ends, which tells the writer stage that no batch follows.
    to_writer: Option<std::sync::mpsc::SyncSender<Batch>>,
}

/// Partition ids, assigned in order of first appearance (UTC hour, then the extra keys' raw
/// values); the partitions first seen since the last batch are announced with it.
#[derive(Default)]
struct Partitioner {
    index: FxHashMap<PartKey, u32>,
    new_parts: Vec<PartKey>,
    last_key: Option<(PartKey, u32)>,
    key: PartKey,
}

impl Partitioner {
    /// The partition of a normalised row.
    fn id_of(&mut self, row: &Row<'_>, schema: &CompiledSchema) -> u32 {
        self.key.hour = loglake_core::time::hour_of(row.ts);
        self.key.extras.clear();
        for &c in &schema.extra_partition_columns {
            self.key.extras.push(match &row.cells[c] {
                Cell::Str(s) => s.to_string(),
                _ => String::new(),
            });
        }
        match &self.last_key {
            Some((k, id)) if *k == self.key => *id,
            _ => {
                let next = u32::try_from(self.index.len()).unwrap_or(u32::MAX);
                let id = *self.index.entry(self.key.clone()).or_insert_with(|| {
                    self.new_parts.push(self.key.clone());
                    next
                });
                self.last_key = Some((self.key.clone(), id));
                id
            }
        }
    }
}

enum SinkError {
    Failed(Error),
    /// The writer stage stopped (its own error is reported instead).
    WriterGone,
}

impl From<Error> for SinkError {
    fn from(e: Error) -> Self {
        Self::Failed(e)
    }
}

impl Sink<'_> {
    fn flush_batch(&mut self) -> Result<(), SinkError> {
        if self.builder.is_empty() {
            return Ok(());
        }
        let batch = self.builder.finish().map_err(|source| Error::Arrow {
            path: self.table_dir.clone(),
            source,
        })?;
        let msg = Batch {
            batch,
            parts: std::mem::replace(&mut self.parts, Vec::with_capacity(self.batch_rows)),
            part_bytes: std::mem::take(&mut self.part_bytes),
            new_parts: std::mem::take(&mut self.partitions.new_parts),
        };
        let sender = self.to_writer.as_ref().ok_or(SinkError::WriterGone)?;
        sender.send(msg).map_err(|_| SinkError::WriterGone)?;
        Ok(())
    }

    fn quarantine(&mut self, line: u64, kind: &str, reason: &str, raw: &[u8]) -> Result<()> {
        *self.reasons.entry(kind.to_owned()).or_insert(0) += 1;
        self.quarantine.push(line, kind, reason, raw)
    }

    fn chunk(&mut self, normalizer: &Normalizer<'_>, chunk: &Chunk) -> Result<(), SinkError> {
        let mut row = Row::new(self.schema);
        for rec in &chunk.records {
            self.records_in += 1;
            let raw = chunk.bytes(rec);
            if let Some(defect) = &rec.defect {
                let reason = defect.reason(self.max_record_bytes);
                self.quarantine(rec.line, defect.kind(), &reason, raw)?;
                continue;
            }
            if let Err(rej) = normalizer.normalize(raw, &mut row) {
                self.quarantine(rec.line, rej.kind, &rej.reason, raw)?;
                continue;
            }
            for &c in &row.coercion_failures {
                self.coercions[c] += 1;
            }
            let part = self.partitions.id_of(&row, self.schema);
            self.builder.append(&row);
            self.parts.push(part);
            *self.part_bytes.entry(part).or_insert(0) += raw.len() as u64 + 1;
            self.written += 1;
            if self.builder.len() >= self.batch_rows {
                self.flush_batch()?;
            }
        }
        Ok(())
    }
}

/// Transforms one object read from `reader` into `out`.
///
/// Records that cannot be used are quarantined, never dropped: on return,
/// `records_in == records_written + records_quarantined`. An `Err` means the object could not
/// be processed at all (unreadable input, unwritable output); in that case nothing of it is
/// published and the manifest still names every file that may exist.
pub fn transform_reader<R: Read + Send>(
    reader: R,
    source: &Source,
    schema: &CompiledSchema,
    out: &LocalOutput,
    opts: &TransformOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Summary> {
    let source_id = loglake_core::source_id(&source.name);
    let target = LocalTarget::new(out, schema.table(), &source_id);
    transform_reader_to(reader, source, schema, out, &target, opts, progress)
}

/// [`transform_reader`], publishing to `target` ([`crate::publish`]'s protocol) the files it
/// seals under `out` (for a [`LocalTarget`] over the same folder, the files are renamed in
/// place; for an object store, `out` is a staging folder and they are uploaded).
pub fn transform_reader_to<R: Read + Send>(
    reader: R,
    source: &Source,
    schema: &CompiledSchema,
    out: &LocalOutput,
    target: &dyn Target,
    opts: &TransformOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Summary> {
    let started = Instant::now();
    let table = schema.table().to_owned();
    let source_id = loglake_core::source_id(&source.name);
    let mut split = opts.split.clone();
    split
        .record_path
        .clone_from(&schema.schema.input.record_path);
    let mut writer = open_writer(out, &table, &source_id, source, schema, opts)?;
    let job = Job {
        source,
        schema,
        out,
        opts,
        split: &split,
        table: &table,
        source_id: &source_id,
        progress,
        bytes_in: AtomicU64::new(0),
        read_failure: std::sync::Mutex::new(None),
    };
    let (sink, read) = match job.run_stages(reader, &mut writer) {
        Stages {
            sink: Some(sink),
            outcome: Ok(read),
        } => (sink, read),
        Stages { sink, outcome } => {
            writer.abort();
            if let Some(sink) = sink {
                sink.quarantine.abort();
            }
            return Err(outcome
                .err()
                .unwrap_or_else(|| job.input_error("normaliser thread panicked")));
        }
    };
    let partitions = writer.partition_names();
    let Sink {
        quarantine,
        records_in,
        written,
        coercions,
        reasons,
        ..
    } = sink;
    let quarantined = quarantine.count;
    debug_assert_eq!(records_in, written + quarantined);
    let published = seal_and_publish(writer, quarantine, target, &source.name)?;
    let counts = Counts {
        records_in,
        written,
        coercions,
        reasons,
    };
    Ok(job.summary(counts, quarantined, partitions, published, read, started))
}

/// The object's partitioned writer: the schema's Arrow schema and dictionary columns.
fn open_writer<'o>(
    out: &'o LocalOutput,
    table: &str,
    source_id: &str,
    source: &Source,
    schema: &CompiledSchema,
    opts: &TransformOptions,
) -> Result<PartitionedWriter<'o>> {
    let dictionary = crate::writer::dictionary_columns(schema);
    PartitionedWriter::new(
        out,
        table,
        source_id,
        &source.name,
        arrow_schema(schema),
        &dictionary,
        opts.writer,
    )
}

/// Every file finished under its in-progress name before the first one becomes visible: a full
/// disk here publishes nothing of this source. Then [`crate::publish::publish`] makes them
/// visible in the protocol's order.
fn seal_and_publish(
    mut writer: PartitionedWriter<'_>,
    mut quarantine: QuarantineWriter,
    target: &dyn Target,
    source_name: &str,
) -> Result<Published> {
    if let Err(e) = writer.seal().and_then(|()| quarantine.seal()) {
        writer.abort();
        quarantine.abort();
        return Err(e);
    }
    let files = writer.into_sealed()?;
    let quarantine = quarantine.into_sealed()?;
    publish(target, source_name, &files, quarantine.as_deref())
}

/// The normaliser's totals, for the summary.
struct Counts {
    records_in: u64,
    written: u64,
    coercions: Vec<u64>,
    reasons: BTreeMap<String, u64>,
}

/// One object's transform: what its three stages share.
struct Job<'j> {
    source: &'j Source,
    schema: &'j CompiledSchema,
    out: &'j LocalOutput,
    opts: &'j TransformOptions,
    split: &'j SplitOptions,
    table: &'j str,
    source_id: &'j str,
    progress: &'j (dyn Fn(u64) + Sync),
    /// Raw bytes read so far.
    bytes_in: AtomicU64,
    /// The first failure of the underlying reader: (offset, error).
    read_failure: std::sync::Mutex<Option<(u64, std::io::Error)>>,
}

/// What the three stages leave: the normaliser's state (none when it panicked; on failure its
/// quarantine file must be aborted) and the outcome, with the input's compression and
/// decompressed size.
struct Stages<'s> {
    sink: Option<Sink<'s>>,
    outcome: Result<(decode::Compression, u64)>,
}

impl<'j> Job<'j> {
    /// The object's summary (the contract's fields, DESIGN.md §3).
    fn summary(
        &self,
        counts: Counts,
        quarantined: u64,
        partitions: Vec<String>,
        published: Published,
        (compression, decoded): (decode::Compression, u64),
        started: Instant,
    ) -> Summary {
        let null_coercions = self
            .schema
            .columns()
            .iter()
            .zip(&counts.coercions)
            .filter(|(_, n)| **n > 0)
            .map(|(c, n)| (c.name.clone(), *n))
            .collect();
        Summary {
            source: self.source.display.clone(),
            records_in: counts.records_in,
            records_written: counts.written,
            records_quarantined: quarantined,
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            partitions,
            files: published.files,
            null_coercions,
            table: self.table.to_owned(),
            source_id: self.source_id.to_owned(),
            bytes_decoded: decoded,
            compression: compression.name().to_owned(),
            quarantine_reasons: counts.reasons,
            quarantine_file: published.quarantine,
            removed_files: published.removed,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// Three stages on three threads, connected by bounded channels (so memory stays bounded):
    /// reader (decompress + split) → normaliser (rows → Arrow batches, quarantine) → writer
    /// (Parquet encoding, this thread). Each channel is FIFO with one producer, so the output
    /// does not depend on scheduling.
    fn run_stages<R: Read + Send>(
        &self,
        reader: R,
        writer: &mut PartitionedWriter<'_>,
    ) -> Stages<'j> {
        let extra_names: Vec<String> = self.schema.schema.partition_keys[2..]
            .iter()
            .map(|k| k.name.clone())
            .collect();
        std::thread::scope(|s| {
            let (chunk_tx, chunk_rx) = std::sync::mpsc::sync_channel::<Chunk>(2);
            let (batch_tx, batch_rx) = std::sync::mpsc::sync_channel::<Batch>(2);
            // Buffers of processed chunks go back to the reader: no fresh pages per chunk.
            let (free_tx, free_rx) = std::sync::mpsc::channel::<Vec<u8>>();
            let reader_thread = s.spawn(move || self.read_stage(reader, &free_rx, &chunk_tx));
            let sink = self.sink(batch_tx);
            let normalizer_thread = s.spawn(move || self.normalize_stage(sink, chunk_rx, &free_tx));
            let mut write_result: Result<()> = Ok(());
            for msg in batch_rx {
                for key in &msg.new_parts {
                    writer.add_partition(key, &extra_names);
                }
                write_result = writer.write(&msg.batch, &msg.parts, &msg.part_bytes);
                if write_result.is_err() {
                    // Stop consuming: the normaliser sees the closed channel and stops too.
                    break;
                }
            }
            let read = reader_thread.join();
            let Ok((sink, normalized)) = normalizer_thread.join() else {
                return Stages {
                    sink: None,
                    outcome: Err(self.input_error("normaliser thread panicked")),
                };
            };
            Stages {
                sink: Some(sink),
                outcome: self.first_error(write_result, normalized, read),
            }
        })
    }

    /// The reader stage: counts and checks the raw bytes, decompresses, splits into chunks.
    fn read_stage<R: Read + Send>(
        &self,
        reader: R,
        free: &std::sync::mpsc::Receiver<Vec<u8>>,
        chunks: &std::sync::mpsc::SyncSender<Chunk>,
    ) -> std::io::Result<(decode::Compression, u64)> {
        let counting = Counting {
            inner: reader,
            count: &self.bytes_in,
            progress: self.progress,
            size: self.source.size,
            failed: &self.read_failure,
        };
        let (compression, mut stream) = decode::decompress(counting)?;
        let mut decoded = 0u64;
        decode::split_recycling(
            &mut stream,
            self.split,
            &mut || free.try_recv().ok(),
            &mut |chunk| {
                decoded = chunk.bytes_decoded;
                chunks.send(chunk).is_ok()
            },
        )?;
        Ok((compression, decoded))
    }

    /// The normaliser stage's state, sending its batches to `to_writer`.
    fn sink(&self, to_writer: std::sync::mpsc::SyncSender<Batch>) -> Sink<'j> {
        let (opts, schema) = (self.opts, self.schema);
        Sink {
            schema,
            quarantine: QuarantineWriter::new(
                &self.out.quarantine_path(self.table, self.source_id),
                &self.source.display,
            ),
            builder: BatchBuilder::new(schema, opts.batch_rows, &self.source.name),
            parts: Vec::with_capacity(opts.batch_rows),
            part_bytes: FxHashMap::default(),
            partitions: Partitioner::default(),
            batch_rows: opts.batch_rows.max(1),
            max_record_bytes: self.split.max_record_bytes,
            records_in: 0,
            written: 0,
            coercions: vec![0; schema.columns().len()],
            reasons: BTreeMap::new(),
            table_dir: self.out.table_dir(self.table).display().to_string(),
            to_writer: Some(to_writer),
        }
    }

    /// The normaliser stage: every chunk through the sink; after an error it keeps draining,
    /// so the reader stage can finish.
    fn normalize_stage(
        &self,
        mut sink: Sink<'j>,
        chunks: std::sync::mpsc::Receiver<Chunk>,
        free: &std::sync::mpsc::Sender<Vec<u8>>,
    ) -> (Sink<'j>, Result<(), SinkError>) {
        let normalizer = normalizer_for(self.schema, self.source.written_us);
        let mut result: Result<(), SinkError> = Ok(());
        for chunk in chunks {
            if result.is_ok() {
                result = sink.chunk(&normalizer, &chunk);
            }
            let _ = free.send(chunk.data);
        }
        if result.is_ok() {
            result = sink.flush_batch();
        }
        sink.to_writer = None;
        (sink, result)
    }

    /// The error that explains the others: a failed read of the object wins over everything
    /// it caused downstream; then the writer's, the normaliser's, the reader's own.
    fn first_error(
        &self,
        written: Result<()>,
        normalized: Result<(), SinkError>,
        read: std::thread::Result<std::io::Result<(decode::Compression, u64)>>,
    ) -> Result<(decode::Compression, u64)> {
        if let Some((offset, e)) = self.read_failure.lock().ok().and_then(|mut f| f.take()) {
            return Err(Error::Read {
                path: self.source.display.clone(),
                offset,
                source: e,
            });
        }
        written?;
        if let Err(SinkError::Failed(e)) = normalized {
            return Err(e);
        }
        match read {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(Error::Input {
                path: self.source.display.clone(),
                source: e,
            }),
            Err(_) => Err(self.input_error("reader thread panicked")),
        }
    }

    fn input_error(&self, what: &str) -> Error {
        Error::Input {
            path: self.source.display.clone(),
            source: std::io::Error::other(what.to_owned()),
        }
    }
}

/// Transforms one local file. The source name defaults to the file's absolute path.
pub fn transform_file(
    path: &std::path::Path,
    source_name: Option<&str>,
    schema: &CompiledSchema,
    out: &LocalOutput,
    opts: &TransformOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Summary> {
    let (file, source) = Source::open_file(path, source_name)?;
    transform_reader(file, &source, schema, out, opts, progress)
}

/// Runs `work` over `items` on `jobs` threads, calling `done` as each finishes (in completion
/// order, from the worker thread). Objects are independent, so this is how both cores are used.
pub fn for_each_parallel<T: Sync, R>(
    items: &[T],
    jobs: usize,
    work: &(dyn Fn(&T) -> R + Sync),
    done: &(dyn Fn(usize, R) + Sync),
) {
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1).min(items.len().max(1)) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    done(i, work(item));
                }
            });
        }
    });
}
