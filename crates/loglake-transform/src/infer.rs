//! Reading inputs for schema inference ([`loglake_core::infer`]): the envelope from the first
//! file's start, then two passes over every file (count the records, then sample every
//! `ceil(records / sample)`-th one), so the sample spreads evenly over the whole input, not its
//! head, and memory stays bounded by the statistics, not the input.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use loglake_core::decode::{self, SplitOptions};
use loglake_core::infer::{Inference, Inferrer, detect_envelope};

use crate::error::{Error, Result};
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use crate::transform::{Counting, Source};

/// What to infer.
#[derive(Debug, Clone)]
pub struct InferOptions {
    /// Records to sample at most.
    pub sample: u64,
    /// Table name in the schema file.
    pub table: String,
    /// The timestamp field, instead of the one inference would choose.
    pub timestamp: Option<String>,
}

/// How much was read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InferRead {
    /// Files read.
    pub files: usize,
    /// Decompressed bytes.
    pub bytes: u64,
    /// Records in all files.
    pub records: u64,
    /// Every how many records one was sampled.
    pub stride: u64,
    /// Sampled records that were cut or malformed (not observed).
    pub defects: u64,
}

/// One input: a file or an object, opened as often as the reader needs.
pub struct Input<'a> {
    /// Its name in messages.
    pub display: String,
    /// When it was written (UTC microseconds), for the schema's time window.
    pub written_us: Option<i64>,
    /// Its size in bytes when known: a read that ends before it is a failed read.
    pub size: Option<u64>,
    /// Opens it from the start.
    pub open: Box<dyn Fn() -> std::io::Result<Box<dyn Read + Send + 'a>> + 'a>,
}

impl std::fmt::Debug for Input<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
            .field("display", &self.display)
            .finish_non_exhaustive()
    }
}

impl<'a> Input<'a> {
    /// A local file (written at its modification time).
    pub fn file(path: &'a Path) -> Self {
        let meta = std::fs::metadata(path).ok();
        Self {
            display: path.display().to_string(),
            written_us: meta.as_ref().and_then(Source::file_written_us),
            size: meta.map(|m| m.len()),
            open: Box::new(move || Ok(Box::new(File::open(path)?) as Box<dyn Read + Send>)),
        }
    }
}

/// Infers a schema from local files (plain, gzip or zstd; NDJSON, arrays or envelopes).
pub fn infer_files(files: &[PathBuf], opts: &InferOptions) -> Result<(Inference, InferRead)> {
    let inputs: Vec<Input<'_>> = files.iter().map(|f| Input::file(f)).collect();
    infer_inputs(&inputs, opts)
}

/// Infers a schema from files or objects.
pub fn infer_inputs(files: &[Input<'_>], opts: &InferOptions) -> Result<(Inference, InferRead)> {
    let split = SplitOptions {
        record_path: match files.first() {
            Some(f) => envelope(f)?.unwrap_or_default(),
            None => Vec::new(),
        },
        ..SplitOptions::default()
    };
    let mut read = InferRead {
        files: files.len(),
        ..InferRead::default()
    };
    for f in files {
        read.bytes += each_chunk(f, &split, &mut |c| read.records += c.records.len() as u64)?;
    }
    read.stride = read.records.div_ceil(opts.sample.max(1)).max(1);
    let mut inf = Inferrer::new(opts.timestamp.clone());
    let mut k = 0u64;
    for f in files {
        each_chunk(f, &split, &mut |chunk| {
            for r in &chunk.records {
                if k.is_multiple_of(read.stride) {
                    if r.defect.is_some() {
                        read.defects += 1;
                    } else {
                        inf.observe(chunk.bytes(r));
                    }
                }
                k += 1;
            }
        })?;
    }
    Ok((inf.finish(&opts.table, split.record_path)?, read))
}

/// The envelope of `file`'s first document, if it has one, from its first MiB (decompressed).
fn envelope(file: &Input<'_>) -> Result<Option<Vec<String>>> {
    read_counted(file, &mut |stream| {
        let mut start = Vec::new();
        stream.take(1 << 20).read_to_end(&mut start)?;
        Ok(detect_envelope(&start))
    })
}

/// Calls `f` for every chunk of records of `file`; returns the decompressed bytes read.
pub(crate) fn each_chunk(
    file: &Input<'_>,
    opts: &SplitOptions,
    f: &mut dyn FnMut(&decode::Chunk),
) -> Result<u64> {
    read_counted(file, &mut |stream| {
        let mut bytes = 0;
        decode::split(stream, opts, &mut |chunk| {
            f(&chunk);
            bytes = chunk.bytes_decoded;
            true
        })?;
        Ok(bytes)
    })
}

/// Opens `file` and hands `read` its decompressed stream, read through the transform's
/// [`Counting`] reader: a failed or short read of the file or object is an error
/// ([`Error::Read`], naming the offset), never a truncated record in a sample or a report.
fn read_counted<T>(
    file: &Input<'_>,
    read: &mut dyn FnMut(&mut dyn std::io::BufRead) -> std::io::Result<T>,
) -> Result<T> {
    let failed = |source| Error::Input {
        path: file.display.clone(),
        source,
    };
    let (count, read_failure) = (AtomicU64::new(0), Mutex::new(None));
    let counting = Counting {
        inner: (file.open)().map_err(failed)?,
        count: &count,
        progress: &|_| {},
        size: file.size,
        failed: &read_failure,
    };
    let result = decode::decompress(counting).and_then(|(_, mut stream)| read(&mut stream));
    if let Some((offset, source)) = read_failure.lock().ok().and_then(|mut r| r.take()) {
        return Err(Error::Read {
            path: file.display.clone(),
            offset,
            source,
        });
    }
    result.map_err(failed)
}
