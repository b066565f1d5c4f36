//! What the handler reports: per object, per failure, and the Lambda's answer.

use super::*;

/// The invocation: who claims, and until when.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The Lambda request id (the claim's owner).
    pub request_id: String,
    /// The invocation's deadline, epoch ms (the claim's lease).
    pub deadline_ms: i64,
}

/// What happened to an object: the trigger reports `started`, `duplicate`, `skipped` (with a
/// `reason`) for created objects, and `succeeded`, `failed` (with an `error`) or `skipped` for a
/// run's end.
pub use loglake_core::lifecycle::Outcome;

/// One object's result: `loglake trigger` prints these as JSON lines
/// (`{"id","bucket","key","version","version_id","outcome","job_run_id","reason"|"error"}`).
pub type ObjectReport = loglake_core::lifecycle::ObjectReport;

/// An object or event that was not processed.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The SQS message to retry (`None`: the whole invocation).
    pub message_id: Option<String>,
    /// `s3://bucket/key` when one object failed.
    pub object: Option<String>,
    /// Why.
    pub error: TriggerError,
}

/// The result of one invocation.
#[derive(Debug, Clone, Default)]
pub struct Response {
    /// Processed objects.
    pub objects: Vec<ObjectReport>,
    /// What was not processed.
    pub failures: Vec<Failure>,
    /// Whether the event came through SQS (the answer is then `batchItemFailures`).
    pub sqs: bool,
    /// Counters (the EMF document).
    pub metrics: Metrics,
}

impl Response {
    /// The SQS messages to retry, in order.
    pub fn batch_item_failures(&self) -> Vec<String> {
        let mut seen = BTreeSet::new();
        self.failures
            .iter()
            .filter_map(|f| f.message_id.clone())
            .filter(|id| seen.insert(id.clone()))
            .collect()
    }

    /// The Lambda's answer: `{"batchItemFailures": […]}` for SQS events; otherwise the objects,
    /// or the first failure as the invocation's error (so Lambda retries it and, after its
    /// retries, sends it to the DLQ).
    pub fn into_lambda_result(self) -> Result<Value, TriggerError> {
        let whole = self.failures.iter().find(|f| f.message_id.is_none());
        if let Some(f) = whole.or(if self.sqs {
            None
        } else {
            self.failures.first()
        }) {
            return Err(f.error.clone());
        }
        if self.sqs {
            let failures: Vec<Value> = self
                .batch_item_failures()
                .into_iter()
                .map(|id| json!({ "itemIdentifier": id }))
                .collect();
            return Ok(json!({ "batchItemFailures": failures }));
        }
        Ok(json!({ "objects": self.objects }))
    }

    pub(super) fn fail(
        &mut self,
        message_id: Option<String>,
        object: Option<String>,
        error: TriggerError,
    ) {
        self.metrics.failures += 1;
        tracing::error!(
            object = object.as_deref().unwrap_or("-"),
            message_id = message_id.as_deref().unwrap_or("-"),
            retryable = error.retryable(),
            error = %error,
            "not processed"
        );
        self.failures.push(Failure {
            message_id,
            object,
            error,
        });
    }
}
