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
