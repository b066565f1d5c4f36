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

/// An [`AwsError`] from an SDK error: classified, its whole context in the message, the SDK
/// error itself kept as the source.
pub(crate) fn aws_error<E>(
    service: &'static str,
    operation: &'static str,
    target: impl Into<String>,
    e: SdkError<E, HttpResponse>,
) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (kind, message) = classify(&e);
    AwsError::new(service, operation, target, message, kind).caused_by(e)
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::error::ErrorMetadata;
    use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
    use aws_sdk_s3::primitives::ByteStream;

    use super::*;

    fn service(code: &str, status: u16) -> SdkError<UpdateItemError, HttpResponse> {
        let raw = HttpResponse::new(
            status.try_into().expect("a status code"),
            ByteStream::from_static(b"").into_inner(),
        );
        let err = ErrorMetadata::builder()
            .code(code)
            .message("injected")
            .build();
        SdkError::service_error(UpdateItemError::generic(err), raw)
    }

    #[test]
    fn throttling_transient_and_permanent_errors_are_told_apart() {
        use ErrorKind::{Permanent, Throttled, Transient};
        for (code, status, kind) in [
            ("ProvisionedThroughputExceededException", 400, Throttled),
            ("ThrottlingException", 400, Throttled),
            ("SlowDown", 503, Throttled),
            ("ConcurrentRunsExceededException", 400, Throttled),
            ("SomethingNew", 429, Throttled),
            ("InternalServerError", 500, Transient),
            ("ServiceUnavailable", 503, Transient),
            ("TransactionConflictException", 400, Transient),
            ("SomethingNew", 502, Transient),
            ("AccessDeniedException", 400, Permanent),
            ("ValidationException", 400, Permanent),
            ("ResourceNotFoundException", 400, Permanent),
            ("ConditionalCheckFailedException", 400, Permanent),
        ] {
            let (got, message) = classify(&service(code, status));
            assert_eq!(got, kind, "{code} {status}");
            assert!(message.contains(code), "{message}");
        }
        let slow: SdkError<UpdateItemError, HttpResponse> = SdkError::timeout_error("no answer");
        assert_eq!(classify(&slow).0, Transient);
    }
}
