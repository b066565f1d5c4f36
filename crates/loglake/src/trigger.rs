//! `loglake trigger --event FILE|-`: the Lambda's handler, run once here (DESIGN.md §5), with
//! the Lambda's `LOGLAKE_*` variables and the AWS endpoint in `AWS_ENDPOINT_URL`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use loglake_trigger::config::TriggerConfig;
use loglake_trigger::handler::{Handler, Invocation, now_ms};

use crate::{print_line, usage};

#[derive(clap::Args)]
pub(crate) struct TriggerArgs {
    /// The event document (S3 notification, EventBridge, SQS/SNS-wrapped, or a Glue Job State
    /// Change event), or `-` for standard input.
    #[arg(long)]
    event: PathBuf,
    /// Seconds the invocation may take (its lease on the claims, and the budget for retrying
    /// StartJobRun), as the Lambda's timeout does.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(2..=900))]
    budget_secs: u64,
    /// The claim's owner (a Lambda request id); default: `cli-<pid>-<epoch ms>`.
    #[arg(long)]
    request_id: Option<String>,
    /// Print the EMF metrics document on stderr.
    #[arg(long)]
    metrics: bool,
}

pub(crate) fn trigger(args: &TriggerArgs) -> anyhow::Result<ExitCode> {
    let (name, bytes) = crate::read_document(&args.event)?;
    let event: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
        usage(format!(
            "`{name}` is not JSON: {e}\nhint: pass an event document, e.g. one of shared fixtures"
        ))
    })?;
    let config = TriggerConfig::from_env().map_err(|e| {
        usage(format!(
            "{e}\nhint: set the trigger's LOGLAKE_* variables (see `loglake trigger --help` and \
             crates/loglake-trigger/src/config.rs)"
        ))
    })?;
    let runtime = crate::local::runtime()?;
    let response = runtime.block_on(async {
        let clients = loglake_aws::Clients::from_env(&config.ledger_table).await;
        let handler = Handler {
            config,
            store: clients.s3,
            launcher: clients.glue,
            ledger: clients.ledger,
        };
        let budget_ms = i64::try_from(args.budget_secs * 1000).unwrap_or(i64::MAX);
        let inv = Invocation {
            request_id: args
                .request_id
                .clone()
                .unwrap_or_else(|| format!("cli-{}-{}", std::process::id(), now_ms())),
            deadline_ms: now_ms() + budget_ms,
        };
        let response = handler.handle(&event, &inv).await;
        (response, handler.config.metrics_namespace)
    });
    let (response, namespace) = response;
    for o in &response.objects {
        print_line(&serde_json::to_string(o).context("encoding a report")?)?;
    }
    if args.metrics {
        eprintln!(
            "{}",
            response
                .metrics
                .emf(&namespace, "loglake-trigger", now_ms())
        );
    }
    if response.failures.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    for f in &response.failures {
        let retry = if f.error.retryable() {
            "retryable"
        } else {
            "not retryable"
        };
        let message = f
            .message_id
            .as_deref()
            .map(|m| format!(" (SQS message {m})"))
            .unwrap_or_default();
        eprintln!(
            "error: {}{message}: {} ({retry})",
            f.object.as_deref().unwrap_or("event"),
            f.error
        );
    }
    if response.sqs {
        eprintln!("batchItemFailures: {:?}", response.batch_item_failures());
    }
    if response
        .failures
        .iter()
        .any(|f| matches!(f.error, loglake_trigger::handler::TriggerError::Event(_)))
    {
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::from(1))
}
