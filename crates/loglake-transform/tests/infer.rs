//! Schema inference and the drift check under failed reads: a read error or a body cut short
//! of the object's size fails the input with `Error::Read` (naming it and the offset), as it
//! does for the transform; it never turns into a truncated record inside a sample or a report.
//! The control run reads every line the generator wrote.

#![allow(clippy::unwrap_used)]

use std::io::Read;

use loglake_core::Schema;
use loglake_transform::Error;
use loglake_transform::check::{Thresholds, check_files};
use loglake_transform::infer::{InferOptions, Input, infer_inputs};

/// Yields the first `limit` bytes of `data`, then an error (`fail`) or the end of the stream.
struct Cut {
    data: Vec<u8>,
    at: usize,
    limit: usize,
    fail: bool,
}

impl Read for Cut {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at >= self.limit {
            return if self.fail {
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "connection reset by peer",
                ))
            } else {
                Ok(0)
            };
        }
        let n = buf.len().min(self.limit - self.at).min(4096);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

fn object(data: &[u8], limit: usize, fail: bool) -> Input<'_> {
    Input {
        display: "s3://raw/app.ndjson.gz".into(),
        written_us: None,
        size: Some(data.len() as u64),
        open: Box::new(move || {
            Ok(Box::new(Cut {
                data: data.to_vec(),
                at: 0,
                limit,
                fail,
            }) as Box<dyn Read + Send>)
        }),
    }
}

#[test]
fn a_failed_or_short_read_fails_the_input_instead_of_shrinking_the_sample() {
    let dir = tempfile::tempdir().unwrap();
    let report = loglake_gen::generate(
        dir.path(),
        &loglake_gen::GenOptions {
            files: 1,
            lines: 3000,
            compression: loglake_gen::Compression::Gzip,
            ..loglake_gen::GenOptions::default()
        },
    )
    .unwrap();
    let data = std::fs::read(&report.files[0]).unwrap();
    let opts = InferOptions {
        sample: 1000,
        table: "t".into(),
        timestamp: None,
    };
    let schema = Schema::default_app_logs().compile("built-in").unwrap();
    let limits = Thresholds {
        quarantine: 1.0,
        coercion: 1.0,
        unmapped: 1.0,
    };

    let (_, read) = infer_inputs(&[object(&data, data.len(), false)], &opts).unwrap();
    assert_eq!(
        read.records, report.lines,
        "control: every line the generator wrote"
    );
    let drift = check_files(&[object(&data, data.len(), false)], &schema, limits).unwrap();
    assert_eq!(drift.records, report.lines);

    let half = data.len() / 2;
    for fail in [true, false] {
        let cut = [object(&data, half, fail)];
        let errors = [
            infer_inputs(&cut, &opts).map(drop).unwrap_err(),
            check_files(&cut, &schema, limits).map(drop).unwrap_err(),
        ];
        for e in errors {
            let Error::Read { path, offset, .. } = &e else {
                panic!("fail={fail}: expected a read failure, got {e}");
            };
            assert_eq!(
                (path.as_str(), *offset),
                ("s3://raw/app.ndjson.gz", half as u64),
                "{e}"
            );
        }
    }
}
