//! Why an event or an object was not processed, and whether a retry may succeed.

use super::*;

/// Why an event, or one of its objects, was not processed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TriggerError {
    /// The document is not an event we can read (not retryable).
    #[error("unreadable event at {0}")]
    Event(#[from] EventError),
    /// An AWS call failed.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// The ledger failed; the error says whether a retry may succeed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// A manifest line is malformed (not retryable).
    #[error("manifest {uri} line {line}: {message}")]
    Manifest {
        /// `s3://bucket/key`.
        uri: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A run's arguments name no loglake objects (not retryable).
    #[error("Glue run {run_id}: {message}")]
    RunArguments {
        /// The run.
        run_id: String,
        /// What is missing.
        message: String,
    },
    /// Another version of the key is in flight (retryable).
    #[error("`{id}` waits for `{other}`, another version of its key in flight")]
    KeyBusy {
        /// This version.
        id: String,
        /// The other version.
        other: String,
    },
}

impl TriggerError {
    /// Whether processing the event again may succeed.
    pub fn retryable(&self) -> bool {
        match self {
            TriggerError::Event(_)
            | TriggerError::Manifest { .. }
            | TriggerError::RunArguments { .. } => false,
            TriggerError::Aws(e) => e.kind != ErrorKind::Permanent,
            TriggerError::Ledger(e) => e.retryable,
            TriggerError::KeyBusy { .. } => true,
        }
    }
}
