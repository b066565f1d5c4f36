//! Compaction on a local root, checked against the generator's own counts: readers during the
//! switch, `kill -9`-style aborts at every step, late data, a new version of a compacted source
//! and a deleted one.

#![allow(
    clippy::unwrap_used,
    reason = "a failed test step panics with its context"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

fn loglake(args: &[&str]) -> Output {
    loglake_env(args, None)
}

fn loglake_env(args: &[&str], failpoint: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_loglake"));
    c.args(args);
    if let Some(f) = failpoint {
        c.env("LOGLAKE_FAILPOINT", f);
    }
    c.output().unwrap()
}

/// `loglake gen` into `raw`; returns the generator's own count of valid lines.
fn generate(raw: &Path, files: u32, seed: u32, start: &str, hours: u32) -> u64 {
    let g = loglake(&[
        "gen",
        "--out",
        raw.to_str().unwrap(),
        "--files",
        &files.to_string(),
        "--lines",
        "1500",
        "--seed",
        &seed.to_string(),
        "--start",
        start,
        "--hours",
        &hours.to_string(),
    ]);
    assert!(g.status.success(), "{}", String::from_utf8_lossy(&g.stderr));
    let report: serde_json::Value = serde_json::from_slice(&g.stdout).unwrap();
    report["lines"].as_u64().unwrap() - report["bad_lines"].as_u64().unwrap()
}

fn run(root: &Path) {
    let o = loglake(&[
        "run",
        "--root",
        root.to_str().unwrap(),
        "-q",
        "--no-compact",
    ]);
    // Exit 1: the generated data has bad lines, which are quarantined.
    assert!(o.status.code().is_some_and(|c| c <= 1), "{o:?}");
}

/// `loglake compact` of every settled partition with two files or more.
fn compact_args<'a>(root: &'a Path, grace: &'a str) -> [&'a str; 9] {
    [
        "compact",
        "--root",
        root.to_str().unwrap(),
        "--older-than",
        "0",
        "--min-files",
        "2",
        "--grace",
        grace,
    ]
}

fn compact(root: &Path, grace: &str, failpoint: Option<&str>) -> Output {
    loglake_env(&compact_args(root, grace), failpoint)
}

/// `loglake query --format csv` on the root; the output without its header line.
fn query_csv(root: &Path, sql: &str) -> String {
    let o = loglake(&[
        "query",
        "--root",
        root.to_str().unwrap(),
        "--format",
        "csv",
        sql,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).unwrap();
    text.split_once('\n')
        .map(|(_, rest)| rest.to_owned())
        .unwrap_or_default()
}

/// (rows, distinct trace ids) through `loglake query` (the catalog's locations).
fn counts(root: &Path) -> (u64, u64) {
    let row = query_csv(
        root,
        "SELECT count(*) AS n, count(DISTINCT trace_id) AS d FROM app_logs",
    );
    let (n, d) = row.trim().split_once(',').unwrap();
    (n.parse().unwrap(), d.parse().unwrap())
}

/// Every row, ordered, as CSV: two tables are equal row for row when these are.
fn all_rows(root: &Path) -> String {
    query_csv(
        root,
        "SELECT * FROM app_logs ORDER BY trace_id, ts, message",
    )
}

fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A root with 24 objects over 4 hours, processed without compaction; the generator's count.
/// (Roots are made, not copied: the catalog names absolute locations.)
fn base_root(dir: &Path) -> (PathBuf, u64) {
    named_root(dir, "root")
}

fn named_root(dir: &Path, name: &str) -> (PathBuf, u64) {
    let root = dir.join(name);
    let want = generate(&root.join("raw"), 24, 7, "2024-05-01T00:00:00Z", 4);
    run(&root);
    (root, want)
}

#[test]
fn readers_see_every_row_once_before_during_and_after_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let (root, want) = base_root(dir.path());
    assert_eq!(counts(&root), (want, want));
    let before = parquet_files(&root.join("clean"));
    let stop = AtomicBool::new(false);
    let (reads, compaction) = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut reads = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let start = Instant::now();
                reads.push((start, counts(&root), Instant::now()));
            }
            reads
        });
        let started = Instant::now();
        let o = compact(&root, "1h", None);
        let ended = Instant::now();
        // One more read after the switch, then stop.
        std::thread::sleep(std::time::Duration::from_millis(300));
        stop.store(true, Ordering::Relaxed);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        (reader.join().unwrap(), (started, ended))
    });
    for (_, c, _) in &reads {
        assert_eq!(*c, (want, want), "a reader saw a partial table");
    }
    let during = reads
        .iter()
        .filter(|(s, _, e)| *e > compaction.0 && *s < compaction.1)
        .count();
    assert!(
        during >= 1,
        "no read overlapped the compaction: {} reads",
        reads.len()
    );
    // The old generation is still on disk (grace period), the catalog names the new one.
    let after = parquet_files(&root.join("clean"));
    let compacted: Vec<_> = after.iter().filter(|p| !before.contains(p)).collect();
    assert_eq!(compacted.len(), 4, "one file per hour: {compacted:?}");
    assert!(
        compacted
            .iter()
            .all(|p| p.to_string_lossy().contains("/gen-1/"))
    );
    assert_eq!(counts(&root), (want, want));
}

#[test]
fn killed_at_every_step_the_table_stays_whole_and_a_rerun_equals_a_clean_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let (base, want) = base_root(dir.path());
    let never = all_rows(&base);
    let (clean, _) = named_root(dir.path(), "clean-compaction");
    assert!(compact(&clean, "0", None).status.success());
    assert_eq!(all_rows(&clean), never, "compaction changed rows");
    let clean_files = parquet_files(&clean.join("clean"));
    assert_eq!(clean_files.len(), 4, "{clean_files:?}");
    for point in [
        "compact:file-written",
        "compact:before-swap",
        "compact:after-swap",
        "compact:collected",
    ] {
        let (root, _) = named_root(dir.path(), &point.replace(':', "-"));
        let o = compact(&root, "0", Some(point));
        assert_eq!(o.status.code(), None, "{point}: not killed: {o:?}");
        assert_eq!(counts(&root), (want, want), "after a crash at {point}");
        let o = compact(&root, "0", None);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(all_rows(&root), never, "rerun after a crash at {point}");
        // Deterministic: the same compacted files, byte for byte, as the uninterrupted run.
        let files = parquet_files(&root.join("clean"));
        assert_eq!(files.len(), clean_files.len(), "{point}: {files:?}");
        for (a, b) in files.iter().zip(&clean_files) {
            assert_eq!(a.strip_prefix(&root), b.strip_prefix(&clean));
            assert_eq!(
                std::fs::read(a).unwrap(),
                std::fs::read(b).unwrap(),
                "{a:?}"
            );
        }
    }
}

fn source_rows(root: &Path, source: &str) -> u64 {
    let sql = format!("SELECT count(*) FROM app_logs WHERE source_object = '{source}'");
    query_csv(root, &sql).trim().parse().unwrap()
}

#[test]
fn late_data_a_new_version_and_a_deleted_source_after_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let (root, want) = base_root(dir.path());
    assert!(compact(&root, "0", None).status.success());
    let raw = root.join("raw");

    // Late data for a compacted hour: visible at once, in the partition's current folder.
    let late = generate(&dir.path().join("late"), 2, 11, "2024-05-01T01:00:00Z", 1);
    for f in ["app-0000.ndjson", "app-0001.ndjson"] {
        std::fs::copy(
            dir.path().join("late").join(f),
            raw.join(format!("late-{f}")),
        )
        .unwrap();
    }
    run(&root);
    let (n, _) = counts(&root);
    assert_eq!(n, want + late);
    let hr01 = root.join("clean/app_logs/gen-1/dt=2024-05-01/hr=01");
    assert_eq!(
        parquet_files(&hr01).len(),
        3,
        "compacted file + 2 late files"
    );
    // A second compaction folds them in; nothing changes for readers.
    assert!(compact(&root, "0", None).status.success());
    assert_eq!(counts(&root).0, want + late);
    let hr01_gen2 = root.join("clean/app_logs/gen-2/dt=2024-05-01/hr=01");
    assert_eq!(parquet_files(&hr01_gen2).len(), 1);

    // A new version of a compacted source replaces exactly its rows.
    let old = source_rows(&root, "raw/app-0000.ndjson");
    assert!(old > 0);
    let new = generate(&dir.path().join("v2"), 1, 99, "2024-05-01T03:00:00Z", 1);
    std::fs::copy(
        dir.path().join("v2/app-0000.ndjson"),
        raw.join("app-0000.ndjson"),
    )
    .unwrap();
    run(&root);
    assert_eq!(source_rows(&root, "raw/app-0000.ndjson"), new);
    assert_eq!(counts(&root).0, want + late - old + new);

    // A raw object deleted after compaction: its rows stay, as they do without compaction
    // (deleting raw data never deletes table rows).
    let kept = source_rows(&root, "raw/app-0005.ndjson");
    std::fs::remove_file(raw.join("app-0005.ndjson")).unwrap();
    run(&root);
    assert!(compact(&root, "0", None).status.success());
    assert_eq!(source_rows(&root, "raw/app-0005.ndjson"), kept);
    assert_eq!(counts(&root).0, want + late - old + new);
}

/// Two `loglake compact` processes on one root at once: each writes its own staging folder and
/// only one switch per partition wins; the table keeps every row once and each partition ends
/// with one generation of one file.
#[test]
fn two_compactors_at_once_switch_each_partition_once() {
    let dir = tempfile::tempdir().unwrap();
    let (root, want) = base_root(dir.path());
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_loglake"))
            .args(compact_args(&root, "0"))
            .spawn()
            .unwrap()
    };
    let (mut a, mut b) = (spawn(), spawn());
    assert!(a.wait().unwrap().success());
    assert!(b.wait().unwrap().success());
    assert_eq!(counts(&root), (want, want));
    let files = parquet_files(&root.join("clean"));
    assert_eq!(files.len(), 4, "one compacted file per hour: {files:?}");
    assert!(
        files
            .iter()
            .all(|f| f.to_string_lossy().contains("/gen-1/"))
    );
    let staging = root.join("clean/app_logs/.compacting");
    let left: Vec<_> = std::fs::read_dir(&staging)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "staging left behind: {left:?}");
}
