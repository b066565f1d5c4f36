//! `loglake`: the command-line interface (DESIGN.md §5). Thin glue over the library crates:
//! argument parsing, progress on stderr, data on stdout, exit codes.
//!
//! Exit codes: 0 ok; 1 data problems reported (quarantined records, failed objects);
//! 2 usage or configuration error.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

mod local;
mod trigger;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use loglake_core::{CompiledSchema, Schema};
use loglake_transform::{
    LocalOutput, Source, Summary, TransformOptions, for_each_parallel, transform_file,
    transform_reader,
};

#[derive(Parser)]
#[command(
    name = "loglake",
    version,
    about = "Raw JSON logs to partitioned, queryable Parquet"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate deterministic sample JSON logs (about 1% bad lines).
    Gen(GenArgs),
    /// Transform raw JSON logs into partitioned Parquet, quarantining bad records.
    ///
    /// Prints one JSON summary per input on stdout:
    /// {"source","records_in","records_written","records_quarantined","bytes_in","partitions",
    /// "files","null_coercions",...}. Output layout:
    /// <OUTPUT>/clean/<table>/dt=YYYY-MM-DD/hr=HH/part-<source_id>-<n>.parquet and
    /// <OUTPUT>/quarantine/<table>/<source_id>.ndjson.gz.
    Transform(TransformArgs),
    /// Run the local pipeline once over a root (ledger, transform, catalog).
    ///
    /// Claims each new raw object version in the ledger, transforms it and registers its
    /// partitions in the catalog. Prints one JSON line per object: {"id","key","version",
    /// "outcome","status","job_run_id","summary"|"error"}; outcome is processed, duplicate,
    /// superseded, deferred, exhausted or failed. A second run over unchanged objects processes
    /// nothing.
    Run(local::RootArgs),
    /// Run the local pipeline continuously as files arrive.
    ///
    /// New files are processed as soon as their writer closes them (file watcher), with a
    /// periodic rescan as a safety net. Ctrl-C stops after the objects in flight and releases
    /// this process's claims.
    Watch(local::WatchArgs),
    /// Query the catalog's tables with SQL (DataFusion).
    Query(local::QueryArgs),
    /// Generate, process and query sample logs: the whole product, offline.
    ///
    /// Generates sample logs, runs the local pipeline on them and queries the result.
    Demo(local::DemoArgs),
    /// Decode an S3/EventBridge/SQS/SNS event into the objects it created.
    ///
    /// Prints one JSON line per created object:
    /// {"bucket","key","version_id","size","etag","sequencer"} (key decoded). Test events and
    /// non-create events print nothing; a document that is not an event exits with code 2.
    Event(EventArgs),
    /// Run the trigger Lambda's handler once, here, on an event.
    ///
    /// Decodes the event, claims each new object version in the DynamoDB ledger, starts the
    /// Glue job, and prints one JSON line per object:
    /// {"bucket","key","version_id","outcome": "started"|"duplicate"|"skipped","job_run_id"}.
    /// Glue Job State Change events print "succeeded"/"failed" lines. Configured like the
    /// Lambda: LOGLAKE_LEDGER_TABLE, LOGLAKE_GLUE_JOB (required), LOGLAKE_MODE (per-object|batch),
    /// LOGLAKE_MANIFEST_BUCKET, LOGLAKE_MANIFEST_PREFIX, LOGLAKE_RAW_BUCKET, LOGLAKE_RAW_PREFIX,
    /// LOGLAKE_MAX_ATTEMPTS, LOGLAKE_LEDGER_TTL_DAYS, LOGLAKE_METRICS_NAMESPACE; AWS_ENDPOINT_URL
    /// for an emulator. Exit 1 when an object was not processed (retry the event), 2 for an
    /// unreadable event or configuration.
    Trigger(trigger::TriggerArgs),
    /// Send existing raw objects through the trigger's path (Glue runs).
    ///
    /// Lists `--raw s3://bucket/prefix` (optionally `--since DATE`), claims each object in the
    /// ledger and starts one Glue run per `--batch-size` objects over a manifest. Objects already
    /// processed are duplicates. Configured by the trigger's LOGLAKE_* variables
    /// (LOGLAKE_MANIFEST_BUCKET required). Prints one JSON line per object, like
    /// `loglake trigger`.
    Backfill(trigger::BackfillArgs),
}

#[derive(clap::Args)]
struct EventArgs {
    /// The event document, or `-` for standard input.
    file: PathBuf,
    /// Also say on stderr why events were ignored.
    #[arg(long, short)]
    verbose: bool,
}

#[derive(clap::Args)]
struct GenArgs {
    /// Folder to write the files into (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Number of files.
    #[arg(long, default_value_t = 4)]
    files: usize,
    /// Lines per file.
    #[arg(long, default_value_t = 1000)]
    lines: usize,
    /// Seed; the same seed gives byte-identical files.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Share of bad lines (0.0 to 1.0).
    #[arg(long, default_value_t = 0.01)]
    bad_ratio: f64,
    /// Write gzip files (`.ndjson.gz`).
    #[arg(long, conflicts_with = "zstd")]
    gzip: bool,
    /// Write zstd files (`.ndjson.zst`).
    #[arg(long)]
    zstd: bool,
    /// First event time (RFC 3339).
    #[arg(long, default_value = "2024-05-01T00:00:00Z")]
    start: String,
    /// Hours covered by all files together.
    #[arg(long, default_value_t = 72)]
    hours: u32,
}

#[derive(clap::Args)]
struct TransformArgs {
    /// Input files or folders (folders are read recursively; hidden files are skipped), or
    /// S3 objects `s3://bucket/key` and prefixes `s3://bucket/prefix/` (trailing `/`), read with
    /// the standard AWS environment (`AWS_ENDPOINT_URL` for other S3 servers).
    #[arg(long, num_args = 1.., required = true)]
    input: Vec<String>,
    /// Output root: a folder or `s3://bucket/prefix` (files go to `<root>/clean/<table>/…` and
    /// `<root>/quarantine/<table>/…`).
    #[arg(long)]
    output: String,
    /// The S3 version to read (one `s3://bucket/key` input only).
    #[arg(long)]
    version_id: Option<String>,
    /// Register the written partitions in this Glue Data Catalog table (`database.table`),
    /// after checking, before any data is written, that its columns agree with the schema.
    #[arg(long, value_name = "DATABASE.TABLE")]
    catalog: Option<String>,
    /// Schema file (JSON). Default: the built-in `schemas/app_logs.json`.
    #[arg(long)]
    schema: Option<PathBuf>,
    /// Name that identifies the source (as `bucket/key`), deciding `source_id` and so the
    /// output file names. Only with a single input file. Default: the file's absolute path.
    #[arg(long)]
    source: Option<String>,
    /// Objects transformed at once. Default: the number of cores.
    #[arg(long)]
    jobs: Option<usize>,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

/// A usage or configuration error: exit code 2.
#[derive(Debug)]
struct UsageError(String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn usage(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(msg.into()))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Logs (the trigger's, the AWS SDK's) go to stderr; RUST_LOG selects them.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Gen(args) => generate(&args),
        Command::Transform(args) => transform(&args),
        Command::Run(args) => local::run(&args),
        Command::Watch(args) => local::watch(&args),
        Command::Query(args) => local::query(&args),
        Command::Demo(args) => local::demo(&args),
        Command::Event(args) => event(&args),
        Command::Trigger(args) => trigger::trigger(&args),
        Command::Backfill(args) => trigger::backfill(&args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "error: {err}");
            for cause in err.chain().skip(1) {
                let _ = writeln!(stderr, "  caused by: {cause}");
            }
            if err.downcast_ref::<UsageError>().is_some()
                || err.downcast_ref::<loglake_core::Error>().is_some()
            {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// Writes one line of data to stdout and flushes it, so consumers see each line as it comes.
fn print_line(line: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()
}

fn generate(args: &GenArgs) -> anyhow::Result<ExitCode> {
    let start = loglake_core::time::parse_rfc3339(&args.start).ok_or_else(|| {
        usage(format!(
            "`--start {}` is not an RFC 3339 time\nhint: use e.g. `--start 2024-05-01T00:00:00Z`",
            args.start
        ))
    })?;
    let opts = loglake_gen::GenOptions {
        files: args.files,
        lines: args.lines,
        seed: args.seed,
        bad_ratio: args.bad_ratio,
        compression: match (args.gzip, args.zstd) {
            (true, _) => loglake_gen::Compression::Gzip,
            (_, true) => loglake_gen::Compression::Zstd,
            _ => loglake_gen::Compression::None,
        },
        start: start.div_euclid(1_000_000),
        hours: args.hours,
    };
    let report = loglake_gen::generate(&args.out, &opts).map_err(|e| match e {
        loglake_gen::Error::Invalid(m) => usage(m),
        other => anyhow::Error::new(other),
    })?;
    print_line(
        &serde_json::json!({
            "files": report.files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "lines": report.lines,
            "bad_lines": report.bad_lines,
            "bytes": report.bytes,
        })
        .to_string(),
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Reads a document named on the command line (`-` is standard input): its display name and
/// bytes.
fn read_document(path: &Path) -> anyhow::Result<(String, Vec<u8>)> {
    if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
            .context("cannot read standard input")?;
        return Ok(("<stdin>".to_owned(), buf));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| usage(format!("cannot read event file `{}`: {e}", path.display())))?;
    Ok((path.display().to_string(), bytes))
}

fn event(args: &EventArgs) -> anyhow::Result<ExitCode> {
    let (name, bytes) = read_document(&args.file)?;
    let decoded = loglake_trigger::event::decode(&bytes).map_err(|e| {
        usage(format!(
            "`{name}` is not a readable event document: {e}\nhint: pass an S3 notification, an \
             EventBridge Object Created event, or an SQS/SNS event carrying one"
        ))
    })?;
    for o in decoded.objects() {
        print_line(&serde_json::to_string(o)?)?;
    }
    if args.verbose {
        for reason in decoded.ignored() {
            eprintln!("ignored: {reason}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn load_schema(path: Option<&Path>) -> anyhow::Result<CompiledSchema> {
    Ok(match path {
        Some(p) => Schema::from_path(p)?.compile(&p.display().to_string())?,
        None => Schema::default_app_logs().compile("built-in app_logs")?,
    })
}

/// Expands folders into their files: the store's listing rule ([`loglake_store::local_files`]:
/// sorted; hidden, `_`-prefixed, temporary and partial files skipped), as the pipeline lists.
fn expand_inputs(inputs: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            files.extend(loglake_store::local_files(input)?);
        } else if input.exists() {
            files.push(input.clone());
        } else {
            return Err(usage(format!(
                "input `{}` does not exist\nhint: pass files or folders of raw JSON logs, e.g. the output of `loglake gen`",
                input.display()
            )));
        }
    }
    if files.is_empty() {
        return Err(usage(
            "no input files found in the given folders".to_owned(),
        ));
    }
    Ok(files)
}

fn progress_bar(total: u64, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {bytes}/{total_bytes} read ({bytes_per_sec}, eta {eta}) {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// One input of `loglake transform`.
enum Work {
    File(PathBuf),
    Object(loglake_store::RawObject, Arc<loglake_store::RawStore>),
}

impl Work {
    fn display(&self) -> String {
        match self {
            Work::File(p) => p.display().to_string(),
            Work::Object(o, _) => o.display.clone(),
        }
    }
}

/// Where `loglake transform` writes.
enum Sink {
    /// A local folder: written in place.
    Local(LocalOutput),
    /// S3: staged locally, then uploaded; the staging folder is removed on drop.
    Remote(
        loglake_store::Publisher,
        #[allow(dead_code)] tempfile::TempDir,
    ),
}

/// Resolves the inputs: local files (folders expanded) and S3 objects (prefixes listed).
fn resolve_inputs(
    args: &TransformArgs,
    rt: Option<&tokio::runtime::Runtime>,
) -> anyhow::Result<Vec<Work>> {
    let mut work = Vec::new();
    let remote: Vec<&String> = args
        .input
        .iter()
        .filter(|i| i.starts_with("s3://"))
        .collect();
    if args.version_id.is_some() && (remote.len() != 1 || args.input.len() != 1) {
        bail!(usage(
            "`--version-id` needs exactly one `s3://bucket/key` input"
        ));
    }
    for input in &args.input {
        if !input.starts_with("s3://") {
            work.extend(
                expand_inputs(&[PathBuf::from(input)])?
                    .into_iter()
                    .map(Work::File),
            );
            continue;
        }
        let (Some(rt), loglake_store::Location::S3 { bucket, prefix }) = (
            rt,
            loglake_store::Location::parse(input).map_err(|e| usage(e.to_string()))?,
        ) else {
            continue;
        };
        let listing = input.ends_with('/') || prefix.is_empty();
        let location = loglake_store::Location::S3 {
            bucket: bucket.clone(),
            prefix: if listing {
                prefix.clone()
            } else {
                String::new()
            },
        };
        let store = Arc::new(loglake_store::RawStore::open(&location)?);
        if listing {
            let found = store.list_remote(rt.handle())?;
            if found.is_empty() {
                bail!(usage(format!("`{input}`: no objects under this prefix")));
            }
            work.extend(found.into_iter().map(|o| Work::Object(o, store.clone())));
        } else {
            let object = store.object(&prefix, args.version_id.as_deref(), rt.handle())?;
            work.push(Work::Object(object, store));
        }
    }
    Ok(work)
}

/// Checks `database.table` in the Glue Data Catalog against the schema (exit 2 when they
/// disagree, before any data is written).
fn check_catalog(
    name: &str,
    schema: &CompiledSchema,
    rt: Option<&tokio::runtime::Runtime>,
) -> anyhow::Result<(loglake_aws::GlueCatalog, loglake_aws::RegisteredTable)> {
    let Some((database, table)) = name.split_once('.') else {
        bail!(usage(format!(
            "`--catalog {name}`: expected DATABASE.TABLE"
        )));
    };
    let rt = rt.context("no runtime")?;
    let t = loglake_core::catalog::catalog_table(schema, database, "");
    if t.name != table {
        bail!(usage(format!(
            "`--catalog {name}`: the schema's table is `{}`\nhint: pass --catalog {database}.{}",
            t.name, t.name
        )));
    }
    let expected = loglake_aws::ExpectedTable {
        database: database.to_owned(),
        name: table.to_owned(),
        columns: t
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.kind.clone()))
            .collect(),
        partition_keys: t.partition_keys.iter().map(|c| c.name.clone()).collect(),
    };
    rt.block_on(async {
        let glue = loglake_aws::GlueCatalog::from_env().await;
        match glue.check(&expected).await {
            Ok(table) => Ok((glue, table)),
            Err(
                e @ (loglake_aws::CatalogError::Missing { .. }
                | loglake_aws::CatalogError::Mismatch { .. }),
            ) => Err(usage(e.to_string())),
            Err(e) => Err(e.into()),
        }
    })
}

/// `loglake transform`, resolved once: inputs, output, catalog, runtime (ripgrep's HiArgs).
struct TransformPlan<'a> {
    args: &'a TransformArgs,
    schema: CompiledSchema,
    rt: Option<tokio::runtime::Runtime>,
    files: Vec<Work>,
    sink: Sink,
    catalog: Option<(loglake_aws::GlueCatalog, loglake_aws::RegisteredTable)>,
    opts: TransformOptions,
}

impl<'a> TransformPlan<'a> {
    fn new(args: &'a TransformArgs) -> anyhow::Result<Self> {
        let schema = load_schema(args.schema.as_deref())?;
        let remote = args.output.starts_with("s3://")
            || args.catalog.is_some()
            || args.input.iter().any(|i| i.starts_with("s3://"));
        let rt = if remote {
            Some(local::runtime()?)
        } else {
            None
        };
        let files = resolve_inputs(args, rt.as_ref())?;
        if args.source.is_some() && files.len() != 1 {
            bail!(usage(format!(
                "`--source` names one object, but {} input files were given",
                files.len()
            )));
        }
        let sink = open_sink(&args.output)?;
        let catalog = match &args.catalog {
            None => None,
            Some(name) => Some(check_catalog(name, &schema, rt.as_ref())?),
        };
        Ok(Self {
            args,
            schema,
            rt,
            files,
            sink,
            catalog,
            opts: TransformOptions::default(),
        })
    }

    fn handle(&self) -> anyhow::Result<tokio::runtime::Handle> {
        self.rt
            .as_ref()
            .map(|r| r.handle().clone())
            .context("no runtime")
    }

    /// Transforms and publishes one input, then registers its partitions.
    fn run(&self, w: &Work, progress: &(dyn Fn(u64) + Sync)) -> anyhow::Result<Summary> {
        let (schema, opts) = (&self.schema, &self.opts);
        let source_name = self.args.source.as_deref();
        let summary = match (w, &self.sink) {
            (Work::File(path), Sink::Local(out)) => {
                transform_file(path, source_name, schema, out, opts, progress)?
            }
            (Work::File(path), Sink::Remote(publisher, _)) => {
                let (file, source) = Source::open_file(path, source_name)?;
                publisher.publish(&self.handle()?, file, &source, schema, opts, progress)?
            }
            (Work::Object(object, store), sink) => {
                let rt = self.handle()?;
                let reader = store.reader(object, &rt)?;
                let source = Source {
                    name: source_name.map_or_else(|| object.version.source_name(), str::to_owned),
                    display: object.display.clone(),
                    written_us: object.written_us(),
                    size: Some(object.version.size),
                };
                match sink {
                    Sink::Local(out) => {
                        transform_reader(reader, &source, schema, out, opts, progress)?
                    }
                    Sink::Remote(publisher, _) => {
                        publisher.publish(&rt, reader, &source, schema, opts, progress)?
                    }
                }
            }
        };
        if let (Some((glue, table)), Some(rt)) = (&self.catalog, &self.rt) {
            rt.block_on(glue.add_partitions(table, &summary.partitions))
                .with_context(|| format!("registering the partitions of {}", w.display()))?;
        }
        Ok(summary)
    }
}

/// The output: a local folder written in place, or S3 through a local staging folder.
fn open_sink(output: &str) -> anyhow::Result<Sink> {
    if !output.starts_with("s3://") {
        return Ok(Sink::Local(LocalOutput::new(output)));
    }
    let root = loglake_store::Location::parse(output).map_err(|e| usage(e.to_string()))?;
    let staging = tempfile::Builder::new()
        .prefix("loglake-staging-")
        .tempdir()
        .context("cannot create a staging folder (set TMPDIR)")?;
    let publisher = loglake_store::Publisher::for_root(&root, staging.path().to_owned())?;
    Ok(Sink::Remote(publisher, staging))
}

/// Summary lines printed in input order, each as soon as every earlier input is done.
#[derive(Default)]
struct InOrder {
    next: usize,
    pending: std::collections::BTreeMap<usize, String>,
    /// Some input failed or quarantined records (exit 1).
    problems: bool,
}

impl InOrder {
    /// Records input `i`'s line; returns the lines now printable, in order.
    fn push(&mut self, i: usize, line: String, problem: bool) -> Vec<String> {
        self.problems |= problem;
        self.pending.insert(i, line);
        let mut ready = Vec::new();
        while let Some(line) = self.pending.remove(&self.next) {
            ready.push(line);
            self.next += 1;
        }
        ready
    }
}

fn transform(args: &TransformArgs) -> anyhow::Result<ExitCode> {
    let plan = TransformPlan::new(args)?;
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let total: u64 = plan
        .files
        .iter()
        .map(|w| match w {
            Work::File(f) => std::fs::metadata(f).map_or(0, |m| m.len()),
            Work::Object(o, _) => o.version.size,
        })
        .sum();
    let bar = progress_bar(total, args.quiet);
    let progress = |n: u64| bar.inc(n);
    let state = Mutex::new(InOrder::default());
    let work = |w: &Work| plan.run(w, &progress);
    let done = |i: usize, result: anyhow::Result<Summary>| {
        let (line, problem) = match result {
            Ok(summary) => (
                serde_json::to_string(&summary).unwrap_or_default(),
                summary.records_quarantined > 0,
            ),
            Err(err) => {
                bar.suspend(|| eprintln!("error: {err}"));
                let line = serde_json::json!({
                    "source": plan.files[i].display(),
                    "error": err.to_string(),
                });
                (line.to_string(), true)
            }
        };
        let Ok(mut st) = state.lock() else { return };
        for line in st.push(i, line, problem) {
            if let Err(e) = bar.suspend(|| print_line(&line)) {
                eprintln!("error: cannot write to stdout: {e}");
            }
        }
    };
    for_each_parallel(&plan.files, jobs, &work, &done);
    bar.finish_and_clear();
    let problems = state.lock().map(|s| s.problems).unwrap_or(true);
    Ok(if problems {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::InOrder;

    #[test]
    fn summaries_come_out_in_input_order_as_soon_as_possible() {
        let mut o = InOrder::default();
        assert!(o.push(1, "b".into(), false).is_empty(), "waits for input 0");
        assert_eq!(o.push(0, "a".into(), false), ["a", "b"]);
        assert_eq!(o.push(2, "c".into(), true), ["c"]);
        assert!(o.problems);
    }
}
