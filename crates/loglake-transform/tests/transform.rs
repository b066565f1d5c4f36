//! End-to-end tests of the transform: golden output, the invariants of DESIGN.md §2, adversarial
//! inputs, and property tests.

#![allow(clippy::unwrap_used)]

mod support;

use std::io::Write;
use std::path::Path;

use loglake_core::{CompiledSchema, Schema};
use loglake_transform::{
    LocalOutput, Source, Summary, TransformOptions, transform_file, transform_reader,
};
use proptest::prelude::*;
use support::{quarantine_lines, rows, snapshot};

fn schema() -> CompiledSchema {
    Schema::default_app_logs().compile("built-in").unwrap()
}

fn run(input: &[u8], name: &str, root: &Path, opts: &TransformOptions) -> Summary {
    let source = Source {
        name: name.to_owned(),
        display: name.to_owned(),
        written_us: None,
        size: None,
    };
    transform_reader(
        input,
        &source,
        &schema(),
        &LocalOutput::new(root),
        opts,
        &|_| {},
    )
    .unwrap()
}

fn conserved(s: &Summary) {
    assert_eq!(
        s.records_in,
        s.records_written + s.records_quarantined,
        "{s:?}"
    );
}

/// Golden test: a small mixed file, every output row and quarantine line pinned. Regenerate
/// with `UPDATE_GOLDEN=1 cargo test -p loglake-transform --test transform golden` and review the diff.
#[test]
fn golden_mixed_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = std::fs::read(support::repo_root().join("testdata/golden/mixed.ndjson")).unwrap();
    let s = run(
        &input,
        "bucket/golden/mixed.ndjson",
        dir.path(),
        &TransformOptions::default(),
    );
    conserved(&s);
    let mut text = rows(&dir.path().join("clean/app_logs")).join("\n");
    text.push_str("\n--- quarantine\n");
    for q in quarantine_lines(s.quarantine_file.as_deref().map(Path::new).unwrap()) {
        text.push_str(&format!("{} {} {}\n", q["line"], q["kind"], q["reason"]));
    }
    text.push_str(&format!(
        "--- summary\nin={} written={} quarantined={} partitions={:?} null_coercions={:?}\n",
        s.records_in, s.records_written, s.records_quarantined, s.partitions, s.null_coercions
    ));
    loglake_testkit::golden("mixed.expected.txt", &text);
}

#[test]
fn conservation_and_quarantine_match_generated_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    let report = loglake_gen::generate(
        &raw,
        &loglake_gen::GenOptions {
            files: 2,
            lines: 3000,
            seed: 11,
            bad_ratio: 0.05,
            compression: loglake_gen::Compression::Gzip,
            ..Default::default()
        },
    )
    .unwrap();
    let out = LocalOutput::new(dir.path().join("out"));
    let mut quarantined = 0;
    let mut written = 0;
    for f in &report.files {
        let s = transform_file(
            f,
            None,
            &schema(),
            &out,
            &TransformOptions::default(),
            &|_| {},
        )
        .unwrap();
        conserved(&s);
        let q = s
            .quarantine_file
            .as_deref()
            .map_or(0, |p| quarantine_lines(Path::new(p)).len() as u64);
        assert_eq!(q, s.records_quarantined);
        quarantined += s.records_quarantined;
        written += s.records_written;
    }
    assert_eq!(quarantined, report.bad_lines);
    assert_eq!(written + quarantined, report.lines);
    let all_rows = rows(&dir.path().join("out/clean/app_logs"));
    assert_eq!(all_rows.len() as u64, written);
}

#[test]
fn identical_input_gives_byte_identical_output_and_rerun_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    let report = loglake_gen::generate(
        &raw,
        &loglake_gen::GenOptions {
            files: 1,
            lines: 5000,
            seed: 5,
            ..Default::default()
        },
    )
    .unwrap();
    let input = std::fs::read(&report.files[0]).unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    let sa = run(&input, "bucket/x.json", &a, &TransformOptions::default());
    let sb = run(&input, "bucket/x.json", &b, &TransformOptions::default());
    assert_eq!(snapshot(&a), snapshot(&b));
    assert_eq!(sa.partitions, sb.partitions);

    // Rerun into the same root: same files, same bytes, no duplicate rows.
    let before = snapshot(&a);
    let again = run(&input, "bucket/x.json", &a, &TransformOptions::default());
    assert_eq!(snapshot(&a), before);
    assert!(again.removed_files.is_empty());
    assert_eq!(
        rows(&a.join("clean/app_logs")).len() as u64,
        sa.records_written
    );
}

#[test]
fn new_version_of_a_key_replaces_previous_files() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = b"{\"ts\":\"2024-05-01T01:00:00Z\",\"msg\":\"a\"}\n{\"ts\":\"2024-05-01T02:00:00Z\",\"msg\":\"b\"}\nbad\n";
    let v2 = b"{\"ts\":\"2024-05-01T02:30:00Z\",\"msg\":\"c\"}\n{\"ts\":\"2024-05-01T05:00:00Z\",\"msg\":\"d\"}\n";
    let s1 = run(
        v1,
        "bucket/k.json",
        dir.path(),
        &TransformOptions::default(),
    );
    assert_eq!(
        s1.partitions,
        ["dt=2024-05-01/hr=01", "dt=2024-05-01/hr=02"]
    );
    assert!(s1.quarantine_file.is_some());
    let s2 = run(
        v2,
        "bucket/k.json",
        dir.path(),
        &TransformOptions::default(),
    );
    assert_eq!(
        s2.partitions,
        ["dt=2024-05-01/hr=02", "dt=2024-05-01/hr=05"]
    );
    assert_eq!(s2.removed_files.len(), 1, "{:?}", s2.removed_files);
    assert!(s2.removed_files[0].contains("hr=01"));
    let got = rows(&dir.path().join("clean/app_logs"));
    assert_eq!(got.len(), 2, "{got:#?}");
    assert!(
        got.iter()
            .all(|r| r.contains("message=c") || r.contains("message=d"))
    );
    // v2 has no bad lines: v1's quarantine file is gone too.
    assert!(!dir.path().join(s1.quarantine_file.unwrap()).exists());
    let manifest = loglake_transform::Manifest::read(
        &LocalOutput::new(dir.path()).manifest_path("app_logs", &s2.source_id),
    )
    .unwrap()
    .unwrap();
    assert_eq!(manifest.files.len(), 2);
}

#[test]
fn many_partitions_under_a_small_memory_budget() {
    // Shuffled hours force many open partitions; a tiny budget forces early row-group flushes.
    let mut input = Vec::new();
    let mut rng = loglake_gen::Rng::new(3);
    for i in 0..20_000u64 {
        let hour = rng.below(72);
        writeln!(
            input,
            "{{\"ts\":{},\"level\":\"info\",\"msg\":\"row {i} {}\"}}",
            1_714_521_600 + hour * 3600 + rng.below(3600),
            "x".repeat(50)
        )
        .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let mut opts = TransformOptions::default();
    opts.writer.memory_budget = 256 * 1024;
    opts.batch_rows = 1000;
    let s = run(&input, "bucket/shuffled.json", dir.path(), &opts);
    assert_eq!(s.records_written, 20_000);
    assert_eq!(s.partitions.len(), 72);
    assert_eq!(rows(&dir.path().join("clean/app_logs")).len(), 20_000);
    let groups: usize = s
        .files
        .iter()
        .map(|f| {
            let file = std::fs::File::open(f).unwrap();
            let b = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                .unwrap();
            b.metadata().num_row_groups()
        })
        .sum();
    assert!(
        groups > 72,
        "budget should have split row groups, got {groups}"
    );
    // Still deterministic.
    let dir2 = tempfile::tempdir().unwrap();
    run(&input, "bucket/shuffled.json", dir2.path(), &opts);
    assert_eq!(snapshot(dir.path()), snapshot(dir2.path()));
}

#[test]
fn extra_partition_key_from_a_column() {
    let schema =
        Schema::from_path(&support::repo_root().join("testdata/extra_partition_key.schema.json"))
            .unwrap()
            .compile("test")
            .unwrap();
    let input = b"{\"ts\":0,\"env\":\"prod/eu\",\"msg\":\"a\"}\n{\"ts\":0,\"msg\":\"b\"}\n";
    let dir = tempfile::tempdir().unwrap();
    let source = Source {
        name: "b/k".into(),
        display: "k".into(),
        written_us: None,
        size: None,
    };
    let s = transform_reader(
        &input[..],
        &source,
        &schema,
        &LocalOutput::new(dir.path()),
        &TransformOptions::default(),
        &|_| {},
    )
    .unwrap();
    assert_eq!(
        s.partitions,
        [
            "dt=1970-01-01/hr=00/env=__HIVE_DEFAULT_PARTITION__",
            "dt=1970-01-01/hr=00/env=prod%2Feu"
        ]
    );
    let got = rows(&dir.path().join("clean/app_logs"));
    assert!(
        got.iter().all(|r| !r.contains("env=prod |")),
        "env is in the path, not the file"
    );
}

mod adversarial {
    use super::*;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn empty_file() {
        let dir = tempfile::tempdir().unwrap();
        let s = run(b"", "b/empty", dir.path(), &TransformOptions::default());
        assert_eq!((s.records_in, s.files.len()), (0, 0));
        let s = run(
            &gz(b""),
            "b/empty.gz",
            dir.path(),
            &TransformOptions::default(),
        );
        assert_eq!(s.records_in, 0);
        assert_eq!(s.compression, "gzip");
    }

    #[test]
    fn truncated_gzip_keeps_complete_lines_and_reports_the_tail() {
        let mut data = Vec::new();
        for i in 0..5000 {
            writeln!(
                data,
                "{{\"ts\":{},\"msg\":\"line {i}\"}}",
                1_714_521_600 + i
            )
            .unwrap();
        }
        let full = gz(&data);
        let cut = &full[..full.len() * 2 / 3];
        let dir = tempfile::tempdir().unwrap();
        let s = run(cut, "b/cut.gz", dir.path(), &TransformOptions::default());
        conserved(&s);
        assert!(s.records_written > 1000, "{s:?}");
        assert_eq!(s.quarantine_reasons.get("truncated"), Some(&1), "{s:?}");
    }

    #[test]
    fn ten_megabyte_single_line() {
        let line = format!(
            "{{\"ts\":1714521601,\"msg\":\"{}\"}}\n",
            "y".repeat(10 << 20)
        );
        let dir = tempfile::tempdir().unwrap();
        let s = run(
            line.as_bytes(),
            "b/big",
            dir.path(),
            &TransformOptions::default(),
        );
        assert_eq!((s.records_written, s.records_quarantined), (1, 0));
        let mut opts = TransformOptions::default();
        opts.split.max_record_bytes = 1 << 20;
        let s = run(line.as_bytes(), "b/big2", dir.path(), &opts);
        assert_eq!(s.quarantine_reasons.get("too_long"), Some(&1));
    }

    #[test]
    fn deeply_nested_json_is_kept_not_a_crash() {
        // serde_json skips nested values iteratively, so depth is no threat: the record is kept
        // and the nested value lands verbatim in `attributes`.
        let deep = format!(
            "{{\"ts\":1714521601,\"x\":{}{}}}\n",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let dir = tempfile::tempdir().unwrap();
        let s = run(
            deep.as_bytes(),
            "b/deep",
            dir.path(),
            &TransformOptions::default(),
        );
        assert_eq!((s.records_written, s.records_quarantined), (1, 0), "{s:?}");
        let got = rows(&dir.path().join("clean/app_logs"));
        assert!(got[0].contains(&format!("attributes={{\"x\":{}", "[".repeat(100_000))));
    }

    #[test]
    fn nul_bytes_bom_crlf_and_invalid_utf8() {
        let mut input = b"\xEF\xBB\xBF{\"ts\":1714521601,\"msg\":\"bom\"}\r\n".to_vec();
        input.extend_from_slice(b"{\"ts\":1714521602,\"msg\":\"nul\0inside\"}\r\n");
        input.extend_from_slice(b"\0\0\0\r\n");
        input.extend_from_slice(b"{\"ts\":1714521603,\"msg\":\"caf\xe9\"}\r\n");
        input.extend_from_slice(b"{\"ts\":1714521604,\"msg\":\"crlf\"}\r\n");
        let dir = tempfile::tempdir().unwrap();
        let s = run(&input, "b/odd", dir.path(), &TransformOptions::default());
        conserved(&s);
        assert_eq!(
            (s.records_in, s.records_written, s.records_quarantined),
            (5, 2, 3)
        );
        let q = quarantine_lines(Path::new(s.quarantine_file.as_deref().unwrap()));
        let utf8 = q.iter().find(|l| l["kind"] == "invalid_utf8").unwrap();
        assert_eq!(utf8["line"], 4);
        // Lossless: the exact bytes come back from raw_base64.
        use base64::Engine as _;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(utf8["raw_base64"].as_str().unwrap())
            .unwrap();
        assert_eq!(raw, b"{\"ts\":1714521603,\"msg\":\"caf\xe9\"}");
        let got = rows(&dir.path().join("clean/app_logs"));
        assert!(got.iter().any(|r| r.contains("message=crlf |")), "{got:?}");
    }

    #[test]
    fn zstd_and_multi_member_gzip() {
        let a = b"{\"ts\":1714521601,\"msg\":\"a\"}\n";
        let b = b"{\"ts\":1714521602,\"msg\":\"b\"}\n";
        let mut multi = gz(a);
        multi.extend_from_slice(&gz(b));
        let dir = tempfile::tempdir().unwrap();
        let s = run(
            &multi,
            "b/multi.gz",
            dir.path(),
            &TransformOptions::default(),
        );
        assert_eq!(s.records_written, 2);
        let z = zstd::encode_all(&a[..], 3).unwrap();
        let s = run(&z, "b/z.zst", dir.path(), &TransformOptions::default());
        assert_eq!((s.compression.as_str(), s.records_written), ("zstd", 1));
    }
}

/// A random input line and whether it is valid (the generator's truth, not the transform's).
fn arb_line() -> impl Strategy<Value = (Vec<u8>, bool)> {
    prop_oneof![
        // Valid records at random hours with random levels and fields.
        (0i64..200_000, "[a-zA-Z]{0,8}", any::<u16>(), "[ -~]{0,20}").prop_map(|(t, lvl, st, msg)| {
            let line = serde_json::json!({"ts": 1_714_521_600 + t * 7, "level": lvl, "status": st, "msg": msg, "k": [t]});
            (line.to_string().into_bytes(), true)
        }),
        // Arbitrary bytes after a letter (never blank, never JSON): quarantined, never a crash.
        proptest::collection::vec(any::<u8>().prop_filter("no newline", |b| *b != b'\n'), 0..40)
            .prop_map(|b| ([b"x".as_slice(), &b].concat(), false)),
        Just((b"{\"ts\":\"bad\"}".to_vec(), false)),
        Just((b"{\"ts\":1714521600,\"level\":".to_vec(), false)),
        // Not an object. (Not `[]`: a first line that is an array makes the input one JSON
        // array document, whose records are its elements.)
        Just((b"\"not an object\"".to_vec(), false)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Counts against the input's own truth (every line is a record; the valid ones are
    /// written), conservation, determinism and idempotent rerun, on random inputs.
    #[test]
    fn invariants_hold_for_random_inputs(lines in proptest::collection::vec(arb_line(), 0..200)) {
        let mut input = Vec::new();
        for (l, _) in &lines {
            input.extend_from_slice(l);
            input.push(b'\n');
        }
        let valid = lines.iter().filter(|(_, ok)| *ok).count() as u64;
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let opts = TransformOptions {
            batch_rows: 7,
            ..TransformOptions::default()
        };
        let s1 = run(&input, "p/x", a.path(), &opts);
        prop_assert_eq!(s1.records_in, lines.len() as u64);
        prop_assert_eq!(s1.records_written, valid);
        prop_assert_eq!(s1.records_in, s1.records_written + s1.records_quarantined);
        prop_assert_eq!(rows(&a.path().join("clean/app_logs")).len() as u64, valid);
        let s2 = run(&input, "p/x", b.path(), &opts);
        prop_assert_eq!(snapshot(a.path()), snapshot(b.path()));
        let before = snapshot(a.path());
        let s3 = run(&input, "p/x", a.path(), &opts);
        prop_assert_eq!(snapshot(a.path()), before);
        prop_assert_eq!(s2.records_written, s3.records_written);
    }
}

/// A failed read is not bad data (DESIGN.md invariant 5).
mod read_failures {
    use super::*;
    use loglake_transform::Error;
    use std::io::Read;

    /// A body that breaks off after `good` bytes, as an S3 GET cut mid-stream does.
    struct BreaksAfter {
        data: Vec<u8>,
        pos: usize,
        good: usize,
    }

    impl Read for BreaksAfter {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.pos >= self.good {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "connection reset by peer (injected)",
                ));
            }
            let n = buf.len().min(self.good - self.pos);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    fn lines(n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| format!("{{\"ts\":{},\"msg\":\"line {i}\"}}\n", 1_714_521_600 + i))
            .collect::<String>()
            .into_bytes()
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn transform(
        reader: impl Read + Send,
        size: Option<u64>,
        root: &Path,
    ) -> Result<Summary, Error> {
        transform_with(reader, size, root, &TransformOptions::default())
    }

    fn transform_with(
        reader: impl Read + Send,
        size: Option<u64>,
        root: &Path,
        opts: &TransformOptions,
    ) -> Result<Summary, Error> {
        let source = Source {
            name: "bucket/obj".into(),
            display: "s3://bucket/obj".into(),
            written_us: None,
            size,
        };
        transform_reader(
            reader,
            &source,
            &schema(),
            &LocalOutput::new(root),
            opts,
            &|_| {},
        )
    }

    /// Files finished before the break (a partition past its size limit closes mid-object)
    /// stay hidden too: a source's files become visible together, after its last byte.
    #[test]
    fn files_closed_before_the_break_are_not_published() {
        let data = lines(40_000);
        let dir = tempfile::tempdir().unwrap();
        let opts = TransformOptions {
            batch_rows: 512,
            writer: loglake_transform::WriterOptions {
                max_file_bytes: 4 * 1024,
                row_group_input_bytes: 8 * 1024,
                ..loglake_transform::WriterOptions::default()
            },
            ..TransformOptions::default()
        };
        let good = data.len() * 9 / 10;
        let reader = BreaksAfter {
            data: data.clone(),
            pos: 0,
            good,
        };
        let e = transform_with(reader, Some(data.len() as u64), dir.path(), &opts).unwrap_err();
        assert!(matches!(e, Error::Read { .. }), "{e:?}");
        let left = snapshot(dir.path());
        assert!(
            left.keys()
                .all(|k| !k.ends_with(".parquet") && !k.ends_with(".inprogress")),
            "published or left behind: {:?}",
            left.keys().collect::<Vec<_>>()
        );
        // The same options on the whole object write several files per partition: the limit
        // did close files mid-object, so the check above is not vacuous.
        let s = transform_with(&data[..], Some(data.len() as u64), dir.path(), &opts).unwrap();
        assert_eq!(s.records_written, 40_000);
        assert!(
            s.files.len() > 2 * s.partitions.len(),
            "{} files for {} partitions",
            s.files.len(),
            s.partitions.len()
        );
    }

    /// Regression (issue 14): a body cut mid-stream became one quarantined "truncated" record;
    /// the object counted as processed and the records after the break were lost for good.
    #[test]
    fn a_read_that_breaks_off_fails_the_object_and_publishes_nothing() {
        let plain = lines(40_000);
        for (what, data) in [("plain", plain.clone()), ("gzip", gz(&plain))] {
            let dir = tempfile::tempdir().unwrap();
            let good = data.len() / 2;
            let reader = BreaksAfter {
                data: data.clone(),
                pos: 0,
                good,
            };
            let e = transform(reader, Some(data.len() as u64), dir.path()).unwrap_err();
            match &e {
                Error::Read {
                    path,
                    offset,
                    source,
                } => {
                    assert_eq!(path, "s3://bucket/obj");
                    assert_eq!(*offset, good as u64, "{what}");
                    assert_eq!(source.kind(), std::io::ErrorKind::ConnectionReset);
                }
                other => panic!("{what}: {other:?}"),
            }
            assert!(e.to_string().contains(&format!("at byte {good}")), "{e}");
            let left = snapshot(dir.path());
            assert!(
                left.keys()
                    .all(|k| !k.ends_with(".parquet") && !k.contains("quarantine")),
                "{what}: published {:?}",
                left.keys().collect::<Vec<_>>()
            );
            // Read whole, the same object is every record.
            let s = transform(&data[..], Some(data.len() as u64), dir.path()).unwrap();
            assert_eq!(
                (s.records_in, s.records_written),
                (40_000, 40_000),
                "{what}"
            );
        }
    }

    #[test]
    fn a_short_read_fails_the_object() {
        let data = lines(1000);
        let dir = tempfile::tempdir().unwrap();
        let claimed = data.len() as u64 + 100;
        let e = transform(&data[..], Some(claimed), dir.path()).unwrap_err();
        match &e {
            Error::Read { offset, source, .. } => {
                assert_eq!(*offset, data.len() as u64);
                assert_eq!(source.kind(), std::io::ErrorKind::UnexpectedEof);
            }
            other => panic!("{other:?}"),
        }
        assert!(
            snapshot(dir.path())
                .keys()
                .all(|k| !k.ends_with(".parquet"))
        );
    }

    /// A complete object whose content ends inside a record (a truncated gzip stream as
    /// stored) is data: its whole records are written, the broken one quarantined.
    #[test]
    fn a_complete_object_with_truncated_content_is_quarantined_not_failed() {
        let whole = gz(&lines(1000));
        let cut = whole[..whole.len() - 20].to_vec();
        let dir = tempfile::tempdir().unwrap();
        let s = transform(&cut[..], Some(cut.len() as u64), dir.path()).unwrap();
        conserved(&s);
        assert!(
            s.records_written > 900 && s.records_quarantined >= 1,
            "{s:?}"
        );
    }
}
