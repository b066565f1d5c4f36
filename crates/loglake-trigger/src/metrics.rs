//! The trigger's counters, written once per invocation as a CloudWatch Embedded Metric Format
//! document (the Lambda prints it on stdout, where CloudWatch Logs turns it into metrics).
//! `infra/monitoring.tf`'s dashboard reads these names with the `Function` dimension.

use serde_json::{Map, Value, json};

/// Counters of one invocation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Metrics {
    /// Created objects the event named.
    pub events_received: u64,
    /// Objects whose version was already claimed, started or done.
    pub duplicates_skipped: u64,
    /// Objects not taken: outside the raw bucket/prefix, folder markers, empty, gone, or
    /// superseded by a newer version.
    pub objects_skipped: u64,
    /// Glue runs started.
    pub runs_started: u64,
    /// Objects whose run was started (equals `runs_started` in per-object mode).
    pub objects_started: u64,
    /// Objects or events that could not be processed (the invocation, or its SQS message,
    /// fails and is retried).
    pub failures: u64,
    /// StartJobRun calls retried after throttling or too many concurrent runs.
    pub start_retries: u64,
    /// Ledger items a run's end moved to SUCCEEDED.
    pub objects_succeeded: u64,
    /// Ledger items a run's end moved to FAILED.
    pub objects_failed: u64,
    /// FAILED items with no attempts left (left for the operator).
    pub attempts_exhausted: u64,
}

impl Metrics {
    const NAMES: [&'static str; 10] = [
        "EventsReceived",
        "DuplicatesSkipped",
        "ObjectsSkipped",
        "RunsStarted",
        "ObjectsStarted",
        "Failures",
        "StartRetries",
        "ObjectsSucceeded",
        "ObjectsFailed",
        "AttemptsExhausted",
    ];

    fn values(&self) -> [u64; 10] {
        [
            self.events_received,
            self.duplicates_skipped,
            self.objects_skipped,
            self.runs_started,
            self.objects_started,
            self.failures,
            self.start_retries,
            self.objects_succeeded,
            self.objects_failed,
            self.attempts_exhausted,
        ]
    }

    /// The EMF document: one line of JSON.
    ///
    /// ```
    /// use loglake_trigger::metrics::Metrics;
    /// let m = Metrics { runs_started: 1, ..Metrics::default() };
    /// let doc: serde_json::Value =
    ///     serde_json::from_str(&m.emf("loglake", "s3-raw-start-glue", 1_700_000_000_000)).unwrap();
    /// assert_eq!(doc["RunsStarted"], 1);
    /// assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0][0], "Function");
    /// ```
    pub fn emf(&self, namespace: &str, function: &str, timestamp_ms: i64) -> String {
        let definitions: Vec<Value> = Self::NAMES
            .iter()
            .map(|name| json!({"Name": name, "Unit": "Count"}))
            .collect();
        let mut doc = Map::new();
        doc.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": namespace,
                    "Dimensions": [["Function"]],
                    "Metrics": definitions,
                }],
            }),
        );
        doc.insert("Function".into(), Value::from(function));
        for (name, value) in Self::NAMES.iter().zip(self.values()) {
            doc.insert((*name).into(), Value::from(value));
        }
        Value::Object(doc).to_string()
    }
}
