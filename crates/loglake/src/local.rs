//! `loglake run`, `watch`, `query` and `demo`: the local pipeline's commands.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use loglake_core::Schema;
use loglake_core::catalog::CatalogTable;
use loglake_local::{
    ObjectReport, Outcome, Pipeline, PipelineConfig, Progress, RunReport, StateDb,
};
use loglake_query::{Format, PartitionDef, QueryEngine, TableDef};
use loglake_store::Location;

use crate::{load_schema, print_line, runtime, usage};

/// Where a local pipeline reads and writes.
#[derive(clap::Args)]
pub(crate) struct RootArgs {
    /// Root folder: `raw/` is read, `clean/` and `quarantine/` are written, `state.db` holds
    /// the ledger and the catalog.
    #[arg(long)]
    root: PathBuf,
    /// Raw objects instead of `<root>/raw`: a folder or `s3://bucket/prefix` (S3 uses the
    /// standard AWS environment, and `AWS_ENDPOINT_URL` for moto, MinIO or any S3-compatible
    /// server).
    #[arg(long)]
    raw: Option<String>,
    /// Where tables are written instead of `<root>/clean` (folder or `s3://bucket/prefix`).
    #[arg(long)]
    clean: Option<String>,
    /// Where quarantined records go instead of `<root>/quarantine` (folder or S3 URI).
    #[arg(long)]
    quarantine: Option<String>,
    /// Schema file (JSON). Default: the built-in `schemas/app_logs.json`.
    #[arg(long)]
    schema: Option<PathBuf>,
    /// Objects transformed at once. Default: the number of cores.
    #[arg(long)]
    jobs: Option<usize>,
    /// Attempts per object version before it is left FAILED for the operator.
    #[arg(long, default_value_t = 3)]
    max_attempts: u32,
    /// Seconds a claim may stay silent before another process takes it over (a claim whose
    /// process has exited on this host is taken over at once).
    #[arg(long, default_value_t = 900)]
    lease_secs: u64,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
    /// Do not compact settled partitions after each pass.
    #[arg(long)]
    no_compact: bool,
    /// Compact a partition once its hour ended this long ago (`90s`, `30m`, `1h`, `2d`).
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_duration)]
    compact_after: Duration,
}

/// `loglake compact`: the settled partitions of a root's tables rewritten into few large files.
#[derive(clap::Args)]
pub(crate) struct CompactArgs {
    /// The root `loglake run` wrote (its `state.db` holds the catalog).
    #[arg(long)]
    root: PathBuf,
    /// Only partitions whose hour ended at least this long ago (`0` for all).
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_duration)]
    older_than: Duration,
    /// A partition not compacted before is compacted once it has this many files.
    #[arg(long, default_value_t = 8)]
    min_files: usize,
    /// Target size of a compacted file, in MiB.
    #[arg(long, default_value_t = 128)]
    target_file_mib: u64,
    /// Old generations are deleted this long after the switch (longer than any query).
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    grace: Duration,
}

/// `90s`, `30m`, `1h`, `2d`, or `0`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n
        .parse()
        .map_err(|_| format!("`{s}` is not a duration; write e.g. 90s, 30m, 1h or 2d"))?;
    let secs = match unit {
        "" if n == 0 => 0,
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("`{s}`: the unit must be s, m, h or d (e.g. 30m)")),
    };
    Ok(Duration::from_secs(secs))
}

#[derive(clap::Args)]
pub(crate) struct WatchArgs {
    #[command(flatten)]
    root: RootArgs,
    /// A file not modified for this long is taken as complete even without a close event.
    #[arg(long, default_value_t = 1000)]
    settle_ms: u64,
    /// Full rescan interval in seconds (the only trigger for an S3 raw store).
    #[arg(long, default_value_t = 30)]
    rescan_secs: u64,
}

#[derive(clap::Args)]
#[command(after_help = QUERY_EXAMPLES)]
pub(crate) struct QueryArgs {
    /// One SQL statement (DataFusion dialect). Tables: the catalog's (e.g. `app_logs`), with
    /// their partition keys (`dt`, `hr`) as string columns; `SHOW TABLES` lists them.
    sql: String,
    /// Root folder whose `state.db` holds the catalog.
    #[arg(long, default_value = ".")]
    root: PathBuf,
    /// Query the tables of a Glue Data Catalog database instead (`DATABASE` or
    /// `DATABASE.TABLE`): their columns, partition keys and S3 locations come from Glue, the
    /// data is read from S3 (standard AWS environment; `AWS_ENDPOINT_URL` for moto).
    #[arg(long, value_name = "DATABASE[.TABLE]", conflicts_with = "root")]
    glue: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    format: FormatArg,
}

const QUERY_EXAMPLES: &str = "\
Examples (app_logs):
  Errors per service per hour:
    loglake query --root R \"SELECT dt, hr, service, count(*) AS errors FROM app_logs
      WHERE level IN ('ERROR','FATAL') GROUP BY dt, hr, service ORDER BY dt, hr, errors DESC\"
  p95 latency per service (one day; the dt filter prunes other days' folders):
    loglake query --root R \"SELECT service, approx_percentile_cont(0.95) WITHIN GROUP
      (ORDER BY latency_ms) AS p95_ms FROM app_logs WHERE dt = '2024-05-01' GROUP BY service\"
  Top messages:
    loglake query --root R \"SELECT message, count(*) AS n FROM app_logs GROUP BY message
      ORDER BY n DESC LIMIT 10\"
  Catalog:  loglake query --root R \"SHOW TABLES\"
  A deployment (Glue Data Catalog, data on S3):
    loglake query --glue loglake \"SELECT dt, count(*) FROM app_logs GROUP BY dt ORDER BY dt\"";

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum FormatArg {
    Table,
    Json,
    Csv,
}

#[derive(clap::Args)]
pub(crate) struct DemoArgs {
    /// Demo root (re-created on each run; refuses a folder it did not create).
    #[arg(long, default_value = "loglake-demo")]
    root: PathBuf,
    /// Files to generate.
    #[arg(long, default_value_t = 8)]
    files: usize,
    /// Lines per file.
    #[arg(long, default_value_t = 20_000)]
    lines: usize,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

fn location(arg: Option<&String>) -> anyhow::Result<Option<Location>> {
    arg.map(|s| Location::parse(s).map_err(|e| usage(e.to_string())))
        .transpose()
}

fn open_pipeline(args: &RootArgs) -> anyhow::Result<Pipeline> {
    let schema = load_schema(args.schema.as_deref())?;
    let mut config = PipelineConfig::new(&args.root);
    config.raw = location(args.raw.as_ref())?;
    config.clean = location(args.clean.as_ref())?;
    config.quarantine = location(args.quarantine.as_ref())?;
    if let Some(j) = args.jobs {
        config.jobs = j.max(1);
    }
    config.max_attempts = args.max_attempts.max(1);
    config.lease = Duration::from_secs(args.lease_secs);
    config.compact = (!args.no_compact).then(|| loglake_local::CompactConfig {
        settle: args.compact_after,
        ..Default::default()
    });
    Pipeline::open(config, schema).map_err(|e| match e {
        loglake_local::Error::Usage(_) | loglake_local::Error::CatalogMismatch { .. } => {
            usage(e.to_string())
        }
        loglake_local::Error::Store(e) if e.is_usage() => usage(e.to_string()),
        other => anyhow::Error::new(other)
            .context(format!("cannot open the root `{}`", args.root.display())),
    })
}

/// A byte progress bar fed by pipeline progress events.
struct Bar {
    bar: ProgressBar,
}

impl Bar {
    fn new(quiet: bool) -> Self {
        let bar = if quiet || !std::io::stderr().is_terminal() {
            ProgressBar::hidden()
        } else {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta}) {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar
        };
        Self { bar }
    }

    fn event(&self, p: Progress<'_>) {
        match p {
            Progress::Listed { objects, bytes } => {
                self.bar.set_length(bytes);
                self.bar.set_position(0);
                self.bar.set_message(format!("{objects} objects"));
            }
            Progress::Bytes(n) => self.bar.inc(n),
            Progress::Done(_) => {}
        }
    }
}

fn print_report(bar: &ProgressBar, r: &ObjectReport) {
    let line = serde_json::to_string(r).unwrap_or_default();
    if let Err(e) = bar.suspend(|| print_line(&line)) {
        eprintln!("error: cannot write to stdout: {e}");
    }
    if let Some(err) = &r.error {
        bar.suspend(|| eprintln!("error: {}: {err}", r.id.as_deref().unwrap_or(&r.key)));
    }
}

fn describe(report: &RunReport) -> String {
    format!(
        "{} objects: {} processed, {} duplicates, {} skipped, {} failed; {} records in, {} written, \
         {} quarantined; {} partitions registered{}",
        report.objects,
        report.processed,
        report.duplicates,
        report.skipped,
        report.failed,
        report.records_in,
        report.records_written,
        report.records_quarantined,
        report.partitions_added,
        if report.reaped.is_empty() {
            String::new()
        } else {
            format!(
                "; took back {} claims of exited processes",
                report.reaped.len()
            )
        }
    )
}

/// One line about a pass's compaction, if it did any.
fn describe_compaction(report: &RunReport) -> Option<String> {
    let c = report.compaction.as_ref()?;
    let swapped: Vec<_> = c.partitions.iter().filter(|p| p.swapped).collect();
    if swapped.is_empty() && c.collected.is_empty() {
        return None;
    }
    Some(format!(
        "compacted {} partitions: {} files into {}; {} old generations deleted",
        swapped.len(),
        swapped.iter().map(|p| p.files_before).sum::<usize>(),
        swapped.iter().map(|p| p.files_after).sum::<usize>(),
        c.collected.len()
    ))
}

pub(crate) fn compact(args: &CompactArgs) -> anyhow::Result<ExitCode> {
    let path = args.root.join("state.db");
    if !path.exists() {
        return Err(usage(format!(
            "no catalog at `{}`\nhint: `loglake compact` works on a root `loglake run` wrote",
            path.display()
        )));
    }
    let state = StateDb::open(&path)?;
    let config = loglake_local::CompactConfig {
        settle: args.older_than,
        grace: args.grace,
        min_files: args.min_files,
        options: loglake_transform::compact::CompactOptions {
            target_file_bytes: args.target_file_mib.max(1) << 20,
            ..Default::default()
        },
    };
    let mut reports = Vec::new();
    for t in state.tables()? {
        let origin = format!("catalog table {}", t.name);
        let schema = Schema::from_json(&t.schema_json, &origin)?.compile(&origin)?;
        let compactor = loglake_local::Compactor::new(&state, &t, &schema, config)
            .map_err(|e| usage(e.to_string()))?;
        let report = compactor.run(loglake_local::now_ms())?;
        for p in &report.partitions {
            print_line(&serde_json::to_string(p).unwrap_or_default())?;
        }
        reports.push(report);
    }
    let parts: Vec<_> = reports.iter().flat_map(|r| &r.partitions).collect();
    eprintln!(
        "{} partitions compacted ({} skipped: files arrived meanwhile): {} files into {}; {} old generations deleted",
        parts.iter().filter(|p| p.swapped).count(),
        parts.iter().filter(|p| !p.swapped).count(),
        parts
            .iter()
            .filter(|p| p.swapped)
            .map(|p| p.files_before)
            .sum::<usize>(),
        parts
            .iter()
            .filter(|p| p.swapped)
            .map(|p| p.files_after)
            .sum::<usize>(),
        reports.iter().map(|r| r.collected.len()).sum::<usize>()
    );
    Ok(ExitCode::SUCCESS)
}

fn exit_code(report: &RunReport) -> ExitCode {
    if report.failed > 0 || report.records_quarantined > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Stops the pipeline after the objects in flight on Ctrl-C (a second Ctrl-C exits at once,
/// leaving claims for the next run to take back).
fn stop_on_ctrl_c(pipeline: &Pipeline) {
    let stop = pipeline.stop_flag();
    pipeline.runtime().spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("stopping after the objects in flight (Ctrl-C again to exit now)");
            stop.store(true, Ordering::Relaxed);
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
}

pub(crate) fn run(args: &RootArgs) -> anyhow::Result<ExitCode> {
    let pipeline = open_pipeline(args)?;
    stop_on_ctrl_c(&pipeline);
    let bar = Bar::new(args.quiet);
    let report = pipeline.run_once(&|p| {
        if let Progress::Done(r) = &p {
            print_report(&bar.bar, r);
        }
        bar.event(p);
    })?;
    bar.bar.finish_and_clear();
    pipeline.release_claims()?;
    eprintln!("{}", describe(&report));
    if let Some(line) = describe_compaction(&report) {
        eprintln!("{line}");
    }
    Ok(exit_code(&report))
}

pub(crate) fn watch(args: &WatchArgs) -> anyhow::Result<ExitCode> {
    let pipeline = open_pipeline(&args.root)?;
    stop_on_ctrl_c(&pipeline);
    let opts = loglake_local::WatchOptions {
        settle: Duration::from_millis(args.settle_ms),
        rescan: Duration::from_secs(args.rescan_secs.max(1)),
    };
    eprintln!(
        "watching {} (Ctrl-C to stop)",
        pipeline.raw_location().display()
    );
    let totals = loglake_local::watch(
        &pipeline,
        &opts,
        &|p| {
            if let Progress::Done(r) = &p
                && r.outcome != Outcome::Duplicate
            {
                print_report(&ProgressBar::hidden(), r);
            }
        },
        &|pass| {
            if !args.root.quiet {
                eprintln!("{}", describe(pass));
                if let Some(line) = describe_compaction(pass) {
                    eprintln!("{line}");
                }
            }
        },
    )?;
    eprintln!(
        "stopped: {} objects processed, {} failed, {} records written, {} quarantined",
        totals.processed, totals.failed, totals.records_written, totals.records_quarantined
    );
    Ok(ExitCode::SUCCESS)
}

/// The catalog's tables as DataFusion listing tables (plus S3 clients for S3 locations).
fn engine_for(root: &Path, runtime: &tokio::runtime::Runtime) -> anyhow::Result<QueryEngine> {
    let path = root.join("state.db");
    if !path.exists() {
        return Err(usage(format!(
            "no catalog at `{}`\nhint: run `loglake run --root {}` first (or `loglake demo`)",
            path.display(),
            root.display()
        )));
    }
    let state = StateDb::open(&path)?;
    let tables = state.tables()?;
    let mut defs = Vec::new();
    let mut stores = Vec::new();
    for t in &tables {
        let partitions = state
            .partitions(&t.database, &t.name)?
            .into_iter()
            .map(|p| PartitionDef {
                values: p.values,
                location: p.location,
            })
            .collect();
        defs.push(table_def(t, partitions)?);
        if let Ok(Location::S3 { bucket, .. }) = Location::parse(&t.location) {
            let url = url::Url::parse(&format!("s3://{bucket}"))
                .with_context(|| format!("bucket name `{bucket}`"))?;
            stores.push((url, loglake_store::s3_store(&bucket)?));
        }
    }
    Ok(runtime.block_on(QueryEngine::new(&defs, &stores))?)
}

/// The Glue Data Catalog's tables (`DATABASE` or `DATABASE.TABLE`) as DataFusion listing
/// tables over their S3 locations.
fn engine_for_glue(spec: &str, runtime: &tokio::runtime::Runtime) -> anyhow::Result<QueryEngine> {
    let (database, table) = match spec.split_once('.') {
        Some((d, t)) if !d.is_empty() && !t.is_empty() => (d, Some(t)),
        None if !spec.is_empty() => (spec, None),
        _ => {
            return Err(usage(format!(
                "`--glue {spec}`: expected DATABASE or DATABASE.TABLE"
            )));
        }
    };
    let glue = runtime.block_on(loglake_aws::GlueCatalog::from_env());
    let tables = runtime.block_on(glue.tables(database, table));
    let tables = tables.map_err(|e| match e {
        e @ (loglake_aws::CatalogError::Missing { .. }
        | loglake_aws::CatalogError::MissingDatabase { .. }) => usage(e.to_string()),
        other => anyhow::Error::new(other),
    })?;
    let mut defs = Vec::new();
    let mut stores = Vec::new();
    for t in &tables {
        let Ok(Location::S3 { bucket, .. }) = Location::parse(&t.location) else {
            return Err(usage(format!(
                "table `{}.{}` is located at `{}`, not on S3\nhint: `--glue` reads tables whose \
                 location is s3://…",
                t.database, t.name, t.location
            )));
        };
        let keys = t.partition_keys.iter().map(|(k, _)| k.clone()).collect();
        let mut def = TableDef::from_hive(&t.name, &t.location, &t.columns, keys)
            .map_err(|e| usage(e.to_string()))?;
        // Each partition from the location the catalog names (compaction switches them).
        let partitions = runtime.block_on(glue.partitions(&t.database, &t.name))?;
        def.partitions = Some(
            partitions
                .into_iter()
                .map(|p| PartitionDef {
                    values: p.values,
                    location: p.location,
                })
                .collect(),
        );
        defs.push(def);
        let url = url::Url::parse(&format!("s3://{bucket}"))
            .with_context(|| format!("bucket name `{bucket}`"))?;
        if !stores.iter().any(|(u, _)| u == &url) {
            stores.push((url, loglake_store::s3_store(&bucket)?));
        }
    }
    Ok(runtime.block_on(QueryEngine::new(&defs, &stores))?)
}

/// A local catalog table, read partition by partition from the locations the catalog names.
fn table_def(t: &CatalogTable, partitions: Vec<PartitionDef>) -> anyhow::Result<TableDef> {
    let schema = Schema::from_json(&t.schema_json, &format!("catalog table {}", t.name))?
        .compile(&format!("catalog table {}", t.name))?;
    Ok(TableDef {
        name: t.name.clone(),
        location: t.location.clone(),
        schema: loglake_transform::arrow_schema(&schema),
        partition_keys: t.key_names(),
        partitions: Some(partitions),
    })
}

pub(crate) fn query(args: &QueryArgs) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    let engine = match &args.glue {
        Some(spec) => engine_for_glue(spec, &rt)?,
        None => engine_for(&args.root, &rt)?,
    };
    let batches = rt.block_on(engine.sql(&args.sql)).map_err(|e| {
        if e.is_usage() {
            usage(e.to_string())
        } else {
            anyhow::Error::new(e)
        }
    })?;
    let format = match args.format {
        FormatArg::Table => Format::Table,
        FormatArg::Json => Format::Json,
        FormatArg::Csv => Format::Csv,
    };
    let text = loglake_query::format(&batches, format)?;
    print_line(text.trim_end_matches('\n'))?;
    Ok(ExitCode::SUCCESS)
}

/// The demo's queries: (title, SQL).
pub(crate) const DEMO_QUERIES: [(&str, &str); 3] = [
    (
        "Errors per service per hour (first 8 rows)",
        "SELECT dt, hr, service, count(*) AS errors FROM app_logs \
         WHERE level IN ('ERROR', 'FATAL') GROUP BY dt, hr, service \
         ORDER BY dt, hr, errors DESC, service LIMIT 8",
    ),
    (
        "p95 latency per service on 2024-05-01 (the dt filter prunes other days)",
        "SELECT service, count(*) AS requests, \
         round(approx_percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms), 1) AS p95_ms \
         FROM app_logs WHERE dt = '2024-05-01' AND latency_ms IS NOT NULL \
         GROUP BY service ORDER BY p95_ms DESC, service",
    ),
    (
        "Top messages",
        "SELECT message, count(*) AS n FROM app_logs WHERE message IS NOT NULL \
         GROUP BY message ORDER BY n DESC, message LIMIT 5",
    ),
];

const DEMO_MARKER: &str = ".loglake-demo";

pub(crate) fn demo(args: &DemoArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let root = &args.root;
    fresh_demo_root(root)?;
    let generated = demo_logs(root, args)?;
    let report = demo_pipeline(root, args.quiet)?;
    demo_queries(root)?;
    eprintln!(
        "\ndone in {:.1} s. Explore: loglake query --root {} \"SELECT level, count(*) FROM app_logs GROUP BY level\"",
        started.elapsed().as_secs_f64(),
        root.display()
    );
    let ok = report.failed == 0 && report.records_in == generated.lines as u64;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// An empty demo root: a previous demo's root is cleared; any other non-empty folder is refused.
fn fresh_demo_root(root: &Path) -> anyhow::Result<()> {
    if root.exists() {
        let empty = std::fs::read_dir(root)
            .with_context(|| format!("cannot list `{}`", root.display()))?
            .next()
            .is_none();
        if !empty && !root.join(DEMO_MARKER).exists() {
            return Err(usage(format!(
                "`{}` exists and was not created by `loglake demo`; not touching it\nhint: pass \
                 `--root` a new folder",
                root.display()
            )));
        }
        std::fs::remove_dir_all(root)
            .with_context(|| format!("cannot clear the previous demo at `{}`", root.display()))?;
    }
    std::fs::create_dir_all(root).with_context(|| format!("cannot create `{}`", root.display()))?;
    std::fs::write(root.join(DEMO_MARKER), "created by `loglake demo`\n")
        .with_context(|| format!("cannot write in `{}`", root.display()))?;
    Ok(())
}

/// Step 1: raw logs from the generator (its report is the run's truth).
fn demo_logs(root: &Path, args: &DemoArgs) -> anyhow::Result<loglake_gen::GenReport> {
    let gen_opts = loglake_gen::GenOptions {
        files: args.files,
        lines: args.lines,
        seed: 42,
        bad_ratio: 0.01,
        compression: loglake_gen::Compression::Gzip,
        start: 1_714_521_600, // 2024-05-01T00:00:00Z
        hours: 48,
    };
    let generated = loglake_gen::generate(&root.join("raw"), &gen_opts)?;
    eprintln!(
        "1. generated {} raw files in {} ({} lines, {} of them deliberately bad, {:.1} MB gzip)",
        generated.files.len(),
        root.join("raw").display(),
        generated.lines,
        generated.bad_lines,
        generated.bytes as f64 / 1e6
    );
    Ok(generated)
}

/// Steps 2 and 3: the pipeline over the raw logs, then again (nothing to do).
fn demo_pipeline(root: &Path, quiet: bool) -> anyhow::Result<RunReport> {
    let pipeline = Pipeline::open(
        PipelineConfig::new(root),
        Schema::default_app_logs().compile("built-in app_logs")?,
    )?;
    let bar = Bar::new(quiet);
    let collected: std::sync::Mutex<Vec<ObjectReport>> = std::sync::Mutex::new(Vec::new());
    let report = pipeline.run_once(&|p| {
        if let Progress::Done(r) = &p {
            collected
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(ObjectReport::clone(r));
        }
        bar.event(p);
    })?;
    bar.bar.finish_and_clear();
    let objects = collected
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    describe_demo_run(root, &report, &objects);
    let again = pipeline.run_once(&|_| {})?;
    eprintln!(
        "3. ran it again: {} processed, {} duplicates (each object version is processed once)",
        again.processed, again.duplicates
    );
    Ok(report)
}

/// What the demo's run wrote: partitions, quarantine reasons, errors.
fn describe_demo_run(root: &Path, report: &RunReport, objects: &[ObjectReport]) {
    let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
    let mut partitions = std::collections::BTreeSet::new();
    for r in objects {
        if let Some(s) = &r.summary {
            for (k, n) in &s.quarantine_reasons {
                *reasons.entry(k.clone()).or_default() += n;
            }
            partitions.extend(s.partitions.iter().cloned());
        }
        if let Some(e) = &r.error {
            eprintln!("error: {}: {e}", r.id.as_deref().unwrap_or(&r.key));
        }
    }
    eprintln!("2. ran the pipeline: {}", describe(report));
    eprintln!(
        "   Parquet: {}/app_logs/dt=…/hr=…/ ({} partitions, {} … {})",
        root.join("clean").display(),
        partitions.len(),
        partitions.first().map_or("", String::as_str),
        partitions.last().map_or("", String::as_str)
    );
    eprintln!(
        "   quarantined {} records in {}/app_logs/, by reason: {}",
        report.records_quarantined,
        root.join("quarantine").display(),
        reasons
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

/// Steps 4 on: the demo's queries over the catalog, printed as tables.
fn demo_queries(root: &Path) -> anyhow::Result<()> {
    let rt = runtime()?;
    let engine = engine_for(root, &rt)?;
    for (i, (title, sql)) in DEMO_QUERIES.iter().enumerate() {
        let batches = rt.block_on(engine.sql(sql))?;
        print_line(&format!("\n{}. {title}\n   {sql}", i + 4))?;
        print_line(&loglake_query::format(&batches, Format::Table)?)?;
    }
    Ok(())
}
