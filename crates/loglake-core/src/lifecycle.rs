//! One object version's lifecycle, for every adapter (the local pipeline, the trigger Lambda,
//! the Glue task): claim → start → work → finish, over any [`Ledger`].
//!
//! ```text
//!  claim ─ refused ─► Duplicate | Superseded | Deferred (key busy) | Exhausted   (Claim::refusal)
//!    │ claimed
//!    ▼
//!  launch (the adapter's Launcher: a local run id, or glue:StartJobRun)
//!    │ failed ─► release the claims (nothing runs), the caller retries
//!    ▼
//!  start: IN_PROGRESS → STARTED(run)        failed ─► release if the run is not live yet
//!    ▼
//!  work (here, or in the Glue run) ─► finish: STARTED(run) → SUCCEEDED | FAILED
//! ```
//!
//! The adapters differ only in when the work runs (in the same process, or in a Glue run whose
//! end arrives as an event) and in what they print; the steps, their outcomes and the report
//! are these.

use std::future::Future;

use serde::Serialize;

use crate::ledger::{
    Claim, ClaimRequest, Finished, Ledger, LedgerError, ObjectVersion, RunResult, Status,
};

/// What happened to an object version, in every adapter's report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A run was started for it; its end is recorded later (the trigger).
    Started,
    /// Transformed and published by this step (the local pipeline, the Glue task).
    Processed,
    /// Its run succeeded (a run's end event).
    Succeeded,
    /// Already claimed, started or done.
    Duplicate,
    /// A newer version of its key replaces it.
    Superseded,
    /// Another version of its key is in flight: left for later.
    Deferred,
    /// Failed before and out of attempts: left for the operator.
    Exhausted,
    /// Not taken (see the report's `reason`): not ours, gone, or a stale run end.
    Skipped,
    /// Not processed (see the report's `error`).
    Failed,
}

/// One object version's report: `loglake run`, `loglake trigger` and `loglake glue-task` print
/// these as JSON lines (`S` is the transform's summary where the adapter ran it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectReport<S = Never> {
    /// The ledger id, `<store>/<key>#<version>` (absent when the object was never named).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The bucket (S3 objects).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// The key (decoded).
    pub key: String,
    /// The ledger's version name (version id, else ETag; a local file's mtime and hash).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The S3 version id, when versioned.
    pub version_id: Option<String>,
    /// What happened.
    pub outcome: Outcome,
    /// The ledger state afterwards, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// The run that processes it.
    pub job_run_id: Option<String>,
    /// The transform's summary (processed objects).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<S>,
    /// Why it was not taken.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The summary type of a report that never carries one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Never {}

impl<S> ObjectReport<S> {
    /// A report of `outcome` for an object version named in the ledger (id, key, version).
    pub fn of(version: &ObjectVersion, outcome: Outcome) -> Self {
        Self {
            id: Some(version.id()),
            version: Some(version.version.clone()),
            ..Self::new(version.key.clone(), outcome)
        }
    }

    /// A failed version's report.
    pub fn failed(version: &ObjectVersion, job_run_id: Option<String>, error: String) -> Self {
        Self {
            job_run_id,
            error: Some(error),
            ..Self::of(version, Outcome::Failed)
        }
    }

    /// A refused claim's report.
    pub fn refused(version: &ObjectVersion, refusal: Refusal) -> Self {
        Self {
            status: refusal.status,
            job_run_id: refusal.job_run_id,
            reason: Some(refusal.reason),
            ..Self::of(version, refusal.outcome)
        }
    }

    /// A report of `outcome` for `key`; the other fields are set by the caller.
    pub fn new(key: impl Into<String>, outcome: Outcome) -> Self {
        Self {
            id: None,
            bucket: None,
            key: key.into(),
            version: None,
            version_id: None,
            outcome,
            status: None,
            job_run_id: None,
            summary: None,
            reason: None,
            error: None,
        }
    }
}

/// A refused claim, as a report would say it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Duplicate, Superseded, Deferred or Exhausted.
    pub outcome: Outcome,
    /// The item's state, when the refusal knows it.
    pub status: Option<Status>,
    /// The run holding the item (duplicates).
    pub job_run_id: Option<String>,
    /// Why, in words.
    pub reason: String,
}

impl Claim {
    /// `None` for a claim held by the caller; otherwise what the refusal means.
    pub fn refusal(&self) -> Option<Refusal> {
        let refusal = |outcome, status, job_run_id, reason: String| Refusal {
            outcome,
            status,
            job_run_id,
            reason,
        };
        Some(match self {
            Claim::Claimed { .. } => return None,
            Claim::Duplicate { status, job_run_id } => refusal(
                Outcome::Duplicate,
                Some(*status),
                job_run_id.clone(),
                format!("already {status}"),
            ),
            Claim::Superseded { newer } => refusal(
                Outcome::Superseded,
                None,
                None,
                format!("superseded: a newer version of the key was seen (sequencer {newer})"),
            ),
            Claim::KeyBusy { other } => refusal(
                Outcome::Deferred,
                None,
                None,
                format!("another version of the key is in flight ({other})"),
            ),
            Claim::Exhausted { attempts } => refusal(
                Outcome::Exhausted,
                Some(Status::Failed),
                None,
                format!("FAILED after {attempts} attempts; none left"),
            ),
        })
    }
}

/// Starts runs: the step between a claim and STARTED.
pub trait Launcher: Send + Sync {
    /// What a failed launch says.
    type Error: Send;

    /// Starts one run for `ids` (one object, or a batch); returns the run id.
    fn launch(&self, ids: &[String]) -> impl Future<Output = Result<String, Self::Error>> + Send;

    /// Whether a launched run is already working on its objects before STARTED is recorded
    /// (a Glue run is; a local run only begins after it). A live run is never given back.
    fn runs_before_start(&self) -> bool;
}

/// How [`Lifecycle::launch`] ended for the claimed objects.
#[derive(Debug)]
pub enum Launch<E> {
    /// The run was started; each object's STARTED record, in order (an object whose record
    /// failed was given back unless the run was already working on it).
    Started {
        /// The run.
        run_id: String,
        /// Per object: recorded, or the ledger's error.
        recorded: Vec<Result<(), LedgerError>>,
    },
    /// No run was started; the claims were given back.
    NotStarted(E),
}

/// The ledger steps of the lifecycle for one claimant (a Lambda invocation, a local process):
/// its owner name, its lease, and the claim request every claim of it uses.
#[derive(Debug)]
pub struct Lifecycle<'l, L> {
    /// The ledger.
    pub ledger: &'l L,
    /// The claimant (the claim's owner).
    pub owner: &'l str,
    /// Until when a STARTED run may go silent (epoch ms; local runs), or the claim's lease.
    pub lease_until_ms: i64,
    /// The claim's parameters.
    pub request: ClaimRequest,
}

impl<L: Ledger> Lifecycle<'_, L> {
    /// Claims `object`.
    pub async fn claim(&self, object: &ObjectVersion) -> Result<Claim, LedgerError> {
        self.ledger.claim(object, &self.request).await
    }

    /// Launches one run for the claimed `ids` and records STARTED for each. Gives the claims
    /// back when no run started, and an object's claim when its STARTED could not be recorded
    /// and the run does not work before it is.
    pub async fn launch<R: Launcher>(&self, launcher: &R, ids: &[String]) -> Launch<R::Error> {
        let run_id = match launcher.launch(ids).await {
            Ok(run_id) => run_id,
            Err(e) => {
                for id in ids {
                    self.give_back(id).await;
                }
                return Launch::NotStarted(e);
            }
        };
        let mut recorded = Vec::with_capacity(ids.len());
        for id in ids {
            let started = self
                .ledger
                .start(id, self.owner, &run_id, self.lease_until_ms)
                .await;
            if started.is_err() && !launcher.runs_before_start() {
                self.give_back(id).await;
            }
            recorded.push(started);
        }
        Launch::Started { run_id, recorded }
    }

    /// Releases a claim that started no run, so a retry can claim it at once. A release that
    /// fails leaves the claim to expire with its lease; the caller reports its own error (the
    /// launch's, the start's).
    async fn give_back(&self, id: &str) {
        if let Err(e) = self.ledger.release(id, self.owner).await {
            tracing::error!(id = %id, error = %e, "claim not released; it expires with its lease");
        }
    }

    /// Records a run's result for `id`: `Some((status, attempts))` when recorded, `None` when
    /// the item is not this run's any more (a stale end: nothing written).
    pub async fn finish(
        &self,
        id: &str,
        run_id: &str,
        result: &RunResult,
    ) -> Result<Option<(Status, u32)>, LedgerError> {
        Ok(match self.ledger.finish(id, run_id, result).await? {
            Finished::Recorded { attempts } => Some((result.status(), attempts)),
            Finished::NotOwned => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::ledger::LedgerItem;

    /// Records the calls; `start` fails for the ids in `start_fails`.
    #[derive(Default)]
    struct Calls {
        log: Mutex<Vec<String>>,
        start_fails: Vec<String>,
    }

    impl Ledger for Calls {
        async fn claim(&self, o: &ObjectVersion, _: &ClaimRequest) -> Result<Claim, LedgerError> {
            self.log.lock().unwrap().push(format!("claim {}", o.id()));
            Ok(Claim::Claimed { attempt: Some(1) })
        }
        async fn start(&self, id: &str, _: &str, run: &str, _: i64) -> Result<(), LedgerError> {
            self.log.lock().unwrap().push(format!("start {id} {run}"));
            if self.start_fails.iter().any(|f| f == id) {
                return Err(LedgerError::new("memory", "start", id, "throttled", true));
            }
            Ok(())
        }
        async fn release(&self, id: &str, _: &str) -> Result<(), LedgerError> {
            self.log.lock().unwrap().push(format!("release {id}"));
            Ok(())
        }
        async fn finish(&self, _: &str, _: &str, _: &RunResult) -> Result<Finished, LedgerError> {
            Ok(Finished::NotOwned)
        }
        async fn get(&self, _: &str) -> Result<Option<LedgerItem>, LedgerError> {
            Ok(None)
        }
    }

    struct Runs {
        fail: bool,
        live: bool,
    }

    impl Launcher for Runs {
        type Error = &'static str;
        async fn launch(&self, _: &[String]) -> Result<String, &'static str> {
            if self.fail {
                Err("no capacity")
            } else {
                Ok("run-1".into())
            }
        }
        fn runs_before_start(&self) -> bool {
            self.live
        }
    }

    fn life(ledger: &Calls) -> Lifecycle<'_, Calls> {
        Lifecycle {
            ledger,
            owner: "me",
            lease_until_ms: 0,
            request: ClaimRequest::new("me", 0, 0, 3, 0),
        }
    }

    fn block<F: Future>(f: F) -> F::Output {
        // The fakes never wait: one poll finishes them.
        let mut f = std::pin::pin!(f);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match f.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => unreachable!("the fakes are ready at once"),
        }
    }

    #[test]
    fn a_launch_that_fails_gives_every_claim_back() {
        let ledger = Calls::default();
        let ids = ["a".to_owned(), "b".to_owned()];
        let out = block(life(&ledger).launch(
            &Runs {
                fail: true,
                live: true,
            },
            &ids,
        ));
        assert!(matches!(out, Launch::NotStarted("no capacity")));
        assert_eq!(*ledger.log.lock().unwrap(), ["release a", "release b"]);
    }

    #[test]
    fn a_failed_start_gives_the_claim_back_only_before_a_live_run() {
        for (live, want) in [
            (false, vec!["start a run-1", "start b run-1", "release b"]),
            (true, vec!["start a run-1", "start b run-1"]),
        ] {
            let ledger = Calls {
                start_fails: vec!["b".into()],
                ..Calls::default()
            };
            let ids = ["a".to_owned(), "b".to_owned()];
            let out = block(life(&ledger).launch(&Runs { fail: false, live }, &ids));
            let Launch::Started { run_id, recorded } = out else {
                panic!("started")
            };
            assert_eq!(run_id, "run-1");
            assert!(recorded[0].is_ok() && recorded[1].is_err());
            assert_eq!(*ledger.log.lock().unwrap(), want, "live run: {live}");
        }
    }

    #[test]
    fn refusals_name_their_outcome_and_reason() {
        let duplicate = Claim::Duplicate {
            status: Status::Started,
            job_run_id: Some("jr".into()),
        };
        let r = duplicate.refusal().unwrap();
        assert_eq!(
            (
                r.outcome,
                r.status,
                r.job_run_id.as_deref(),
                r.reason.as_str()
            ),
            (
                Outcome::Duplicate,
                Some(Status::Started),
                Some("jr"),
                "already STARTED"
            )
        );
        let busy = Claim::KeyBusy {
            other: "s3://b/k#v0".into(),
        }
        .refusal()
        .unwrap();
        assert_eq!(busy.outcome, Outcome::Deferred);
        assert!(busy.reason.contains("s3://b/k#v0"));
        let exhausted = Claim::Exhausted { attempts: 3 }.refusal().unwrap();
        assert_eq!(
            (exhausted.outcome, exhausted.status),
            (Outcome::Exhausted, Some(Status::Failed))
        );
        assert!(
            Claim::Superseded { newer: "0A".into() }
                .refusal()
                .unwrap()
                .reason
                .starts_with("superseded")
        );
        assert!(Claim::Claimed { attempt: None }.refusal().is_none());
    }
}
