//! Helpers shared by the integration tests: read the output back and check its invariants.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// Every visible `.parquet` file under `dir`, sorted.
pub fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p);
            }
        }
    }
    walk(dir, &mut out);
    out.sort();
    out
}

pub fn read_batches(file: &Path) -> Vec<RecordBatch> {
    let f = std::fs::File::open(file).unwrap();
    ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn cell(a: &dyn Array, i: usize) -> String {
    if a.is_null(i) {
        return "∅".into();
    }
    match a.data_type() {
        DataType::Utf8 => a.as_string::<i32>().value(i).to_owned(),
        DataType::Int32 => a.as_primitive::<Int32Type>().value(i).to_string(),
        DataType::Int64 => a.as_primitive::<Int64Type>().value(i).to_string(),
        DataType::Float64 => a.as_primitive::<Float64Type>().value(i).to_string(),
        DataType::Boolean => a.as_boolean().value(i).to_string(),
        DataType::Timestamp(_, _) => loglake_core::time::format_rfc3339_micros(
            a.as_primitive::<TimestampMicrosecondType>().value(i),
        ),
        other => format!("<{other}>"),
    }
}

/// All rows under a table folder as `partition | col=value | ...` lines, in file order, and
/// asserts that every row's `ts` lies in the hour its `dt=`/`hr=` path names.
pub fn rows(table_dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for file in parquet_files(table_dir) {
        let rel = file
            .strip_prefix(table_dir)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let part = rel
            .rsplit_once('/')
            .map(|(d, _)| d.to_owned())
            .unwrap_or_default();
        for batch in read_batches(&file) {
            let schema = batch.schema();
            for i in 0..batch.num_rows() {
                let mut line = part.clone();
                for (f, col) in schema.fields().iter().zip(batch.columns()) {
                    let v = cell(col.as_ref(), i);
                    if f.name() == "ts" {
                        let expect = format!("dt={}/hr={}", &v[..10], &v[11..13]);
                        assert!(part.starts_with(&expect), "{rel}: ts {v} outside {expect}");
                    }
                    line.push_str(&format!(" | {}={v}", f.name()));
                }
                out.push(line);
            }
        }
    }
    out
}

/// Lines of a gzip NDJSON quarantine file, parsed.
pub fn quarantine_lines(path: &Path) -> Vec<serde_json::Value> {
    use std::io::BufRead;
    let f = std::fs::File::open(path).unwrap();
    std::io::BufReader::new(flate2::read::MultiGzDecoder::new(f))
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect()
}

/// Bytes of every file under `dir`, keyed by relative path.
pub fn snapshot(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    fn walk(root: &Path, d: &Path, out: &mut std::collections::BTreeMap<String, Vec<u8>>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    walk(dir, dir, &mut out);
    out
}

/// The repository root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    manifest_dir().join("../..")
}

/// The crate's folder, as `cargo test` says at run time (a test binary reused from a build in
/// another checkout must not read that checkout's files).
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}
