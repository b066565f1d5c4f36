//! The trigger's handler: one event document in, ledger claims and Glue runs out (DESIGN.md §1,
//! §4, §6). Generic over the narrow traits below, so the same code runs in the Lambda, in
//! `loglake trigger`, and in unit tests with in-memory fakes.
//!
//! Per created object (per-object mode):
//! 1. filter: the raw bucket and prefix, folder markers (`…/`), empty objects;
//! 2. `HeadObject` confirms the key (literal, then form-URL-decoded) and gives size, ETag and
//!    version: gone or empty objects are skipped;
//! 3. the ledger claims `s3://bucket/key#<version>` (lease = the invocation's deadline) — a
//!    version already claimed, started or done is a *duplicate* (not an error), an older
//!    version than one already seen for the key is *skipped*;
//! 4. `StartJobRun` (exponential backoff with jitter on throttling and
//!    `ConcurrentRunsExceededException`, within the invocation's time);
//! 5. the ledger records STARTED with the run id. If the run could not be started the claim is
//!    released and the object fails the invocation (retryable), so Lambda's retries, the SQS
//!    redrive or the DLQ take over.
//!
//! In batch mode steps 1–3 run for every object of the invocation, then one manifest (JSON lines
//! of [`ManifestEntry`]) is written and one run is started for all claimed objects.
//!
//! Events that came through SQS are answered with `batchItemFailures`: only the messages whose
//! objects failed are retried. "Glue Job State Change" events end the run's ledger items
//! (STARTED → SUCCEEDED/FAILED); a FAILED object with attempts left is claimed and started again.

use std::collections::BTreeSet;
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use loglake_core::ledger::{
    Claim, ClaimRequest, Ledger, LedgerError, ObjectVersion, RunResult, version_name,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::config::{Mode, TriggerConfig};
use crate::event::{self, CreatedObject, EventError, Origin, form_url_decode};
use crate::metrics::Metrics;
use loglake_core::lifecycle::{Launch, Launcher, Lifecycle};

mod error;
mod job_state;
mod manifest;
mod ports;
mod report;

pub use error::TriggerError;
pub use job_state::JobState;
pub use manifest::{ManifestEntry, parse_manifest};
pub use ports::{AwsError, ErrorKind, Head, JobLauncher, ManifestStore, ObjectHead};
pub use report::{Failure, Invocation, ObjectReport, Outcome, Response};

/// Glue run argument: the object's bucket (per-object runs).
pub const ARG_BUCKET: &str = "--LOGLAKE_BUCKET";
/// Glue run argument: the object's key, decoded (per-object runs).
pub const ARG_KEY: &str = "--LOGLAKE_KEY";
/// Glue run argument: the ledger version (version id, else ETag) (per-object runs).
pub const ARG_VERSION: &str = "--LOGLAKE_VERSION";
/// Glue run argument: the S3 version id to read, when the bucket is versioned (per-object runs).
pub const ARG_VERSION_ID: &str = "--LOGLAKE_VERSION_ID";
/// Glue run argument: `s3://bucket/key` of the run's manifest (batch runs).
pub const ARG_MANIFEST: &str = "--LOGLAKE_MANIFEST";

/// Time kept back from the invocation's deadline for releasing claims and answering.
pub const RESERVE_MS: i64 = 1_000;
const BACKOFF_BASE_MS: u64 = 100;
const BACKOFF_CAP_MS: u64 = 5_000;

/// A claimed object waiting for its run.
#[derive(Debug, Clone)]
struct Pending {
    entry: ManifestEntry,
    message_id: Option<String>,
}

pub use loglake_core::ledger::now_ms;

/// The wait before retry `attempt` (0-based): exponential from 100 ms, capped at 5 s, with
/// "equal jitter" (a random point in the upper half), so concurrent invocations spread out.
pub fn backoff_delay(attempt: u32, random: u64) -> Duration {
    let ceiling = BACKOFF_BASE_MS
        .saturating_mul(1 << attempt.min(16))
        .min(BACKOFF_CAP_MS);
    let half = ceiling / 2;
    Duration::from_millis(half + random % (ceiling - half + 1))
}

/// The trigger: configuration plus the clients, built once per process.
#[derive(Debug)]
pub struct Handler<S, J, L> {
    /// Settings.
    pub config: TriggerConfig,
    /// S3: HeadObject and manifests.
    pub store: S,
    /// Glue.
    pub launcher: J,
    /// The ledger.
    pub ledger: L,
}

/// A Glue run as the lifecycle's launcher: the batch manifest (if any) written, then
/// StartJobRun. The run works on its objects as soon as it starts, so a claim whose STARTED
/// could not be recorded is not given back.
struct GlueRun<'h, S, J, L> {
    handler: &'h Handler<S, J, L>,
    inv: &'h Invocation,
    args: Vec<(String, String)>,
    /// `(bucket, key, body)` of a batch's manifest.
    manifest: Option<(String, String, Vec<u8>)>,
    retries: AtomicU64,
}

impl<S, J, L> Launcher for GlueRun<'_, S, J, L>
where
    S: ObjectHead + ManifestStore,
    J: JobLauncher,
    L: Ledger,
{
    type Error = TriggerError;

    async fn launch(&self, _ids: &[String]) -> Result<String, TriggerError> {
        if let Some((bucket, key, body)) = &self.manifest {
            self.handler.store.put(bucket, key, body.clone()).await?;
        }
        self.handler
            .start_with_backoff(&self.args, self.inv, &self.retries)
            .await
    }

    fn runs_before_start(&self) -> bool {
        true
    }
}

enum Admitted {
    Claimed(ManifestEntry),
    Done(ObjectReport),
}

impl<S, J, L> Handler<S, J, L>
where
    S: ObjectHead + ManifestStore,
    J: JobLauncher,
    L: Ledger,
{
    /// Handles one event document. Never fails as a whole: failures are in the response.
    pub async fn handle(&self, event: &Value, inv: &Invocation) -> Response {
        let mut r = Response::default();
        if let Some(state) = JobState::from_event(event) {
            self.on_job_state(&state, inv, &mut r).await;
            return r;
        }
        let mut pending = Vec::new();
        for (message_id, doc) in split_sqs(event) {
            r.sqs |= message_id.is_some();
            let decoded = match event::decode_value(&doc) {
                Ok(d) => d,
                Err(e) => {
                    r.fail(message_id, None, e.into());
                    continue;
                }
            };
            for reason in decoded.ignored() {
                tracing::debug!(reason, "ignored");
            }
            self.admit_all(
                decoded.objects(),
                message_id.as_deref(),
                inv,
                &mut r,
                &mut pending,
            )
            .await;
        }
        self.launch(pending, inv, &mut r).await;
        r
    }

    /// Claims and starts runs for objects a listing found (`loglake backfill`), exactly as for
    /// an event naming them: in batch mode, one run over a manifest of those claimed.
    pub async fn handle_objects(&self, objects: &[CreatedObject], inv: &Invocation) -> Response {
        let mut r = Response::default();
        let mut pending = Vec::new();
        self.admit_all(objects.iter(), None, inv, &mut r, &mut pending)
            .await;
        self.launch(pending, inv, &mut r).await;
        r
    }

    async fn admit_all(
        &self,
        objects: impl Iterator<Item = &CreatedObject>,
        message_id: Option<&str>,
        inv: &Invocation,
        r: &mut Response,
        pending: &mut Vec<Pending>,
    ) {
        for o in objects {
            r.metrics.events_received += 1;
            match self.admit(o, inv, r).await {
                Ok(Admitted::Claimed(entry)) => pending.push(Pending {
                    entry,
                    message_id: message_id.map(str::to_owned),
                }),
                Ok(Admitted::Done(report)) => r.objects.push(report),
                Err(e) => r.fail(
                    message_id.map(str::to_owned),
                    Some(format!("s3://{}/{}", o.bucket, o.key)),
                    e,
                ),
            }
        }
    }

    /// Steps 1–3: filter, HeadObject, claim.
    /// One created object: filtered, confirmed with `HeadObject`, named, claimed.
    async fn admit(
        &self,
        o: &CreatedObject,
        inv: &Invocation,
        r: &mut Response,
    ) -> Result<Admitted, TriggerError> {
        if let Some(reason) = self.filtered(o) {
            return Ok(skipped(o, reason, r));
        }
        let entry = match self.entry(o).await? {
            Ok(entry) => entry,
            Err(reason) => return Ok(skipped(o, reason, r)),
        };
        let object = entry.object_version();
        let claim = self.lifecycle(inv).claim(&object).await?;
        admitted(entry, object.id(), claim, r)
    }

    /// Why the event's object is not ours, before any AWS call: another bucket or prefix, a
    /// folder marker, an empty object.
    fn filtered(&self, o: &CreatedObject) -> Option<String> {
        if let Some(raw) = &self.config.raw_bucket
            && raw != &o.bucket
        {
            return Some(format!(
                "bucket `{}` is not the raw bucket `{raw}`",
                o.bucket
            ));
        }
        if !o.key.starts_with(&self.config.raw_prefix) {
            return Some(format!(
                "key is outside the raw prefix `{}`",
                self.config.raw_prefix
            ));
        }
        if o.key.ends_with('/') {
            return Some("folder marker".into());
        }
        (o.size == Some(0)).then(|| "empty object".into())
    }

    /// The object as `HeadObject` confirms it (key reading, size, version name), or why it is
    /// skipped (gone, empty).
    async fn entry(
        &self,
        o: &CreatedObject,
    ) -> Result<Result<ManifestEntry, String>, TriggerError> {
        let Some((key, head)) = self.confirm(o).await? else {
            return Ok(Err(
                "not found: deleted since the event, or not this key".into()
            ));
        };
        if head.size == 0 {
            return Ok(Err("empty object".into()));
        }
        let version_id = head.version_id.clone().or_else(|| o.version_id.clone());
        let Some(version) = version_name(
            version_id.as_deref(),
            head.etag.as_deref().or(o.etag.as_deref()),
        ) else {
            return Err(TriggerError::Aws(AwsError::new(
                "s3",
                "HeadObject",
                format!("s3://{}/{key}", o.bucket),
                "no version id and no ETag: the object version cannot be named",
                ErrorKind::Permanent,
            )));
        };
        Ok(Ok(ManifestEntry {
            bucket: o.bucket.clone(),
            key,
            version,
            version_id,
            size: head.size,
            sequencer: o.sequencer.clone(),
        }))
    }

    fn claim_request(&self, inv: &Invocation) -> ClaimRequest {
        ClaimRequest::new(
            &inv.request_id,
            now_ms(),
            inv.deadline_ms,
            self.config.max_attempts,
            i64::from(self.config.ttl_days) * 86_400_000,
        )
    }

    /// HeadObject on the key as the event decoded it, then on the other reading (EventBridge
    /// keys literal then form-URL-decoded; notification keys decoded then literal).
    async fn confirm(&self, o: &CreatedObject) -> Result<Option<(String, Head)>, TriggerError> {
        let other = match o.origin {
            Origin::EventBridge => form_url_decode(&o.raw_key).ok(),
            Origin::S3Notification => Some(o.raw_key.clone()),
        }
        .filter(|k| k != &o.key);
        // Every reading is tried before an error counts: one reading's error (a 403 where the
        // role cannot list the bucket, a throttle) must not hide the other reading's object.
        let mut first_error = None;
        for key in std::iter::once(o.key.clone()).chain(other) {
            match self
                .store
                .head(&o.bucket, &key, o.version_id.as_deref())
                .await
            {
                Ok(Some(head)) => return Ok(Some((key, head))),
                Ok(None) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e.into()),
            None => Ok(None),
        }
    }

    /// The lifecycle's ledger steps for this invocation: its request id owns the claims,
    /// until its deadline.
    fn lifecycle<'a>(&'a self, inv: &'a Invocation) -> Lifecycle<'a, L> {
        Lifecycle {
            ledger: &self.ledger,
            owner: &inv.request_id,
            lease_until_ms: inv.deadline_ms,
            request: self.claim_request(inv),
        }
    }

    /// Steps 4–5 for the claimed objects: one run each (per-object) or one for all (batch).
    async fn launch(&self, pending: Vec<Pending>, inv: &Invocation, r: &mut Response) {
        if pending.is_empty() {
            return;
        }
        match self.config.mode {
            Mode::PerObject => {
                for p in pending {
                    let run = GlueRun {
                        handler: self,
                        inv,
                        args: p.entry.run_arguments(),
                        manifest: None,
                        retries: AtomicU64::new(0),
                    };
                    self.start(&run, std::slice::from_ref(&p), inv, r).await;
                }
            }
            Mode::Batch => {
                let bucket = self.config.manifest_bucket.clone().unwrap_or_default();
                let key = format!("{}{}.jsonl", self.config.manifest_prefix, inv.request_id);
                let mut body = Vec::new();
                for p in &pending {
                    // Serializing a struct of strings and numbers cannot fail.
                    body.extend(serde_json::to_vec(&p.entry).unwrap_or_default());
                    body.push(b'\n');
                }
                let run = GlueRun {
                    handler: self,
                    inv,
                    args: vec![(ARG_MANIFEST.to_owned(), format!("s3://{bucket}/{key}"))],
                    manifest: Some((bucket, key, body)),
                    retries: AtomicU64::new(0),
                };
                self.start(&run, &pending, inv, r).await;
            }
        }
    }

    /// One run for `pending` through the lifecycle: launched, then STARTED recorded for each
    /// (a failure there is reported, and the event retried; the run is already going and
    /// rewrites the same files if it runs twice); when no run started, the claims are given
    /// back and every object fails (retryable).
    async fn start(
        &self,
        run: &GlueRun<'_, S, J, L>,
        pending: &[Pending],
        inv: &Invocation,
        r: &mut Response,
    ) {
        let ids: Vec<String> = pending
            .iter()
            .map(|p| p.entry.object_version().id())
            .collect();
        let launched = self.lifecycle(inv).launch(run, &ids).await;
        r.metrics.start_retries += run.retries.load(Ordering::Relaxed);
        let (run_id, recorded) = match launched {
            Launch::Started { run_id, recorded } => (run_id, recorded),
            Launch::NotStarted(e) => {
                for p in pending {
                    r.fail(p.message_id.clone(), Some(p.entry.uri()), e.clone());
                }
                return;
            }
        };
        r.metrics.runs_started += 1;
        if run.manifest.is_some() {
            tracing::info!(job_run_id = %run_id, objects = pending.len(), "batch run started");
        }
        for (p, started) in pending.iter().zip(recorded) {
            match started {
                Ok(()) => {
                    r.metrics.objects_started += 1;
                    tracing::info!(bucket = %p.entry.bucket, key = %p.entry.key, version = %p.entry.version, job_run_id = %run_id, "run started");
                    r.objects
                        .push(p.entry.report(Outcome::Started, Some(run_id.clone()), None));
                }
                Err(e) => r.fail(p.message_id.clone(), Some(p.entry.uri()), e.into()),
            }
        }
    }

    /// StartJobRun, retried with back-off + jitter on throttling and 5xx while the
    /// invocation's deadline allows; `retries` counts the retries.
    async fn start_with_backoff(
        &self,
        args: &[(String, String)],
        inv: &Invocation,
        retries: &AtomicU64,
    ) -> Result<String, TriggerError> {
        let job = &self.config.glue_job;
        let random = RandomState::new();
        let mut attempt = 0u32;
        loop {
            match self.launcher.start_run(job, args).await {
                Ok(run_id) => return Ok(run_id),
                Err(e) if e.kind != ErrorKind::Permanent => {
                    let delay = backoff_delay(attempt, random.hash_one(attempt));
                    let wait = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
                    if now_ms().saturating_add(wait).saturating_add(RESERVE_MS) > inv.deadline_ms {
                        return Err(e.into());
                    }
                    retries.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(job = %job, attempt, delay_ms = wait, error = %e, "StartJobRun retried");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// A run ended: finish its items; restart FAILED ones with attempts left.
    async fn on_job_state(&self, state: &JobState, inv: &Invocation, r: &mut Response) {
        if state.job_name != self.config.glue_job {
            tracing::debug!(job = %state.job_name, "state change of another job");
            return;
        }
        let Some(result) = state.result() else {
            tracing::debug!(job_run_id = %state.run_id, state = %state.state, "not a final state");
            return;
        };
        let entries = match self.run_entries(&state.run_id).await {
            Ok(e) => e,
            Err(e) => return r.fail(None, None, e),
        };
        let mut restart = Vec::new();
        let life = self.lifecycle(inv);
        for entry in entries {
            let id = entry.object_version().id();
            let run = Some(state.run_id.clone());
            match life.finish(&id, &state.run_id, &result).await {
                Ok(Some((_, attempts))) => match &result {
                    RunResult::Succeeded | RunResult::Superseded { .. } => {
                        r.metrics.objects_succeeded += 1;
                        tracing::info!(id = %id, job_run_id = %state.run_id, "SUCCEEDED");
                        r.objects.push(entry.report(Outcome::Succeeded, run, None));
                    }
                    RunResult::Failed(why) => {
                        r.metrics.objects_failed += 1;
                        if attempts < self.config.max_attempts {
                            tracing::warn!(id = %id, job_run_id = %state.run_id, attempts, error = %why, "run failed; starting again");
                            restart.push(entry);
                        } else {
                            r.metrics.attempts_exhausted += 1;
                            tracing::error!(id = %id, job_run_id = %state.run_id, attempts, error = %why, "run failed; no attempts left, left FAILED for the operator");
                            r.objects.push(entry.report(
                                Outcome::Failed,
                                run,
                                Some(format!(
                                    "{why} (attempt {attempts} of {})",
                                    self.config.max_attempts
                                )),
                            ));
                        }
                    }
                },
                // The item moved on (another run took it over): this end is stale. Only a
                // failed condition means that; any other error fails the invocation below.
                Ok(None) => {
                    let why = format!("run {} no longer owns the item", state.run_id);
                    tracing::warn!(id = %id, job_run_id = %state.run_id, "stale run end ignored");
                    r.objects
                        .push(entry.report(Outcome::Skipped, run, Some(why)));
                }
                Err(e) => r.fail(None, Some(entry.uri()), e.into()),
            }
        }
        let mut pending = Vec::new();
        for mut entry in restart {
            // The key's sequencer guard already passed for this version.
            entry.sequencer = None;
            let object = entry.object_version();
            match life.claim(&object).await {
                Ok(Claim::Claimed { .. }) => pending.push(Pending {
                    entry,
                    message_id: None,
                }),
                Ok(other) => tracing::info!(id = %object.id(), claim = ?other, "not restarted"),
                Err(e) => r.fail(None, Some(entry.uri()), e.into()),
            }
        }
        self.launch(pending, inv, r).await;
    }

    /// The objects a run was started for: its arguments, or its manifest.
    async fn run_entries(&self, run_id: &str) -> Result<Vec<ManifestEntry>, TriggerError> {
        let args = self
            .launcher
            .run_arguments(&self.config.glue_job, run_id)
            .await?;
        let arg = |name: &str| args.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        if let Some(uri) = arg(ARG_MANIFEST) {
            let (bucket, key) = uri
                .strip_prefix("s3://")
                .and_then(|rest| rest.split_once('/'))
                .ok_or_else(|| TriggerError::RunArguments {
                    run_id: run_id.to_owned(),
                    message: format!("{ARG_MANIFEST} `{uri}` is not s3://bucket/key"),
                })?;
            let body = self.store.get(bucket, key).await?;
            return parse_manifest(&uri, &body);
        }
        match (arg(ARG_BUCKET), arg(ARG_KEY), arg(ARG_VERSION)) {
            (Some(bucket), Some(key), Some(version)) => Ok(vec![ManifestEntry {
                bucket,
                key,
                version,
                version_id: arg(ARG_VERSION_ID),
                size: 0,
                sequencer: None,
            }]),
            // A run started by hand (a backfill, the console): no ledger items to move.
            _ => {
                tracing::info!(job_run_id = %run_id, "run not started by the trigger; no ledger items");
                Ok(Vec::new())
            }
        }
    }
}

/// An object the trigger leaves alone, counted and logged with the reason.
fn skipped(o: &CreatedObject, reason: String, r: &mut Response) -> Admitted {
    r.metrics.objects_skipped += 1;
    tracing::info!(bucket = %o.bucket, key = %o.key, reason = %reason, "skipped");
    let mut report = ObjectReport::new(o.key.clone(), Outcome::Skipped);
    report.bucket = Some(o.bucket.clone());
    report.version_id.clone_from(&o.version_id);
    report.reason = Some(reason);
    Admitted::Done(report)
}

/// What a claim's answer means for the object: claimed (its run is next), or done (a
/// duplicate; superseded or out of attempts, reported skipped); another version in flight is a
/// retryable error (the event comes back once it is done).
fn admitted(
    entry: ManifestEntry,
    id: String,
    claim: Claim,
    r: &mut Response,
) -> Result<Admitted, TriggerError> {
    if let Claim::KeyBusy { other } = claim {
        return Err(TriggerError::KeyBusy { id, other });
    }
    let Some(refusal) = claim.refusal() else {
        tracing::debug!(id = %id, claim = ?claim, "claimed");
        return Ok(Admitted::Claimed(entry));
    };
    let outcome = match refusal.outcome {
        Outcome::Duplicate => {
            r.metrics.duplicates_skipped += 1;
            tracing::info!(id = %id, reason = %refusal.reason, "duplicate");
            Outcome::Duplicate
        }
        Outcome::Exhausted => {
            r.metrics.objects_skipped += 1;
            r.metrics.attempts_exhausted += 1;
            tracing::warn!(id = %id, reason = %refusal.reason, "left for the operator");
            Outcome::Skipped
        }
        _ => {
            r.metrics.objects_skipped += 1;
            tracing::info!(id = %id, reason = %refusal.reason, "skipped");
            Outcome::Skipped
        }
    };
    Ok(Admitted::Done(entry.report(
        outcome,
        refusal.job_run_id,
        Some(refusal.reason),
    )))
}

/// Splits an SQS event into its messages, each a document of its own, so one bad message fails
/// only itself. Any other document is one message without an id.
fn split_sqs(event: &Value) -> Vec<(Option<String>, Value)> {
    if let Some(records) = event.get("Records").and_then(Value::as_array)
        && !records.is_empty()
        && records
            .iter()
            .all(|r| r.get("eventSource").and_then(Value::as_str) == Some("aws:sqs"))
    {
        return records
            .iter()
            .map(|r| {
                let id = r
                    .get("messageId")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                (id, json!({ "Records": [r] }))
            })
            .collect();
    }
    vec![(None, event.clone())]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        assert_eq!(backoff_delay(0, 0), Duration::from_millis(50));
        assert_eq!(backoff_delay(0, 50), Duration::from_millis(100));
        assert_eq!(backoff_delay(3, 0), Duration::from_millis(400));
        assert_eq!(
            backoff_delay(30, u64::MAX),
            Duration::from_millis(2_500 + u64::MAX % 2_501)
        );
        assert!(backoff_delay(30, 7) <= Duration::from_millis(BACKOFF_CAP_MS));
    }

    #[test]
    fn glue_state_events() {
        let doc = json!({"source": "aws.glue", "detail-type": "Glue Job State Change",
            "detail": {"jobName": "j", "state": "TIMEOUT", "jobRunId": "jr_1", "message": "late"}});
        let s = JobState::from_event(&doc).expect("state event");
        assert_eq!(s.result(), Some(RunResult::Failed("TIMEOUT: late".into())));
        let running = json!({"source": "aws.glue", "detail-type": "Glue Job State Change",
            "detail": {"jobName": "j", "state": "RUNNING", "jobRunId": "jr_1"}});
        assert_eq!(
            JobState::from_event(&running).and_then(|s| s.result()),
            None
        );
        assert!(JobState::from_event(&json!({"source": "aws.s3"})).is_none());
    }

    #[test]
    fn manifest_errors_name_the_line() {
        let body = b"{\"bucket\":\"b\",\"key\":\"k\",\"version\":\"v\"}\n\nnot json\n";
        let e = parse_manifest("s3://c/m.jsonl", body).unwrap_err();
        assert!(
            e.to_string().starts_with("manifest s3://c/m.jsonl line 3:"),
            "{e}"
        );
        assert!(!e.retryable());
    }
}
