//! Retry classification of SDK errors.

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use loglake_trigger::handler::{AwsError, ErrorKind};

const THROTTLED: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
    "TooManyRequestsException",
    "SlowDown",
    "ConcurrentRunsExceededException",
];
const TRANSIENT: &[&str] = &[
    "InternalServerError",
    "InternalServiceException",
    "InternalFailure",
    "ServiceUnavailable",
    "OperationTimeoutException",
    "RequestTimeout",
    "TransactionConflictException",
];

/// Whether an SDK error is worth retrying, and its full message.
pub(crate) fn classify<E>(e: &SdkError<E, HttpResponse>) -> (ErrorKind, String)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let message = DisplayErrorContext(e).to_string();
    let kind = match e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            ErrorKind::Transient
        }
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or_default();
            let status = se.raw().status().as_u16();
            if THROTTLED.contains(&code) || status == 429 {
                ErrorKind::Throttled
            } else if TRANSIENT.contains(&code) || status >= 500 {
                ErrorKind::Transient
            } else {
                ErrorKind::Permanent
            }
        }
        _ => ErrorKind::Permanent,
    };
    (kind, message)
}

/// An [`AwsError`] from an SDK error.
pub(crate) fn aws_error<E>(
    service: &'static str,
    operation: &'static str,
    target: impl Into<String>,
    e: &SdkError<E, HttpResponse>,
) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let (kind, message) = classify(e);
    AwsError {
        service,
        operation,
        target: target.into(),
        message,
        kind,
    }
}
