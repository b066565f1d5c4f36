//! `loglake trigger --event FILE|-`: the Lambda's handler, run once here (DESIGN.md §5), with
//! the Lambda's `LOGLAKE_*` variables and the AWS endpoint in `AWS_ENDPOINT_URL`; and
//! `loglake backfill`: existing raw objects through the same path.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use loglake_trigger::config::TriggerConfig;
use loglake_trigger::event::{CreatedObject, Origin};
use loglake_trigger::handler::{Invocation, now_ms};

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
    let runtime = crate::runtime()?;
    let (response, namespace) = runtime.block_on(async {
        let handler = loglake_aws::trigger_from_env(config).await;
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

#[derive(clap::Args)]
pub(crate) struct BackfillArgs {
    /// Raw objects to backfill: `s3://bucket/prefix`, every object whose key starts with the
    /// prefix (as S3 means it: a folder `logs/`, part of a name `logs/2024-05`, or one key).
    #[arg(long)]
    raw: String,
    /// Only objects modified at or after this time (`YYYY-MM-DD` or RFC 3339, UTC).
    #[arg(long)]
    since: Option<String>,
    /// Objects per Glue run (one manifest each).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    batch_size: u32,
    /// Seconds each batch may wait for a free run slot (StartJobRun is retried with back-off
    /// while the job is at its maximum of concurrent runs).
    #[arg(long, default_value_t = 900, value_parser = clap::value_parser!(u64).range(2..=86_400))]
    budget_secs: u64,
}

/// `loglake backfill`: existing raw objects through the trigger's path (claim in the ledger,
/// one Glue run per batch over a manifest), so history reaches the table exactly like new data
/// and objects already processed are duplicates.
pub(crate) fn backfill(args: &BackfillArgs) -> anyhow::Result<ExitCode> {
    let location = loglake_store::Location::parse(&args.raw).map_err(|e| usage(e.to_string()))?;
    let loglake_store::Location::S3 { bucket, prefix } = &location else {
        return Err(usage(format!(
            "`--raw {}`: backfill reads an S3 prefix (s3://bucket/prefix)",
            args.raw
        )));
    };
    let since_ms = match &args.since {
        None => None,
        Some(s) => {
            let text = if s.len() == 10 {
                format!("{s}T00:00:00Z")
            } else {
                s.clone()
            };
            let micros = loglake_core::time::parse_rfc3339(&text).ok_or_else(|| {
                usage(format!(
                    "`--since {s}` is not a date (YYYY-MM-DD) or an RFC 3339 time"
                ))
            })?;
            Some(micros.div_euclid(1000))
        }
    };
    let mut config = TriggerConfig::from_env().map_err(|e| {
        usage(format!(
            "{e}\nhint: backfill uses the trigger's LOGLAKE_* variables"
        ))
    })?;
    config.mode = loglake_trigger::config::Mode::Batch;
    if config.manifest_bucket.is_none() {
        return Err(usage(
            "LOGLAKE_MANIFEST_BUCKET: not set: backfill writes one manifest per run there",
        ));
    }
    let runtime = crate::runtime()?;
    let store = loglake_store::RawStore::open(&location)?;
    let listed = store.list_key_prefix(prefix, runtime.handle())?;
    let objects: Vec<CreatedObject> = listed
        .into_iter()
        .filter(|o| since_ms.is_none_or(|s| o.last_modified_ms.is_some_and(|m| m >= s)))
        .map(|o| CreatedObject {
            bucket: bucket.clone(),
            raw_key: o.version.key.clone(),
            key: o.version.key,
            version_id: None,
            size: Some(o.version.size),
            etag: None,
            sequencer: None,
            origin: Origin::S3Notification,
        })
        .collect();
    eprintln!("backfill: {} object(s) under {}", objects.len(), args.raw);
    let (mut failures, mut runs, mut started, mut duplicates) = (0usize, 0u64, 0u64, 0u64);
    let budget_ms = i64::try_from(args.budget_secs * 1000).unwrap_or(i64::MAX);
    runtime.block_on(async {
        let handler = loglake_aws::trigger_from_env(config).await;
        let stamp = now_ms();
        for (n, batch) in objects.chunks(args.batch_size as usize).enumerate() {
            let inv = Invocation {
                request_id: format!("backfill-{stamp}-{n:05}"),
                deadline_ms: now_ms() + budget_ms,
            };
            let response = handler.handle_objects(batch, &inv).await;
            for o in &response.objects {
                print_line(&serde_json::to_string(o).unwrap_or_default())?;
            }
            for f in &response.failures {
                eprintln!(
                    "error: {}: {}",
                    f.object.as_deref().unwrap_or("batch"),
                    f.error
                );
            }
            failures += response.failures.len();
            runs += response.metrics.runs_started;
            started += response.metrics.objects_started;
            duplicates += response.metrics.duplicates_skipped;
        }
        anyhow::Ok(())
    })?;
    eprintln!(
        "backfill: {started} object(s) started in {runs} run(s), {duplicates} duplicate(s), {failures} failure(s)"
    );
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
