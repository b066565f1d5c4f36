//! The Glue run's step of an object's lifecycle: what one Spark task does for one object of the
//! run (`loglake glue-task object`), generic over S3's answer to "which version is current"
//! ([`ObjectHead`]), the ledger ([`Ledger`]) and the work that transforms and publishes
//! ([`Publish`]).
//!
//! ```text
//!  current version ≠ this one ──────────────────────────────► Superseded { by } (nothing written)
//!  current version = this one (or the key is gone) ─► publish ─► Published
//!        └─ a newer version arrived meanwhile ─► publish the current one again (≤ 3 rounds)
//!  then: ledger STARTED → SUCCEEDED (superseded_by) | FAILED, only while this run holds it
//! ```
//!
//! Versions of one key share their output files (the same source id), and on AWS two runs of
//! one key can be in flight at once, in any order. The first check keeps an older version from
//! overwriting a newer one's published files; the second repairs the case where the newer
//! version's run published first and this run's files then replaced its files.

use std::future::Future;
use std::time::Instant;

use loglake_core::ledger::{Finished, Ledger, RunResult, Status, version_name};
use loglake_core::lifecycle::{ObjectReport, Outcome};
use serde::Serialize;

use crate::handler::{AwsError, ManifestEntry, ObjectHead};

/// How many times a task publishes the key's current version again after its own publish.
pub const REPUBLISH_ROUNDS: usize = 3;

/// The work of one object version: transform it and publish its files. Blocking work belongs
/// on a blocking thread (`spawn_blocking`); the future only awaits it.
pub trait Publish: Send + Sync {
    /// What a publish reports (the transform's summary).
    type Summary: Serialize + Send;

    /// Transforms and publishes `object`'s key at S3 version `version_id` (`None`: the key's
    /// current object). `Err` carries the reason, naming the object.
    fn publish(
        &self,
        object: &ManifestEntry,
        version_id: Option<&str>,
    ) -> impl Future<Output = Result<Self::Summary, String>> + Send;
}

/// The ledger a task records its result in: the table's ledger and the run holding the items.
#[derive(Debug)]
pub struct RunLedger<L> {
    /// The ledger.
    pub ledger: L,
    /// The Glue run id (`--JOB_RUN_ID`).
    pub run_id: String,
}

/// One object of a Glue run, processed.
#[derive(Debug)]
pub struct GlueTask<H, L, P> {
    /// S3's current versions.
    pub head: H,
    /// Where results are recorded; `None` runs record nothing (a run started by hand).
    pub ledger: Option<RunLedger<L>>,
    /// Transform and publish.
    pub work: P,
}

/// What happened to the object.
#[derive(Debug)]
pub enum TaskOutcome<S> {
    /// Transformed and published.
    Published {
        /// The transform's summary.
        summary: S,
        /// The newer version published again after this one (see the module docs).
        republished: Option<String>,
    },
    /// Not published: the key's current version is another one.
    Superseded {
        /// The current version.
        superseded_by: String,
    },
    /// Not processed.
    Failed {
        /// Why.
        error: String,
    },
}

/// What the ledger said to the task's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "ledger", content = "ledger_error", rename_all = "snake_case")]
pub enum Recorded {
    /// Recorded SUCCEEDED or FAILED.
    Recorded,
    /// The item is not this run's any more (another run took it over): left as it is.
    NotOwned,
    /// No ledger for this run.
    NotAsked,
    /// The ledger could not be written (the run must fail: its end event records it).
    Error(String),
}

/// The task's one line of output (`loglake glue-task object` prints it as JSON): the object's
/// report (the lifecycle's, as `loglake run` and `loglake trigger` print it: `outcome`
/// processed | superseded | failed, `summary`, `error`), and what only a Glue task knows.
#[derive(Debug, Serialize)]
pub struct TaskResult<S> {
    /// The object's report.
    #[serde(flatten)]
    pub report: ObjectReport<S>,
    /// `s3://bucket/key`.
    pub source: String,
    /// Processed (published or superseded) and recorded (or not this run's to record).
    pub ok: bool,
    /// The key's current version, when it replaced this one before it was published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<String>,
    /// The newer version published again after this one (see the module docs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub republished: Option<String>,
    /// The ledger's answer.
    #[serde(flatten)]
    pub recorded: Recorded,
    /// Wall time, seconds.
    pub seconds: f64,
}

impl<H: ObjectHead, L: Ledger, P: Publish> GlueTask<H, L, P> {
    /// Processes `object` and records the result: never fails, the result says what happened.
    pub async fn run(&self, object: ManifestEntry) -> TaskResult<P::Summary> {
        let started = Instant::now();
        let outcome = self.work(&object).await;
        let (recorded, status) = self.record(&object, &outcome).await;
        let ok = !matches!(outcome, TaskOutcome::Failed { .. })
            && !matches!(recorded, Recorded::Error(_));
        let version = object.object_version();
        let (mut report, superseded_by, republished) = match outcome {
            TaskOutcome::Published {
                summary,
                republished,
            } => {
                let mut report = ObjectReport::of(&version, Outcome::Processed);
                report.summary = Some(summary);
                (report, None, republished)
            }
            TaskOutcome::Superseded { superseded_by } => (
                ObjectReport::of(&version, Outcome::Superseded),
                Some(superseded_by),
                None,
            ),
            TaskOutcome::Failed { error } => {
                (ObjectReport::failed(&version, None, error), None, None)
            }
        };
        report.bucket = Some(object.bucket.clone());
        report.version_id.clone_from(&object.version_id);
        report.status = status;
        report.job_run_id = self.ledger.as_ref().map(|run| run.run_id.clone());
        TaskResult {
            source: format!("s3://{}/{}", object.bucket, object.key),
            report,
            ok,
            superseded_by,
            republished,
            recorded,
            seconds: (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
        }
    }

    async fn work(&self, object: &ManifestEntry) -> TaskOutcome<P::Summary> {
        match self.current(object).await {
            Err(e) => {
                return TaskOutcome::Failed {
                    error: e.to_string(),
                };
            }
            Ok(Some((now, _))) if now != object.version => {
                return TaskOutcome::Superseded { superseded_by: now };
            }
            Ok(_) => {}
        }
        match self
            .work
            .publish(object, object.version_id.as_deref())
            .await
        {
            Ok(summary) => TaskOutcome::Published {
                summary,
                republished: self.publish_newest(object).await,
            },
            Err(error) => TaskOutcome::Failed { error },
        }
    }

    /// The key's current version as the ledger names it, and its S3 version id; `None` when
    /// the key has no current object.
    async fn current(
        &self,
        object: &ManifestEntry,
    ) -> Result<Option<(String, Option<String>)>, AwsError> {
        let head = self.head.head(&object.bucket, &object.key, None).await?;
        Ok(head.and_then(|h| {
            version_name(h.version_id.as_deref(), h.etag.as_deref()).map(|v| (v, h.version_id))
        }))
    }

    /// After publishing `object`, publishes the key's current version again while it is
    /// another one; returns the version published last, if any. A failure stops it (the newer
    /// version's own run reports it).
    async fn publish_newest(&self, object: &ManifestEntry) -> Option<String> {
        let mut published = object.version.clone();
        let mut republished = None;
        for _ in 0..REPUBLISH_ROUNDS {
            let (now, version_id) = match self.current(object).await {
                Ok(Some(current)) if current.0 != published => current,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(object = %object.key, error = %e, "cannot check for a newer version");
                    break;
                }
            };
            if let Err(e) = self.work.publish(object, version_id.as_deref()).await {
                tracing::warn!(object = %object.key, version = %now, error = %e, "republishing the newer version failed; its own run reports it");
                break;
            }
            published.clone_from(&now);
            republished = Some(now);
        }
        republished
    }

    async fn record(
        &self,
        object: &ManifestEntry,
        outcome: &TaskOutcome<P::Summary>,
    ) -> (Recorded, Option<Status>) {
        let Some(run) = &self.ledger else {
            return (Recorded::NotAsked, None);
        };
        let result = match outcome {
            TaskOutcome::Published { .. } => RunResult::Succeeded,
            TaskOutcome::Superseded { superseded_by } => RunResult::Superseded {
                by: superseded_by.clone(),
            },
            TaskOutcome::Failed { error } => RunResult::Failed(error.clone()),
        };
        let id = object.object_version().id();
        match run.ledger.finish(&id, &run.run_id, &result).await {
            Ok(Finished::Recorded { .. }) => (Recorded::Recorded, Some(result.status())),
            Ok(Finished::NotOwned) => {
                tracing::warn!(id = %id, job_run_id = %run.run_id, "the ledger item is not this run's; left as it is");
                (Recorded::NotOwned, None)
            }
            Err(e) => (Recorded::Error(e.to_string()), None),
        }
    }
}
