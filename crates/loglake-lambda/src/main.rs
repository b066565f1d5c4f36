//! `bootstrap`: the s3-raw-start-glue Lambda on `provided.al2023`.
//!
//! Clients are built once, before the first event; each invocation runs
//! [`loglake_trigger::handler::Handler::handle`] with the request id as the claim's owner and
//! the invocation's deadline as its lease, prints the EMF metrics document on stdout, and answers
//! with `batchItemFailures` (SQS events) or fails the invocation when an object was not processed
//! (so Lambda retries it and, at the end, sends it to the DLQ). Logs are JSON (tracing) when the
//! function's log format is JSON.

use lambda_runtime::{Diagnostic, Error, LambdaEvent, service_fn, tracing};
use loglake_aws::Trigger;
use loglake_trigger::config::TriggerConfig;
use loglake_trigger::handler::Invocation;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let config = TriggerConfig::from_env().map_err(|e| {
        tracing::error!(error = %e, "configuration");
        e
    })?;
    let handler = loglake_aws::trigger_from_env(config).await;
    let function =
        std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "loglake-trigger".into());
    let handler: &'static Trigger = Box::leak(Box::new(handler));
    let function: &'static str = Box::leak(function.into_boxed_str());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        invoke(handler, function, event)
    }))
    .await
}

/// The invocation's error as Lambda reports it: `errorType` says whether a retry can succeed
/// (`Retryable`: throttling, a 5xx, another version in flight) or not (`NonRetryable`: an
/// unreadable event, a malformed manifest), rather than the Rust type name; the message is the
/// error's own, naming the object.
fn diagnostic(e: &loglake_trigger::handler::TriggerError) -> Diagnostic {
    Diagnostic {
        error_type: if e.retryable() {
            "Retryable"
        } else {
            "NonRetryable"
        }
        .into(),
        error_message: e.to_string(),
    }
}

async fn invoke(
    handler: &Trigger,
    function: &str,
    event: LambdaEvent<Value>,
) -> Result<Value, Diagnostic> {
    let inv = Invocation {
        request_id: event.context.request_id.clone(),
        deadline_ms: i64::try_from(event.context.deadline).unwrap_or(i64::MAX),
    };
    let response = handler.handle(&event.payload, &inv).await;
    let emf = response.metrics.emf(
        &handler.config.metrics_namespace,
        function,
        loglake_trigger::handler::now_ms(),
    );
    #[allow(clippy::print_stdout)] // EMF goes to stdout, where CloudWatch Logs extracts it.
    {
        println!("{emf}");
    }
    response.into_lambda_result().map_err(|e| diagnostic(&e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use loglake_trigger::handler::TriggerError;

    #[test]
    fn errors_are_reported_as_retryable_or_not() {
        let error = |retryable: bool| {
            TriggerError::Ledger(loglake_core::ledger::LedgerError::new(
                "dynamodb",
                "claim",
                "s3://b/k#v",
                "throttled",
                retryable,
            ))
        };
        let d = diagnostic(&error(true));
        assert_eq!(d.error_type, "Retryable");
        assert!(
            d.error_message.contains("s3://b/k#v"),
            "{}",
            d.error_message
        );
        assert_eq!(diagnostic(&error(false)).error_type, "NonRetryable");
    }
}
