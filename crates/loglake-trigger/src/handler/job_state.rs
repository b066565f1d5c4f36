//! "Glue Job State Change" events and the run results they carry.

use super::*;

/// A "Glue Job State Change" event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobState {
    /// `detail.jobName`.
    pub job_name: String,
    /// `detail.jobRunId`.
    pub run_id: String,
    /// `detail.state`.
    pub state: String,
    /// `detail.message`.
    pub message: String,
}

impl JobState {
    /// Reads a Glue job state change event; `None` for any other document.
    pub fn from_event(event: &Value) -> Option<Self> {
        if event.get("source")?.as_str()? != "aws.glue"
            || event.get("detail-type")?.as_str()? != "Glue Job State Change"
        {
            return None;
        }
        let d = event.get("detail")?;
        let s = |k: &str| {
            d.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        Some(Self {
            job_name: s("jobName"),
            run_id: s("jobRunId"),
            state: s("state"),
            message: s("message"),
        })
    }

    /// The run's result, for final states.
    pub fn result(&self) -> Option<RunResult> {
        match self.state.as_str() {
            "SUCCEEDED" => Some(RunResult::Succeeded),
            "FAILED" | "TIMEOUT" | "STOPPED" | "ERROR" => Some(RunResult::Failed(format!(
                "{}: {}",
                self.state, self.message
            ))),
            _ => None,
        }
    }
}
