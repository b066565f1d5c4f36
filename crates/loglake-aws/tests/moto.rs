//! The trigger against a moto server through the real AWS SDK clients (DESIGN.md §7): the
//! DynamoDB ledger's conditions, HeadObject key confirmation, StartJobRun back-off and release,
//! batch manifests and Glue job state changes. Event documents are the published fixtures in
//! `../shared/fixtures/events/`, pointed at the buckets and objects made here.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::time::Duration;

use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextMut,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_s3::primitives::ByteStream;
use loglake_aws::{DynamoDbLedger, GlueJobs, S3Objects};
use loglake_core::ledger::{
    Claim, ClaimRequest, Finished, Ledger, ObjectVersion, RunResult, Status,
};
use loglake_testkit::{Moto, aws, fixtures_dir, unique};
use loglake_trigger::config::{Mode, TriggerConfig};
use loglake_trigger::handler::{
    ARG_MANIFEST, Handler, Invocation, Outcome, Response, now_ms, parse_manifest,
};
use serde_json::{Value, json};

/// The tests share one moto server, and one of them switches its Glue job-run transitions,
/// which are global, to manual: they run one at a time, so none depends on another's timing.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A claim by `owner` at `now`, its lease `lease_ms` long (3 attempts, a day's TTL).
fn claim_request(owner: &str, now: i64, lease_ms: i64) -> ClaimRequest {
    ClaimRequest::new(owner, now, now + lease_ms, 3, 86_400_000)
}

/// A ledger on the test's table whose client runs `interceptor` (and `retry`, when given).
async fn intercepted_ledger(
    moto: &Moto,
    table: &str,
    interceptor: impl Intercept + 'static,
    retry: Option<aws_sdk_dynamodb::config::retry::RetryConfig>,
) -> DynamoDbLedger {
    let sdk = aws::sdk(moto).await;
    let mut conf = aws_sdk_dynamodb::config::Builder::from(&sdk).interceptor(interceptor);
    if let Some(retry) = retry {
        conf = conf.retry_config(retry);
    }
    DynamoDbLedger::new(aws_sdk_dynamodb::Client::from_conf(conf.build()), table)
}

struct Env {
    handler: Handler<S3Objects, GlueJobs, DynamoDbLedger>,
    s3: aws_sdk_s3::Client,
    glue: aws_sdk_glue::Client,
    raw: String,
    code: String,
    job: String,
}

async fn env(moto: &Moto, mode: Mode, max_concurrent_runs: i32) -> Env {
    let sdk = aws::sdk(moto).await;
    let store = S3Objects::new(&sdk);
    let s3 = store.client().clone();
    let glue = aws_sdk_glue::Client::new(&sdk);
    let (raw, code, table, job) = (
        unique("raw"),
        unique("code"),
        unique("ledger"),
        unique("job"),
    );
    aws::bucket(&s3, &raw, true).await;
    aws::bucket(&s3, &code, false).await;
    aws::ledger_table(&sdk, &table).await;
    aws::glue_job(&sdk, &job, max_concurrent_runs).await;
    let config = TriggerConfig {
        ledger_table: table.clone(),
        glue_job: job.clone(),
        mode,
        manifest_bucket: Some(code.clone()),
        manifest_prefix: "tmp/manifests/".into(),
        raw_bucket: Some(raw.clone()),
        raw_prefix: "logs/".into(),
        max_attempts: 3,
        ttl_days: 30,
        metrics_namespace: "loglake".into(),
    };
    Env {
        handler: Handler {
            config,
            store,
            launcher: GlueJobs::new(glue.clone()),
            ledger: DynamoDbLedger::new(aws_sdk_dynamodb::Client::new(&sdk), &table),
        },
        s3,
        glue,
        raw,
        code,
        job,
    }
}

/// A written object: (version id, ETag).
async fn put(env: &Env, key: &str, body: &'static [u8]) -> (String, String) {
    let out = env
        .s3
        .put_object()
        .bucket(&env.raw)
        .key(key)
        .body(ByteStream::from_static(body))
        .send()
        .await
        .unwrap();
    (
        out.version_id().unwrap().to_owned(),
        out.e_tag().unwrap().trim_matches('"').to_owned(),
    )
}

fn fixture(rel: &str) -> Value {
    let path = fixtures_dir().join("events").join(rel);
    serde_json::from_slice(
        &std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

/// The published EventBridge "Object Created" example, about our object.
fn eventbridge(bucket: &str, key: &str, version: &str, sequencer: &str) -> Value {
    let mut ev = fixture("eventbridge/awsdocs-2022-object-created.json");
    ev["detail"]["bucket"]["name"] = json!(bucket);
    let object = &mut ev["detail"]["object"];
    object["key"] = json!(key);
    object["version-id"] = json!(version);
    object["sequencer"] = json!(sequencer);
    ev
}

/// The published S3 notification example, about our object (`encoded_key` as S3 encodes it).
fn notification(bucket: &str, encoded_key: &str, version: &str, sequencer: &str) -> Value {
    let mut ev = fixture("s3/awsdocs-s3-put-example.json");
    let s3 = &mut ev["Records"][0]["s3"];
    s3["bucket"]["name"] = json!(bucket);
    s3["object"]["key"] = json!(encoded_key);
    s3["object"]["versionId"] = json!(version);
    s3["object"]["sequencer"] = json!(sequencer);
    ev
}

/// The published SQS example carrying an EventBridge event, one record per message.
fn sqs(messages: &[(&str, Value)]) -> Value {
    let template = fixture("sqs/pt4069-sqs_eb_s3_event.json")["Records"][0].clone();
    let records: Vec<Value> = messages
        .iter()
        .map(|(id, body)| {
            let mut r = template.clone();
            r["messageId"] = json!(id);
            r["body"] = json!(body.to_string());
            r
        })
        .collect();
    json!({ "Records": records })
}

fn inv(request: &str, budget_ms: i64) -> Invocation {
    Invocation {
        request_id: request.into(),
        deadline_ms: now_ms() + budget_ms,
    }
}

fn outcomes(r: &Response) -> Vec<Outcome> {
    r.objects.iter().map(|o| o.outcome).collect()
}

async fn runs(env: &Env) -> usize {
    env.glue
        .get_job_runs()
        .job_name(&env.job)
        .send()
        .await
        .unwrap()
        .job_runs()
        .len()
}

async fn status(env: &Env, id: &str) -> Option<(Status, u32, Option<String>)> {
    env.handler
        .ledger
        .get(id)
        .await
        .unwrap()
        .map(|i| (i.status, i.attempts, i.job_run_id))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_event_three_times_and_concurrently_starts_one_run() {
    let Some(moto) = Moto::start() else { return };
    let _serial = SERIAL.lock().await;
    let env = env(&moto, Mode::PerObject, 50).await;
    let (version, _) = put(&env, "logs/app.json", b"{\"ts\":1}\n").await;
    let ev = eventbridge(&env.raw, "logs/app.json", &version, "0055AED6DCD90281E5");

    // Eight invocations at the same moment, then the same event twice more.
    let invs: Vec<Invocation> = (0..8).map(|i| inv(&format!("req-{i}"), 30_000)).collect();
    let all = futures::future::join_all(invs.iter().map(|i| env.handler.handle(&ev, i))).await;
    let started: Vec<&Response> = all
        .iter()
        .filter(|r| outcomes(r) == [Outcome::Started])
        .collect();
    assert_eq!(
        started.len(),
        1,
        "{:?} {:?}",
        all.iter().map(outcomes).collect::<Vec<_>>(),
        all.iter().map(|r| &r.failures).collect::<Vec<_>>()
    );
    assert!(
        all.iter().all(|r| r.failures.is_empty()),
        "{:?}",
        all.iter().map(|r| &r.failures).collect::<Vec<_>>()
    );
    for request in ["again-1", "again-2"] {
        let r = env.handler.handle(&ev, &inv(request, 30_000)).await;
        assert_eq!(outcomes(&r), [Outcome::Duplicate]);
    }
    assert_eq!(runs(&env).await, 1);
    let run = started[0].objects[0].job_run_id.clone();
    let id = format!("s3://{}/logs/app.json#{version}", env.raw);
    assert_eq!(status(&env, &id).await, Some((Status::Started, 1, run)));
}

#[tokio::test]
async fn older_versions_arriving_late_are_skipped() {
    let Some(moto) = Moto::start() else { return };
    let _serial = SERIAL.lock().await;
    let env = env(&moto, Mode::PerObject, 50).await;
    let (v1, _) = put(&env, "logs/app.json", b"{\"v\":1}\n").await;
    let (v2, _) = put(&env, "logs/app.json", b"{\"v\":2}\n").await;
    let newer = env
        .handler
        .handle(
            &eventbridge(&env.raw, "logs/app.json", &v2, "0062E99A88DC407461"),
            &inv("r1", 30_000),
        )
        .await;
    assert_eq!(outcomes(&newer), [Outcome::Started]);
    // Sequencers compare right-padded: "0062E99A88DC4074" < "0062E99A88DC407461".
    let late = env
        .handler
        .handle(
            &eventbridge(&env.raw, "logs/app.json", &v1, "0062E99A88DC4074"),
            &inv("r2", 30_000),
        )
        .await;
    assert_eq!(outcomes(&late), [Outcome::Skipped], "{late:?}");
    assert!(
        late.objects[0]
            .reason
            .as_deref()
            .unwrap()
            .starts_with("superseded")
    );
    assert_eq!(runs(&env).await, 1);
}

#[tokio::test]
async fn keys_with_spaces_plus_and_unicode() {
    let Some(moto) = Moto::start() else { return };
    let _serial = SERIAL.lock().await;
    let env = env(&moto, Mode::PerObject, 50).await;
    // S3 notifications form-URL-encode keys: `+` is a space, `%2B` a plus.
    let (v1, _) = put(&env, "logs/a b+c é.json", b"{}\n").await;
    let r = env
        .handler
        .handle(
            &notification(&env.raw, "logs/a+b%2Bc+%C3%A9.json", &v1, "01"),
            &inv("r1", 30_000),
        )
        .await;
    assert_eq!(outcomes(&r), [Outcome::Started], "{r:?}");
    assert_eq!(r.objects[0].key, "logs/a b+c é.json");
    // EventBridge keys are taken literally first, then decoded.
    let (v2, _) = put(&env, "logs/x y.json", b"{}\n").await;
    let r = env
        .handler
        .handle(
            &eventbridge(&env.raw, "logs/x+y.json", &v2, "01"),
            &inv("r2", 30_000),
        )
        .await;
    assert_eq!(outcomes(&r), [Outcome::Started], "{r:?}");
    assert_eq!(r.objects[0].key, "logs/x y.json");
    // A folder marker and an object that is not there are skipped, not failed.
    let r = env
        .handler
        .handle(
            &eventbridge(&env.raw, "logs/missing.json", "nope", "01"),
            &inv("r3", 30_000),
        )
        .await;
    assert_eq!(outcomes(&r), [Outcome::Skipped]);
    assert!(r.failures.is_empty(), "{:?}", r.failures);
}

#[tokio::test]
async fn test_events_start_nothing() {
    let Some(moto) = Moto::start() else { return };
    let _serial = SERIAL.lock().await;
    let env = env(&moto, Mode::PerObject, 50).await;
    for rel in [
        "s3/awsdocs-s3-test-event.json",
        "sqs/umccr-sqs-s3-test-event.json",
    ] {
        let r = env.handler.handle(&fixture(rel), &inv("r", 30_000)).await;
        assert!(
            r.objects.is_empty() && r.failures.is_empty(),
            "{rel}: {r:?}"
        );
        assert_eq!(r.metrics.events_received, 0);
    }
    assert_eq!(runs(&env).await, 0);
}

#[tokio::test]
async fn lease_expiry_after_a_crash_lets_a_retry_claim() {
    let Some(moto) = Moto::start() else { return };
    let _serial = SERIAL.lock().await;
    let env = env(&moto, Mode::PerObject, 50).await;
    let (version, _) = put(&env, "logs/app.json", b"{}\n").await;
    let object = ObjectVersion {
        store: format!("s3://{}", env.raw),
        key: "logs/app.json".into(),
        version: version.clone(),
        size: 3,
        sequencer: Some("0A".into()),
    };
    // A claimant that crashed right after claiming (its invocation would end in 3 s).
    let now = now_ms();
    let crashed = claim_request("crashed", now, 3_000);
    let lease_until_ms = crashed.lease_until_ms;
    env.handler.ledger.claim(&object, &crashed).await.unwrap();
    let ev = eventbridge(&env.raw, "logs/app.json", &version, "0A");
    let held = env.handler.handle(&ev, &inv("r1", 30_000)).await;
    assert_eq!(outcomes(&held), [Outcome::Duplicate]);
    // Wait for the lease's own end (a deadline, not a guess), then a little past it.
    let wait = u64::try_from(lease_until_ms + 50 - now_ms()).unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(wait)).await;
    let retry = env.handler.handle(&ev, &inv("r2", 30_000)).await;
    assert_eq!(outcomes(&retry), [Outcome::Started], "{retry:?}");
    let (status, attempts, _) = status(&env, &object.id()).await.unwrap();
    assert_eq!((status, attempts), (Status::Started, 2));
}

async fn moto_glue_transitions(moto: &Moto, manual: bool) {
    let (path, body) = if manual {
        (
            "/moto-api/state-manager/set-transition",
            json!({"model_name": "glue::job_run", "transition": {"progression": "manual", "times": 1}}),
        )
    } else {
        (
            "/moto-api/state-manager/unset-transition",
            json!({"model_name": "glue::job_run"}),
        )
    };
    let (code, text) = moto.http("POST", path, body.to_string().as_bytes());
    assert_eq!(code, 201, "{path}: {text}");
}

#[tokio::test]
async fn too_many_concurrent_runs_releases_the_claim_and_a_retry_succeeds() {
    let Some(moto) = Moto::start() else { return };
    let _serial = SERIAL.lock().await;
    let env = env(&moto, Mode::PerObject, 1).await;
    // Manual transitions make moto keep runs RUNNING (and enforce MaxConcurrentRuns).
    moto_glue_transitions(&moto, true).await;
    let blocker = env
        .glue
        .start_job_run()
        .job_name(&env.job)
        .send()
        .await
        .unwrap();
    let blocker = blocker.job_run_id().unwrap().to_owned();
    let (version, _) = put(&env, "logs/app.json", b"{}\n").await;
    let ev = eventbridge(&env.raw, "logs/app.json", &version, "0A");
    let id = format!("s3://{}/logs/app.json#{version}", env.raw);

    // A budget the back-off cannot use up before a second try, even on a loaded machine.
    let r = env.handler.handle(&ev, &inv("r1", 6_000)).await;
    moto_glue_transitions(&moto, false).await;
    assert!(r.objects.is_empty(), "{r:?}");
    assert_eq!(r.failures.len(), 1);
    assert!(r.failures[0].error.retryable(), "{}", r.failures[0].error);
    assert!(
        r.failures[0]
            .error
            .to_string()
            .contains("ConcurrentRunsExceeded"),
        "{}",
        r.failures[0].error
    );
    assert!(r.metrics.start_retries >= 1, "backed off: {:?}", r.metrics);
    assert_eq!(status(&env, &id).await, None, "claim released");
    assert!(
        r.into_lambda_result().is_err(),
        "the invocation fails (Lambda retries)"
    );

    // The blocking run ends (each GetJobRun moves a manual run one state on).
    for _ in 0..10 {
        let run = env
            .glue
            .get_job_run()
            .job_name(&env.job)
            .run_id(&blocker)
            .send()
            .await
            .unwrap();
        if run
            .job_run()
            .and_then(|r| r.job_run_state())
            .is_some_and(|s| s.as_str() == "SUCCEEDED")
        {
            break;
        }
    }
    let retry = env.handler.handle(&ev, &inv("r2", 30_000)).await;
    assert_eq!(outcomes(&retry), [Outcome::Started], "{retry:?}");
    assert_eq!(status(&env, &id).await.map(|s| s.0), Some(Status::Started));
}

fn job_state(job: &str, run: &str, state: &str) -> Value {
    json!({"version": "0", "id": "abcdef00-1234-5678-9abc-def012345678",
        "detail-type": "Glue Job State Change", "source": "aws.glue", "account": "123456789012",
        "time": "2024-05-01T00:01:00Z", "region": "us-east-1", "resources": [],
        "detail": {"jobName": job, "severity": if state == "SUCCEEDED" { "INFO" } else { "ERROR" },
            "state": state, "jobRunId": run, "message": format!("Job run {state}")}})
}

#[tokio::test]
async fn batch_mode_manifest_partial_failure_and_run_end() {
    let Some(moto) = Moto::start() else { return };
    let _serial = SERIAL.lock().await;
    let env = env(&moto, Mode::Batch, 50).await;
    let (va, _) = put(&env, "logs/a.json", b"{\"a\":1}\n").await;
    let (vb, _) = put(&env, "logs/b.json", b"{\"b\":1}\n").await;
    let mut broken = eventbridge(&env.raw, "logs/c.json", "v", "01");
    broken["detail"]["object"]
        .as_object_mut()
        .unwrap()
        .remove("key");
    let ev = sqs(&[
        ("m-a", eventbridge(&env.raw, "logs/a.json", &va, "01")),
        ("m-b", eventbridge(&env.raw, "logs/b.json", &vb, "01")),
        ("m-broken", broken),
    ]);
    let r = env.handler.handle(&ev, &inv("req-batch", 30_000)).await;
    assert_eq!(outcomes(&r), [Outcome::Started, Outcome::Started], "{r:?}");
    assert_eq!(r.batch_item_failures(), ["m-broken"]);
    let run = r.objects[0].job_run_id.clone().unwrap();
    assert_eq!(r.objects[1].job_run_id.as_deref(), Some(run.as_str()));
    assert_eq!(r.metrics.runs_started, 1);

    // One manifest, named by the invocation, listing both objects; the run points at it.
    let manifest = format!("s3://{}/tmp/manifests/req-batch.jsonl", env.code);
    let body = env
        .s3
        .get_object()
        .bucket(&env.code)
        .key("tmp/manifests/req-batch.jsonl")
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    let entries = parse_manifest(&manifest, &body).unwrap();
    assert_eq!(
        entries
            .iter()
            .map(|e| (e.key.as_str(), e.version_id.as_deref()))
            .collect::<Vec<_>>(),
        [
            ("logs/a.json", Some(va.as_str())),
            ("logs/b.json", Some(vb.as_str()))
        ]
    );
    let args = env
        .glue
        .get_job_run()
        .job_name(&env.job)
        .run_id(&run)
        .send()
        .await
        .unwrap();
    assert_eq!(
        args.job_run()
            .unwrap()
            .arguments()
            .unwrap()
            .get(ARG_MANIFEST),
        Some(&manifest)
    );
    let answer = r.into_lambda_result().unwrap();
    assert_eq!(
        answer,
        json!({"batchItemFailures": [{"itemIdentifier": "m-broken"}]})
    );

    // The run failed: both objects are started again, in one new run (attempt 2).
    let failed = env
        .handler
        .handle(
            &job_state(&env.job, &run, "FAILED"),
            &inv("req-end-1", 30_000),
        )
        .await;
    assert_eq!(
        outcomes(&failed),
        [Outcome::Started, Outcome::Started],
        "{failed:?}"
    );
    let rerun = failed.objects[0].job_run_id.clone().unwrap();
    assert_ne!(rerun, run);
    let id_a = format!("s3://{}/logs/a.json#{va}", env.raw);
    assert_eq!(
        status(&env, &id_a).await,
        Some((Status::Started, 2, Some(rerun.clone())))
    );
    // It succeeded.
    let done = env
        .handler
        .handle(
            &job_state(&env.job, &rerun, "SUCCEEDED"),
            &inv("req-end-2", 30_000),
        )
        .await;
    assert_eq!(outcomes(&done), [Outcome::Succeeded, Outcome::Succeeded]);
    assert_eq!(
        status(&env, &id_a).await.map(|s| s.0),
        Some(Status::Succeeded)
    );
    // Redelivered events for done objects are duplicates.
    let again = env
        .handler
        .handle(
            &eventbridge(&env.raw, "logs/a.json", &va, "01"),
            &inv("req-again", 30_000),
        )
        .await;
    assert_eq!(outcomes(&again), [Outcome::Duplicate]);
}

#[tokio::test]
async fn per_object_run_end_is_recorded() {
    let Some(moto) = Moto::start() else { return };
    let _serial = SERIAL.lock().await;
    let env = env(&moto, Mode::PerObject, 50).await;
    let (version, _) = put(&env, "logs/app.json", b"{}\n").await;
    let r = env
        .handler
        .handle(
            &eventbridge(&env.raw, "logs/app.json", &version, "01"),
            &inv("r1", 30_000),
        )
        .await;
    let run = r.objects[0].job_run_id.clone().unwrap();
    let done = env
        .handler
        .handle(&job_state(&env.job, &run, "SUCCEEDED"), &inv("r2", 30_000))
        .await;
    assert_eq!(outcomes(&done), [Outcome::Succeeded], "{done:?}");
    let id = format!("s3://{}/logs/app.json#{version}", env.raw);
    assert_eq!(
        status(&env, &id).await,
        Some((Status::Succeeded, 1, Some(run.clone())))
    );
    // The job records each object's result before its end event does: the same result again is
    // fine, another one is refused: a failed condition, reported as such (not an error).
    let ledger = &env.handler.ledger;
    assert_eq!(
        ledger
            .finish(&id, &run, &RunResult::Succeeded)
            .await
            .unwrap(),
        Finished::Recorded { attempts: 1 }
    );
    assert_eq!(
        ledger
            .finish(&id, &run, &RunResult::Failed("late".into()))
            .await
            .unwrap(),
        Finished::NotOwned
    );
}

/// Regression (review of 2af816d): a claim whose response was lost was retried by the SDK, the
/// retry failed its condition against the claim's own IN_PROGRESS item, and the object was
/// reported a duplicate: no run started and no later event would revive it.
#[tokio::test]
async fn a_claim_whose_response_was_lost_is_claimed_not_a_duplicate() {
    let Some(moto) = Moto::start() else { return };
    let _serial = SERIAL.lock().await;
    let env = env(&moto, Mode::PerObject, 50).await;
    let table = env.handler.config.ledger_table.clone();
    for (operation, sequencer) in [("UpdateItem", None), ("TransactWriteItems", Some("0C"))] {
        let (ledger, lost) = scripted_ledger(&moto, &table, operation, &[LOST], true).await;
        let object = ObjectVersion {
            store: format!("s3://{}", env.raw),
            key: format!("logs/lost-{operation}.json"),
            version: "v1".into(),
            size: 3,
            sequencer: sequencer.map(str::to_owned),
        };
        let now = now_ms();
        let request = |owner: &str| claim_request(owner, now, 60_000);
        let claim = ledger.claim(&object, &request("req-lost")).await.unwrap();
        assert_eq!(
            lost.load(AtomicOrdering::SeqCst),
            1,
            "{operation}: the response was lost once"
        );
        assert!(
            matches!(claim, Claim::Claimed { .. }),
            "{operation}: {claim:?}"
        );
        // Read straight from the table: one claim, ours.
        let item = env.handler.ledger.get(&object.id()).await.unwrap().unwrap();
        assert_eq!(
            (item.status, item.attempts, item.owner.as_str()),
            (Status::InProgress, 1, "req-lost")
        );
        // Another claimant is still a duplicate.
        let other = env
            .handler
            .ledger
            .claim(&object, &request("req-other"))
            .await
            .unwrap();
        assert!(
            matches!(other, Claim::Duplicate { .. }),
            "{operation}: {other:?}"
        );
    }

    // The whole handler through a lossy ledger: the object's run starts, once.
    let (ledger, lost) = scripted_ledger(&moto, &table, "TransactWriteItems", &[LOST], true).await;
    let sdk = aws::sdk(&moto).await;
    let handler = Handler {
        config: env.handler.config.clone(),
        store: S3Objects::new(&sdk),
        launcher: GlueJobs::new(env.glue.clone()),
        ledger,
    };
    let (version, _) = put(&env, "logs/lost.json", b"{\"ts\":1}\n").await;
    let ev = eventbridge(&env.raw, "logs/lost.json", &version, "0D");
    let r = handler.handle(&ev, &inv("req-1", 30_000)).await;
    assert_eq!(
        lost.load(AtomicOrdering::SeqCst),
        1,
        "the response was lost once"
    );
    assert_eq!(outcomes(&r), [Outcome::Started], "{:?}", r.failures);
    assert_eq!(runs(&env).await, 1);
    let again = env.handler.handle(&ev, &inv("req-2", 30_000)).await;
    assert_eq!(outcomes(&again), [Outcome::Duplicate]);
}

/// A DynamoDB that answers `operation` with scripted errors. Unless `applied`, each scripted
/// attempt is turned into a harmless `ListTables` before it leaves (so DynamoDB never applies
/// it, as with a real throttle or conflict); with `applied`, the attempt reaches DynamoDB
/// (moto) and is applied, and only its successful answer is replaced (a response lost on the
/// way back). Either way the answer becomes the scripted status and body. Attempts past the
/// script go through unchanged.
#[derive(Debug)]
struct Scripted {
    operation: &'static str,
    answers: std::sync::Mutex<std::collections::VecDeque<Answer>>,
    applied: bool,
    armed: std::sync::Mutex<Option<Answer>>,
    /// Scripted answers given.
    given: Arc<AtomicUsize>,
}

impl Intercept for Scripted {
    fn name(&self) -> &'static str {
        "Scripted"
    }

    fn modify_before_transmit(
        &self,
        ctx: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = ctx.request_mut();
        let target = request
            .headers()
            .get("x-amz-target")
            .unwrap_or_default()
            .to_owned();
        if !target.ends_with(&format!(".{}", self.operation)) {
            return Ok(());
        }
        let Some(answer) = self.answers.lock().unwrap().pop_front() else {
            return Ok(());
        };
        *self.armed.lock().unwrap() = Some(answer);
        if self.applied {
            return Ok(());
        }
        request
            .headers_mut()
            .insert("x-amz-target", "DynamoDB_20120810.ListTables");
        request.headers_mut().insert("content-length", "2");
        *request.body_mut() = ByteStream::from_static(b"{}").into_inner();
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        ctx: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some((status, body)) = self.armed.lock().unwrap().take() {
            if self.applied && !ctx.response().status().is_success() {
                // Not applied after all: nothing was lost; the next attempt gets the answer.
                self.answers.lock().unwrap().push_front((status, body));
                return Ok(());
            }
            self.given.fetch_add(1, AtomicOrdering::SeqCst);
            let response = ctx.response_mut();
            *response.status_mut() = status.try_into()?;
            *response.body_mut() = ByteStream::from_static(body.as_bytes()).into_inner();
        }
        Ok(())
    }
}

const THROTTLED: Answer = (
    400,
    r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput (injected)"}"#,
);
const OVER_CAPACITY: Answer = (
    400,
    r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"The level of configured provisioned throughput for the table was exceeded (injected)"}"#,
);
const INTERNAL: Answer = (
    500,
    r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"Internal server error (injected)"}"#,
);
const LOST: Answer = (
    500,
    r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"response lost (injected by the test)"}"#,
);
const CONFLICT: Answer = (
    400,
    r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","Message":"Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict, None]","CancellationReasons":[{"Code":"TransactionConflict","Message":"Transaction is ongoing for the item"},{"Code":"None"}]}"#,
);

/// A scripted answer: HTTP status and body.
type Answer = (u16, &'static str);
/// A fault case: name, operation, sequencer, script, whether the claim lands in the end.
type Case = (
    &'static str,
    &'static str,
    Option<&'static str>,
    Vec<Answer>,
    bool,
);

/// A ledger over moto whose `operation` first gets `answers`; the SDK retries with short
/// back-off (its standard strategy, 3 attempts) so the test does not wait seconds.
async fn scripted_ledger(
    moto: &Moto,
    table: &str,
    operation: &'static str,
    answers: &[Answer],
    applied: bool,
) -> (DynamoDbLedger, Arc<AtomicUsize>) {
    let given = Arc::new(AtomicUsize::new(0));
    let scripted = Scripted {
        operation,
        answers: std::sync::Mutex::new(answers.iter().copied().collect()),
        applied,
        armed: std::sync::Mutex::new(None),
        given: given.clone(),
    };
    let retry = aws_sdk_dynamodb::config::retry::RetryConfig::standard()
        .with_initial_backoff(Duration::from_millis(5));
    (
        intercepted_ledger(moto, table, scripted, Some(retry)).await,
        given,
    )
}

/// DynamoDB's throttles, 5xx and transaction conflicts, answered by a fake in front of moto:
/// a transient fault is retried and the claim lands once; a persistent one is a retryable
/// error with nothing written; never a duplicate, never a stranded claim.
#[tokio::test]
async fn throttles_5xx_and_conflicts_are_retried_or_retryable() {
    let Some(moto) = Moto::start() else { return };
    let _serial = SERIAL.lock().await;
    let env = env(&moto, Mode::PerObject, 50).await;
    let table = env.handler.config.ledger_table.clone();
    let now = now_ms();
    let request = claim_request("req-fake", now, 60_000);
    // (case, operation, sequencer, script, claimed afterwards?)
    let cases: [Case; 7] = [
        ("throttle-once", "UpdateItem", None, vec![THROTTLED], true),
        (
            "capacity-once",
            "UpdateItem",
            None,
            vec![OVER_CAPACITY],
            true,
        ),
        ("5xx-once", "UpdateItem", None, vec![INTERNAL], true),
        (
            "throttle-always",
            "UpdateItem",
            None,
            vec![THROTTLED; 3],
            false,
        ),
        ("5xx-always", "UpdateItem", None, vec![INTERNAL; 3], false),
        (
            "conflict-twice",
            "TransactWriteItems",
            Some("0A"),
            vec![CONFLICT; 2],
            true,
        ),
        (
            "conflict-always",
            "TransactWriteItems",
            Some("0A"),
            vec![CONFLICT; 6],
            false,
        ),
    ];
    for (case, operation, sequencer, script, claimed) in cases {
        let (ledger, given) = scripted_ledger(&moto, &table, operation, &script, false).await;
        let object = ObjectVersion {
            store: format!("s3://{}", env.raw),
            key: format!("logs/{case}.json"),
            version: "v1".into(),
            size: 3,
            sequencer: sequencer.map(str::to_owned),
        };
        let result = ledger.claim(&object, &request).await;
        assert_eq!(
            given.load(AtomicOrdering::SeqCst),
            script.len(),
            "{case}: every scripted answer was given"
        );
        // Read straight from the table.
        let item = env.handler.ledger.get(&object.id()).await.unwrap();
        if claimed {
            assert!(
                matches!(result, Ok(Claim::Claimed { .. })),
                "{case}: {result:?}"
            );
            let item = item.unwrap();
            assert_eq!(
                (item.status, item.attempts, item.owner.as_str()),
                (Status::InProgress, 1, "req-fake"),
                "{case}"
            );
        } else {
            let err = result.expect_err(case);
            assert!(err.retryable, "{case}: a fault is retryable: {err}");
            assert!(item.is_none(), "{case}: nothing written: {item:?}");
            // The next attempt, with the fault gone, claims it.
            let retry = env.handler.ledger.claim(&object, &request).await;
            assert!(
                matches!(retry, Ok(Claim::Claimed { .. })),
                "{case}: retry {retry:?}"
            );
        }
    }

    // A finish whose write is throttled throughout is retryable, and the claim stays the
    // owner's to finish: a retry records it.
    let object = ObjectVersion {
        store: format!("s3://{}", env.raw),
        key: "logs/finish-throttled.json".into(),
        version: "v1".into(),
        size: 3,
        sequencer: None,
    };
    assert!(matches!(
        env.handler.ledger.claim(&object, &request).await,
        Ok(Claim::Claimed { .. })
    ));
    env.handler
        .ledger
        .start(&object.id(), "req-fake", "jr-fake", now + 60_000)
        .await
        .unwrap();
    let (ledger, _) =
        scripted_ledger(&moto, &table, "UpdateItem", &[OVER_CAPACITY; 3], false).await;
    let err = ledger
        .finish(&object.id(), "jr-fake", &RunResult::Succeeded)
        .await
        .expect_err("throttled finish");
    assert!(err.retryable, "{err}");
    // The SDK's error is kept as the source, not only as text.
    let source = std::error::Error::source(&err).expect("the SDK error is the source");
    assert!(
        source
            .downcast_ref::<aws_sdk_dynamodb::error::SdkError<
                aws_sdk_dynamodb::operation::update_item::UpdateItemError,
                aws_sdk_dynamodb::config::http::HttpResponse,
            >>()
            .and_then(|e| e.as_service_error())
            .is_some_and(|e| e.is_provisioned_throughput_exceeded_exception()),
        "{source:?}"
    );
    let item = env.handler.ledger.get(&object.id()).await.unwrap().unwrap();
    assert_eq!(item.status, Status::Started, "nothing recorded");
    assert!(matches!(
        env.handler
            .ledger
            .finish(&object.id(), "jr-fake", &RunResult::Succeeded)
            .await,
        Ok(Finished::Recorded { attempts: 1 })
    ));
}
