//! The `loglake` binary as users meet it: data on stdout, messages on stderr, exit codes
//! 0 (ok) / 1 (data problems) / 2 (usage or configuration).

#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};

fn loglake(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loglake"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout_lines(o: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `loglake gen --out RAW ARGS…`; returns the generator's own report (the tests' truth).
fn generate(raw: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["gen", "--out", raw.to_str().unwrap()];
    all.extend_from_slice(args);
    let g = loglake(&all);
    assert!(g.status.success(), "{}", String::from_utf8_lossy(&g.stderr));
    stdout_lines(&g).remove(0)
}

#[test]
fn gen_zstd_is_transformed_as_zstd_with_the_bad_lines_quarantined() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    let report = &generate(
        &raw,
        &["--files", "1", "--lines", "500", "--seed", "4", "--zstd"],
    );
    let file = report["files"][0].as_str().unwrap();
    assert!(file.ends_with("app-0000.ndjson.zst"), "{file}");
    let t = loglake(&[
        "transform",
        "--input",
        file,
        "--output",
        dir.path().join("out").to_str().unwrap(),
        "--quiet",
    ]);
    let s = &stdout_lines(&t)[0];
    assert_eq!(s["compression"], "zstd");
    assert_eq!(s["records_in"], 500);
    assert_eq!(s["records_quarantined"], report["bad_lines"]);

    let both = loglake(&["gen", "--out", raw.to_str().unwrap(), "--gzip", "--zstd"]);
    assert_eq!(both.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&both.stderr).contains("cannot be used with"));
}

#[test]
fn gen_then_transform_prints_one_summary_per_file_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    let out = dir.path().join("out");
    let report = &generate(
        &raw,
        &["--files", "3", "--lines", "400", "--seed", "9", "--gzip"],
    );
    let t = loglake(&[
        "transform",
        "--input",
        raw.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    let summaries = stdout_lines(&t);
    assert_eq!(summaries.len(), 3);
    let mut quarantined = 0;
    for (i, s) in summaries.iter().enumerate() {
        assert!(
            s["source"]
                .as_str()
                .unwrap()
                .ends_with(&format!("app-{i:04}.ndjson.gz"))
        );
        assert_eq!(
            s["records_in"].as_u64().unwrap(),
            s["records_written"].as_u64().unwrap() + s["records_quarantined"].as_u64().unwrap()
        );
        quarantined += s["records_quarantined"].as_u64().unwrap();
    }
    assert_eq!(quarantined, report["bad_lines"].as_u64().unwrap());
    // Bad lines were generated, so the data-problem exit code.
    assert_eq!(t.status.code(), Some(if quarantined > 0 { 1 } else { 0 }));
    // The contract keys come first, in the documented order.
    let line = String::from_utf8_lossy(&t.stdout)
        .lines()
        .next()
        .unwrap()
        .to_owned();
    assert!(line.starts_with(r#"{"source":"#), "{line}");
    let order = [
        "records_in",
        "records_written",
        "records_quarantined",
        "bytes_in",
        "partitions",
        "files",
        "null_coercions",
    ];
    let pos: Vec<usize> = order
        .iter()
        .map(|k| line.find(&format!("\"{k}\"")).unwrap())
        .collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "{line}");
}

#[test]
fn clean_input_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("ok.json");
    std::fs::write(&input, "{\"ts\":\"2024-05-01T00:00:00Z\",\"msg\":\"ok\"}\n").unwrap();
    let t = loglake(&[
        "transform",
        "--input",
        input.to_str().unwrap(),
        "--output",
        dir.path().join("o").to_str().unwrap(),
        "--source",
        "bucket/ok.json",
    ]);
    assert_eq!(
        t.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&t.stderr)
    );
    let s = &stdout_lines(&t)[0];
    // source_id is the first 16 hex of sha256("bucket/ok.json").
    assert_eq!(s["source_id"], "a438c01e8472cd4c");
}

#[test]
fn missing_input_is_a_usage_error_naming_the_path() {
    let t = loglake(&[
        "transform",
        "--input",
        "/nonexistent/x.json",
        "--output",
        "/tmp/unused",
    ]);
    assert_eq!(t.status.code(), Some(2));
    let err = String::from_utf8_lossy(&t.stderr);
    assert!(
        err.contains("`/nonexistent/x.json` does not exist"),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
    assert!(t.stdout.is_empty());
}

#[test]
fn bad_schema_is_a_configuration_error_with_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("s.json");
    std::fs::write(&schema, "{\n  \"table\": \"t\",\n  \"columns\": 3\n}\n").unwrap();
    let input = dir.path().join("in.json");
    std::fs::write(&input, "{}\n").unwrap();
    let t = loglake(&[
        "transform",
        "--input",
        input.to_str().unwrap(),
        "--output",
        dir.path().to_str().unwrap(),
        "--schema",
        schema.to_str().unwrap(),
    ]);
    assert_eq!(t.status.code(), Some(2));
    let err = String::from_utf8_lossy(&t.stderr);
    assert!(
        err.contains(schema.to_str().unwrap()) && err.contains("line 3"),
        "{err}"
    );
}

#[test]
fn gen_rejects_bad_ratio() {
    let t = loglake(&["gen", "--out", "/tmp/unused-gen", "--bad-ratio", "2"]);
    assert_eq!(t.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&t.stderr).contains("--bad-ratio must be between 0 and 1"));
}

#[test]
fn event_prints_created_objects_and_refuses_non_events() {
    let dir = tempfile::tempdir().unwrap();
    let doc = dir.path().join("e.json");
    std::fs::write(
        &doc,
        r#"{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"raw"},
        "object":{"key":"a+b%2B%C3%BC.json","size":3,"eTag":"\"e\"","versionId":"v1","sequencer":"0A"}}},
        {"eventSource":"aws:s3","eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"raw"},"object":{"key":"x"}}}]}"#,
    )
    .unwrap();
    let o = loglake(&["event", doc.to_str().unwrap()]);
    assert!(o.status.success());
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "{\"bucket\":\"raw\",\"key\":\"a b+ü.json\",\"version_id\":\"v1\",\"size\":3,\"etag\":\"e\",\"sequencer\":\"0A\"}\n"
    );
    std::fs::write(
        &doc,
        r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"raw"}"#,
    )
    .unwrap();
    let t = loglake(&["event", doc.to_str().unwrap()]);
    assert!(t.status.success());
    assert!(t.stdout.is_empty());
    std::fs::write(&doc, r#"{"tasks":[]}"#).unwrap();
    let bad = loglake(&["event", doc.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not an S3 event document"));
}

/// `loglake --help` is a short list, one line per command (ripgrep, uv); each command's own
/// `--help` has the detail.
#[test]
fn top_level_help_is_one_line_per_command() {
    let help = loglake(&["--help"]);
    assert!(help.status.success());
    let text = String::from_utf8(help.stdout).unwrap();
    let commands: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    let names: Vec<&str> = commands
        .iter()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        names,
        [
            "gen",
            "transform",
            "schema",
            "run",
            "watch",
            "query",
            "compact",
            "demo",
            "event",
            "trigger",
            "backfill",
            "glue-task",
            "help"
        ],
        "one line per command, no continuation lines:\n{text}"
    );
    assert!(commands.iter().all(|l| l.len() <= 100), "{text}");
    // The detail is still there, under the command's own help.
    let run = String::from_utf8(loglake(&["run", "--help"]).stdout).unwrap();
    assert!(
        run.contains("A second run over unchanged objects processes nothing"),
        "{run}"
    );
}

/// `transform DIR` skips what the pipeline's listing skips (one rule,
/// `loglake_store::ignored_name`): hidden files, `_` files, and files a writer is still
/// working on (`.tmp`, `.part`, `.inprogress`, `~`).
#[test]
fn transform_of_a_folder_skips_temp_and_hidden_files() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    let line = "{\"ts\":1714521600,\"msg\":\"x\"}\n";
    for name in [
        "a.json",
        "b.json.tmp",
        "c.json.part",
        ".d.json",
        "_e.json",
        "f.json~",
        ".g.json.inprogress",
    ] {
        std::fs::write(raw.join(name), line).unwrap();
    }
    let out = dir.path().join("out");
    let t = loglake(&[
        "transform",
        "--quiet",
        "--input",
        raw.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(t.status.success(), "{}", String::from_utf8_lossy(&t.stderr));
    let sources: Vec<String> = stdout_lines(&t)
        .iter()
        .map(|s| s["source"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(sources.len(), 1, "{sources:?}");
    assert!(sources[0].ends_with("a.json"), "{sources:?}");
}

/// `schema infer` on data it has never seen, checked against the generator's own report: it
/// reads everything (bytes and records as the generator wrote them), samples evenly, and the
/// schema it prints makes `transform` keep every valid line (the generator mixes four time
/// fields, so all four must be sources of `ts`). The same input gives the same file.
/// `schema check` then measures drift against the same truth.
#[test]
fn schema_infer_then_transform_keeps_every_valid_line() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    let report = &generate(
        &raw,
        &["--files", "4", "--lines", "1000", "--seed", "3", "--gzip"],
    );
    let valid = report["lines"].as_u64().unwrap() - report["bad_lines"].as_u64().unwrap();
    let infer = || {
        loglake(&[
            "schema",
            "infer",
            raw.to_str().unwrap(),
            "--sample",
            "100",
            "--table",
            "mine",
        ])
    };
    let first = infer();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let err = String::from_utf8_lossy(&first.stderr);
    let read = format!(
        "read 4 file(s), {} bytes decompressed, {} records; sampled 100 (every 40th record)",
        report["bytes"], report["lines"]
    );
    assert!(err.starts_with(&read), "{err}");
    assert!(
        err.contains("timestamp: `ts`, else `timestamp`, else `time`, else `@timestamp`"),
        "{err}"
    );
    assert_eq!(first.stdout, infer().stdout, "deterministic");

    let schema = dir.path().join("mine.json");
    std::fs::write(&schema, &first.stdout).unwrap();
    let out = dir.path().join("out");
    let t = loglake(&[
        "transform",
        "--quiet",
        "--input",
        raw.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--schema",
        schema.to_str().unwrap(),
    ]);
    assert_eq!(
        t.status.code(),
        Some(1),
        "bad lines are quarantined: {}",
        String::from_utf8_lossy(&t.stderr)
    );
    let written: u64 = stdout_lines(&t)
        .iter()
        .map(|s| s["records_written"].as_u64().unwrap())
        .sum();
    assert_eq!(written, valid);
    assert!(out.join("clean/mine").is_dir());

    // `schema check` with the inferred schema: the generator's bad lines are the quarantine,
    // every valid line a row, nothing crosses the default thresholds, nothing is written.
    let check = |schema: &str, extra: &[&str]| {
        let mut args = vec!["schema", "check", "--schema", schema, raw.to_str().unwrap()];
        args.extend_from_slice(extra);
        loglake(&args)
    };
    let ok = check(schema.to_str().unwrap(), &[]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let drift = &stdout_lines(&ok)[0];
    let quarantined: u64 = drift["quarantined"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(quarantined, report["bad_lines"].as_u64().unwrap());
    assert_eq!(drift["written"].as_u64().unwrap(), valid);
    assert!(drift["crossed"].as_array().unwrap().is_empty());
    // The built-in schema on the same logs: `region` is nowhere in it, and the window check
    // counts every row once the window starts after the data.
    let builtin = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/app_logs.json");
    let drifted = check(builtin, &["--max-unmapped", "0.9"]);
    assert_eq!(drifted.status.code(), Some(1));
    let d = &stdout_lines(&drifted)[0];
    assert_eq!(d["unmapped"]["region"].as_u64().unwrap(), valid, "{d}");
    let stderr = String::from_utf8_lossy(&drifted.stderr);
    assert!(
        stderr.contains("threshold crossed: field `region` is in"),
        "{stderr}"
    );
    let mut late: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    late["timestamp"]["window"]["from"] = "2030-01-01".into();
    let late_path = dir.path().join("late.json");
    std::fs::write(&late_path, late.to_string()).unwrap();
    let windowed = check(late_path.to_str().unwrap(), &[]);
    assert_eq!(windowed.status.code(), Some(1));
    let w = &stdout_lines(&windowed)[0];
    assert_eq!(
        w["quarantined"]["timestamp_out_of_window"]
            .as_u64()
            .unwrap(),
        valid,
        "{w}"
    );
    assert!(!out.join("clean/late").exists());

    let zero = loglake(&["schema", "infer", raw.to_str().unwrap(), "--sample", "0"]);
    assert_eq!(zero.status.code(), Some(2));
    let missing = loglake(&["schema", "infer", "/nonexistent/logs"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/logs"));
}
