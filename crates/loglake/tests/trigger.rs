//! `loglake trigger --event`: the Lambda's handler run once from the command line against moto,
//! configured by the Lambda's `LOGLAKE_*` variables (DESIGN.md §5).

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

use aws_sdk_s3::primitives::ByteStream;
use loglake_testkit::{Moto, aws, fixtures_dir, unique};
use serde_json::{Value, json};

fn loglake(moto: &Moto, env: &[(&str, &str)], args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_loglake"));
    cmd.args(args)
        .env("AWS_ENDPOINT_URL", moto.url())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env_remove("LOGLAKE_GLUE_JOB")
        .env_remove("LOGLAKE_LEDGER_TABLE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or_default()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn lines(o: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn trigger_starts_once_then_reports_duplicates() {
    let Some(moto) = Moto::start() else { return };
    let (raw, table, job) = (unique("raw"), unique("ledger"), unique("job"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let version = rt.block_on(async {
        let sdk = aws::sdk(&moto).await;
        let s3 = aws::s3(&sdk);
        aws::bucket(&s3, &raw, true).await;
        aws::ledger_table(&sdk, &table).await;
        aws::glue_job(&sdk, &job, 10).await;
        let put = s3
            .put_object()
            .bucket(&raw)
            .key("logs/app one.json")
            .body(ByteStream::from_static(b"{\"ts\":1}\n"))
            .send()
            .await
            .unwrap();
        put.version_id().unwrap().to_owned()
    });
    // The published EventBridge example, about our object.
    let path = fixtures_dir().join("events/eventbridge/awsdocs-2022-object-created.json");
    let mut event: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    event["detail"]["bucket"]["name"] = json!(raw);
    event["detail"]["object"]["key"] = json!("logs/app one.json");
    event["detail"]["object"]["version-id"] = json!(version);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("event.json");
    std::fs::write(&file, event.to_string()).unwrap();
    let file = file.to_str().unwrap();
    let env = [
        ("LOGLAKE_LEDGER_TABLE", table.as_str()),
        ("LOGLAKE_GLUE_JOB", job.as_str()),
        ("LOGLAKE_RAW_BUCKET", raw.as_str()),
    ];

    let first = loglake(&moto, &env, &["trigger", "--event", file], None);
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert_eq!(first.status.code(), Some(0), "{stderr}");
    let out = lines(&first);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0]["bucket"], json!(raw));
    assert_eq!(out[0]["key"], "logs/app one.json");
    assert_eq!(out[0]["version_id"], json!(version));
    assert_eq!(out[0]["outcome"], "started");
    let run = out[0]["job_run_id"].as_str().unwrap().to_owned();

    // The same event again, from stdin: a duplicate naming the run, exit 0.
    let body = event.to_string();
    let again = loglake(
        &moto,
        &env,
        &["trigger", "--event", "-", "--metrics"],
        Some(body.as_bytes()),
    );
    assert_eq!(again.status.code(), Some(0));
    let out = lines(&again);
    assert_eq!(out[0]["outcome"], "duplicate");
    assert_eq!(out[0]["job_run_id"], json!(run));
    let emf: Value = serde_json::from_str(
        String::from_utf8_lossy(&again.stderr)
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(emf["DuplicatesSkipped"], 1);

    // Configuration and documents it cannot use: exit 2, naming what to fix.
    let missing = loglake(&moto, &env[..1], &["trigger", "--event", file], None);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("LOGLAKE_GLUE_JOB: not set"));
    let junk = loglake(
        &moto,
        &env,
        &["trigger", "--event", "-"],
        Some(b"{\"hello\": 1}"),
    );
    assert_eq!(junk.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&junk.stderr).contains("not an S3 event document"));
}

#[test]
fn backfill_starts_one_run_per_batch_then_finds_duplicates() {
    let Some(moto) = Moto::start() else { return };
    let (raw, code, table, job) = (
        unique("braw"),
        unique("bcode"),
        unique("bledger"),
        unique("bjob"),
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let sdk = aws::sdk(&moto).await;
        let s3 = aws::s3(&sdk);
        aws::bucket(&s3, &raw, true).await;
        aws::bucket(&s3, &code, false).await;
        aws::ledger_table(&sdk, &table).await;
        aws::glue_job(&sdk, &job, 10).await;
        for i in 0..5 {
            s3.put_object()
                .bucket(&raw)
                .key(format!("logs/2024/05/{i} x.json"))
                .body(ByteStream::from_static(b"{\"ts\":1}\n"))
                .send()
                .await
                .unwrap();
        }
        // Not under the prefix, and empty: never taken.
        for key in ["other/a.json", "logs/empty.json"] {
            let body: &'static [u8] = if key.ends_with("a.json") {
                b"{}\n"
            } else {
                b""
            };
            s3.put_object()
                .bucket(&raw)
                .key(key)
                .body(ByteStream::from_static(body))
                .send()
                .await
                .unwrap();
        }
    });
    let env = [
        ("LOGLAKE_LEDGER_TABLE", table.as_str()),
        ("LOGLAKE_GLUE_JOB", job.as_str()),
        ("LOGLAKE_MANIFEST_BUCKET", code.as_str()),
    ];
    let prefix = format!("s3://{raw}/logs/");
    let args = ["backfill", "--raw", &prefix, "--batch-size", "2"];
    let first = loglake(&moto, &env, &args, None);
    let stderr = String::from_utf8_lossy(&first.stderr).into_owned();
    assert_eq!(first.status.code(), Some(0), "{stderr}");
    let out = lines(&first);
    assert_eq!(out.len(), 5, "{out:?}");
    assert!(out.iter().all(|o| o["outcome"] == "started"), "{out:?}");
    let runs: std::collections::BTreeSet<&str> = out
        .iter()
        .map(|o| o["job_run_id"].as_str().unwrap())
        .collect();
    assert_eq!(runs.len(), 3, "5 objects in batches of 2: {runs:?}");
    assert!(
        stderr.contains("5 object(s) started in 3 run(s)"),
        "{stderr}"
    );

    let again = loglake(&moto, &env, &args, None);
    let out = lines(&again);
    assert!(out.iter().all(|o| o["outcome"] == "duplicate"), "{out:?}");
    // A prefix is S3's: one whole key is that object (re-running one object,
    // docs/operations.md), part of a name matches the names that start so.
    let keys = |spec: &str| {
        let o = loglake(&moto, &env, &["backfill", "--raw", spec], None);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        lines(&o)
            .iter()
            .map(|o| o["key"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        keys(&format!("s3://{raw}/logs/2024/05/3 x.json")),
        ["logs/2024/05/3 x.json"]
    );
    assert_eq!(
        keys(&format!("s3://{raw}/logs/2024/05/3")),
        ["logs/2024/05/3 x.json"]
    );
    assert_eq!(
        keys(&format!("s3://{raw}/logs/2024/05/3 x.json.gz")),
        Vec::<String>::new()
    );
    // Nothing is modified after the future.
    let none = loglake(
        &moto,
        &env,
        &["backfill", "--raw", &prefix, "--since", "2999-01-01"],
        None,
    );
    assert_eq!(none.status.code(), Some(0));
    assert!(lines(&none).is_empty());
    let bad = loglake(
        &moto,
        &env,
        &["backfill", "--raw", &prefix, "--since", "May 1st"],
        None,
    );
    assert_eq!(bad.status.code(), Some(2));
}
