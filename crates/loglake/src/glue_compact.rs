//! `loglake glue-task compact-plan` and `compact`: the Glue job's compaction mode, started by
//! the EventBridge schedule (infra/compaction.tf).
//!
//! - `compact-plan` (driver): the table's partitions from the Glue Data Catalog whose hour ended
//!   `--settle-minutes` ago and that have at least `--min-files` `part-…` files in their current
//!   folder, or an old generation past its grace period; one JSON line each.
//! - `compact` (executor, one partition): claimed in the ledger as
//!   `<table location>/<partition>#compact-g<N>` (one compaction per partition and generation; a
//!   crashed one is taken over when its lease ends); the old generation past its grace period
//!   deleted; the current folder staged, compacted by the engine and uploaded as generation N+1
//!   ([`loglake_store::compact::StorePartition`]); its `part-…` files listed again (changed:
//!   the upload is deleted, and the next run retries); one `UpdatePartition` switches the
//!   location; files a transform put into the old folder meanwhile are copied over.

use std::collections::{BTreeSet, HashMap};
use std::process::ExitCode;

use anyhow::Context;
use loglake_aws::{GENERATION, GlueCatalog, GluePartition, PREVIOUS_LOCATION, SWITCHED_AT_MS};
use loglake_core::ledger::{Claim, ClaimRequest, Ledger, ObjectVersion, RunResult, now_ms};
use loglake_store::compact::StorePartition;
use loglake_store::{Location, OutputStore};
use loglake_transform::compact::{CompactOptions, generation_of};
use serde::{Deserialize, Serialize};

use crate::{print_line, runtime, usage};

#[derive(clap::Args)]
pub(crate) struct CompactPlanArgs {
    /// The Glue table (`DATABASE.TABLE`).
    #[arg(long, value_name = "DATABASE.TABLE")]
    catalog: String,
    /// Partitions whose hour ended at least this many minutes ago.
    #[arg(long, default_value_t = 60)]
    settle_minutes: u64,
    /// A partition is compacted once its current folder has this many `part-…` files.
    #[arg(long, default_value_t = 8)]
    min_files: usize,
    /// Old generations are deleted this many minutes after the switch.
    #[arg(long, default_value_t = 30)]
    grace_minutes: u64,
}

#[derive(clap::Args)]
pub(crate) struct CompactArgs {
    /// One line of `loglake glue-task compact-plan`.
    #[arg(long)]
    partition: String,
    /// The schema file: `s3://bucket/key` or a path.
    #[arg(long)]
    schema: String,
    /// The Glue table (`DATABASE.TABLE`).
    #[arg(long, value_name = "DATABASE.TABLE")]
    catalog: String,
    /// The DynamoDB ledger table the partition is claimed in (with `--run-id`).
    #[arg(long, requires = "run_id")]
    ledger_table: Option<String>,
    /// The Glue run that claims it.
    #[arg(long, requires = "ledger_table")]
    run_id: Option<String>,
    /// Target size of a compacted file, in MiB.
    #[arg(long, default_value_t = 128)]
    target_file_mib: u64,
    /// Old generations are deleted this many minutes after the switch.
    #[arg(long, default_value_t = 30)]
    grace_minutes: u64,
}

/// One partition of a compaction run (a `compact-plan` line).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PlanLine {
    /// Its values, in partition-key order.
    values: Vec<String>,
    /// `dt=…/hr=…` (escaped).
    partition: String,
    /// The generation its location held when planned.
    generation: u64,
}

/// What `compact` did, one JSON line.
#[derive(Debug, Default, Serialize)]
struct CompactResult {
    partition: String,
    ok: bool,
    /// `compacted`, `unchanged` (files arrived meanwhile, or another run did it), `claimed
    /// elsewhere`, or `failed`.
    outcome: String,
    generation: u64,
    files_before: usize,
    files_after: usize,
    rows: u64,
    carried_over: usize,
    old_generation_deleted: bool,
    error: Option<String>,
}

fn split_catalog(spec: &str) -> anyhow::Result<(String, String)> {
    match spec.split_once('.') {
        Some((d, t)) if !d.is_empty() && !t.is_empty() => Ok((d.to_owned(), t.to_owned())),
        _ => Err(usage(format!(
            "`--catalog {spec}`: expected DATABASE.TABLE"
        ))),
    }
}

/// The table's location and the store holding it: `s3://bucket/clean/app_logs` → the
/// `s3://bucket/clean` store and `app_logs`.
fn table_store(location: &str) -> anyhow::Result<(OutputStore, String)> {
    let trimmed = location.trim_end_matches('/');
    let (parent, table) = trimmed
        .rsplit_once('/')
        .with_context(|| format!("table location `{location}` has no folder"))?;
    let store = OutputStore::open(&Location::parse(parent).map_err(|e| usage(e.to_string()))?)?;
    Ok((store, table.to_owned()))
}

/// The partition's escaped path from its location under the table's.
fn partition_path(table_location: &str, p: &GluePartition) -> Option<String> {
    let rel = p
        .location
        .trim_end_matches('/')
        .strip_prefix(table_location.trim_end_matches('/'))?
        .trim_matches('/');
    (!rel.is_empty()).then(|| generation_of(&format!("{rel}/f")).1)
}

fn hour_end_ms(values: &[String]) -> Option<i64> {
    let day = loglake_core::time::parse_rfc3339(&format!("{}T00:00:00Z", values.first()?))?;
    let hour: i64 = values.get(1)?.parse().ok()?;
    Some(day / 1000 + (hour + 1) * 3_600_000)
}

fn gc_due(p: &GluePartition, grace_ms: i64, now: i64) -> bool {
    p.parameters.contains_key(PREVIOUS_LOCATION)
        && p.parameters
            .get(SWITCHED_AT_MS)
            .and_then(|t| t.parse::<i64>().ok())
            .is_some_and(|t| t + grace_ms <= now)
}

pub(crate) fn compact_plan(args: &CompactPlanArgs) -> anyhow::Result<ExitCode> {
    let (database, table) = split_catalog(&args.catalog)?;
    let rt = runtime()?;
    let glue = rt.block_on(GlueCatalog::from_env());
    let t = rt
        .block_on(glue.tables(&database, Some(&table)))?
        .into_iter()
        .next()
        .with_context(|| format!("no table {database}.{table}"))?;
    let (store, folder) = table_store(&t.location)?;
    let now = now_ms();
    let settle = i64::try_from(args.settle_minutes * 60_000).unwrap_or(i64::MAX);
    let grace = i64::try_from(args.grace_minutes * 60_000).unwrap_or(i64::MAX);
    for p in rt.block_on(glue.partitions(&database, &table))? {
        let Some(partition) = partition_path(&t.location, &p) else {
            continue;
        };
        if !hour_end_ms(&p.values).is_some_and(|end| end + settle <= now) {
            continue;
        }
        let sp = StorePartition {
            store: &store,
            rt: rt.handle(),
            table: &folder,
            partition: &partition,
        };
        let generation = p.generation();
        let min = args.min_files.max(if generation == 0 { 2 } else { 1 });
        if sp.part_files(generation)?.len() >= min || gc_due(&p, grace, now) {
            let line = PlanLine {
                values: p.values.clone(),
                partition,
                generation,
            };
            print_line(&serde_json::to_string(&line)?)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn compact(args: &CompactArgs) -> anyhow::Result<ExitCode> {
    let line: PlanLine = serde_json::from_str(&args.partition).map_err(|e| {
        usage(format!(
            "`--partition {}`: not a plan line: {e}",
            args.partition
        ))
    })?;
    let rt = runtime()?;
    let result = compact_claimed(args, &line, &rt).unwrap_or_else(|e| CompactResult {
        partition: line.partition.clone(),
        outcome: "failed".into(),
        error: Some(format!("{e:#}")),
        ..Default::default()
    });
    print_line(&serde_json::to_string(&result)?)?;
    Ok(if result.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The AWS side of one partition's compaction: the catalog, the table's store, the ledger.
struct Aws {
    glue: GlueCatalog,
    sdk: aws_config::SdkConfig,
    database: String,
    table: String,
    location: String,
}

/// Claims the partition, compacts it, records the result in the ledger.
fn compact_claimed(
    args: &CompactArgs,
    line: &PlanLine,
    rt: &tokio::runtime::Runtime,
) -> anyhow::Result<CompactResult> {
    let (database, table) = split_catalog(&args.catalog)?;
    let sdk = rt.block_on(loglake_aws::sdk_config());
    let glue = GlueCatalog::new(aws_sdk_glue::Client::new(&sdk));
    let t = rt
        .block_on(glue.tables(&database, Some(&table)))?
        .into_iter()
        .next()
        .with_context(|| format!("no table {database}.{table}"))?;
    let aws = Aws {
        glue,
        sdk,
        database,
        table,
        location: t.location,
    };
    let claim = match (&args.ledger_table, &args.run_id) {
        (Some(ledger), Some(run_id)) => {
            match rt.block_on(PartitionClaim::take(&aws, ledger, run_id, line))? {
                Some(c) => Some(c),
                None => {
                    return Ok(CompactResult {
                        partition: line.partition.clone(),
                        generation: line.generation,
                        ok: true,
                        outcome: "claimed elsewhere".into(),
                        ..Default::default()
                    });
                }
            }
        }
        _ => None,
    };
    let outcome = compact_partition(args, line, &aws, rt);
    if let Some(claim) = &claim {
        let result = match &outcome {
            Ok(_) => RunResult::Succeeded,
            Err(e) => RunResult::Failed(format!("{e:#}")),
        };
        rt.block_on(claim.finish(&result))?;
    }
    outcome
}

/// The ledger claim of one partition's compaction into generation N+1.
struct PartitionClaim {
    ledger: loglake_aws::DynamoDbLedger,
    id: String,
    run_id: String,
}

impl PartitionClaim {
    /// `None`: another run holds it (or did it).
    async fn take(
        aws: &Aws,
        table: &str,
        run_id: &str,
        line: &PlanLine,
    ) -> anyhow::Result<Option<Self>> {
        let ledger =
            loglake_aws::DynamoDbLedger::new(aws_sdk_dynamodb::Client::new(&aws.sdk), table);
        let object = ObjectVersion {
            store: aws.location.trim_end_matches('/').to_owned(),
            key: line.partition.clone(),
            version: format!("compact-g{}", line.generation),
            size: 0,
            sequencer: None,
        };
        let now = now_ms();
        // The lease: longer than any compaction run; a crashed one is taken over after it.
        let request = ClaimRequest::new(run_id, now, now + 3 * 3_600_000, 3, 7 * 86_400_000);
        if !matches!(
            ledger.claim(&object, &request).await?,
            Claim::Claimed { .. }
        ) {
            return Ok(None);
        }
        let id = object.id();
        ledger
            .start(&id, run_id, run_id, request.lease_until_ms)
            .await?;
        Ok(Some(Self {
            ledger,
            id,
            run_id: run_id.to_owned(),
        }))
    }

    async fn finish(&self, result: &RunResult) -> anyhow::Result<()> {
        self.ledger.finish(&self.id, &self.run_id, result).await?;
        Ok(())
    }
}

/// Old generation past its grace deleted; the current folder compacted into the next
/// generation; the location switched; late files carried over.
fn compact_partition(
    args: &CompactArgs,
    line: &PlanLine,
    aws: &Aws,
    rt: &tokio::runtime::Runtime,
) -> anyhow::Result<CompactResult> {
    let mut result = CompactResult {
        partition: line.partition.clone(),
        generation: line.generation,
        ok: true,
        outcome: "unchanged".into(),
        ..Default::default()
    };
    let (db, table) = (aws.database.as_str(), aws.table.as_str());
    let Some(mut p) = rt.block_on(aws.glue.partition(db, table, &line.values))? else {
        return Ok(result);
    };
    if p.generation() != line.generation {
        return Ok(result);
    }
    let (store, folder) = table_store(&aws.location)?;
    let sp = StorePartition {
        store: &store,
        rt: rt.handle(),
        table: &folder,
        partition: &line.partition,
    };
    let grace = i64::try_from(args.grace_minutes * 60_000).unwrap_or(i64::MAX);
    if gc_due(&p, grace, now_ms()) {
        if let Some(old) = p
            .parameters
            .get(PREVIOUS_LOCATION)
            .and_then(|l| l.strip_prefix(aws.location.trim_end_matches('/')))
        {
            sp.delete_generation(generation_of(&format!("{}/f", old.trim_matches('/'))).0)?;
        }
        let mut params = p.parameters.clone();
        params.remove(PREVIOUS_LOCATION);
        params.remove(SWITCHED_AT_MS);
        let location = p.location.clone();
        rt.block_on(
            aws.glue
                .switch_partition(db, table, &p, &location, params.clone()),
        )?;
        p.parameters = params;
        result.old_generation_deleted = true;
    }
    let parts = sp.part_files(line.generation)?;
    if parts.is_empty() {
        return Ok(result);
    }
    let before = sp.parquet_files(line.generation)?;
    let schema = rt.block_on(crate::glue_task::read_schema(
        &loglake_aws::S3Objects::new(&aws.sdk),
        &args.schema,
    ))?;
    let staging = tempfile::tempdir().context("a staging folder")?;
    let opts = CompactOptions {
        target_file_bytes: args.target_file_mib.max(1) << 20,
        ..Default::default()
    };
    let no_drop = BTreeSet::new();
    let manifest = sp.compact(
        &schema,
        line.generation,
        &parts,
        &no_drop,
        &opts,
        staging.path(),
    )?;
    if sp.part_files(line.generation)? != parts {
        sp.delete_generation(manifest.generation)?;
        return Ok(result);
    }
    let location = format!(
        "{}/{}",
        aws.location.trim_end_matches('/'),
        loglake_transform::compact::generation_dir(&line.partition, manifest.generation)
    );
    let params = HashMap::from([
        (GENERATION.to_owned(), manifest.generation.to_string()),
        (PREVIOUS_LOCATION.to_owned(), p.location.clone()),
        (SWITCHED_AT_MS.to_owned(), now_ms().to_string()),
    ]);
    loglake_core::failpoint::hit("glue-compact:before-swap");
    rt.block_on(aws.glue.switch_partition(db, table, &p, &location, params))?;
    // A transform that read the old location before the switch may have published into it.
    let after = sp.part_files(line.generation)?;
    let late: Vec<String> = after.into_iter().filter(|f| !parts.contains(f)).collect();
    sp.carry_over(&late, manifest.generation, staging.path())?;
    Ok(CompactResult {
        outcome: "compacted".into(),
        generation: manifest.generation,
        files_before: before,
        files_after: manifest.files.len(),
        rows: manifest.rows,
        carried_over: late.len(),
        ..result
    })
}
