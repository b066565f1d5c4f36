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

/// Infers a schema from `files` (plain, gzip or zstd; NDJSON, arrays or envelopes).
pub fn infer_files(files: &[PathBuf], opts: &InferOptions) -> Result<(Inference, InferRead)> {
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
        read.bytes += each_record(f, &split, &mut |_, _| read.records += 1)?;
    }
    read.stride = read.records.div_ceil(opts.sample.max(1)).max(1);
    let mut inf = Inferrer::new(opts.timestamp.clone());
    let mut k = 0u64;
    for f in files {
        each_record(f, &split, &mut |bytes, defect| {
            if k.is_multiple_of(read.stride) {
                if defect {
                    read.defects += 1;
                } else {
                    inf.observe(bytes);
                }
            }
            k += 1;
        })?;
    }
    Ok((inf.finish(&opts.table, split.record_path)?, read))
}

/// The envelope of `file`'s first document, if it has one, from its first MiB (decompressed).
fn envelope(file: &Path) -> Result<Option<Vec<String>>> {
    let failed = |source| Error::Input {
        path: file.display().to_string(),
        source,
    };
    let (_, stream) = decode::decompress(File::open(file).map_err(failed)?).map_err(failed)?;
    let mut start = Vec::new();
    stream
        .take(1 << 20)
        .read_to_end(&mut start)
        .map_err(failed)?;
    Ok(detect_envelope(&start))
}

/// Calls `f(record bytes, has a defect)` for every record of `file`; returns the decompressed
/// bytes read.
fn each_record(file: &Path, opts: &SplitOptions, f: &mut dyn FnMut(&[u8], bool)) -> Result<u64> {
    let failed = |source| Error::Input {
        path: file.display().to_string(),
        source,
    };
    let (_, mut stream) = decode::decompress(File::open(file).map_err(failed)?).map_err(failed)?;
    let mut bytes = 0;
    decode::split(&mut stream, opts, &mut |chunk| {
        for r in &chunk.records {
            f(chunk.bytes(r), r.defect.is_some());
        }
        bytes = chunk.bytes_decoded;
        true
    })
    .map_err(failed)?;
    Ok(bytes)
}
