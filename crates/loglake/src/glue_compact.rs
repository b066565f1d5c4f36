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
use loglake_core::CompiledSchema;
use loglake_core::ledger::{Claim, ClaimRequest, Ledger, ObjectVersion, RunResult, Status, now_ms};
use loglake_store::compact::StorePartition;
use loglake_store::{Location, OutputStore};
use loglake_transform::compact::{CompactOptions, hour_end_ms, partition_of, worth_compacting};
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
    /// The Glue job, to ask whether the run holding a partition's claim has ended (then its
    /// claim is taken over).
    #[arg(long)]
    job_name: Option<String>,
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

pub(crate) fn split_catalog(spec: &str) -> anyhow::Result<(String, String)> {
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
        let Some(partition) = partition_of(&t.location, &p.location) else {
            continue;
        };
        if hour_end_ms(&p.values).is_none_or(|end| end + settle > now) {
            continue;
        }
        let sp = StorePartition {
            store: &store,
            rt: rt.handle(),
            table: &folder,
            partition: &partition,
        };
        let generation = p.generation();
        let parts = sp.part_files(generation)?.len();
        if worth_compacting(generation, parts, args.min_files) || gc_due(&p, grace, now) {
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

/// The AWS side of one partition's compaction: the catalog, the table, the ledger.
pub(crate) struct Aws {
    glue: GlueCatalog,
    sdk: aws_config::SdkConfig,
    database: String,
    table: String,
    location: String,
    /// The DynamoDB ledger table and the run claiming partitions in it.
    ledger: Option<(String, String)>,
    /// The Glue job whose runs hold claims.
    job_name: Option<String>,
}

/// What to compact, and how.
struct CompactJob<'a> {
    schema: &'a CompiledSchema,
    target_file_mib: u64,
    grace_minutes: u64,
    /// Sources whose compacted rows are dropped (a replaced source).
    drop: BTreeSet<String>,
    /// Compact even without `part-…` files (a purge).
    force: bool,
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
    let schema = rt.block_on(crate::glue_task::read_schema(
        &loglake_aws::S3Objects::new(&sdk),
        &args.schema,
    ))?;
    let aws = Aws {
        glue,
        sdk,
        database,
        table,
        location: t.location,
        ledger: args.ledger_table.clone().zip(args.run_id.clone()),
        job_name: args.job_name.clone(),
    };
    let job = CompactJob {
        schema: &schema,
        target_file_mib: args.target_file_mib,
        grace_minutes: args.grace_minutes,
        drop: BTreeSet::new(),
        force: false,
    };
    match with_claim(&aws, line, rt, |rt| compact_partition(&job, line, &aws, rt))? {
        Some(r) => Ok(r),
        None => Ok(CompactResult {
            partition: line.partition.clone(),
            generation: line.generation,
            ok: true,
            outcome: "claimed elsewhere".into(),
            ..Default::default()
        }),
    }
}

/// Runs `work` holding the ledger claim of the partition's compaction (none without a ledger);
/// `None` when another run holds it or did it.
fn with_claim<T>(
    aws: &Aws,
    line: &PlanLine,
    rt: &tokio::runtime::Runtime,
    work: impl FnOnce(&tokio::runtime::Runtime) -> anyhow::Result<T>,
) -> anyhow::Result<Option<T>> {
    let Some((table, run_id)) = &aws.ledger else {
        return work(rt).map(Some);
    };
    let Some(claim) = rt.block_on(PartitionClaim::take(aws, table, run_id, line))? else {
        return Ok(None);
    };
    let outcome = work(rt);
    let result = match &outcome {
        Ok(_) => RunResult::Succeeded,
        Err(e) => RunResult::Failed(format!("{e:#}")),
    };
    rt.block_on(claim.finish(&result))?;
    outcome.map(Some)
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
        let id = object.id();
        let now = now_ms();
        // The lease: longer than any compaction; a crashed one is taken over after it.
        let request = ClaimRequest::new(run_id, now, now + 3 * 3_600_000, 3, 7 * 86_400_000);
        let mut claim = ledger.claim(&object, &request).await?;
        if let Claim::Duplicate {
            status: Status::Started,
            job_run_id: Some(other),
        } = &claim
            && other != run_id
            && aws.run_has_ended(other).await?
        {
            // The run that held it ended without recording a result (its executor died):
            // recorded FAILED for it, then claimed again (attempts permitting).
            let why = format!("compaction run {other} ended without recording its result");
            ledger.finish(&id, other, &RunResult::Failed(why)).await?;
            claim = ledger.claim(&object, &request).await?;
        }
        if !matches!(claim, Claim::Claimed { .. }) {
            return Ok(None);
        }
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

/// Deletes the generations before the current one once the last switch's grace period has
/// passed.
fn collect_previous(
    sp: &StorePartition<'_>,
    p: &mut GluePartition,
    aws: &Aws,
    grace_minutes: u64,
    rt: &tokio::runtime::Runtime,
) -> anyhow::Result<bool> {
    let grace = i64::try_from(grace_minutes * 60_000).unwrap_or(i64::MAX);
    if !gc_due(p, grace, now_ms()) {
        return Ok(false);
    }
    // Every older generation: a purge may have switched again before the previous one's grace
    // ended, and those were replaced earlier still.
    for generation in 0..p.generation() {
        sp.delete_generation(generation)?;
    }
    let mut params = p.parameters.clone();
    params.remove(PREVIOUS_LOCATION);
    params.remove(SWITCHED_AT_MS);
    let location = p.location.clone();
    rt.block_on(aws.glue.switch_partition(
        &aws.database,
        &aws.table,
        p,
        &location,
        params.clone(),
    ))?;
    p.parameters = params;
    Ok(true)
}

/// Old generation past its grace deleted; the current folder compacted into the next
/// generation; the location switched; late files carried over.
fn compact_partition(
    job: &CompactJob<'_>,
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
    result.old_generation_deleted = collect_previous(&sp, &mut p, aws, job.grace_minutes, rt)?;
    let parts = sp.part_files(line.generation)?;
    if parts.is_empty() && !job.force {
        return Ok(result);
    }
    let before = sp.parquet_files(line.generation)?;
    let staging = tempfile::tempdir().context("a staging folder")?;
    let opts = CompactOptions {
        target_file_bytes: job.target_file_mib.max(1) << 20,
        ..Default::default()
    };
    let manifest = sp.compact(
        job.schema,
        line.generation,
        &parts,
        &job.drop,
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
    loglake_core::failpoint::hit("glue-compact:after-swap");
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

/// The Glue Data Catalog's side of publishing into a table that compaction rewrites
/// (`loglake_transform::publish::Placement`): current generations from `GetPartition`, purges
/// as claimed compactions that drop the source.
#[derive(Debug)]
pub(crate) struct GluePlacement<'a> {
    aws: Aws,
    schema: &'a CompiledSchema,
    rt: &'a tokio::runtime::Runtime,
    answered: loglake_transform::publish::Answered,
}

impl Aws {
    /// Whether a Glue run of the job has ended (false when the job is not known).
    async fn run_has_ended(&self, run_id: &str) -> anyhow::Result<bool> {
        let Some(job) = &self.job_name else {
            return Ok(false);
        };
        let glue = loglake_aws::GlueJobs::new(aws_sdk_glue::Client::new(&self.sdk));
        Ok(glue.run_ended(job, run_id).await?)
    }
}

impl std::fmt::Debug for Aws {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Aws")
            .field("table", &format!("{}.{}", self.database, self.table))
            .finish_non_exhaustive()
    }
}

impl<'a> GluePlacement<'a> {
    /// For a registered table, with the plan's clients (`sdk`, `glue`); `ledger`: the ledger
    /// table and run that claim purges.
    pub(crate) fn new(
        (sdk, glue, table): (
            &aws_config::SdkConfig,
            &GlueCatalog,
            &loglake_aws::RegisteredTable,
        ),
        schema: &'a CompiledSchema,
        ledger: Option<(String, String)>,
        rt: &'a tokio::runtime::Runtime,
    ) -> Self {
        Self {
            aws: Aws {
                glue: glue.clone(),
                sdk: sdk.clone(),
                database: table.database().to_owned(),
                table: table.name().to_owned(),
                location: table.location().to_owned(),
                ledger,
                job_name: None,
            },
            schema,
            rt,
            answered: Default::default(),
        }
    }

    fn current(&self, partition: &str) -> anyhow::Result<Option<GluePartition>> {
        let values = loglake_core::partition::PartitionPath::parse(partition)
            .map_err(|m| anyhow::anyhow!("partition `{partition}`: {m}"))?
            .values();
        Ok(self.rt.block_on(self.aws.glue.partition(
            &self.aws.database,
            &self.aws.table,
            &values,
        ))?)
    }

    /// The generations publishing used, per partition.
    pub(crate) fn answered(&self) -> std::collections::BTreeMap<String, u64> {
        self.answered.all()
    }

    /// The partitions whose generation changed since publishing asked (compacted meanwhile).
    pub(crate) fn moved(&self) -> anyhow::Result<Vec<String>> {
        let mut out = Vec::new();
        for (partition, g) in self.answered() {
            let now = self.current(&partition)?.map_or(0, |p| p.generation());
            if now != g {
                out.push(partition);
            }
        }
        Ok(out)
    }

    fn purge_once(&self, partition: &str, source: &str) -> anyhow::Result<bool> {
        let Some(p) = self.current(partition)? else {
            return Ok(true);
        };
        let line = PlanLine {
            values: p.values.clone(),
            partition: partition.to_owned(),
            generation: p.generation(),
        };
        let job = CompactJob {
            schema: self.schema,
            target_file_mib: 128,
            grace_minutes: 30,
            drop: BTreeSet::from([source.to_owned()]),
            force: true,
        };
        let done = with_claim(&self.aws, &line, self.rt, |rt| {
            compact_partition(&job, &line, &self.aws, rt)
        })?;
        Ok(done.is_some_and(|r| r.outcome == "compacted"))
    }
}

fn placement_err(partition: &str, e: anyhow::Error) -> loglake_transform::Error {
    loglake_transform::Error::Publish {
        location: partition.to_owned(),
        source: e.into(),
    }
}

impl loglake_transform::publish::Placement for GluePlacement<'_> {
    /// One `GetPartition` per partition and publish: the files of a partition, and the check of
    /// its removed files, use the same answer (the moved-check afterwards asks again).
    fn generation(&self, partition: &str) -> loglake_transform::Result<u64> {
        if let Some(g) = self.answered.get(partition) {
            return Ok(g);
        }
        let g = self
            .current(partition)
            .map_err(|e| placement_err(partition, e))?
            .map_or(0, |p| p.generation());
        Ok(self.answered.record(partition, g))
    }

    fn purge(&self, partition: &str, source: &str) -> loglake_transform::Result<()> {
        // Another run compacting the partition: its generation moves on, and the purge is
        // claimed again for the new one.
        for _ in 0..3 {
            if self
                .purge_once(partition, source)
                .map_err(|e| placement_err(partition, e))?
            {
                return Ok(());
            }
        }
        Err(placement_err(
            partition,
            anyhow::anyhow!(
                "another run is compacting this partition; the object is retried after it"
            ),
        ))
    }
}
