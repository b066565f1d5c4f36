//! Every published log sample in `../shared/fixtures/logs/` through the engine, with a schema
//! suited to its shape, and the counts pinned. Values that upstream projects assert (see
//! `../shared/fixtures/EXPECTATIONS.md`, section C) are checked too.
//!
//! The fixtures are read in place (never copied into the repo). Set `LOGLAKE_FIXTURES` to their
//! folder if `../shared/fixtures` is not beside the repository.

#![allow(clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};

use loglake_core::Schema;
use loglake_transform::{LocalOutput, Summary, TransformOptions, transform_file};

fn fixtures() -> PathBuf {
    let dir = std::env::var_os("LOGLAKE_FIXTURES").map_or_else(
        || support::repo_root().join("../shared/fixtures"),
        PathBuf::from,
    );
    assert!(
        dir.join("logs").is_dir(),
        "published fixtures not found at `{}`; set LOGLAKE_FIXTURES to the shared/fixtures folder",
        dir.display()
    );
    dir
}

fn run(file: &str, schema: &str, out: &Path) -> Summary {
    let schema_path = support::repo_root().join("testdata/schemas").join(schema);
    let compiled = Schema::from_path(&schema_path)
        .unwrap()
        .compile(schema)
        .unwrap();
    let path = fixtures().join("logs").join(file);
    let s = transform_file(
        &path,
        Some(file),
        &compiled,
        &LocalOutput::new(out),
        &TransformOptions::default(),
        &|_| {},
    )
    .unwrap_or_else(|e| panic!("{file}: {e}"));
    assert_eq!(
        s.records_in,
        s.records_written + s.records_quarantined,
        "{file}"
    );
    s
}

/// (file, schema, records_in, written, quarantined). Counts were checked by reading each file:
/// comment and non-JSON lines, records without any time field, and bad timestamps are the
/// quarantined ones.
const CASES: &[(&str, &str, u64, u64, u64)] = &[
    ("bunyan/all.log", "fixtures.json", 18, 13, 5),
    ("bunyan/bogus.log", "fixtures.json", 2, 0, 2),
    ("bunyan/extrafield.log", "fixtures.json", 1, 1, 0),
    ("bunyan/log1.log.gz", "fixtures.json", 4, 4, 0),
    ("bunyan/non-object-res.log", "fixtures.json", 1, 1, 0),
    ("bunyan/old-crashers-139.log", "fixtures.json", 1, 1, 0),
    ("bunyan/old-crashers-144.log", "fixtures.json", 1, 1, 0),
    ("bunyan/old-crashers-233.log", "fixtures.json", 1, 1, 0),
    ("bunyan/old-crashers-242.log", "fixtures.json", 1, 1, 0),
    ("bunyan/old-crashers-244.log", "fixtures.json", 1, 1, 0),
    ("bunyan/withreq.log", "fixtures.json", 3, 3, 0),
    ("lnav/logfile_json.json", "fixtures.json", 14, 13, 1),
    ("lnav/logfile_json2.json", "fixtures.json", 3, 3, 0),
    ("lnav/logfile_json3.json", "fixtures.json", 3, 3, 0),
    ("lnav/logfile_json_subsec.json", "fixtures.json", 2, 2, 0),
    ("lnav/logfile_jsonid.json", "fixtures.json", 2, 2, 0),
    ("lnav/logfile_nested_json.json", "fixtures.json", 13, 13, 0),
    ("lnav/logfile_invalid_json.json", "fixtures.json", 5, 4, 1),
    ("lnav/logfile_invalid_json2.json", "fixtures.json", 3, 2, 1),
    ("lnav/logfile_json_invalid.json", "fixtures.json", 13, 12, 1),
    ("lnav/logfile_mixed_json2.json", "fixtures.json", 18, 13, 5),
    ("lnav/logfile_bunyan.0", "fixtures.json", 10, 10, 0),
    ("lnav/logfile_pino.0", "fixtures.json", 1, 1, 0),
    ("lnav/logfile_ecs_log.json", "fixtures.json", 5, 5, 0),
    ("lnav/logfile_journald.json", "fixtures.json", 2, 2, 0),
    ("lnav/logfile_cloudflare.json", "fixtures.json", 1, 1, 0),
    ("lnav/logfile_cloudflare.1", "fixtures.json", 15, 15, 0),
    ("lnav/logfile_nextcloud.0", "fixtures.json", 5, 5, 0),
    ("lnav/logfile_rust_tracing.0", "fixtures.json", 5, 5, 0),
    ("lnav/logfile_mongodb.0", "fixtures.json", 3, 3, 0),
    ("lnav/gharchive_log.jsonl", "fixtures.json", 50, 50, 0),
    ("lnav/logfile_otel_collector.jsonl", "otel.json", 11, 11, 0),
    ("elastic/aws-waf-test-waf.log", "fixtures.json", 4, 4, 0),
    (
        "elastic/aws-network-firewall-test-firewall.log",
        "fixtures.json",
        2,
        2,
        0,
    ),
    ("elastic/kibana-log-test.log", "fixtures.json", 3, 3, 0),
    (
        "elastic/cloudtrail-console-login-json.log",
        "fixtures.json",
        2,
        2,
        0,
    ),
    ("fluent-bit/bug342.json", "fixtures.json", 240, 0, 240),
    ("fluent-bit/dup_keys_in.json", "fixtures.json", 2, 1, 1),
    (
        "fluent-bit/stackdriver_multi_entries_severity.log",
        "fixtures.json",
        4,
        0,
        4,
    ),
    (
        "fluent-bit/dockermode_splitted_multiple_lines.log",
        "fixtures.json",
        8,
        0,
        8,
    ),
    (
        "cloudwatch/datadog-cloudwatch_logs.decoded.json",
        "cloudwatch.json",
        19,
        19,
        0,
    ),
    (
        "cloudwatch/datadog-cloudwatch_logs_2.decoded.json",
        "cloudwatch.json",
        1,
        1,
        0,
    ),
    (
        "cloudwatch/datadog-cloudwatch_logs_ddtags.decoded.json",
        "cloudwatch.json",
        1,
        1,
        0,
    ),
    (
        "cloudwatch/datadog-snapshot-cloudwatch_log_cloudtrail.decoded.json",
        "cloudwatch.json",
        4,
        4,
        0,
    ),
    (
        "cloudwatch/datadog-snapshot-step_functions_log.decoded.json",
        "cloudwatch.json",
        1,
        1,
        0,
    ),
];

#[test]
fn every_log_sample_has_pinned_counts() {
    let mut mismatches = Vec::new();
    for (file, schema, records_in, written, quarantined) in CASES {
        let dir = tempfile::tempdir().unwrap();
        let s = run(file, schema, dir.path());
        let got = (s.records_in, s.records_written, s.records_quarantined);
        if got != (*records_in, *written, *quarantined) {
            mismatches.push(format!(
                "(\"{file}\", \"{schema}\", {}, {}, {}), // reasons {:?}",
                got.0, got.1, got.2, s.quarantine_reasons
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "counts changed:\n{}",
        mismatches.join("\n")
    );
}

#[test]
fn every_log_file_is_covered() {
    let root = fixtures().join("logs");
    let mut missing = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let rel = p
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if p.is_dir() {
                stack.push(p);
            } else if !rel.ends_with(".md")
                && !rel.contains("expected")
                && !rel.contains("/docker/")
                && !rel.ends_with("dup_keys_out.json")
                && !rel.starts_with("cloudwatch/powertools")
                && !rel.starts_with("cloudwatch/rust-example")
                && !CASES.iter().any(|c| c.0 == rel)
            {
                missing.push(rel);
            }
        }
    }
    missing.sort();
    assert!(missing.is_empty(), "fixtures without a case: {missing:?}");
}

fn ts_values(root: &Path, table: &str) -> Vec<String> {
    support::rows(&root.join("clean").join(table))
        .iter()
        .map(|r| {
            r.split(" | ")
                .find_map(|c| c.strip_prefix("ts="))
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// Samples whose timestamp inference cannot choose alone, with the field to name and why.
const TIMESTAMP_HINTS: &[(&str, &str, &str)] = &[(
    "lnav/logfile_cloudflare.json",
    "EdgeStartTimestamp",
    "EdgeStartTimestamp and EdgeEndTimestamp both parse in every record with the same \
         precision, and the end comes first; Cloudflare's event time is the start",
)];

/// Issue 17's proof on real data: for every sample the hand-written schema reads rows from,
/// `schema infer` (the same reading as `loglake schema infer`) then the transform with the
/// inferred schema writes at least as many rows, with the same event times (so the same
/// timestamp field), with a hint only where [`TIMESTAMP_HINTS`] says why.
#[test]
fn inferred_schemas_read_every_sample_as_the_hand_written_ones_do() {
    use loglake_transform::infer::{InferOptions, infer_files};
    let mut problems = Vec::new();
    for (file, schema, _, written, _) in CASES {
        if *written == 0 {
            // No record has a usable time: inference says so (with the hint to name one)
            // rather than guess.
            let opts = InferOptions {
                sample: 100_000,
                table: "inferred".into(),
                timestamp: None,
            };
            if let Ok((i, _)) = infer_files(&[fixtures().join("logs").join(file)], &opts) {
                problems.push(format!(
                    "{file}: no row has a time, yet inference chose {:?}",
                    i.schema.timestamp
                ));
            }
            continue;
        }
        let hand_dir = tempfile::tempdir().unwrap();
        run(file, schema, hand_dir.path());
        let hand_schema =
            Schema::from_path(&support::repo_root().join("testdata/schemas").join(schema)).unwrap();
        let hand_table = hand_schema.table.clone();
        let opts = InferOptions {
            sample: 100_000,
            table: "inferred".into(),
            timestamp: TIMESTAMP_HINTS
                .iter()
                .find(|h| h.0 == *file)
                .map(|h| h.1.to_owned()),
        };
        let path = fixtures().join("logs").join(file);
        let (inference, _) = match infer_files(std::slice::from_ref(&path), &opts) {
            Ok(i) => i,
            Err(e) => {
                problems.push(format!("{file}: {e}"));
                continue;
            }
        };
        // The field the hand-written schema reads the time from: the first of its timestamp
        // column's sources that the sample has.
        let sources = |s: &Schema| -> Vec<String> {
            let c = s
                .columns
                .iter()
                .find(|c| c.name == s.timestamp.column)
                .unwrap();
            std::iter::once(c.name.clone())
                .chain(c.aliases.iter().cloned())
                .collect()
        };
        let hand_field = sources(&hand_schema)
            .into_iter()
            .find(|f| inference.fields.contains_key(f));
        let field = sources(&inference.schema)
            .into_iter()
            .find(|f| inference.fields.contains_key(f));
        if field != hand_field {
            problems.push(format!(
                "{file}: inferred timestamp field {field:?}, hand-written {hand_field:?}"
            ));
        }
        let compiled = inference.schema.compile(file).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let s = transform_file(
            &path,
            Some(file),
            &compiled,
            &LocalOutput::new(dir.path()),
            &TransformOptions::default(),
            &|_| {},
        )
        .unwrap();
        let mut hand = ts_values(hand_dir.path(), &hand_table);
        let mut got: Vec<String> = support::rows(&dir.path().join("clean/inferred"))
            .iter()
            .map(|r| {
                let key = format!("{}=", compiled.schema.timestamp.column);
                r.split(" | ")
                    .find_map(|c| c.strip_prefix(key.as_str()))
                    .unwrap()
                    .to_owned()
            })
            .collect();
        hand.sort();
        got.sort();
        if s.records_written < *written || hand.iter().any(|t| !got.contains(t)) {
            problems.push(format!(
                "{file}: inferred schema wrote {} rows (hand-written: {written}); times {got:?} vs {hand:?}",
                s.records_written
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn docker_nanosecond_times_match_fluent_bit() {
    // fluent-bit tests/runtime/data/kubernetes/out: 2019-04-01T17:58:33.598656444Z → 1554141513.598656
    let dir = tempfile::tempdir().unwrap();
    let s = run(
        "fluent-bit/docker/annotations-parser_json-with-time_json.log",
        "fixtures.json",
        dir.path(),
    );
    assert_eq!(s.records_written, 1);
    assert_eq!(
        ts_values(dir.path(), "fixture_logs"),
        ["2019-04-01T17:58:33.598656Z"]
    );
}

#[test]
fn waf_epoch_millis_match_elastic() {
    let dir = tempfile::tempdir().unwrap();
    run("elastic/aws-waf-test-waf.log", "fixtures.json", dir.path());
    let mut got = ts_values(dir.path(), "fixture_logs");
    got.sort();
    // elastic/integrations test-waf.log-expected.json (ms precision there).
    for want in [
        "2019-12-13T23:40:12.771",
        "2020-06-17T01:26:32.516",
        "2020-06-17T02:43:30.888",
    ] {
        assert!(
            got.iter().any(|g| g.starts_with(want)),
            "{want} not in {got:?}"
        );
    }
}

#[test]
fn network_firewall_offset_without_colon() {
    let dir = tempfile::tempdir().unwrap();
    run(
        "elastic/aws-network-firewall-test-firewall.log",
        "fixtures.json",
        dir.path(),
    );
    let mut got = ts_values(dir.path(), "fixture_logs");
    got.sort();
    // elastic/integrations: 2021-11-08T14:22:12.637Z / 2021-11-08T18:20:43.324Z (ms-truncated).
    assert_eq!(
        got,
        ["2021-11-08T14:22:12.637611Z", "2021-11-08T18:20:43.324542Z"]
    );
}

#[test]
fn duplicate_keys_last_value_wins() {
    // fluent-bit dup_keys_out.json: date 1059113640, key1 333, nested sub1 true.
    let dir = tempfile::tempdir().unwrap();
    run("fluent-bit/dup_keys_in.json", "fixtures.json", dir.path());
    let rows = support::rows(&dir.path().join("clean/fixture_logs"));
    assert_eq!(rows.len(), 1);
    assert!(
        rows[0].contains("ts=2003-07-25T06:14:00.000000Z"),
        "{}",
        rows[0]
    );
    assert!(rows[0].contains("\"key1\":333"), "{}", rows[0]);
    assert!(rows[0].contains("\"key2\":444"), "{}", rows[0]);
    assert!(!rows[0].contains("12345"), "{}", rows[0]);
}

#[test]
fn bunyan_levels_normalised() {
    let dir = tempfile::tempdir().unwrap();
    run("bunyan/all.log", "fixtures.json", dir.path());
    let rows = support::rows(&dir.path().join("clean/fixture_logs"));
    let levels: std::collections::BTreeSet<String> = rows
        .iter()
        .filter_map(|r| {
            r.split(" | ")
                .find_map(|c| c.strip_prefix("level="))
                .map(str::to_owned)
        })
        .collect();
    for l in ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "55"] {
        assert!(levels.contains(l), "{l} missing from {levels:?}");
    }
}
