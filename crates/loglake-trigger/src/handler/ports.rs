//! The narrow ports the handler needs: S3 `HeadObject` and manifests, Glue runs, and how their errors are classified.

use super::*;

/// What `HeadObject` says of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Size in bytes.
    pub size: u64,
    /// ETag without quotes.
    pub etag: Option<String>,
    /// Version id (versioned buckets).
    pub version_id: Option<String>,
}

/// How an AWS call failed, for deciding whether to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Throttled or over a concurrency limit: back off and retry.
    Throttled,
    /// A network error or a 5xx: retrying may succeed.
    Transient,
    /// Retrying will not help (missing resource, access denied, bad input).
    Permanent,
}

/// A failed AWS call.
#[derive(Debug, Clone)]
pub struct AwsError {
    /// `s3`, `glue`, …
    pub service: &'static str,
    /// The API call.
    pub operation: &'static str,
    /// What it was about (an object, a job).
    pub target: String,
    /// The error, with its code.
    pub message: String,
    /// Retry class.
    pub kind: ErrorKind,
    /// The SDK's error, shared so that the error stays `Clone`.
    pub source: Option<std::sync::Arc<dyn std::error::Error + Send + Sync>>,
}

impl std::fmt::Display for AwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} `{}`: {}",
            self.service, self.operation, self.target, self.message
        )
    }
}

impl std::error::Error for AwsError {
    /// The underlying error itself (not the `Arc` holding it), so callers can downcast it.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl AwsError {
    /// An error with no underlying error.
    pub fn new(
        service: &'static str,
        operation: &'static str,
        target: impl Into<String>,
        message: impl Into<String>,
        kind: ErrorKind,
    ) -> Self {
        Self {
            service,
            operation,
            target: target.into(),
            message: message.into(),
            kind,
            source: None,
        }
    }

    /// The same error, caused by `source`.
    #[must_use]
    pub fn caused_by(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(std::sync::Arc::new(source));
        self
    }
}

/// `HeadObject`.
pub trait ObjectHead: Send + Sync {
    /// The object's metadata, `None` when it does not exist (or the version was deleted).
    fn head(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> impl Future<Output = Result<Option<Head>, AwsError>> + Send;
}

/// Where batch manifests live.
pub trait ManifestStore: Send + Sync {
    /// Writes a manifest.
    fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// Reads a manifest.
    fn get(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Vec<u8>, AwsError>> + Send;
}

/// Glue job runs.
pub trait JobLauncher: Send + Sync {
    /// `StartJobRun`; returns the run id.
    fn start_run(
        &self,
        job: &str,
        arguments: &[(String, String)],
    ) -> impl Future<Output = Result<String, AwsError>> + Send;

    /// The arguments a run was started with (`GetJobRun`).
    fn run_arguments(
        &self,
        job: &str,
        run_id: &str,
    ) -> impl Future<Output = Result<Vec<(String, String)>, AwsError>> + Send;
}
