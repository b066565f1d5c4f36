//! The handler's logic with in-memory fakes of S3, Glue and the ledger (the moto tests in
//! `loglake-aws` run the same paths against the real SDK clients).

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::type_complexity)]

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use loglake_core::ledger::{
    Claim, ClaimCheck, ClaimRequest, Finished, Ledger, LedgerError, LedgerItem, ObjectVersion,
    RunResult, Status, claim_decision, sequencer_sort_key,
};
use loglake_trigger::config::{Mode, TriggerConfig};
use loglake_trigger::handler::{
    ARG_KEY, ARG_MANIFEST, AwsError, ErrorKind, Handler, Head, Invocation, JobLauncher,
    ManifestStore, ObjectHead, Outcome, Response, now_ms, parse_manifest,
};
use serde_json::{Value, json};

#[derive(Default)]
struct FakeS3 {
    objects: Mutex<HashMap<(String, String), Head>>,
    failing: Mutex<Vec<String>>,
    /// Keys HeadObject answers 403 for (a role without s3:ListBucket asking for a missing key).
    forbidden: Mutex<Vec<String>>,
    manifests: Mutex<HashMap<String, Vec<u8>>>,
    heads: AtomicUsize,
}

impl FakeS3 {
    fn put(&self, bucket: &str, key: &str, size: u64, version: &str) {
        self.objects.lock().unwrap().insert(
            (bucket.into(), key.into()),
            Head {
                size,
                etag: Some(format!("etag-{key}")),
                version_id: Some(version.into()),
            },
        );
    }
}

impl ObjectHead for FakeS3 {
    async fn head(
        &self,
        bucket: &str,
        key: &str,
        _v: Option<&str>,
    ) -> Result<Option<Head>, AwsError> {
        self.heads.fetch_add(1, Ordering::SeqCst);
        if self.forbidden.lock().unwrap().iter().any(|k| k == key) {
            return Err(AwsError::new(
                "s3",
                "HeadObject",
                key,
                "403 Forbidden",
                ErrorKind::Permanent,
            ));
        }
        if self.failing.lock().unwrap().iter().any(|k| k == key) {
            return Err(AwsError::new(
                "s3",
                "HeadObject",
                key,
                "503 SlowDown",
                ErrorKind::Transient,
            ));
        }
        Ok(self
            .objects
            .lock()
            .unwrap()
            .get(&(bucket.into(), key.into()))
            .cloned())
    }
}

impl ManifestStore for FakeS3 {
    async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), AwsError> {
        self.manifests
            .lock()
            .unwrap()
            .insert(format!("s3://{bucket}/{key}"), body);
        Ok(())
    }
    async fn get(&self, bucket: &str, key: &str) -> Result<Vec<u8>, AwsError> {
        Ok(self.manifests.lock().unwrap()[&format!("s3://{bucket}/{key}")].clone())
    }
}

#[derive(Default)]
struct FakeGlue {
    /// Errors to answer before succeeding.
    errors: Mutex<VecDeque<ErrorKind>>,
    runs: Mutex<Vec<(String, Vec<(String, String)>)>>,
    calls: AtomicUsize,
}

impl JobLauncher for FakeGlue {
    async fn start_run(
        &self,
        job: &str,
        arguments: &[(String, String)],
    ) -> Result<String, AwsError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if let Some(kind) = self.errors.lock().unwrap().pop_front() {
            return Err(AwsError::new(
                "glue",
                "StartJobRun",
                job,
                "ConcurrentRunsExceededException",
                kind,
            ));
        }
        let mut runs = self.runs.lock().unwrap();
        let id = format!("jr_{}", runs.len() + 1);
        runs.push((id.clone(), arguments.to_vec()));
        Ok(id)
    }
    async fn run_arguments(
        &self,
        _job: &str,
        run_id: &str,
    ) -> Result<Vec<(String, String)>, AwsError> {
        Ok(self
            .runs
            .lock()
            .unwrap()
            .iter()
            .find(|(id, _)| id == run_id)
            .unwrap()
            .1
            .clone())
    }
}

/// The ledger semantics of DESIGN.md §4 over a map (the sequencer guard included).
#[derive(Default)]
struct MemLedger {
    items: Mutex<HashMap<String, LedgerItem>>,
    latest: Mutex<HashMap<String, String>>,
    /// An error every `finish` answers (access denied, KMS, validation), when set.
    finish_error: Mutex<Option<LedgerError>>,
}

fn lost(op: &'static str, id: &str) -> LedgerError {
    LedgerError::new("memory", op, id, "condition failed", false)
}

impl Ledger for MemLedger {
    async fn claim(&self, o: &ObjectVersion, req: &ClaimRequest) -> Result<Claim, LedgerError> {
        let mut items = self.items.lock().unwrap();
        let id = o.id();
        match claim_decision(items.get(&id), req.now_ms, req.max_attempts) {
            ClaimCheck::Held(status) => {
                return Ok(Claim::Duplicate {
                    status,
                    job_run_id: items[&id].job_run_id.clone(),
                });
            }
            ClaimCheck::Exhausted => {
                return Ok(Claim::Exhausted {
                    attempts: items[&id].attempts,
                });
            }
            ClaimCheck::Claimable => {}
        }
        if let Some(seq) = &o.sequencer {
            let mut latest = self.latest.lock().unwrap();
            let key = sequencer_sort_key(seq);
            if let Some(newer) = latest.get(&o.key_uri()).filter(|n| **n > key) {
                return Ok(Claim::Superseded {
                    newer: newer.clone(),
                });
            }
            latest.insert(o.key_uri(), key);
        }
        let attempts = items.get(&id).map_or(0, |i| i.attempts) + 1;
        let mut item = LedgerItem::new(&id, Status::InProgress, &req.owner, req.lease_until_ms);
        item.attempts = attempts;
        items.insert(id, item);
        Ok(Claim::Claimed {
            attempt: Some(attempts),
        })
    }
    async fn start(
        &self,
        id: &str,
        owner: &str,
        run: &str,
        _lease: i64,
    ) -> Result<(), LedgerError> {
        let mut items = self.items.lock().unwrap();
        match items.get_mut(id) {
            Some(i) if i.status == Status::InProgress && i.owner == owner => {
                i.status = Status::Started;
                i.job_run_id = Some(run.into());
                Ok(())
            }
            _ => Err(lost("start", id)),
        }
    }
    async fn release(&self, id: &str, owner: &str) -> Result<(), LedgerError> {
        let mut items = self.items.lock().unwrap();
        if items
            .get(id)
            .is_some_and(|i| i.status == Status::InProgress && i.owner == owner)
        {
            items.remove(id);
        }
        Ok(())
    }
    async fn finish(
        &self,
        id: &str,
        run: &str,
        result: &RunResult,
    ) -> Result<Finished, LedgerError> {
        if let Some(e) = self.finish_error.lock().unwrap().as_ref() {
            return Err(e.clone());
        }
        let mut items = self.items.lock().unwrap();
        match items.get_mut(id) {
            Some(i) if i.job_run_id.as_deref() == Some(run) => {
                let to = result.status();
                if i.status != Status::Started && i.status != to {
                    return Ok(Finished::NotOwned);
                }
                i.status = to;
                i.superseded_by = match result {
                    RunResult::Superseded { by } => Some(by.clone()),
                    _ => None,
                };
                i.error = match result {
                    RunResult::Failed(why) => Some(why.clone()),
                    _ => None,
                };
                Ok(Finished::Recorded {
                    attempts: i.attempts,
                })
            }
            _ => Ok(Finished::NotOwned),
        }
    }
    async fn get(&self, id: &str) -> Result<Option<LedgerItem>, LedgerError> {
        Ok(self.items.lock().unwrap().get(id).cloned())
    }
}

fn config(mode: Mode) -> TriggerConfig {
    TriggerConfig {
        ledger_table: "ledger".into(),
        glue_job: "transform".into(),
        mode,
        manifest_bucket: Some("code".into()),
        manifest_prefix: "tmp/manifests/".into(),
        raw_bucket: Some("raw".into()),
        raw_prefix: "logs/".into(),
        max_attempts: 2,
        ttl_days: 30,
        metrics_namespace: "loglake".into(),
    }
}

fn handler(mode: Mode) -> Handler<FakeS3, FakeGlue, MemLedger> {
    Handler {
        config: config(mode),
        store: FakeS3::default(),
        launcher: FakeGlue::default(),
        ledger: MemLedger::default(),
    }
}

fn inv(request: &str, budget_ms: i64) -> Invocation {
    Invocation {
        request_id: request.into(),
        deadline_ms: now_ms() + budget_ms,
    }
}

fn eventbridge(bucket: &str, key: &str, version: &str, sequencer: &str) -> Value {
    json!({"version": "0", "source": "aws.s3", "detail-type": "Object Created",
        "detail": {"bucket": {"name": bucket},
            "object": {"key": key, "size": 10, "etag": "e", "version-id": version, "sequencer": sequencer},
            "reason": "PutObject"}})
}

fn sqs(messages: &[(&str, Value)]) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|(id, body)| json!({"messageId": id, "eventSource": "aws:sqs", "body": body.to_string()}))
        .collect();
    json!({ "Records": records })
}

fn outcomes(r: &Response) -> Vec<Outcome> {
    r.objects.iter().map(|o| o.outcome).collect()
}

#[tokio::test]
async fn duplicate_events_start_one_run() {
    let h = handler(Mode::PerObject);
    h.store.put("raw", "logs/a.json", 10, "v1");
    let ev = eventbridge("raw", "logs/a.json", "v1", "0A");
    let first = h.handle(&ev, &inv("r1", 30_000)).await;
    assert_eq!(outcomes(&first), [Outcome::Started]);
    assert_eq!(first.objects[0].job_run_id.as_deref(), Some("jr_1"));
    for request in ["r2", "r3"] {
        let again = h.handle(&ev, &inv(request, 30_000)).await;
        assert_eq!(outcomes(&again), [Outcome::Duplicate]);
        assert_eq!(again.metrics.duplicates_skipped, 1);
    }
    assert_eq!(h.launcher.calls.load(Ordering::SeqCst), 1);
    let out = first.into_lambda_result().unwrap();
    assert_eq!(out["objects"][0]["outcome"], "started");
}

/// An object written while versioning was off or suspended has the version id `null`: the
/// ledger names it by its ETag, as every other path does (`ledger::version_name`).
#[tokio::test]
async fn a_null_version_id_is_named_by_the_etag() {
    let h = handler(Mode::PerObject);
    h.store.put("raw", "logs/a.json", 10, "null");
    let r = h
        .handle(
            &eventbridge("raw", "logs/a.json", "null", "0A"),
            &inv("r1", 30_000),
        )
        .await;
    assert_eq!(outcomes(&r), [Outcome::Started], "{:?}", r.failures);
    let id = "s3://raw/logs/a.json#etag-logs/a.json";
    assert!(h.ledger.get(id).await.unwrap().is_some(), "no item {id}");
}

#[tokio::test]
async fn concurrent_duplicates_start_one_run() {
    let h = handler(Mode::PerObject);
    h.store.put("raw", "logs/a.json", 10, "v1");
    let ev = eventbridge("raw", "logs/a.json", "v1", "0A");
    let invs: Vec<Invocation> = (0..8).map(|i| inv(&format!("r{i}"), 30_000)).collect();
    let all = futures::future::join_all(invs.iter().map(|i| h.handle(&ev, i))).await;
    let started = all
        .iter()
        .filter(|r| outcomes(r) == [Outcome::Started])
        .count();
    assert_eq!(started, 1);
    assert_eq!(h.launcher.runs.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn filters_skip_without_aws_calls() {
    let h = handler(Mode::PerObject);
    for (bucket, key) in [
        ("other", "logs/a.json"),
        ("raw", "elsewhere/a.json"),
        ("raw", "logs/dir/"),
    ] {
        let r = h
            .handle(&eventbridge(bucket, key, "v", "01"), &inv("r", 30_000))
            .await;
        assert_eq!(outcomes(&r), [Outcome::Skipped], "{bucket}/{key}");
    }
    assert_eq!(h.store.heads.load(Ordering::SeqCst), 0);
    // Gone by the time of the event: HeadObject says so (literal, then decoded: 2 calls).
    let r = h
        .handle(
            &eventbridge("raw", "logs/gone+now.json", "v", "01"),
            &inv("r", 30_000),
        )
        .await;
    assert_eq!(outcomes(&r), [Outcome::Skipped]);
    assert_eq!(h.store.heads.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn eventbridge_keys_are_confirmed_literal_then_decoded() {
    let h = handler(Mode::PerObject);
    h.store.put("raw", "logs/a b.json", 10, "v1");
    let r = h
        .handle(
            &eventbridge("raw", "logs/a+b.json", "v1", "01"),
            &inv("r", 30_000),
        )
        .await;
    assert_eq!(outcomes(&r), [Outcome::Started]);
    assert_eq!(r.objects[0].key, "logs/a b.json");
    let runs = h.launcher.runs.lock().unwrap();
    assert!(
        runs[0]
            .1
            .contains(&(ARG_KEY.into(), "logs/a b.json".into()))
    );
}

/// Regression (review of 2af816d): a 403 on the literal reading stopped `confirm` before it tried
/// the decoded one, so a key that needs decoding was never confirmed.
#[tokio::test]
async fn a_403_on_one_key_reading_does_not_hide_the_other() {
    let h = handler(Mode::PerObject);
    h.store.put("raw", "logs/a b.json", 10, "v1");
    h.store
        .forbidden
        .lock()
        .unwrap()
        .push("logs/a+b.json".into());
    let r = h
        .handle(
            &eventbridge("raw", "logs/a+b.json", "v1", "01"),
            &inv("r", 30_000),
        )
        .await;
    assert_eq!(outcomes(&r), [Outcome::Started], "{:?}", r.failures);
    assert_eq!(r.objects[0].key, "logs/a b.json");
    // Neither reading found, one of them refused: an error naming the refusal, not "gone".
    h.store
        .forbidden
        .lock()
        .unwrap()
        .push("logs/c+d.json".into());
    let r = h
        .handle(
            &eventbridge("raw", "logs/c+d.json", "v1", "02"),
            &inv("r2", 30_000),
        )
        .await;
    assert!(r.objects.is_empty());
    assert!(!r.failures[0].error.retryable());
    assert!(
        r.failures[0].error.to_string().contains("403"),
        "{:?}",
        r.failures
    );
    // Neither reading found, no refusal: the object is gone, skipped.
    let r = h
        .handle(
            &eventbridge("raw", "logs/e+f.json", "v1", "03"),
            &inv("r3", 30_000),
        )
        .await;
    assert_eq!(outcomes(&r), [Outcome::Skipped]);
}

/// Regression (review of 2af816d): every non-retryable `finish` error (access denied, KMS,
/// validation) was taken for a stale run end and ignored, leaving items STARTED for ever. Only
/// a failed condition is stale.
#[tokio::test]
async fn a_run_end_the_ledger_cannot_record_fails_the_invocation() {
    let h = handler(Mode::PerObject);
    h.store.put("raw", "logs/a.json", 10, "v1");
    h.handle(
        &eventbridge("raw", "logs/a.json", "v1", "01"),
        &inv("r1", 30_000),
    )
    .await;
    *h.ledger.finish_error.lock().unwrap() = Some(LedgerError::new(
        "memory",
        "finish",
        "s3://raw/logs/a.json#v1",
        "AccessDeniedException: not authorized to perform dynamodb:UpdateItem",
        false,
    ));
    let done = json!({"source": "aws.glue", "detail-type": "Glue Job State Change",
        "detail": {"jobName": "transform", "state": "SUCCEEDED", "jobRunId": "jr_1"}});
    let r = h.handle(&done, &inv("r2", 30_000)).await;
    assert!(r.objects.is_empty(), "{:?}", r.objects);
    assert_eq!(r.failures.len(), 1);
    let e = r.into_lambda_result().unwrap_err();
    assert!(e.to_string().contains("AccessDenied"), "{e}");
    let item = h
        .ledger
        .get("s3://raw/logs/a.json#v1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item.status, Status::Started);
}

#[tokio::test]
async fn older_versions_are_superseded() {
    let h = handler(Mode::PerObject);
    h.store.put("raw", "logs/a.json", 10, "v2");
    let r = h
        .handle(
            &eventbridge("raw", "logs/a.json", "v2", "00B0"),
            &inv("r", 30_000),
        )
        .await;
    assert_eq!(outcomes(&r), [Outcome::Started]);
    h.store.put("raw", "logs/a.json", 10, "v1");
    let late = h
        .handle(
            &eventbridge("raw", "logs/a.json", "v1", "00A0"),
            &inv("r", 30_000),
        )
        .await;
    assert_eq!(outcomes(&late), [Outcome::Skipped]);
    assert!(
        late.objects[0]
            .reason
            .as_deref()
            .unwrap()
            .starts_with("superseded")
    );
}

#[tokio::test]
async fn throttled_starts_back_off_then_succeed() {
    let h = handler(Mode::PerObject);
    h.store.put("raw", "logs/a.json", 10, "v1");
    h.launcher
        .errors
        .lock()
        .unwrap()
        .extend([ErrorKind::Throttled, ErrorKind::Throttled]);
    let r = h
        .handle(
            &eventbridge("raw", "logs/a.json", "v1", "01"),
            &inv("r", 30_000),
        )
        .await;
    assert_eq!(outcomes(&r), [Outcome::Started]);
    assert_eq!(r.metrics.start_retries, 2);
}

#[tokio::test]
async fn a_run_that_cannot_start_releases_its_claim() {
    let h = handler(Mode::PerObject);
    h.store.put("raw", "logs/a.json", 10, "v1");
    h.launcher
        .errors
        .lock()
        .unwrap()
        .extend([ErrorKind::Throttled; 64]);
    // 1.5 s: the budget allows a few retries, then keeps its reserve.
    let ev = eventbridge("raw", "logs/a.json", "v1", "01");
    let r = h.handle(&ev, &inv("r1", 1_500)).await;
    assert!(r.objects.is_empty());
    assert_eq!(r.failures.len(), 1);
    assert!(r.failures[0].error.retryable());
    assert!(
        h.ledger
            .get("s3://raw/logs/a.json#v1")
            .await
            .unwrap()
            .is_none(),
        "claim released"
    );
    assert!(
        r.clone().into_lambda_result().is_err(),
        "the invocation fails, so Lambda retries"
    );
    // The retry claims again at once and starts.
    h.launcher.errors.lock().unwrap().clear();
    let retry = h.handle(&ev, &inv("r2", 30_000)).await;
    assert_eq!(outcomes(&retry), [Outcome::Started]);
}

#[tokio::test]
async fn batch_mode_one_manifest_one_run_and_partial_failures() {
    let h = handler(Mode::Batch);
    h.store.put("raw", "logs/a.json", 10, "v1");
    h.store.put("raw", "logs/b.json", 20, "v1");
    h.store.put("raw", "logs/c.json", 30, "v1");
    h.store.failing.lock().unwrap().push("logs/c.json".into());
    let ev = sqs(&[
        ("m1", eventbridge("raw", "logs/a.json", "v1", "01")),
        ("m2", eventbridge("raw", "logs/b.json", "v1", "01")),
        ("m3", eventbridge("raw", "logs/c.json", "v1", "01")),
        ("m4", json!({"Event": "s3:TestEvent", "Bucket": "raw"})),
        ("m5", json!({"detail-type": "Object Created"})),
    ]);
    let r = h.handle(&ev, &inv("req-1", 30_000)).await;
    assert_eq!(outcomes(&r), [Outcome::Started, Outcome::Started]);
    // m3's object failed (retryable); m5 is not an event (it was not processed, so it is not
    // deleted: SQS redrives it to the DLQ). The test event m4 is processed: nothing to do.
    assert_eq!(r.batch_item_failures(), ["m3", "m5"]);
    let m5 = r
        .failures
        .iter()
        .find(|f| f.message_id.as_deref() == Some("m5"))
        .unwrap();
    assert!(!m5.error.retryable());
    assert!(
        m5.error.to_string().contains("$.Records[0].body"),
        "{}",
        m5.error
    );
    let runs = h.launcher.runs.lock().unwrap().clone();
    assert_eq!(runs.len(), 1);
    assert_eq!(
        runs[0].1,
        [(
            ARG_MANIFEST.to_owned(),
            "s3://code/tmp/manifests/req-1.jsonl".to_owned()
        )]
    );
    let body = h.store.manifests.lock().unwrap()["s3://code/tmp/manifests/req-1.jsonl"].clone();
    let entries = parse_manifest("m", &body).unwrap();
    assert_eq!(
        entries.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(),
        ["logs/a.json", "logs/b.json"]
    );
    let out = r.into_lambda_result().unwrap();
    assert_eq!(
        out,
        json!({"batchItemFailures": [{"itemIdentifier": "m3"}, {"itemIdentifier": "m5"}]})
    );
}

#[tokio::test]
async fn run_ends_finish_items_and_restart_failures() {
    let h = handler(Mode::Batch);
    h.store.put("raw", "logs/a.json", 10, "v1");
    h.store.put("raw", "logs/b.json", 20, "v1");
    let ev = sqs(&[
        ("m1", eventbridge("raw", "logs/a.json", "v1", "01")),
        ("m2", eventbridge("raw", "logs/b.json", "v1", "01")),
    ]);
    h.handle(&ev, &inv("req-1", 30_000)).await;
    let state = |run: &str, state: &str| {
        json!({"source": "aws.glue", "detail-type": "Glue Job State Change",
            "detail": {"jobName": "transform", "state": state, "jobRunId": run, "message": "boom"}})
    };
    // jr_1 failed: both objects (attempt 1 of 2) are claimed again and started in one new run.
    let r = h
        .handle(&state("jr_1", "FAILED"), &inv("req-2", 30_000))
        .await;
    assert_eq!(outcomes(&r), [Outcome::Started, Outcome::Started]);
    assert_eq!(r.objects[0].job_run_id.as_deref(), Some("jr_2"));
    assert_eq!(r.metrics.objects_failed, 2);
    // A stale end of jr_1 changes nothing.
    let stale = h
        .handle(&state("jr_1", "SUCCEEDED"), &inv("req-3", 30_000))
        .await;
    assert_eq!(outcomes(&stale), [Outcome::Skipped, Outcome::Skipped]);
    // jr_2 failed too: no attempts left.
    let r = h
        .handle(&state("jr_2", "FAILED"), &inv("req-4", 30_000))
        .await;
    assert_eq!(outcomes(&r), [Outcome::Failed, Outcome::Failed]);
    assert_eq!(r.metrics.attempts_exhausted, 2);
    let item = h
        .ledger
        .get("s3://raw/logs/a.json#v1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((item.status, item.attempts), (Status::Failed, 2));
    // A new event for the exhausted version is skipped, not started.
    let again = h
        .handle(
            &eventbridge("raw", "logs/a.json", "v1", "01"),
            &inv("req-5", 30_000),
        )
        .await;
    assert_eq!(outcomes(&again), [Outcome::Skipped]);
    assert_eq!(h.launcher.runs.lock().unwrap().len(), 2);
    // A run started by hand (no loglake arguments) has no items to finish: not an error.
    h.launcher
        .runs
        .lock()
        .unwrap()
        .push(("jr_manual".into(), vec![]));
    let manual = h
        .handle(&state("jr_manual", "SUCCEEDED"), &inv("req-7", 30_000))
        .await;
    assert!(manual.objects.is_empty() && manual.failures.is_empty());
    // Other jobs and non-final states are not ours.
    let other = json!({"source": "aws.glue", "detail-type": "Glue Job State Change",
        "detail": {"jobName": "other", "state": "SUCCEEDED", "jobRunId": "jr_9"}});
    assert!(
        h.handle(&other, &inv("req-6", 30_000))
            .await
            .objects
            .is_empty()
    );
}

#[tokio::test]
async fn per_object_run_success_is_recorded() {
    let h = handler(Mode::PerObject);
    h.store.put("raw", "logs/a.json", 10, "v1");
    h.handle(
        &eventbridge("raw", "logs/a.json", "v1", "01"),
        &inv("r1", 30_000),
    )
    .await;
    let done = json!({"source": "aws.glue", "detail-type": "Glue Job State Change",
        "detail": {"jobName": "transform", "state": "SUCCEEDED", "jobRunId": "jr_1"}});
    let r = h.handle(&done, &inv("r2", 30_000)).await;
    assert_eq!(outcomes(&r), [Outcome::Succeeded]);
    let item = h
        .ledger
        .get("s3://raw/logs/a.json#v1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item.status, Status::Succeeded);
}

#[tokio::test]
async fn unreadable_documents_fail_without_retry() {
    let h = handler(Mode::PerObject);
    let r = h.handle(&json!({"hello": 1}), &inv("r", 30_000)).await;
    assert_eq!(r.failures.len(), 1);
    assert!(!r.failures[0].error.retryable());
    let e = r.into_lambda_result().unwrap_err();
    assert!(e.to_string().contains("not an S3 event document"), "{e}");
}

/// The handler's own cost per event (AWS calls answered by in-memory fakes). Run by
/// `scripts/bench-trigger.sh` in a release build; ignored in the test suite.
#[tokio::test]
#[ignore = "benchmark: scripts/bench-trigger.sh"]
async fn handler_overhead() {
    let h = handler(Mode::PerObject);
    let n = 20_000;
    let events: Vec<Value> = (0..n)
        .map(|i| {
            let key = format!("logs/app/{i:06}.json");
            h.store.put("raw", &key, 100, "v1");
            eventbridge("raw", &key, "v1", &format!("{i:018X}"))
        })
        .collect();
    let invocation = inv("bench", 60_000);
    let t = std::time::Instant::now();
    for ev in &events {
        let r = h.handle(ev, &invocation).await;
        assert_eq!(r.metrics.objects_started, 1);
    }
    let new = t.elapsed();
    let t = std::time::Instant::now();
    for ev in &events {
        assert_eq!(
            h.handle(ev, &invocation).await.metrics.duplicates_skipped,
            1
        );
    }
    let dup = t.elapsed();
    println!(
        "overhead per new object: {:.1} us; per duplicate: {:.1} us ({n} events each)",
        new.as_secs_f64() * 1e6 / f64::from(n),
        dup.as_secs_f64() * 1e6 / f64::from(n)
    );
}

/// The Glue task's step of the lifecycle (`loglake_trigger::glue_task`), with S3's current
/// version scripted: a newer version can land before the task starts or while it publishes.
mod glue_task {
    use std::sync::Arc;

    use loglake_trigger::glue_task::{GlueTask, Publish, Recorded, RunLedger};
    use loglake_trigger::handler::ManifestEntry;

    use super::*;

    /// HeadObject over a shared FakeS3, so the fake work can put a newer version mid-task.
    struct Shared(Arc<FakeS3>);

    impl ObjectHead for Shared {
        async fn head(&self, b: &str, k: &str, v: Option<&str>) -> Result<Option<Head>, AwsError> {
            self.0.head(b, k, v).await
        }
    }

    /// Records each publish's version id; can land a newer version during the first publish,
    /// or fail.
    struct Work {
        s3: Arc<FakeS3>,
        published: Mutex<Vec<Option<String>>>,
        land_during_first: Option<&'static str>,
        fail: bool,
    }

    impl Publish for Work {
        type Summary = Value;
        async fn publish(&self, o: &ManifestEntry, v: Option<&str>) -> Result<Value, String> {
            let mut published = self.published.lock().unwrap();
            published.push(v.map(str::to_owned));
            if let (1, Some(newer)) = (published.len(), self.land_during_first) {
                self.s3.put(&o.bucket, &o.key, 10, newer);
            }
            if self.fail {
                return Err(format!(
                    "s3://{}/{}: corrupt gzip at byte 7",
                    o.bucket, o.key
                ));
            }
            Ok(json!({"records_written": 3, "version_id": v}))
        }
    }

    fn entry(version: &str) -> ManifestEntry {
        ManifestEntry {
            bucket: "raw".into(),
            key: "logs/a.json".into(),
            version: version.into(),
            version_id: Some(version.into()),
            size: 10,
            sequencer: None,
        }
    }

    /// A task for `logs/a.json` whose current version is `current`, and whose ledger holds
    /// `v1` STARTED by run `jr_1`.
    async fn task(
        current: &str,
        newer: Option<&'static str>,
        fail: bool,
    ) -> GlueTask<Shared, MemLedger, Work> {
        let s3 = Arc::new(FakeS3::default());
        s3.put("raw", "logs/a.json", 10, current);
        let ledger = MemLedger::default();
        let v1 = entry("v1").object_version();
        let req = ClaimRequest::new("lambda", now_ms(), now_ms() + 60_000, 3, 86_400_000);
        ledger.claim(&v1, &req).await.unwrap();
        ledger.start(&v1.id(), "lambda", "jr_1", 0).await.unwrap();
        GlueTask {
            head: Shared(s3.clone()),
            ledger: Some(RunLedger {
                ledger,
                run_id: "jr_1".into(),
            }),
            work: Work {
                s3,
                published: Mutex::new(Vec::new()),
                land_during_first: newer,
                fail,
            },
        }
    }

    fn item(t: &GlueTask<Shared, MemLedger, Work>) -> LedgerItem {
        let id = entry("v1").object_version().id();
        t.ledger.as_ref().unwrap().ledger.items.lock().unwrap()[&id].clone()
    }

    #[tokio::test]
    async fn the_current_version_is_published_and_recorded() {
        let t = task("v1", None, false).await;
        let r = t.run(entry("v1")).await;
        assert!(r.ok && r.recorded == Recorded::Recorded, "{r:?}");
        assert_eq!(
            (r.report.outcome, &r.republished),
            (Outcome::Processed, &None)
        );
        assert_eq!(r.report.status, Some(Status::Succeeded), "{r:?}");
        assert_eq!(*t.work.published.lock().unwrap(), [Some("v1".to_owned())]);
        let i = item(&t);
        assert_eq!(
            (i.status, i.superseded_by, i.error),
            (Status::Succeeded, None, None)
        );
        let line: Value = serde_json::to_value(&r).unwrap();
        assert_eq!(
            (
                &line["outcome"],
                &line["ledger"],
                &line["source"],
                &line["summary"]["records_written"]
            ),
            (
                &json!("processed"),
                &json!("recorded"),
                &json!("s3://raw/logs/a.json"),
                &json!(3)
            )
        );
    }

    #[tokio::test]
    async fn a_superseded_version_is_not_published_and_names_the_newer_one() {
        let t = task("v2", None, false).await;
        let r = t.run(entry("v1")).await;
        assert!(r.ok, "{r:?}");
        assert!(
            t.work.published.lock().unwrap().is_empty(),
            "nothing published"
        );
        let i = item(&t);
        assert_eq!(
            (i.status, i.superseded_by.as_deref()),
            (Status::Succeeded, Some("v2"))
        );
        let line: Value = serde_json::to_value(&r).unwrap();
        assert_eq!(
            (&line["outcome"], &line["superseded_by"]),
            (&json!("superseded"), &json!("v2"))
        );
        assert!(line.get("summary").is_none(), "{line}");
    }

    #[tokio::test]
    async fn a_version_landing_during_the_publish_is_published_again() {
        let t = task("v1", Some("v2"), false).await;
        let r = t.run(entry("v1")).await;
        assert!(r.ok, "{r:?}");
        assert_eq!(r.report.outcome, Outcome::Processed, "{r:?}");
        assert_eq!(r.republished.as_deref(), Some("v2"), "{r:?}");
        // v1 first, then the key's current version by its version id: its files are the last.
        assert_eq!(
            *t.work.published.lock().unwrap(),
            [Some("v1".to_owned()), Some("v2".to_owned())]
        );
        assert_eq!(item(&t).status, Status::Succeeded);
    }

    #[tokio::test]
    async fn a_failed_publish_is_recorded_failed_with_its_reason() {
        let t = task("v1", None, true).await;
        let r = t.run(entry("v1")).await;
        assert!(!r.ok, "{r:?}");
        let i = item(&t);
        assert_eq!(i.status, Status::Failed);
        assert!(i.error.unwrap().contains("corrupt gzip at byte 7"));
    }

    #[tokio::test]
    async fn an_item_another_run_took_over_is_left_alone() {
        let t = task("v1", None, false).await;
        let id = entry("v1").object_version().id();
        t.ledger
            .as_ref()
            .unwrap()
            .ledger
            .items
            .lock()
            .unwrap()
            .get_mut(&id)
            .unwrap()
            .job_run_id = Some("jr_other".into());
        let r = t.run(entry("v1")).await;
        assert!(r.ok && r.recorded == Recorded::NotOwned, "{r:?}");
        let i = item(&t);
        assert_eq!(
            (i.status, i.job_run_id.as_deref()),
            (Status::Started, Some("jr_other"))
        );
    }

    #[tokio::test]
    async fn a_ledger_that_cannot_be_written_fails_the_task() {
        let t = task("v1", None, false).await;
        *t.ledger
            .as_ref()
            .unwrap()
            .ledger
            .finish_error
            .lock()
            .unwrap() = Some(lost("finish", "x"));
        let r = t.run(entry("v1")).await;
        assert!(!r.ok && matches!(r.recorded, Recorded::Error(_)), "{r:?}");
        let line: Value = serde_json::to_value(&r).unwrap();
        assert_eq!(line["ledger"], json!("error"));
        assert!(
            line["ledger_error"]
                .as_str()
                .unwrap()
                .contains("condition failed"),
            "{line}"
        );
    }

    #[tokio::test]
    async fn a_failing_head_object_fails_the_task_before_any_publish() {
        let t = task("v1", None, false).await;
        t.work.s3.failing.lock().unwrap().push("logs/a.json".into());
        let r = t.run(entry("v1")).await;
        assert!(
            !r.ok && t.work.published.lock().unwrap().is_empty(),
            "{r:?}"
        );
        assert_eq!(item(&t).status, Status::Failed);
    }
}
