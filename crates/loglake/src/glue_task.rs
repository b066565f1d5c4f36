//! `loglake glue-task`: the Glue job's work, run by its entry script (glue/loglake_glue_job.py).
//!
//! - `plan`: the run's objects, one JSON line each, largest first: the manifest's lines
//!   (`--manifest s3://…`), or the one object of a per-object run. The manifest is parsed here
//!   and nowhere else ([`loglake_trigger::handler::parse_manifest`]); the entry script passes
//!   the lines on to its Spark tasks as they are.
//! - `object`: one of those lines, processed on an executor by
//!   [`loglake_trigger::glue_task::GlueTask`] (current-version check, transform and publish,
//!   republish the newest version, ledger result), printing one [`TaskResult`] JSON line.
//!
//! [`TaskResult`]: loglake_trigger::glue_task::TaskResult

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use loglake_aws::{Clients, S3Objects};
use loglake_core::{CompiledSchema, Schema};
use loglake_transform::Summary;
use loglake_trigger::glue_task::{GlueTask, Publish, RunLedger};
use loglake_trigger::handler::{ManifestEntry, ManifestStore, parse_manifest};

use crate::transform::{TransformArgs, TransformPlan};
use crate::{print_line, runtime, usage};

#[derive(clap::Args)]
pub(crate) struct GlueTaskArgs {
    #[command(subcommand)]
    command: GlueTaskCommand,
}

#[derive(clap::Subcommand)]
enum GlueTaskCommand {
    /// Print the run's objects, one JSON line each, largest first.
    Plan(PlanArgs),
    /// Process one object of the run and print its result as one JSON line.
    ///
    /// The object's report as `loglake run` prints one ({"id","bucket","key","version",
    /// "version_id","outcome": "processed"|"superseded"|"failed","status","job_run_id",
    /// "summary","error"}) with {"source","ok","superseded_by","republished","ledger":
    /// "recorded"|"not_owned"|"not_asked"|"error","seconds"}. Exit 0 when ok, 1 when not.
    Object(ObjectArgs),
    /// Print the partitions a compaction run takes, one JSON line each.
    CompactPlan(crate::glue_compact::CompactPlanArgs),
    /// Compact one partition of the plan and switch its location in the Glue catalog.
    Compact(crate::glue_compact::CompactArgs),
}

#[derive(clap::Args)]
struct PlanArgs {
    /// The batch manifest `s3://bucket/key` (JSON lines written by the trigger).
    #[arg(long, conflicts_with_all = ["bucket", "key", "version", "version_id"])]
    manifest: Option<String>,
    /// A per-object run's bucket.
    #[arg(long, requires_all = ["key", "version"])]
    bucket: Option<String>,
    /// Its key.
    #[arg(long)]
    key: Option<String>,
    /// Its ledger version (the version id, else the ETag).
    #[arg(long)]
    version: Option<String>,
    /// Its S3 version id.
    #[arg(long)]
    version_id: Option<String>,
}

#[derive(clap::Args)]
struct ObjectArgs {
    /// One line of `loglake glue-task plan`.
    #[arg(long)]
    object: String,
    /// Output root `s3://bucket[/prefix]`.
    #[arg(long)]
    output: String,
    /// The schema file: `s3://bucket/key` or a path.
    #[arg(long)]
    schema: String,
    /// Register partitions in this Glue table (`database.table`), checked against the schema.
    #[arg(long, value_name = "DATABASE.TABLE")]
    catalog: Option<String>,
    /// The DynamoDB ledger table to record the result in (with `--run-id`).
    #[arg(long, requires = "run_id")]
    ledger_table: Option<String>,
    /// The Glue run holding the object's ledger item.
    #[arg(long, requires = "ledger_table")]
    run_id: Option<String>,
}

pub(crate) fn glue_task(args: &GlueTaskArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        GlueTaskCommand::Plan(a) => plan(a),
        GlueTaskCommand::Object(a) => object(a),
        GlueTaskCommand::CompactPlan(a) => crate::glue_compact::compact_plan(a),
        GlueTaskCommand::Compact(a) => crate::glue_compact::compact(a),
    }
}

fn plan(args: &PlanArgs) -> anyhow::Result<ExitCode> {
    let mut entries = match (&args.manifest, &args.bucket, &args.key, &args.version) {
        (Some(uri), ..) => {
            let (bucket, key) = split_s3(uri)?;
            let rt = runtime()?;
            let body = rt.block_on(async {
                let s3 = S3Objects::new(&loglake_aws::sdk_config().await);
                s3.get(&bucket, &key).await
            })?;
            parse_manifest(uri, &body)?
        }
        (None, Some(bucket), Some(key), Some(version)) => vec![ManifestEntry {
            bucket: bucket.clone(),
            key: key.clone(),
            version: version.clone(),
            version_id: args.version_id.clone(),
            size: 0,
            sequencer: None,
        }],
        _ => {
            return Err(usage(
                "`glue-task plan` needs --manifest, or --bucket, --key and --version",
            ));
        }
    };
    // The largest first, so the long tasks start early.
    entries.sort_by_key(|e| std::cmp::Reverse(e.size));
    for e in &entries {
        print_line(&serde_json::to_string(e)?)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn object(args: &ObjectArgs) -> anyhow::Result<ExitCode> {
    let entry: ManifestEntry = serde_json::from_str(&args.object)
        .map_err(|e| usage(format!("`--object {}`: not a plan line: {e}", args.object)))?;
    let rt = runtime()?;
    let sdk = rt.block_on(loglake_aws::sdk_config());
    let clients = Clients::new(&sdk, args.ledger_table.as_deref().unwrap_or_default());
    let schema = rt.block_on(read_schema(&clients.s3, &args.schema))?;
    let ledger = args.run_id.as_ref().map(|run_id| RunLedger {
        ledger: clients.ledger,
        run_id: run_id.clone(),
    });
    let task = GlueTask {
        head: clients.s3,
        ledger,
        work: TransformWork {
            output: args.output.clone(),
            catalog: args.catalog.clone(),
            schema,
            ledger: args.ledger_table.clone().zip(args.run_id.clone()),
        },
    };
    let result = rt.block_on(task.run(entry));
    print_line(&serde_json::to_string(&result)?)?;
    Ok(if result.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The schema file, from S3 or a path, compiled.
pub(crate) async fn read_schema(s3: &S3Objects, location: &str) -> anyhow::Result<CompiledSchema> {
    let text = if location.starts_with("s3://") {
        let (bucket, key) = split_s3(location)?;
        let body = s3.get(&bucket, &key).await?;
        String::from_utf8(body).with_context(|| format!("schema `{location}` is not UTF-8"))?
    } else {
        std::fs::read_to_string(PathBuf::from(location))
            .map_err(|e| usage(format!("cannot read the schema `{location}`: {e}")))?
    };
    Ok(Schema::from_json(&text, location)?.compile(location)?)
}

/// The bucket and key of an `s3://bucket/key` object URI (the store's own location parser).
fn split_s3(uri: &str) -> anyhow::Result<(String, String)> {
    match loglake_store::Location::parse(uri) {
        Ok(loglake_store::Location::S3 { bucket, prefix }) if !prefix.is_empty() => {
            Ok((bucket, prefix))
        }
        _ => Err(usage(format!("`{uri}` is not s3://bucket/key"))),
    }
}

/// The transform of `loglake transform --input s3://bucket/key --version-id … --output …
/// --catalog …`, on a blocking thread.
struct TransformWork {
    output: String,
    catalog: Option<String>,
    schema: CompiledSchema,
    /// The ledger table and run that claim a compacted partition's purge.
    ledger: Option<(String, String)>,
}

impl Publish for TransformWork {
    type Summary = Summary;

    async fn publish(
        &self,
        object: &ManifestEntry,
        version_id: Option<&str>,
    ) -> Result<Summary, String> {
        let args = TransformArgs {
            input: vec![format!("s3://{}/{}", object.bucket, object.key)],
            output: self.output.clone(),
            version_id: version_id.map(str::to_owned),
            catalog: self.catalog.clone(),
            schema: None,
            source: None,
            jobs: Some(1),
            quiet: true,
            ledger: self.ledger.clone(),
        };
        let schema = self.schema.clone();
        let run = move || -> anyhow::Result<Summary> {
            let plan = TransformPlan::with_schema(&args, schema)?;
            let work = plan.files.first().context("no input")?;
            plan.run(work, &|_| {})
        };
        match tokio::task::spawn_blocking(run).await {
            Ok(Ok(summary)) => Ok(summary),
            Ok(Err(e)) => Err(format!("{e:#}")),
            Err(e) => Err(format!("the transform task ended abnormally: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::split_s3;

    #[test]
    fn object_uris_name_a_bucket_and_a_key() {
        assert_eq!(
            split_s3("s3://code/schemas/app logs.json").unwrap(),
            ("code".to_owned(), "schemas/app logs.json".to_owned())
        );
        for bad in [
            "s3://code",
            "s3://code/",
            "s3:///key",
            "gs://code/key",
            "code/key",
        ] {
            assert!(split_s3(bad).is_err(), "{bad}");
        }
    }
}
