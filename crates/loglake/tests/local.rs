//! The local pipeline through the binary: `run`, `query`, `demo`; two racing processes; a
//! process killed with SIGKILL mid-run and a rerun.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use loglake_testkit::golden;

fn loglake(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loglake"))
        .args(args)
        .output()
        .unwrap()
}

/// Generates raw files and returns the generator's own count of valid lines (lines − bad
/// lines): the independent truth a run's rows are checked against.
fn make(raw: &Path, files: &str, lines: &str) -> u64 {
    let g = loglake(&[
        "gen",
        "--out",
        raw.to_str().unwrap(),
        "--files",
        files,
        "--lines",
        lines,
        "--seed",
        "5",
        "--gzip",
        "--hours",
        "30",
    ]);
    assert!(g.status.success(), "{}", String::from_utf8_lossy(&g.stderr));
    let report: serde_json::Value = serde_json::from_slice(&g.stdout).unwrap();
    report["lines"].as_u64().unwrap() - report["bad_lines"].as_u64().unwrap()
}

fn lines(o: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn query(root: &Path, format: &str, sql: &str) -> Output {
    loglake(&[
        "query",
        "--root",
        root.to_str().unwrap(),
        "--format",
        format,
        sql,
    ])
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[test]
fn run_then_query_matches_the_snapshots() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let valid = make(&r.join("raw"), "3", "2000");
    let run = loglake(&["run", "--root", r.to_str().unwrap(), "--quiet"]);
    assert_eq!(run.status.code(), Some(1), "quarantined records → exit 1");
    let reports = lines(&run);
    assert_eq!(reports.len(), 3);
    let mut written = 0;
    for rep in &reports {
        assert_eq!(rep["outcome"], "processed");
        assert_eq!(rep["status"], "SUCCEEDED");
        written += rep["summary"]["records_written"].as_u64().unwrap();
    }
    assert_eq!(written, valid, "rows written = the generator's valid lines");

    let count = query(r, "csv", "SELECT count(*) AS n FROM app_logs");
    assert!(
        count.status.success(),
        "{}",
        String::from_utf8_lossy(&count.stderr)
    );
    assert_eq!(stdout(&count), format!("n\n{written}\n"));

    let levels = query(
        r,
        "csv",
        "SELECT level, count(*) AS n FROM app_logs GROUP BY level ORDER BY level",
    );
    golden("query_levels.csv", &stdout(&levels));
    let hours = query(
        r,
        "table",
        "SELECT dt, count(DISTINCT hr) AS hours, count(*) AS n, min(ts) AS first, max(ts) AS last \
         FROM app_logs GROUP BY dt ORDER BY dt",
    );
    golden("query_days.txt", &stdout(&hours));
    let json = query(
        r,
        "json",
        "SELECT service, status, count(*) AS n FROM app_logs WHERE status >= 500 \
         GROUP BY service, status ORDER BY n DESC, service, status LIMIT 3",
    );
    golden("query_5xx.ndjson", &stdout(&json));
    // A table keeps one row per line: the generator's message with a newline and a tab is
    // shown escaped (as datafusion-cli and duckdb do); JSON keeps the value exact.
    let sql = "SELECT message, count(*) AS n FROM app_logs WHERE message LIKE 'line one%' \
               GROUP BY message";
    let table = stdout(&query(r, "table", sql));
    assert_eq!(
        table.lines().count(),
        5,
        "borders, header, one row:\n{table}"
    );
    assert!(table.contains(r"| line one\nline two\ttabbed "), "{table}");
    let exact = stdout(&query(r, "json", sql));
    assert!(
        exact.contains(r#""message":"line one\nline two\ttabbed""#),
        "{exact}"
    );

    // The second run does nothing and says so.
    let again = loglake(&["run", "--root", r.to_str().unwrap(), "--quiet"]);
    assert_eq!(again.status.code(), Some(0));
    assert!(lines(&again).iter().all(|l| l["outcome"] == "duplicate"));
    assert_eq!(
        stdout(&query(r, "csv", "SELECT count(*) AS n FROM app_logs")),
        format!("n\n{written}\n")
    );
}

#[test]
fn query_errors_are_helpful() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let none = query(r, "table", "SELECT 1");
    assert_eq!(none.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&none.stderr).contains("loglake run --root"));

    make(&r.join("raw"), "1", "200");
    loglake(&["run", "--root", r.to_str().unwrap(), "--quiet"]);
    let unknown = query(r, "table", "SELECT * FROM app_log");
    assert_eq!(unknown.status.code(), Some(2));
    let err = String::from_utf8_lossy(&unknown.stderr);
    assert!(err.contains("known tables: app_logs"), "{err}");
    let bad_col = query(r, "table", "SELECT nope FROM app_logs");
    assert_eq!(bad_col.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_col.stderr).contains("nope"));
}

/// The rule for schema changes (README, "Schema changes"): a column added to the schema file
/// is added to the table and the files written before read it as null, through `query` and
/// through pyarrow and DuckDB (tests/readers/check_evolution.py); retyping it is refused before
/// anything is written, with what to do instead.
#[test]
fn an_added_column_keeps_older_files_readable_and_a_retyped_one_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let raw = r.join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    let record = |i: u32, region: Option<&str>| {
        let mut v = serde_json::json!({"timestamp": format!("2024-05-01T07:0{i}:00Z"), "level": "info", "msg": format!("m{i}")});
        if let Some(region) = region {
            v["region"] = region.into();
        }
        v.to_string() + "\n"
    };
    std::fs::write(
        raw.join("v1.ndjson"),
        (0..3).map(|i| record(i, None)).collect::<String>(),
    )
    .unwrap();
    let run = |schema: &Path| {
        loglake(&[
            "run",
            "--root",
            r.to_str().unwrap(),
            "--quiet",
            "--schema",
            schema.to_str().unwrap(),
        ])
    };
    let builtin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/app_logs.json");
    let first = run(&builtin);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );

    // v2: the same schema with `region` added, and a file that has it.
    let mut v2: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&builtin).unwrap()).unwrap();
    v2["columns"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"name": "region", "type": "string"}));
    let v2_path = r.join("v2.json");
    std::fs::write(&v2_path, v2.to_string()).unwrap();
    std::fs::write(
        raw.join("v2.ndjson"),
        [record(3, Some("eu-west-1")), record(4, Some("us-east-1"))].concat(),
    )
    .unwrap();
    let second = run(&v2_path);
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let q = query(
        r,
        "csv",
        "SELECT count(*) AS n, count(region) AS with_region, count(message) AS with_message FROM app_logs",
    );
    assert_eq!(
        stdout(&q),
        "n,with_region,with_message\n5,2,5\n",
        "{}",
        String::from_utf8_lossy(&q.stderr)
    );
    if let Some(venv) = std::env::var_os("LOGLAKE_VENV") {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/readers/check_evolution.py");
        let out = Command::new(Path::new(&venv).join("bin/python"))
            .args([script.as_os_str(), r.join("clean/app_logs").as_os_str()])
            .args(["region", "5", "2"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // v3: `region` retyped. Refused (exit 2) before any file is read or written.
    let mut v3 = v2.clone();
    v3["columns"].as_array_mut().unwrap().last_mut().unwrap()["type"] = "int".into();
    let v3_path = r.join("v3.json");
    std::fs::write(&v3_path, v3.to_string()).unwrap();
    std::fs::write(raw.join("v3.ndjson"), record(5, Some("7"))).unwrap();
    let third = run(&v3_path);
    assert_eq!(third.status.code(), Some(2));
    let err = String::from_utf8_lossy(&third.stderr);
    assert!(
        err.contains("column `region` is `string` in the table but `int` in the schema")
            && err.contains("add a column under a new name"),
        "{err}"
    );
    let q = query(r, "csv", "SELECT count(*) AS n FROM app_logs");
    assert_eq!(stdout(&q), "n\n5\n");
}

#[test]
fn dt_filters_prune_other_partitions() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    make(&r.join("raw"), "2", "1000");
    loglake(&["run", "--root", r.to_str().unwrap(), "--quiet"]);
    // Break every file of 2024-05-01: a query of 2024-05-02 must not open them.
    let day1 = r.join("clean/app_logs/dt=2024-05-01");
    let mut broken = 0;
    for hr in std::fs::read_dir(&day1).unwrap() {
        for f in std::fs::read_dir(hr.unwrap().path()).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "parquet") {
                std::fs::write(&f, b"not parquet").unwrap();
                broken += 1;
            }
        }
    }
    assert!(broken > 0);
    let pruned = query(
        r,
        "csv",
        "SELECT count(*) AS n FROM app_logs WHERE dt = '2024-05-02' AND hr >= '00'",
    );
    assert!(
        pruned.status.success(),
        "{}",
        String::from_utf8_lossy(&pruned.stderr)
    );
    let all = query(
        r,
        "csv",
        "SELECT count(*) AS n FROM app_logs WHERE level = 'INFO'",
    );
    assert_eq!(
        all.status.code(),
        Some(1),
        "reading a broken file is a data error"
    );
}

#[test]
fn demo_runs_offline_and_shows_queries() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("demo");
    let t = Instant::now();
    let d = loglake(&[
        "demo",
        "--root",
        root.to_str().unwrap(),
        "--files",
        "3",
        "--lines",
        "3000",
        "--quiet",
    ]);
    println!("demo (debug build, 9000 lines): {:?}", t.elapsed());
    let err = String::from_utf8_lossy(&d.stderr);
    assert!(d.status.success(), "{err}");
    let out = stdout(&d);
    for title in ["Errors per service per hour", "p95 latency", "Top messages"] {
        assert!(out.contains(title), "{out}");
    }
    assert!(out.contains("| service"), "{out}");
    assert!(
        err.contains("ran it again: 0 processed, 3 duplicates"),
        "{err}"
    );
    assert!(err.contains("quarantined"), "{err}");
    // A second demo re-creates its own root; a foreign folder is refused.
    assert!(
        loglake(&[
            "demo",
            "--root",
            root.to_str().unwrap(),
            "--files",
            "1",
            "--lines",
            "100",
            "--quiet"
        ])
        .status
        .success()
    );
    let foreign = dir.path().join("mine");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("keep.txt"), "x").unwrap();
    let refused = loglake(&["demo", "--root", foreign.to_str().unwrap(), "--quiet"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(foreign.join("keep.txt").exists());
}

/// `loglake run` on a root, in the background, stdout and stderr piped.
fn spawn_run(root: &Path, jobs: &str) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_loglake"))
        .args([
            "run",
            "--root",
            root.to_str().unwrap(),
            "--quiet",
            "--jobs",
            jobs,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn two_racing_processes_process_each_object_once() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let valid = make(&r.join("raw"), "8", "1500");
    let (a, b) = (spawn_run(r, "2"), spawn_run(r, "2"));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let all: Vec<_> = lines(&a).into_iter().chain(lines(&b)).collect();
    let processed: Vec<_> = all.iter().filter(|l| l["outcome"] == "processed").collect();
    assert_eq!(
        processed.len(),
        8,
        "each object processed by exactly one process"
    );
    let written: u64 = processed
        .iter()
        .map(|l| l["summary"]["records_written"].as_u64().unwrap())
        .sum();
    assert_eq!(written, valid, "rows written = the generator's valid lines");
    let count = query(r, "csv", "SELECT count(*) AS n FROM app_logs");
    assert_eq!(stdout(&count), format!("n\n{valid}\n"));
}

#[test]
fn a_killed_run_is_finished_by_the_next_one() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let valid = make(&r.join("raw"), "5", "40000");
    let mut child = spawn_run(r, "1");
    // Kill -9 as soon as the first object is done: the second is mid-transform.
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // Kill once the second object is claimed (read from the ledger itself, not timed): it is
    // mid-transform then, and only the next run can finish it.
    let db = loglake_local::StateDb::open(&r.join("state.db")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !db.items().unwrap().iter().any(|i| {
        matches!(
            i.status,
            loglake_core::ledger::Status::InProgress | loglake_core::ledger::Status::Started
        )
    }) {
        assert!(
            Instant::now() < deadline,
            "the second object was never claimed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(first.contains("\"processed\""), "{first}");
    let done_before = db
        .items()
        .unwrap()
        .iter()
        .filter(|i| i.status == loglake_core::ledger::Status::Succeeded)
        .count();

    let rerun = loglake(&["run", "--root", r.to_str().unwrap(), "--quiet"]);
    let stderr = String::from_utf8_lossy(&rerun.stderr);
    assert!(stderr.contains("took back 1 claims"), "{stderr}");
    let reports = lines(&rerun);
    assert_eq!(
        reports
            .iter()
            .filter(|l| l["outcome"] == "processed")
            .count(),
        5 - done_before,
        "{reports:?}"
    );
    // Exactly the right rows: the same as a clean run on a fresh root.
    let fresh = tempfile::tempdir().unwrap();
    make(&fresh.path().join("raw"), "5", "40000");
    loglake(&["run", "--root", fresh.path().to_str().unwrap(), "--quiet"]);
    let sql =
        "SELECT count(*) AS n, count(DISTINCT trace_id) AS traces, sum(bytes) AS b FROM app_logs";
    let a = stdout(&query(r, "csv", sql));
    assert_eq!(a, stdout(&query(fresh.path(), "csv", sql)));
    assert!(a.starts_with(&format!("n,traces,b\n{valid},")), "{a}");
}
